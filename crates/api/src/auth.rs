//! Who is calling: every `/api/v1` request carries `Authorization: Bearer
//! <token>`; the token's role must grant what the route needs; every change a
//! caller makes is written to the audit trail.
//!
//! Roles per route: `GET` needs `viewer`, `POST /events` and `POST
//! /ingest/alertmanager` need `publisher`,
//! everything else (and every `/tokens` route) needs `admin`, which grants all.
//! Tokens are looked up by their SHA-256 and kept in memory for
//! [`CACHE_FOR`], so a revocation made through another API process takes
//! effect within that time (at once in the process that revoked it).
//!
//! It does not rate-limit: publishing does that per token, counting events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_model::access::token_hash;
use herald_model::{Role, TokenRecord};
use herald_store::{NewAudit, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;

/// How long a looked-up token is trusted without asking the database again.
pub const CACHE_FOR: Duration = Duration::from_secs(10);
/// How often a token's `last_used_at` is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The largest answer read back to learn a created object's id for the audit.
const AUDIT_BODY_LIMIT: usize = 1 << 20;

/// The caller of a request, for handlers that need to know who it is.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: Uuid,
    pub name: String,
    pub role: Role,
}

/// Tokens recently looked up, by hash.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<Vec<u8>, Cached>>,
}

struct Cached {
    token: Option<TokenRecord>,
    fetched: Instant,
    touched: Option<Instant>,
}

impl Cached {
    /// Whether the token's last use is due to be written, noting it if so.
    fn touch(&mut self, now: Instant) -> bool {
        let due = self.token.is_some()
            && self
                .touched
                .is_none_or(|t| now.duration_since(t) >= TOUCH_EVERY);
        if due {
            self.touched = Some(now);
        }
        due
    }
}

/// Entries past which stale ones are dropped: unknown tokens are cached too
/// (so a client retrying a bad one does not reach the database each time),
/// and someone presenting ever new ones must not grow the cache without end.
const CACHE_ENTRIES: usize = 10_000;

impl TokenCache {
    /// Forgets every token, after a revocation.
    pub fn clear(&self) {
        self.entries.lock().expect("token cache lock").clear();
    }

    /// The token presented as `presented`, if it exists; the database is
    /// asked when the cache has nothing fresh. Also says whether its last use
    /// should be written now.
    async fn find(
        &self,
        store: &Store,
        presented: &str,
    ) -> Result<(Option<TokenRecord>, bool), herald_store::StoreError> {
        let hash = token_hash(presented);
        let now = Instant::now();
        let fresh = |c: &Cached| now.duration_since(c.fetched) < CACHE_FOR;
        {
            let mut entries = self.entries.lock().expect("token cache lock");
            if let Some(c) = entries.get_mut(&hash).filter(|c| fresh(c)) {
                let touch = c.touch(now);
                return Ok((c.token.clone(), touch));
            }
        }
        let token = store.token_by_hash(&hash).await?;
        let mut entries = self.entries.lock().expect("token cache lock");
        if entries.len() >= CACHE_ENTRIES {
            entries.retain(|_, c| fresh(c));
            if entries.len() >= CACHE_ENTRIES {
                entries.clear();
            }
        }
        let touched = entries.get(&hash).and_then(|c| c.touched);
        let entry = entries.entry(hash).insert_entry(Cached {
            token: token.clone(),
            fetched: now,
            touched,
        });
        let touch = entry.into_mut().touch(now);
        Ok((token, touch))
    }
}

/// The routes that publish events (`POST`): Herald's own and the standard
/// formats' receivers.
const PUBLISHING: [&str; 2] = ["/events", "/ingest/alertmanager"];

/// The role a request needs, from its method and its path below `/api/v1`.
pub fn needed_role(method: &Method, path: &str) -> Role {
    let path = path.trim_end_matches('/');
    if path == "/tokens" || path.starts_with("/tokens/") {
        Role::Admin
    } else if method == Method::GET || method == Method::HEAD {
        Role::Viewer
    } else if method == Method::POST && PUBLISHING.contains(&path) {
        Role::Publisher
    } else {
        Role::Admin
    }
}

fn unauthorized(message: &str, invalid: bool) -> Response {
    let challenge = if invalid {
        r#"Bearer realm="herald", error="invalid_token""#
    } else {
        r#"Bearer realm="herald""#
    };
    let mut response =
        (StatusCode::UNAUTHORIZED, Json(json!({ "error": message }))).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// The token of an `Authorization: Bearer` header, `None` when there is none.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| "the Authorization header is not text")?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err("the Authorization header must be `Bearer <token>`"),
    }
}

/// The middleware on every `/api/v1` route.
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let needed = needed_role(request.method(), &path);
    let presented = match bearer(request.headers()) {
        Ok(Some(token)) => token.to_owned(),
        Ok(None) => {
            return unauthorized(
                "this API needs a token: send `Authorization: Bearer <token>` (`herald token create` makes one)",
                false,
            );
        }
        Err(message) => return unauthorized(message, true),
    };
    let caller = match identify(&state, &presented).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return unauthorized("the token is unknown, expired or revoked", true),
        Err(e) => return e.into_response(),
    };
    if !caller.role.grants(needed) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({
                "error": format!(
                    "this needs the {needed} role; the token `{}` has the {} role",
                    caller.name, caller.role
                ),
                "role_needed": needed,
            })),
        )
            .into_response();
    }
    request.extensions_mut().insert(caller.clone());
    // The path as the client sent it, `/api/v1` included.
    let full_path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| path.clone(), |uri| uri.path().to_owned());
    let change = Change::of(
        request.method(),
        request.extensions().get::<MatchedPath>(),
        &path,
        full_path,
    );
    let response = next.run(request).await;
    match change {
        Some(change) if response.status().is_success() => {
            change.record(&state.store, &caller, response).await
        }
        _ => response,
    }
}

/// The caller `presented` names, when the token exists and is usable (not
/// expired, not revoked); its last use is written now and then. Shared by the
/// middleware and the admin page's sign-in.
pub async fn identify(
    state: &AppState,
    presented: &str,
) -> Result<Option<Caller>, crate::ApiError> {
    let (token, touch) = state.tokens.find(&state.store, presented).await?;
    let now = OffsetDateTime::now_utc();
    let Some(token) = token.filter(|t| t.usable(now)) else {
        return Ok(None);
    };
    if touch {
        let store = state.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.touch_token(token.id, now).await {
                tracing::debug!(%error, "recording a token's last use failed");
            }
        });
    }
    Ok(Some(Caller {
        token_id: token.id,
        name: token.name,
        role: token.role,
    }))
}

/// A request that changes something, as the audit trail names it.
struct Change {
    action: String,
    object: String,
    object_id: Option<String>,
    method: Method,
    path: String,
}

/// Requests that change nothing although they are not `GET`s: publishing
/// (events have their own record), previews and dry runs.
fn changes_nothing(method: &Method, route: &str) -> bool {
    method == Method::GET
        || method == Method::HEAD
        || PUBLISHING.contains(&route)
        || matches!(route, "/rules/dry-run" | "/notifiers/{id}/preview")
}

impl Change {
    fn of(
        method: &Method,
        matched: Option<&MatchedPath>,
        path: &str,
        full_path: String,
    ) -> Option<Change> {
        let route = matched?
            .as_str()
            .strip_prefix("/api/v1")
            .unwrap_or(matched?.as_str());
        if changes_nothing(method, route) {
            return None;
        }
        let mut route_parts = route.trim_matches('/').split('/');
        let mut path_parts = path.trim_matches('/').split('/');
        let collection = route_parts.next()?;
        path_parts.next();
        let object = collection
            .strip_suffix('s')
            .unwrap_or(collection)
            .to_owned();
        let (mut object_id, mut verb) = (None, None);
        for (route_part, path_part) in route_parts.zip(path_parts) {
            if route_part == "{id}" {
                object_id = Some(path_part.to_owned());
            } else {
                verb = Some(route_part.to_owned());
            }
        }
        let action = verb.unwrap_or_else(|| {
            match (method.as_str(), object.as_str()) {
                ("DELETE", "token") => "revoke",
                // A silence is kept, ended: the trail says so.
                ("DELETE", "silence") => "expire",
                ("DELETE", _) => "delete",
                ("PUT" | "PATCH", _) => "update",
                _ => "create",
            }
            .to_owned()
        });
        Some(Change {
            action,
            object,
            object_id,
            method: method.clone(),
            path: full_path,
        })
    }

    /// Writes the entry, reading the created object's id and name from the
    /// answer, which it hands on unchanged. A clone's entry names the copy
    /// (action `clone`, `detail.source` the original).
    async fn record(self, store: &Store, caller: &Caller, response: Response) -> Response {
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = match to_bytes(body, AUDIT_BODY_LIMIT).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, path = %self.path, "reading an answer for the audit trail failed");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "internal error; see the server log"})),
                )
                    .into_response();
            }
        };
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let answered_id = answer.get("id").and_then(Value::as_str).map(str::to_owned);
        let mut detail = json!({
            "method": self.method.as_str(),
            "path": self.path,
            "status": status.as_u16(),
        });
        // What a request created is the object of its entry; the object its
        // path names (a clone's original) is where it came from.
        let object_id = match (status == StatusCode::CREATED, answered_id) {
            (true, Some(created)) => {
                if let Some(source) = self.object_id {
                    detail["source"] = json!(source);
                }
                Some(created)
            }
            (_, answered) => self.object_id.or(answered),
        };
        if let Some(name) = answer.get("name").and_then(Value::as_str) {
            detail["name"] = json!(name);
        }
        let entry = NewAudit {
            actor: &caller.name,
            action: &self.action,
            object: &self.object,
            object_id: object_id.as_deref(),
            detail,
        };
        if let Err(error) = store.record_audit(&entry).await {
            tracing::error!(%error, actor = %caller.name, action = %self.action, object = %self.object, "the audit trail missed a change");
        }
        Response::from_parts(parts, Body::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_needs_its_role() {
        let table = [
            (Method::GET, "/events", Role::Viewer),
            (Method::GET, "/notifiers/1", Role::Viewer),
            (Method::GET, "/audit", Role::Viewer),
            (Method::POST, "/events", Role::Publisher),
            (Method::POST, "/ingest/alertmanager", Role::Publisher),
            (Method::POST, "/notifiers", Role::Admin),
            (Method::POST, "/rules/dry-run", Role::Admin),
            (Method::PUT, "/rules/1", Role::Admin),
            (Method::DELETE, "/rules/1", Role::Admin),
            (Method::POST, "/rules/1/clone", Role::Admin),
            (Method::POST, "/notifiers/1/clone", Role::Admin),
            (Method::POST, "/failures/replay", Role::Admin),
            (Method::GET, "/tokens", Role::Admin),
            (Method::POST, "/tokens", Role::Admin),
            (Method::DELETE, "/tokens/1", Role::Admin),
        ];
        for (method, path, role) in table {
            assert_eq!(needed_role(&method, path), role, "{method} {path}");
        }
    }

    #[test]
    fn bearer_reads_the_token_and_refuses_other_schemes() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(bearer(&HeaderMap::new()), Ok(None));
        assert_eq!(bearer(&headers("Bearer abc")), Ok(Some("abc")));
        assert_eq!(bearer(&headers("bearer abc")), Ok(Some("abc")));
        assert!(bearer(&headers("Basic abc")).is_err());
        assert!(bearer(&headers("Bearer ")).is_err());
    }
}
