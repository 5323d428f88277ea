//! Pushover: `POST /1/messages.json` with the application token and the
//! user (or group) key, the title, the message in Pushover's HTML subset
//! (escaped text), the event's link, and a priority from severity: critical
//! 1 (high, bypasses quiet hours), warning 0, info -1 (quiet).
//!
//! Pushover answers `{"status": 1}` on success; a 4xx with `{"status": 0,
//! "errors": […]}` is permanent (an invalid token or user), and so is 429:
//! it means the application's monthly quota is spent, which no retry within
//! the hour cures (the failure waits in the error table); 5xx is retried.

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret, Severity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext};

const API_URL: &str = "https://api.pushover.net";
/// Pushover's limits on a title and a message.
const TITLE_MAX: usize = 250;
const MESSAGE_MAX: usize = 1024;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The application's API token (a secret).
    #[schemars(with = "String")]
    pub token: Secret,
    /// The user or group key to notify (a secret).
    #[schemars(with = "String")]
    pub user_key: Secret,
    /// Only this device of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// One of Pushover's sounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// The API base URL.
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
}

fn priority(severity: Severity) -> i8 {
    match severity {
        Severity::Critical => 1,
        Severity::Warning => 0,
        Severity::Info => -1,
    }
}

/// Pushover's keys: 30 letters and digits.
fn is_key(key: &str) -> bool {
    key.len() == 30 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Channel for Config {
    const KIND: &'static str = "pushover";
    const SECRETS: &'static [SecretField] =
        &[SecretField::full("token"), SecretField::full("user_key")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        if !is_key(self.token.expose()) {
            return Err(FieldError::new(
                "token",
                "must be a 30-character application token",
            ));
        }
        if !is_key(self.user_key.expose()) {
            return Err(FieldError::new(
                "user_key",
                "must be a 30-character user or group key",
            ));
        }
        chat::check_url("api_url", &self.api_url)
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let text = parts.render("text")?;
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let mut body = json!({
            "token": self.token.expose(),
            "user": self.user_key.expose(),
            "title": chat::clip(&parts.render("title")?, TITLE_MAX),
            "message": chat::clip(&escaped, MESSAGE_MAX),
            "html": 1,
            "priority": priority(d.event.severity),
            "timestamp": d.event.occurred_at.unix_timestamp(),
        });
        if let Some(url) = &d.event.url {
            body["url"] = json!(url);
            body["url_title"] = json!("Open");
        }
        if let Some(device) = &self.device {
            body["device"] = json!(device);
        }
        if let Some(sound) = &self.sound {
            body["sound"] = json!(sound);
        }
        Ok(body)
    }

    fn classify(error: &HttpError) -> Disposition {
        match error {
            HttpError::Status { status, .. } if status.as_u16() == 429 => Disposition::Permanent,
            other => http::classify(other),
        }
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let url = format!("{}/1/messages.json", self.api_url.trim_end_matches('/'));
        let answer = chat::post_json(cx, &url, &body).await.map_err(refusal)?;
        match answer.json() {
            Some(reply) if reply["status"] == 1 => Ok(()),
            _ => Err(HttpError::Refused {
                provider: "Pushover",
                error: format!("no `status: 1` in the answer: {}", answer.body),
                disposition: Disposition::Permanent,
            }),
        }
    }
}

/// A refusal as Pushover words it: its `errors`. A 429 stays a status, which
/// `classify` makes permanent.
fn refusal(error: HttpError) -> HttpError {
    if matches!(&error, HttpError::Status { status, .. } if status.as_u16() == 429) {
        return error;
    }
    http::worded(error, "Pushover", |reply| {
        let errors: Vec<&str> = reply["errors"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        Some((errors.join("; "), None))
    })
}
