//! ntfy: a message published to a topic, in ntfy's JSON form (posted to the
//! server's root with the topic inside, so titles need no header encoding):
//! title, message, priority from severity (critical 5, warning 4, info 3),
//! tags, and the event's link as the click action; an optional access token.
//! 4xx are permanent; 429 and 5xx are retried.

use herald_model::secret::SecretField;
use herald_model::{Event, FieldError, Secret, Severity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://ntfy.sh/<topic>`, or a topic on your own server.
    pub topic_url: String,
    /// An access token (`tk_…`, a secret), for protected topics.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub token: Option<Secret>,
}

/// The server's root and the topic of a topic URL.
fn split(topic_url: &str) -> Result<(url::Url, String), String> {
    let mut url = url::Url::parse(topic_url).map_err(|e| format!("not a URL: {e}"))?;
    let topic = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .ok_or("must end with a topic: 1 to 64 letters, digits, - or _")?
        .to_owned();
    url.path_segments_mut()
        .map_err(|()| "must be an http:// or https:// URL".to_owned())?
        .pop();
    Ok((url, topic))
}

fn priority(event: &Event) -> u8 {
    match (event.resolved, event.severity) {
        (true, _) | (false, Severity::Info) => 3,
        (false, Severity::Warning) => 4,
        (false, Severity::Critical) => 5,
    }
}

impl Channel for Config {
    const KIND: &'static str = "ntfy";
    const SECRETS: &'static [SecretField] = &[SecretField::full("token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("topic_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        chat::check_url("topic_url", &self.topic_url)?;
        split(&self.topic_url)
            .map(drop)
            .map_err(|m| FieldError::new("topic_url", m))
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let (_, topic) = split(&self.topic_url).map_err(DeliveryError::permanent)?;
        let tag = if d.event.resolved {
            "white_check_mark"
        } else {
            d.event.severity.as_str()
        };
        let mut body = json!({
            "topic": topic,
            "title": parts.render("title")?,
            "message": parts.render("text")?,
            "priority": priority(d.event),
            "tags": [tag, d.event.category.as_str()],
        });
        if let Some(url) = &d.event.url {
            body["click"] = json!(url);
        }
        Ok(body)
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let (root, _) = split(&self.topic_url).map_err(HttpError::Transport)?;
        let mut request = cx.http().post(root).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        http::send(request, cx).await.map(drop)
    }
}
