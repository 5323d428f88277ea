//! Microsoft Teams: a Power Automate "Workflows" webhook with an Adaptive
//! Card (the Office 365 connectors are retired). The title's colour names
//! the severity (`Attention`, `Warning`, `Accent`, `Good` once resolved);
//! the card links to the event's source. Teams answers 202 and posts later.

use herald_model::secret::SecretField;
use herald_model::{Event, FieldError, Secret, Severity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::HttpError;
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The workflow's HTTP trigger URL (a secret: its `sig` is the credential).
    #[schemars(with = "String")]
    pub webhook_url: Secret,
}

/// Adaptive Cards take named colours only.
fn colour(event: &Event) -> &'static str {
    match (event.resolved, event.severity) {
        (true, _) => "Good",
        (false, Severity::Critical) => "Attention",
        (false, Severity::Warning) => "Warning",
        (false, Severity::Info) => "Accent",
    }
}

impl Channel for Config {
    const KIND: &'static str = "teams";
    const SECRETS: &'static [SecretField] = &[chat::WEBHOOK_URL];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("webhook_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        chat::check_url("webhook_url", self.webhook_url.expose())
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let mut card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": parts.render("title")?, "weight": "Bolder",
                 "size": "Large", "color": colour(d.event), "wrap": true},
                {"type": "TextBlock", "text": parts.render("text")?, "wrap": true},
            ],
            "msteams": {"width": "Full"},
        });
        if let Some(url) = &d.event.url {
            card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open", "url": url}]);
        }
        Ok(json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        }))
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        chat::post_json(cx, self.webhook_url.expose(), &body)
            .await
            .map(drop)
    }
}
