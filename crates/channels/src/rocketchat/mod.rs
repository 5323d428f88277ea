//! Rocket.Chat: an incoming webhook with an attachment coloured by severity,
//! optionally to another channel, under another alias, emoji or avatar.
//! Rocket.Chat answers `{"success": true}`; `{"success": false}` is a
//! refusal, permanent like its 4xx answers.

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::HttpError;
use crate::mattermost::{attachment, with_optional};
use crate::{Channel, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://<server>/hooks/<id>/<token>` (a secret).
    #[schemars(with = "String")]
    pub webhook_url: Secret,
    /// `#channel` or `@user`.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub emoji: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
}

impl Channel for Config {
    const KIND: &'static str = "rocketchat";
    const SECRETS: &'static [SecretField] = &[chat::WEBHOOK_URL];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("webhook_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        chat::check_url("webhook_url", self.webhook_url.expose())
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let title = parts.render("title")?;
        let text = parts.render("text")?;
        let body = json!({"text": title, "attachments": [attachment(d, &title, &text)]});
        Ok(with_optional(
            body,
            &[
                ("channel", &self.channel),
                ("alias", &self.alias),
                ("emoji", &self.emoji),
                ("avatar", &self.avatar),
            ],
        ))
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let answer = chat::post_json(cx, self.webhook_url.expose(), &body).await?;
        match answer.json().and_then(|b| b["success"].as_bool()) {
            Some(false) => Err(HttpError::Refused {
                provider: "Rocket.Chat",
                error: answer.body,
                disposition: Disposition::Permanent,
            }),
            _ => Ok(()),
        }
    }
}
