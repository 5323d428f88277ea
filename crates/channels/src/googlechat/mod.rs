//! Google Chat: a space's incoming webhook, as text (the default) or as a
//! card (`format: "card"`: a header, the text, a button to the source).
//! Google's errors are 4xx (permanent) or 429/5xx (retried).

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…` (a secret).
    #[schemars(with = "String")]
    pub webhook_url: Secret,
    #[serde(default)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Text,
    Card,
}

impl Channel for Config {
    const KIND: &'static str = "googlechat";
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
        if self.format == Format::Text {
            return Ok(json!({"text": format!("*{title}*\n{text}")}));
        }
        let mut widgets = vec![json!({"textParagraph": {"text": text}})];
        if let Some(url) = &d.event.url {
            widgets.push(json!({"buttonList": {"buttons": [
                {"text": "Open", "onClick": {"openLink": {"url": url}}},
            ]}}));
        }
        Ok(json!({
            "text": title,
            "cardsV2": [{
                "cardId": d.notification_id.to_string(),
                "card": {
                    "header": {"title": title, "subtitle": d.event.source},
                    "sections": [{"widgets": widgets}],
                },
            }],
        }))
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let request = cx
            .http()
            .post(self.webhook_url.expose())
            .header("content-type", "application/json; charset=UTF-8")
            .body(body.to_string());
        http::send(request, cx).await.map(drop)
    }
}
