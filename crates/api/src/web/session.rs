//! Signing in to the admin page and what every request of it carries.
//!
//! One signs in by pasting an API token. The session is a cookie holding the
//! token, a CSRF token and an expiry, sealed with Herald's key (AES-256-GCM,
//! bound to the purpose `web-session`): the browser never holds the token in
//! a form it or a script can read (`HttpOnly`), it goes only to this site
//! (`SameSite=Strict`) and only over TLS when Herald's public URL is https or
//! a proxy says the request came over TLS (`Secure`). Every API process with
//! the same key opens it, so no session table is shared between them.
//!
//! Every request looks the token up again, so a revoked token ends its
//! sessions at once. Every POST needs the session's CSRF token in its form
//! ([`Posted`]), and a POST whose `Origin` is another site is refused.
//!
//! It does not decide what a role may do: the API does, on each call.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use herald_model::access::token_hash;
use herald_model::{PlainToken, Role};
use maud::html;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Web;
use super::layout::{Notice, bare_page};
use crate::auth::{Caller, identify};

/// The session cookie's name.
pub const COOKIE: &str = "herald_session";
/// What the cookie is sealed for: it opens for nothing else.
const PURPOSE: &str = "web-session";
/// How long a sign-in lasts.
const LASTS: Duration = Duration::from_secs(12 * 3600);

/// What the sealed cookie holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    token: String,
    csrf: String,
    /// Unix seconds after which the session is over.
    expires: i64,
}

/// A signed-in browser: who it is and what it sends the API.
pub struct Session {
    pub caller: Caller,
    token: String,
    pub csrf: String,
}

impl Session {
    /// The token the API is called with.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether the role may change things (viewers only look): forms and
    /// buttons that change something are shown only then. The API decides
    /// anyway.
    pub fn can_change(&self) -> bool {
        self.caller.role == Role::Admin
    }
}

/// Why a request of the page was not served.
pub enum Refused {
    /// No session, or one that ended: sign in.
    SignIn,
    /// A POST without this session's CSRF token, or from another site.
    Forbidden(&'static str),
    /// The store did not answer while the token was looked up.
    Unavailable(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn => Redirect::to("/sign-in").into_response(),
            Refused::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                bare_page(
                    "Refused",
                    &Notice::Error(why.to_owned()),
                    html! {
                        p { a href="/" { "Back to the overview" } }
                    },
                ),
            )
                .into_response(),
            Refused::Unavailable(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                bare_page("Unavailable", &Notice::Error(why), html! {}),
            )
                .into_response(),
        }
    }
}

impl FromRequestParts<Arc<Web>> for Session {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Session, Refused> {
        let sealed = cookie_value(&parts.headers).ok_or(Refused::SignIn)?;
        let opened = web
            .state
            .key
            .open_for(&sealed, PURPOSE)
            .ok_or(Refused::SignIn)?;
        let sealed: Sealed = serde_json::from_str(&opened).map_err(|_| Refused::SignIn)?;
        if sealed.expires <= OffsetDateTime::now_utc().unix_timestamp() {
            return Err(Refused::SignIn);
        }
        let caller = identify(&web.state, &sealed.token)
            .await
            .map_err(|e| Refused::Unavailable(e.to_string()))?
            .ok_or(Refused::SignIn)?;
        Ok(Session {
            caller,
            token: sealed.token,
            csrf: sealed.csrf,
        })
    }
}

/// A POST of the page: its session, with the CSRF token checked, and its form
/// fields in order (a field may repeat: several checkboxes of one name).
pub struct Posted {
    pub session: Session,
    pub fields: Fields,
}

impl FromRequest<Arc<Web>> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, web: &Arc<Web>) -> Result<Posted, Response> {
        let (mut parts, body) = request.into_parts();
        same_origin(&parts.headers).map_err(IntoResponse::into_response)?;
        let session = Session::from_request_parts(&mut parts, web)
            .await
            .map_err(IntoResponse::into_response)?;
        let request = Request::from_parts(parts, body);
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, web)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = Fields(pairs);
        // Hashes compared, so the comparison's time says nothing of the token.
        let presented = fields.get("csrf").map(token_hash);
        if presented.as_deref() != Some(&token_hash(&session.csrf)[..]) {
            return Err(Refused::Forbidden(
                "this form did not carry the session's CSRF token: reload the page and try again",
            )
            .into_response());
        }
        Ok(Posted { session, fields })
    }
}

/// A form's fields, in the order sent.
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or "" when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", str::trim)
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A browser sends `Origin` with every POST; one naming another site than the
/// `Host` it was sent to is a cross-site request (sign-in included, which no
/// cookie protects yet).
fn same_origin(headers: &HeaderMap) -> Result<(), Refused> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    if origin_host.is_some() && origin_host == host {
        Ok(())
    } else {
        Err(Refused::Forbidden("this form was sent from another site"))
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

/// Whether the cookie must be `Secure`: Herald is reached over TLS.
fn over_tls(web: &Web, headers: &HeaderMap) -> bool {
    web.state.public_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn session_cookie(value: String, secure: bool, max_age: Duration) -> String {
    Cookie::build((COOKIE, value))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ))
        .build()
        .to_string()
}

/// `GET /sign-in`.
pub async fn sign_in_page() -> Response {
    sign_in_form(None, StatusCode::OK)
}

fn sign_in_form(error: Option<String>, status: StatusCode) -> Response {
    let notice = error.map_or(Notice::None, Notice::Error);
    let body = html! {
        form.card.sign-in method="post" action="/sign-in" {
            p { "Paste an API token (" code { "herald token create" } " makes one; a viewer token can look, an admin token can change)." }
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="off" required autofocus;
            button type="submit" { "Sign in" }
        }
    };
    (status, bare_page("Sign in", &notice, body)).into_response()
}

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

/// `POST /sign-in`: a usable viewer or admin token starts a session.
pub async fn sign_in(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if let Err(refused) = same_origin(&headers) {
        return refused.into_response();
    }
    let token = form.token.trim();
    let caller = match identify(&web.state, token).await {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            return sign_in_form(
                Some("token: unknown, expired or revoked".into()),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e) => return sign_in_form(Some(e.to_string()), StatusCode::SERVICE_UNAVAILABLE),
    };
    if !caller.role.grants(Role::Viewer) {
        return sign_in_form(
            Some(format!(
                "token: `{}` has the {} role, which cannot view; sign in with a viewer or admin token",
                caller.name, caller.role
            )),
            StatusCode::FORBIDDEN,
        );
    }
    let expires = OffsetDateTime::now_utc().unix_timestamp()
        + i64::try_from(LASTS.as_secs()).unwrap_or(i64::MAX);
    let sealed = Sealed {
        token: token.to_owned(),
        csrf: PlainToken::generate().expose().to_owned(),
        expires,
    };
    let plain = serde_json::to_string(&sealed).expect("a session serializes");
    let value = web.state.key.seal_for(&plain, PURPOSE);
    tracing::info!(actor = %caller.name, role = %caller.role, "signed in to the admin page");
    (
        [(
            header::SET_COOKIE,
            session_cookie(value, over_tls(&web, &headers), LASTS),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

/// `POST /sign-out`: the cookie is dropped.
pub async fn sign_out(State(web): State<Arc<Web>>, headers: HeaderMap, posted: Posted) -> Response {
    tracing::info!(actor = %posted.session.caller.name, "signed out of the admin page");
    (
        [(
            header::SET_COOKIE,
            session_cookie(String::new(), over_tls(&web, &headers), Duration::ZERO),
        )],
        Redirect::to("/sign-in"),
    )
        .into_response()
}
