//! Matrix: an `m.notice` (what bots send, so that other bots do not answer
//! it) to a room, with an HTML body and a plain-text fallback, by
//! `PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}`. The
//! transaction id is the notification id, so a retried send is the same
//! event to the homeserver: idempotent by design. `M_LIMIT_EXCEEDED` waits
//! `Retry-After` (or the older `retry_after_ms`); other 4xx are permanent.

use std::time::Duration;

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
    /// The homeserver's base URL, e.g. `https://matrix.example.org`.
    pub homeserver: String,
    /// The bot user's access token (a secret).
    #[schemars(with = "String")]
    pub access_token: Secret,
    /// `!room:server` (the bot must have joined it).
    pub room_id: String,
}

/// A message and the transaction id it is sent under.
pub struct Message {
    txn: String,
    body: Value,
}

/// Text safe inside HTML.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Channel for Config {
    const KIND: &'static str = "matrix";
    const SECRETS: &'static [SecretField] = &[SecretField::full("access_token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("homeserver")];
    type Message = Message;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        chat::check_url("homeserver", &self.homeserver)?;
        if !self.room_id.starts_with('!') || !self.room_id.contains(':') {
            return Err(FieldError::new(
                "room_id",
                "must be a room id, `!id:server`",
            ));
        }
        Ok(())
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Message, DeliveryError> {
        let title = parts.render("title")?;
        let text = parts.render("text")?;
        let link = match &d.event.url {
            Some(url) => format!("<br><a href=\"{}\">Open</a>", html(url)),
            None => String::new(),
        };
        Ok(Message {
            txn: d.notification_id.to_string(),
            body: json!({
                "msgtype": "m.notice",
                "body": format!("{title}\n{text}"),
                "format": "org.matrix.custom.html",
                "formatted_body": format!(
                    "<b>{}</b><br>{}{link}",
                    html(&title),
                    html(&text).replace('\n', "<br>")
                ),
            }),
        })
    }

    async fn send(&self, message: Message, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let mut url = url::Url::parse(&self.homeserver)
            .map_err(|e| HttpError::Transport(format!("the homeserver URL is invalid: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| HttpError::Transport("the homeserver URL cannot have a path".into()))?
            .pop_if_empty()
            .extend([
                "_matrix",
                "client",
                "v3",
                "rooms",
                &self.room_id,
                "send",
                "m.room.message",
                &message.txn,
            ]);
        let request = cx
            .http()
            .put(url)
            .bearer_auth(self.access_token.expose())
            .json(&message.body);
        http::send(request, cx).await.map(drop).map_err(refusal)
    }
}

/// A refusal as the homeserver words it (`errcode: error`), waiting as long
/// as its `retry_after_ms` says when it sent no `Retry-After`.
fn refusal(error: HttpError) -> HttpError {
    http::worded(error, "Matrix", |reply| {
        let code = reply["errcode"].as_str()?;
        let text = format!("{code}: {}", reply["error"].as_str().unwrap_or(""));
        let wait = reply["retry_after_ms"].as_u64().map(Duration::from_millis);
        Some((text, wait))
    })
}
