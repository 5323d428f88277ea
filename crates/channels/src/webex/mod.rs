//! Webex: `POST /v1/messages` to a room with a bot's token, in markdown
//! with a plain-text fallback. 4xx are permanent; 423, 429 (honouring
//! `Retry-After`) and 5xx are retried.

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext};

const API_URL: &str = "https://webexapis.com";

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A bot's access token (a secret).
    #[schemars(with = "String")]
    pub token: Secret,
    pub room_id: String,
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
}

impl Channel for Config {
    const KIND: &'static str = "webex";
    const SECRETS: &'static [SecretField] = &[SecretField::full("token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        if self.room_id.trim().is_empty() {
            return Err(FieldError::new("room_id", "must not be empty"));
        }
        chat::check_url("api_url", &self.api_url)
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let title = parts.render("title")?;
        let text = parts.render("text")?;
        let link = chat::markdown_link(d.event);
        Ok(json!({
            "roomId": self.room_id,
            "markdown": format!("**{title}**\n{text}{link}"),
            "text": format!("{title}\n{text}"),
        }))
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let url = format!("{}/v1/messages", self.api_url.trim_end_matches('/'));
        let request = cx
            .http()
            .post(url)
            .bearer_auth(self.token.expose())
            .json(&body);
        http::send(request, cx).await.map(drop)
    }

    fn classify(error: &HttpError) -> Disposition {
        match error {
            HttpError::Status {
                status,
                retry_after,
                ..
            } if status.as_u16() == 423 => Disposition::Retry {
                after: *retry_after,
            },
            other => http::classify(other),
        }
    }
}
