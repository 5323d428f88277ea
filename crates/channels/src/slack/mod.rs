//! Slack: Block Kit inside an attachment coloured by severity (title,
//! message, link), and `text` as the notification fallback; sent to an
//! incoming webhook, or with a bot token by Web API `chat.postMessage` to
//! each of several channels (each channel's outcome kept; a retry sends only
//! to those that did not get it).
//!
//! Slack answers a webhook's errors as plain text with a 4xx status
//! (`invalid_payload`, `channel_not_found`, `channel_is_archived`): permanent;
//! 429 waits for `Retry-After`; 5xx is retried. The Web API answers 200
//! `{"ok": false, "error": "…"}`: permanent (`channel_not_found`,
//! `not_in_channel`, `invalid_auth`, …) except the errors Slack documents as
//! passing (`ratelimited`, `internal_error`, `fatal_error`,
//! `service_unavailable`, `request_timeout`).

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::targets::{self, TargetErrors};
use crate::{Channel, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext};

const API_URL: &str = "https://slack.com/api";

/// Web API errors Slack documents as temporary.
const PASSING: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://hooks.slack.com/services/T…/B…/…` (a secret); or `token`
    /// and `channels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub webhook_url: Option<Secret>,
    /// A bot token, `xoxb-…` (a secret), with the `chat:write` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub token: Option<Secret>,
    /// Channel ids or names the bot posts to, with `token`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// The Web API base URL.
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
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
    const SECRETS: &'static [SecretField] = &[chat::WEBHOOK_URL, SecretField::full("token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] =
        &[Destination::Url("webhook_url"), Destination::Url("api_url")];
    type Message = Value;
    type Error = TargetErrors<HttpError>;

    fn validate(&self) -> Result<(), FieldError> {
        match (&self.webhook_url, &self.token) {
            (Some(url), None) if self.channels.is_empty() => {
                chat::check_url("webhook_url", url.expose())
            }
            (Some(_), None) => Err(FieldError::new(
                "channels",
                "goes with `token`; a webhook posts to its own channel",
            )),
            (None, Some(_)) if self.channels.is_empty() => Err(FieldError::new(
                "channels",
                "required with `token`: the channels to post to",
            )),
            (None, Some(_)) => chat::check_url("api_url", &self.api_url),
            (Some(_), Some(_)) => Err(FieldError::new(
                "token",
                "give either `webhook_url` or `token`, not both",
            )),
            (None, None) => Err(FieldError::new(
                "webhook_url",
                "required (or `token` and `channels`)",
            )),
        }
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

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), Self::Error> {
        match (&self.webhook_url, &self.token) {
            (Some(url), _) => chat::post_json(cx, url.expose(), &body)
                .await
                .map(drop)
                .map_err(|e| TargetErrors(vec![("webhook".to_owned(), e)])),
            (None, Some(token)) => {
                let channels = self.channels.iter().map(String::as_str);
                targets::send_each(cx, channels, |channel| {
                    self.post_message(cx, token, channel, &body)
                })
                .await
            }
            (None, None) => unreachable!("validated: a webhook URL or a token"),
        }
    }
}

impl Config {
    /// `chat.postMessage` of `body` to one channel.
    async fn post_message(
        &self,
        cx: &SendContext<'_>,
        token: &Secret,
        channel: &str,
        body: &Value,
    ) -> Result<(), HttpError> {
        let mut body = body.clone();
        body["channel"] = json!(channel);
        let url = format!("{}/chat.postMessage", self.api_url.trim_end_matches('/'));
        let request = cx.http().post(url).bearer_auth(token.expose()).json(&body);
        let answer = http::send(request, cx).await?;
        let reply = answer.json().unwrap_or_default();
        if reply["ok"] == true {
            return Ok(());
        }
        let error = reply["error"].as_str().unwrap_or("no `ok` in the answer");
        Err(HttpError::Refused {
            provider: "Slack",
            error: error.to_owned(),
            disposition: match PASSING.contains(&error) {
                true => Disposition::Retry { after: None },
                false => Disposition::Permanent,
            },
        })
    }
}
