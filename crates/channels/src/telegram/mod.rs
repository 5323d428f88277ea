//! Telegram: Bot API `sendMessage` to each chat id, in HTML parse mode with
//! the rendered text escaped (bold title, message, link). Each chat's outcome
//! is kept; a retry sends only to the chats that did not get it.
//!
//! The Bot API answers `{"ok": false, "error_code": …, "description": …}`,
//! with the HTTP status equal to `error_code`: 400 and 403 ("chat not found",
//! "bot was blocked by the user") are permanent; 429 waits for
//! `parameters.retry_after`; 5xx is retried.

use std::time::Duration;

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::targets::{self, TargetErrors};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

const API_URL: &str = "https://api.telegram.org";
/// The longest text `sendMessage` takes, after entities are parsed.
const TEXT_MAX: usize = 4096;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bot's token from @BotFather, `123456:ABC…` (a secret).
    #[schemars(with = "String")]
    pub token: Secret,
    /// Chat ids (`-100…` for groups and channels) or `@channelusername`.
    pub chat_ids: Vec<String>,
    /// The Bot API base URL (a self-hosted Bot API server, or tests).
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
}

/// Text safe in Telegram's HTML parse mode: only `&`, `<` and `>` need it.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Channel for Config {
    const KIND: &'static str = "telegram";
    const SECRETS: &'static [SecretField] = &[SecretField::full("token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = Value;
    type Error = TargetErrors<HttpError>;

    fn validate(&self) -> Result<(), FieldError> {
        if !self.token.expose().contains(':') {
            return Err(FieldError::new(
                "token",
                "must be a bot token, `<id>:<secret>`",
            ));
        }
        if self.chat_ids.is_empty() {
            return Err(FieldError::new(
                "chat_ids",
                "required: at least one chat id",
            ));
        }
        chat::check_url("api_url", &self.api_url)
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let title = chat::clip(&parts.render("title")?, 256);
        let link = d
            .event
            .url
            .as_ref()
            .map(|url| {
                format!(
                    "\n<a href=\"{}\">Open</a>",
                    escape(url).replace('"', "&quot;")
                )
            })
            .unwrap_or_default();
        let room = TEXT_MAX - title.chars().count() - link.chars().count() - 1;
        let text = chat::clip(&parts.render("text")?, room);
        Ok(json!({
            "text": format!("<b>{}</b>\n{}{link}", escape(&title), escape(&text)),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        }))
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), Self::Error> {
        let url = format!(
            "{}/bot{}/sendMessage",
            self.api_url.trim_end_matches('/'),
            self.token.expose()
        );
        let chats = self.chat_ids.iter().map(String::as_str);
        targets::send_each(cx, chats, |chat_id| {
            let mut body = body.clone();
            body["chat_id"] = json!(chat_id);
            send_message(cx, &url, body)
        })
        .await
    }
}

async fn send_message(cx: &SendContext<'_>, url: &str, body: Value) -> Result<(), HttpError> {
    let answer = http::send(cx.http().post(url).json(&body), cx)
        .await
        .map_err(refusal)?;
    match answer.json() {
        Some(reply) if reply["ok"] == true => Ok(()),
        reply => Err(HttpError::Refused {
            provider: "Telegram",
            error: reply
                .and_then(|r| r["description"].as_str().map(str::to_owned))
                .unwrap_or(answer.body),
            disposition: crate::Disposition::Permanent,
        }),
    }
}

/// A refusal as the Bot API words it (`error_code: description`), waiting as
/// long as its `parameters.retry_after` says.
fn refusal(error: HttpError) -> HttpError {
    http::worded(error, "Telegram", |reply| {
        let text = format!(
            "{}: {}",
            reply["error_code"].as_u64()?,
            reply["description"].as_str().unwrap_or("no description")
        );
        let wait = reply["parameters"]["retry_after"]
            .as_u64()
            .map(Duration::from_secs);
        Some((text, wait))
    })
}
