//! What every HTTP-based channel shares: one request helper and one pure
//! classification of outcomes, tested as a table.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::outbound::{Refusal, refusal_in};
use crate::{Disposition, SendContext};

/// How much of an error response body is kept in the error message.
const BODY_EXCERPT: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("HTTP {status}{}", excerpt_suffix(.body))]
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
        body: String,
    },
    /// A provider answered 2xx but said in the body that it did not deliver
    /// (Slack's `{"ok": false, "error": "channel_not_found"}`).
    #[error("{provider} refused: {error}")]
    Refused {
        provider: &'static str,
        error: String,
        disposition: Disposition,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, DNS, TLS: the request may not have arrived.
    #[error("{0}")]
    Transport(String),
    /// The outbound guard refused the address: nothing was sent.
    #[error(transparent)]
    Outbound(#[from] Refusal),
}

fn excerpt_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// How Herald's HTTP clients are built (each instance builds its own, around
/// its outbound guard: [`crate::outbound::Outbound`]): no redirects (a webhook
/// that moved should be updated, not followed, and a redirect would lead past
/// the guard's check of literal addresses), a bounded connect time, pooled
/// connections.
pub(crate) fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
}

/// A 2xx answer: providers that report errors in the body of a 200 are read.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Sends `request` (within `cx.timeout`, to an address the outbound guard
/// allows) and turns anything but a 2xx answer into an [`HttpError`].
/// Errors never carry the URL: webhook URLs are secrets.
pub async fn send(request: RequestBuilder, cx: &SendContext<'_>) -> Result<Answer, HttpError> {
    let timeout = cx.timeout;
    let (client, request) = request.timeout(timeout).build_split();
    let request = request.map_err(|e| transport(e, timeout))?;
    // reqwest resolves names through the guard but connects to an address
    // literal directly: that one is checked here.
    cx.outbound.guard().check_url(request.url())?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| transport(e, timeout))?;
    let status = response.status();
    if status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Ok(Answer { status, body });
    }
    let retry_after = retry_after(response.headers(), OffsetDateTime::now_utc());
    let body = response.text().await.unwrap_or_default();
    Err(HttpError::Status {
        status,
        retry_after,
        body: excerpt(&body),
    })
}

/// A request that got no answer: a timeout, the guard's refusal of what a
/// name resolved to, or anything else in the way.
fn transport(error: reqwest::Error, timeout: Duration) -> HttpError {
    if error.is_timeout() {
        HttpError::Timeout(timeout)
    } else if let Some(refusal) = refusal_in(&error) {
        HttpError::Outbound(refusal)
    } else {
        HttpError::Transport(crate::error_chain(&error.without_url()))
    }
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// What a provider's JSON error body says: its wording of the error, and a
/// wait it asks for in the body (used when it sent no `Retry-After`).
pub(crate) type Wording = (String, Option<Duration>);

/// A non-2xx answer whose JSON body words the error as the provider does,
/// turned into a [`HttpError::Refused`] saying it, classified by its status;
/// any other error is kept as it is.
pub(crate) fn worded(
    error: HttpError,
    provider: &'static str,
    read: impl Fn(&serde_json::Value) -> Option<Wording>,
) -> HttpError {
    let HttpError::Status {
        status,
        retry_after,
        body,
    } = &error
    else {
        return error;
    };
    let wording = serde_json::from_str(body).ok().as_ref().and_then(read);
    match wording {
        Some((text, wait)) => HttpError::Refused {
            provider,
            error: text,
            disposition: classify_status(*status, retry_after.or(wait)),
        },
        None => error,
    }
}

impl crate::Classify for HttpError {
    fn disposition(&self) -> Disposition {
        classify(self)
    }

    /// The status without the body: what an endpoint answered stays in the
    /// delivery's record, not in the answer to whoever asked for a test send.
    fn summary(&self) -> String {
        match self {
            HttpError::Status { status, .. } => format!("HTTP {status}"),
            other => crate::error_chain(other),
        }
    }
}

pub fn classify(error: &HttpError) -> Disposition {
    match error {
        HttpError::Status {
            status,
            retry_after,
            ..
        } => classify_status(*status, *retry_after),
        HttpError::Refused { disposition, .. } => *disposition,
        HttpError::Outbound(_) => Disposition::Permanent,
        HttpError::Timeout(_) | HttpError::Transport(_) => Disposition::Retry { after: None },
    }
}

/// 408, 425, 429 and 5xx may pass; any other non-2xx will answer the same again.
pub fn classify_status(status: StatusCode, retry_after: Option<Duration>) -> Disposition {
    let code = status.as_u16();
    if status.is_server_error() || matches!(code, 408 | 425 | 429) {
        Disposition::Retry { after: retry_after }
    } else {
        Disposition::Permanent
    }
}

/// `Retry-After` as seconds or as an HTTP date; a date in the past means now.
pub fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    Some((at - now).try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn outcomes_table() {
        let retry = |after| Disposition::Retry { after };
        let two = Some(Duration::from_secs(2));
        let cases = [
            (500, None, retry(None)),
            (502, None, retry(None)),
            (503, two, retry(two)),
            (504, None, retry(None)),
            (408, None, retry(None)),
            (425, None, retry(None)),
            (429, two, retry(two)),
            (429, None, retry(None)),
            (400, None, Disposition::Permanent),
            (401, None, Disposition::Permanent),
            (403, None, Disposition::Permanent),
            (404, two, Disposition::Permanent),
            (410, None, Disposition::Permanent),
            (422, None, Disposition::Permanent),
            (301, None, Disposition::Permanent),
        ];
        for (code, after, want) in cases {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(classify_status(status, after), want, "{code}");
        }
        assert_eq!(
            classify(&HttpError::Timeout(Duration::from_secs(1))),
            retry(None)
        );
        assert_eq!(
            classify(&HttpError::Transport("connection refused".into())),
            retry(None)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = time::macros::datetime!(2026-11-21 10:00:00 UTC);
        let cases = [
            ("2", Some(2)),
            (" 120 ", Some(120)),
            ("Sat, 21 Nov 2026 10:00:30 GMT", Some(30)),
            ("Sat, 21 Nov 2026 09:00:00 GMT", Some(0)),
            ("soon", None),
            ("-1", None),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            assert_eq!(
                retry_after(&headers, now),
                want.map(Duration::from_secs),
                "{value}"
            );
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn long_bodies_are_cut_in_messages() {
        let e = HttpError::Status {
            status: StatusCode::NOT_FOUND,
            retry_after: None,
            body: excerpt(&"x".repeat(1000)),
        };
        let text = e.to_string();
        assert!(text.starts_with("HTTP 404 Not Found: xxx"), "{text}");
        assert!(text.chars().count() < 400);
    }
}
