//! Generic webhook: the event as JSON, POSTed (or PUT) to a URL.
//!
//! The body is `{"notification_id", "notifier", "event"}` unless a `body`
//! template says otherwise (then `content_type` says what it is); the default
//! is built natively, the template beside it only documents it. The
//! `Idempotency-Key` header carries the notification id so that a receiver
//! can drop the rare second copy that at-least-once delivery allows.

use std::collections::BTreeMap;

use herald_model::secret::{Mask, SecretField};
use herald_model::{Event, FieldError, Secret};
use reqwest::header::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Disposition, Part, Parts, SendContext};

/// Headers Herald sets itself; settings may not replace them.
const RESERVED: [&str; 5] = [
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "transfer-encoding",
];

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the notification is sent (a secret: it often carries a token).
    #[schemars(with = "String")]
    pub url: Secret,
    #[serde(default)]
    pub method: Method,
    /// Extra request headers (secrets: they often carry credentials).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Secret>,
    /// The `Content-Type` of the body; `application/json` by default.
    #[serde(default)]
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Method {
    #[default]
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
}

/// The JSON body a webhook receives.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub notification_id: Uuid,
    pub notifier: &'a str,
    pub event: &'a Event,
}

pub struct Message {
    body: Vec<u8>,
    idempotency_key: String,
}

const JSON: &str = "application/json";

impl Channel for Config {
    const KIND: &'static str = "webhook";
    const SECRETS: &'static [SecretField] = &[
        SecretField {
            path: "url",
            mask: Mask::Origin,
        },
        SecretField {
            path: "headers.*",
            mask: Mask::Full,
        },
    ];
    const PARTS: &'static [Part] = &[Part {
        name: "body",
        about: "The request body; the default is the notification as JSON.",
        default: include_str!("body.j2"),
    }];
    type Message = Message;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        let url = url::Url::parse(self.url.expose())
            .map_err(|e| FieldError::new("url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(FieldError::new(
                "url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        for (name, value) in &self.headers {
            let field = || format!("headers.{name}");
            let parsed = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FieldError::new(field(), "not a valid HTTP header name"))?;
            if RESERVED.contains(&parsed.as_str()) {
                return Err(FieldError::new(
                    field(),
                    "is set by Herald and cannot be replaced",
                ));
            }
            HeaderValue::from_str(value.expose())
                .map_err(|_| FieldError::new(field(), "not a valid HTTP header value"))?;
        }
        if let Some(content_type) = &self.content_type {
            HeaderValue::from_str(content_type)
                .map_err(|_| FieldError::new("content_type", "not a valid HTTP header value"))?;
        }
        Ok(())
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Message, DeliveryError> {
        let body = match parts.custom("body")? {
            Some(body) => body.into_bytes(),
            None => serde_json::to_vec(&Payload {
                notification_id: d.notification_id,
                notifier: d.notifier,
                event: d.event,
            })
            .map_err(|e| DeliveryError::permanent(format!("cannot encode the payload: {e}")))?,
        };
        Ok(Message {
            body,
            idempotency_key: d.notification_id.to_string(),
        })
    }

    async fn send(&self, message: Message, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let method = match self.method {
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
        };
        let mut request = cx
            .http
            .request(method, self.url.expose())
            .header("content-type", self.content_type.as_deref().unwrap_or(JSON))
            .header("idempotency-key", message.idempotency_key);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        http::send(request.body(message.body), cx.timeout).await
    }

    fn classify(error: &HttpError) -> Disposition {
        http::classify(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<crate::NotifierConfig, FieldError> {
        crate::NotifierConfig::parse("webhook", &v)
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let cases = [
            (json!({"url": "ftp://x/"}), "config.url"),
            (json!({"url": "nope"}), "config.url"),
            (
                json!({"url": "http://x/", "method": "GET"}),
                "config.method",
            ),
            (
                json!({"url": "http://x/", "headers": {"bad name": "v"}}),
                "config.headers.bad name",
            ),
            (
                json!({"url": "http://x/", "headers": {"X-A": "line\nbreak"}}),
                "config.headers.X-A",
            ),
            (
                json!({"url": "http://x/", "headers": {"Content-Type": "text/plain"}}),
                "config.headers.Content-Type",
            ),
            (
                json!({"url": "http://x/", "headers": {"Idempotency-Key": "1"}}),
                "config.headers.Idempotency-Key",
            ),
        ];
        for (config, field) in cases {
            let err = parse(config.clone()).expect_err(&config.to_string());
            assert_eq!(err.field, field, "{config}: {err}");
        }
        assert!(parse(json!({"url": "https://x/h", "method": "PUT", "headers": {"Authorization": "Bearer t"}})).is_ok());
    }

    #[test]
    fn debug_output_hides_the_url_and_headers() {
        let c = parse(
            json!({"url": "https://hooks.example/T0/SECRET", "headers": {"X-Token": "t0k3n"}}),
        )
        .unwrap();
        let text = format!("{c:?}");
        assert!(
            !text.contains("SECRET") && !text.contains("t0k3n"),
            "{text}"
        );
    }
}
