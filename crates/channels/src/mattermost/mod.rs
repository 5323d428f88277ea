//! Mattermost: an incoming webhook with a Slack-style attachment coloured by
//! severity, optionally to another channel and under another name or icon.
//! Mattermost answers `200 ok`; its errors come with a 4xx (permanent).

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::HttpError;
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://<server>/hooks/<key>` (a secret).
    #[schemars(with = "String")]
    pub webhook_url: Secret,
    /// A channel's name (not its display name), or `@user`.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
}

/// The attachment Mattermost and Rocket.Chat both read: Slack's legacy shape.
pub(crate) fn attachment(d: &Delivery<'_>, title: &str, text: &str) -> Value {
    let mut attachment = json!({
        "fallback": title,
        "color": chat::hex(chat::colour(d.event)),
        "title": title,
        "text": text,
    });
    if let Some(url) = &d.event.url {
        attachment["title_link"] = json!(url);
    }
    attachment
}

/// Sets the optional string fields that are present.
pub(crate) fn with_optional(mut body: Value, fields: &[(&str, &Option<String>)]) -> Value {
    for (name, value) in fields {
        if let Some(value) = value {
            body[*name] = json!(value);
        }
    }
    body
}

impl Channel for Config {
    const KIND: &'static str = "mattermost";
    const SECRETS: &'static [SecretField] = &[chat::WEBHOOK_URL];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("webhook_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        chat::check_url("webhook_url", self.webhook_url.expose())?;
        match &self.icon_url {
            Some(url) => chat::check_url("icon_url", url),
            None => Ok(()),
        }
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let title = parts.render("title")?;
        let text = parts.render("text")?;
        let body = json!({"attachments": [attachment(d, &title, &text)]});
        Ok(with_optional(
            body,
            &[
                ("channel", &self.channel),
                ("username", &self.username),
                ("icon_url", &self.icon_url),
            ],
        ))
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        chat::post_json(cx, self.webhook_url.expose(), &body)
            .await
            .map(drop)
    }
}
