//! WeChat Work (WeCom): a group robot's webhook, as `markdown` (default) or
//! `text`. WeCom answers HTTP 200 either way and says in `errcode` what
//! happened: 0 is success, 45009 is its rate limit (20 messages a minute,
//! retried after a minute), any other code is permanent (93000: the key is
//! invalid).

use std::time::Duration;

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TEXT, TITLE};
use crate::http::HttpError;
use crate::{Channel, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext};

/// WeCom's rate-limit code, and how long its window lasts.
const RATE_LIMITED: i64 = 45009;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…` (a secret).
    #[schemars(with = "String")]
    pub webhook_url: Secret,
    #[serde(default)]
    pub msgtype: MsgType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MsgType {
    #[default]
    Markdown,
    Text,
}

impl Channel for Config {
    const KIND: &'static str = "wecom";
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
        Ok(match self.msgtype {
            MsgType::Text => {
                json!({"msgtype": "text", "text": {"content": format!("{title}\n{text}")}})
            }
            MsgType::Markdown => {
                let link = chat::markdown_link(d.event);
                json!({"msgtype": "markdown", "markdown": {"content": format!("## {title}\n{text}{link}")}})
            }
        })
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let answer = chat::post_json(cx, self.webhook_url.expose(), &body).await?;
        let reply = answer.json().unwrap_or_default();
        match reply["errcode"].as_i64() {
            Some(0) => Ok(()),
            code => Err(HttpError::Refused {
                provider: "WeCom",
                error: format!(
                    "errcode {}: {}",
                    code.map_or("missing".to_owned(), |c| c.to_string()),
                    reply["errmsg"].as_str().unwrap_or(&answer.body)
                ),
                disposition: match code {
                    Some(RATE_LIMITED) => Disposition::Retry {
                        after: Some(WINDOW),
                    },
                    _ => Disposition::Permanent,
                },
            }),
        }
    }
}
