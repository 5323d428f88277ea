//! OAuth 2.0 for SMTP: a client-credentials token from the provider's token
//! endpoint (the `oauth2` crate over Herald's HTTP client), cached until a
//! minute before it expires, for lettre's `XOAUTH2`.
//!
//! The token endpoint refusing the client (`invalid_client`, a bad secret or
//! scope), or the outbound guard refusing its address, is permanent; an
//! endpoint that cannot be reached, times out or answers 429 or 5xx is
//! retried.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};

use crate::SendContext;
use crate::outbound::{Refusal, refusal_in};

/// How long before its expiry a cached token is replaced.
const MARGIN: Duration = Duration::from_secs(60);
/// How long a token without `expires_in` is kept.
const UNSTATED: Duration = Duration::from_secs(300);
/// The longest a token is kept, whatever the endpoint says.
const LONGEST: Duration = Duration::from_secs(86_400);

/// Where to get a token, and as whom.
pub(super) struct Client<'a> {
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub scope: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the OAuth token endpoint refused the client: {0}")]
    Refused(String),
    #[error("the OAuth token endpoint did not answer: {0}")]
    Unreachable(String),
    #[error("the OAuth token endpoint: {0}")]
    Outbound(Refusal),
}

/// Why a request to the token endpoint got no answer to read.
#[derive(Debug, thiserror::Error)]
enum Failed {
    /// A transport failure or an answer that may pass (429, 5xx).
    #[error("{0}")]
    Unreachable(String),
    #[error(transparent)]
    Outbound(Refusal),
}

/// The token of one notifier, while it is valid.
#[derive(Default)]
pub(super) struct TokenCache(Mutex<Option<(String, Instant)>>);

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

impl TokenCache {
    /// A valid token: the cached one, or a new one from the endpoint.
    pub(super) async fn token(
        &self,
        client: &Client<'_>,
        cx: &SendContext<'_>,
    ) -> Result<String, TokenError> {
        if let Some((token, until)) = &*self.0.lock().expect("never poisoned")
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch(client, cx).await?;
        // An `expires_in` of years (or u64::MAX) must not overflow the clock.
        let until = Instant::now() + lifetime.saturating_sub(MARGIN).min(LONGEST);
        *self.0.lock().expect("never poisoned") = Some((token.clone(), until));
        Ok(token)
    }
}

async fn fetch(
    client: &Client<'_>,
    cx: &SendContext<'_>,
) -> Result<(String, Duration), TokenError> {
    let url = TokenUrl::new(client.token_url.to_owned())
        .map_err(|e| TokenError::Refused(format!("token_url: {e}")))?;
    // The client resolves names through the guard, but connects to an
    // address literal directly: that one is checked here.
    cx.outbound
        .guard()
        .check_url(url.url())
        .map_err(TokenError::Outbound)?;
    let oauth = BasicClient::new(ClientId::new(client.client_id.to_owned()))
        .set_client_secret(ClientSecret::new(client.client_secret.to_owned()))
        .set_token_uri(url);
    let mut request = oauth.exchange_client_credentials();
    if let Some(scope) = client.scope {
        request = request.add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_owned())));
    }
    // The futures own their client (a cheap handle): `oauth2` wants them to
    // outlive the borrow of this closure.
    let send = |request: oauth2::HttpRequest| send(cx.http().clone(), request, cx.timeout);
    let answer = request.request_async(&send).await.map_err(|e| match e {
        RequestTokenError::Request(Failed::Unreachable(why)) => TokenError::Unreachable(why),
        RequestTokenError::Request(Failed::Outbound(refusal)) => TokenError::Outbound(refusal),
        RequestTokenError::ServerResponse(refusal) => TokenError::Refused(refusal.to_string()),
        other => TokenError::Refused(crate::error_chain(&other)),
    })?;
    let lifetime = answer.expires_in().unwrap_or(UNSTATED);
    Ok((answer.access_token().secret().clone(), lifetime))
}

/// One request of the `oauth2` crate, through Herald's HTTP client.
async fn send(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
    timeout: Duration,
) -> Result<oauth2::HttpResponse, Failed> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| match refusal_in(&e) {
            Some(refusal) => Failed::Outbound(refusal),
            None => Failed::Unreachable(crate::error_chain(&e.without_url())),
        })?;
    let status = response.status();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(Failed::Unreachable(format!("HTTP {status}")));
    }
    let headers = response.headers().clone();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failed::Unreachable(crate::error_chain(&e.without_url())))?;
    let mut answer = oauth2::HttpResponse::new(bytes.to_vec());
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}
