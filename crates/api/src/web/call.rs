//! The page's calls of the API, in process: each goes through the same router
//! as a client's request (the token check and the role each route needs, the
//! handlers' validation, the audit entry of every change), without a socket.
//! Calling the handlers' functions directly would skip the middleware that
//! checks roles and writes the audit trail.

use axum::body::{Body, to_bytes};
use axum::extract::OriginalUri;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use super::layout::Notice;
use super::session::Session;
use super::{Done, Web};

/// The largest answer read back from the API.
const ANSWER_LIMIT: usize = 16 << 20;

/// An API error, as the page shows it: the message, naming the field at fault.
#[derive(Debug, Clone)]
pub struct Problem {
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Problem {
    fn of(status: StatusCode, body: &Value) -> Problem {
        let error = body
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| format!("the API answered {status}"), str::to_owned);
        let message = match body.get("field").and_then(Value::as_str) {
            Some(field) if !field.is_empty() && !error.starts_with(field) => {
                format!("{field}: {error}")
            }
            _ => error,
        };
        Problem { message }
    }
}

impl Web {
    /// Calls `method path` (below `/api/v1`) with the session's token.
    pub async fn call(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Problem> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", session.token()));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = request
            .body(Body::from(bytes))
            .map_err(|e| internal(&e.to_string()))?;
        // The audit trail records the path as a client would have sent it.
        let full: axum::http::Uri = format!("/api/v1{path}")
            .parse()
            .map_err(|_| internal("a path of the page is not a URI"))?;
        request.extensions_mut().insert(OriginalUri(full));
        let response = self
            .api
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| internal(&e.to_string()))?;
        let status = response.status();
        let bytes = to_bytes(response.into_body(), ANSWER_LIMIT)
            .await
            .map_err(|e| internal(&e.to_string()))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(Problem::of(status, &body))
        }
    }

    pub async fn get(&self, session: &Session, path: &str) -> Result<Value, Problem> {
        self.call(session, Method::GET, path, None).await
    }

    /// A list page's listing and notice: what `done` says was done, or
    /// why the listing could not be read (then no listing).
    pub async fn listing(&self, session: &Session, path: &str, done: &Done) -> (Value, Notice) {
        match self.get(session, path).await {
            Ok(listing) => (listing, Notice::done(done.done.as_deref())),
            Err(e) => (Value::Null, Notice::Error(e.message)),
        }
    }

    pub async fn post(
        &self,
        session: &Session,
        path: &str,
        body: &Value,
    ) -> Result<Value, Problem> {
        self.call(session, Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, session: &Session, path: &str, body: &Value) -> Result<Value, Problem> {
        self.call(session, Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, session: &Session, path: &str) -> Result<Value, Problem> {
        self.call(session, Method::DELETE, path, None).await
    }
}

fn internal(why: &str) -> Problem {
    tracing::error!(error = %why, "the admin page's call of the API failed");
    Problem {
        message: "internal error; see the server log".into(),
    }
}

/// `items` of a listing, or none.
pub fn items(listing: &Value) -> &[Value] {
    listing
        .get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A string field of `value`, "" when absent.
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Percent-encodes `value` for a query string.
pub fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
