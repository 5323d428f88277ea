//! The HTTP client of the API commands: one base URL and token, JSON in and
//! out, and every answer that is not a success turned into a [`CliError`]
//! carrying the API's own message. It knows routes, not what they mean.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::error::CliError;

/// How long one request may take; the API answers within its own timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// `url` is where Herald's API listens (`http://127.0.0.1:8080`).
    pub fn new(url: &str, token: Option<String>) -> Result<Api, CliError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| CliError::usage(format!("--url / HERALD_URL `{url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::usage(format!(
                "--url / HERALD_URL `{url}`: must be an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| CliError::usage(format!("HTTP client: {e}")))?;
        Ok(Api {
            http,
            base: format!("{}/api/v1", url.trim_end_matches('/')),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::DELETE, path, None).await
    }

    /// Every item of a paged list (`items`, `next_cursor`), following cursors.
    pub async fn all_items(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut pairs: Vec<(&str, String)> = query.to_vec();
            if let Some(c) = &cursor {
                pairs.push(("cursor", c.clone()));
            }
            let page = self.get(&with_query(path, &pairs)).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
                _ => return Ok(items),
            }
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| CliError::Connect {
            url: self.base.clone(),
            cause: cause_of(&e),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| CliError::Connect {
            url: self.base.clone(),
            cause: cause_of(&e),
        })?;
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            Ok(json)
        } else {
            Err(refusal(status, path, &json))
        }
    }
}

/// `path?k=v&…` with the values encoded.
pub fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

/// The API's error (`{"error", "field"}`) as the error of this run.
fn refusal(status: StatusCode, path: &str, body: &Value) -> CliError {
    let mut message = match body.get("error").and_then(Value::as_str) {
        Some(error) => error.to_owned(),
        None if body.is_null() => status.canonical_reason().unwrap_or("error").to_owned(),
        None => body.to_string(),
    };
    if let Some(field) = body.get("field").and_then(Value::as_str)
        && !message.contains(field)
    {
        message = format!("{field}: {message}");
    }
    // A 409 lists who holds on to the object: say who.
    for holders in ["rules", "notifiers"] {
        if let Some(list) = body
            .get(holders)
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        {
            let names: Vec<&str> = list.iter().filter_map(|h| h["name"].as_str()).collect();
            message = format!("{message} ({holders}: {})", names.join(", "));
        }
    }
    match status {
        StatusCode::NOT_FOUND => CliError::NotFound(format!("{path}: {message}")),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CliError::Auth {
            status: status.as_u16(),
            message,
        },
        _ => CliError::Api {
            status: status.as_u16(),
            message,
        },
    }
}

/// The innermost cause of a transport error: "connection refused", not
/// reqwest's "error sending request".
fn cause_of(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if error.is_timeout() {
        format!("no answer within {REQUEST_TIMEOUT:?}")
    } else {
        cause.to_string()
    }
}
