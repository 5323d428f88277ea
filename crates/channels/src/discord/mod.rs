//! Discord: an execute-webhook request with one embed coloured by severity.
//!
//! The request asks `wait=true`, so that Discord answers whether the message
//! was saved instead of a blind 204. A 404 (unknown webhook) and other 4xx
//! are permanent; 429 waits for `Retry-After`; 5xx is retried.

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
    /// `https://discord.com/api/webhooks/<id>/<token>` (a secret).
    #[schemars(with = "String")]
    pub webhook_url: Secret,
    /// Overrides the webhook's name.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

impl Channel for Config {
    const KIND: &'static str = "discord";
    const SECRETS: &'static [SecretField] = &[chat::WEBHOOK_URL];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("webhook_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        chat::check_url("webhook_url", self.webhook_url.expose())?;
        if let Some(url) = &self.avatar_url {
            chat::check_url("avatar_url", url)?;
        }
        Ok(())
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let mut embed = json!({
            "title": chat::clip(&parts.render("title")?, 256),
            "description": chat::clip(&parts.render("text")?, 4096),
            "color": chat::colour(d.event),
            "timestamp": d.event.occurred_at.format(&time::format_description::well_known::Rfc3339).ok(),
        });
        if let Some(url) = &d.event.url {
            embed["url"] = json!(url);
        }
        // Nobody is pinged by what a template inserted.
        let mut body = json!({"embeds": [embed], "allowed_mentions": {"parse": []}});
        if let Some(name) = &self.username {
            body["username"] = json!(name);
        }
        if let Some(avatar) = &self.avatar_url {
            body["avatar_url"] = json!(avatar);
        }
        Ok(body)
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let mut url = url::Url::parse(self.webhook_url.expose())
            .map_err(|e| HttpError::Transport(format!("the webhook URL is invalid: {e}")))?;
        url.query_pairs_mut().append_pair("wait", "true");
        http::send(cx.http().post(url).json(&body), cx)
            .await
            .map(drop)
    }
}
