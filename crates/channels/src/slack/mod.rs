//! Slack: an incoming webhook with Block Kit inside an attachment coloured by
//! severity (title, message, link), and `text` as the notification fallback.
//!
//! Slack answers a webhook's errors as plain text with a 4xx status
//! (`invalid_payload`, `channel_not_found`, `channel_is_archived`): permanent;
//! 429 waits for `Retry-After`; 5xx is retried.

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::HttpError;
use crate::{Channel, Delivery, DeliveryError, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://hooks.slack.com/services/T…/B…/…` (a secret).
    #[schemars(with = "String")]
    pub webhook_url: Secret,
}

/// Text as Slack's `mrkdwn` takes it: `&`, `<` and `>` escaped, so that a
/// template's output cannot turn into a mention or a link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Channel for Config {
    const KIND: &'static str = "slack";
    const SECRETS: &'static [SecretField] = &[chat::WEBHOOK_URL];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        chat::check_url("webhook_url", self.webhook_url.expose())
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let title = parts.render("title")?;
        let text = parts.render("text")?;
        let mut blocks = vec![json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("*{}*\n{}", escape(&title), escape(&text))},
        })];
        if let Some(url) = &d.event.url {
            blocks.push(json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": format!("<{url}|Open>")}],
            }));
        }
        Ok(json!({
            "text": title,
            "attachments": [{"color": chat::hex(chat::colour(d.event)), "blocks": blocks}],
        }))
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        chat::post_json(cx, self.webhook_url.expose(), &body)
            .await
            .map(drop)
    }
}
