//! Generic webhook: the event as JSON, POSTed (or PUT) to a URL.
//!
//! The body is `{"notification_id", "notifier", "event"}` (and `events`, a
//! group's events, when the notification sends a group) unless a `body`
//! template says otherwise (then `content_type` says what it is); the default
//! is built natively, the template beside it only documents it. The
//! `Idempotency-Key` header carries the notification id so that a receiver
//! can drop the rare second copy that at-least-once delivery allows.
//!
//! With a `signing_secret` (`whsec_<base64 key>`), each request is signed as
//! the Standard Webhooks specification says, so receivers verify it with the
//! existing libraries (svix, standardwebhooks): `webhook-id` (the
//! notification id, the same on every attempt), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "<id>.<timestamp>.<body>">`.

use std::collections::BTreeMap;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_model::secret::{Mask, SecretField};
use herald_model::{Event, FieldError, Secret};
use reqwest::header::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

/// Headers Herald sets itself; settings may not replace them.
const RESERVED: [&str; 8] = [
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "transfer-encoding",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// How a Standard Webhooks secret is written.
const SECRET_PREFIX: &str = "whsec_";

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
    /// Sign each request (Standard Webhooks) with this key, `whsec_<base64>`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub signing_secret: Option<Secret>,
    /// Check the endpoint's certificate. Turn off only for a self-signed
    /// endpoint on a network you trust.
    #[serde(default = "verify_by_default")]
    pub tls_verify: bool,
}

fn verify_by_default() -> bool {
    true
}

/// The key of a `whsec_<base64>` secret.
pub fn signing_key_of(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        format!("must start with `{SECRET_PREFIX}` followed by the key in base64")
    })?;
    let key = BASE64
        .decode(encoded)
        .map_err(|e| format!("the key after `{SECRET_PREFIX}` is not base64: {e}"))?;
    match key.len() {
        24..=64 => Ok(key),
        n => Err(format!(
            "the key is {n} bytes; use 24 to 64 (32 recommended)"
        )),
    }
}

/// The Standard Webhooks signature of one request.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    context.update(format!("{id}.{timestamp}.").as_bytes());
    context.update(body);
    format!("v1,{}", BASE64.encode(context.sign().as_ref()))
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
    /// A group's events, oldest first, when the notification sends a group.
    #[serde(skip_serializing_if = "<[Event]>::is_empty")]
    pub events: &'a [Event],
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
        SecretField::full("headers.*"),
        SecretField::full("signing_secret"),
    ];
    const PARTS: &'static [Part] = &[Part {
        name: "body",
        about: "The request body; the default is the notification as JSON.",
        default: include_str!("body.j2"),
    }];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("url")];
    type Message = Message;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        crate::chat::check_url("url", self.url.expose())?;
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
        if let Some(secret) = &self.signing_secret {
            signing_key_of(secret.expose()).map_err(|m| FieldError::new("signing_secret", m))?;
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
                events: d.group,
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
        let client = match self.tls_verify {
            true => cx.http(),
            false => cx.outbound.unverified_http(),
        };
        let mut request = client
            .request(method, self.url.expose())
            .header("content-type", self.content_type.as_deref().unwrap_or(JSON))
            .header("idempotency-key", &message.idempotency_key);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        if let Some(secret) = &self.signing_secret {
            let key = signing_key_of(secret.expose()).map_err(HttpError::Transport)?;
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
            let id = &message.idempotency_key;
            request = request
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    signature(&key, id, timestamp, &message.body),
                );
        }
        http::send(request.body(message.body), cx).await.map(drop)
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

    /// The test vector of the Standard Webhooks specification.
    #[test]
    fn signatures_match_the_specification() {
        let key = signing_key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_***",
            "whsec_YWJj",
        ] {
            let err = parse(json!({"url": "http://x/", "signing_secret": bad})).unwrap_err();
            assert_eq!(err.field, "config.signing_secret", "{bad}: {err}");
        }
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
