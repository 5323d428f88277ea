//! Twilio SMS: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded, with HTTP basic auth (account SID and auth token), once per
//! number in `to`, from `from` or a messaging service. The body is the title
//! and message within Twilio's 1,600 characters. Each number's outcome is
//! kept; a retry sends only to the numbers that did not get it.
//!
//! Twilio answers errors as `{"code": 21211, "message": …, "status": 400}`:
//! 4xx are permanent (an invalid or unverified number, a bad sender) except
//! 429 (code 20429, too many requests), retried like 5xx.

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::targets::{self, TargetErrors};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

const API_URL: &str = "https://api.twilio.com";
/// The longest body Twilio accepts.
const BODY_MAX: usize = 1600;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The account SID, `AC…`.
    pub account_sid: String,
    /// The account's auth token (a secret).
    #[schemars(with = "String")]
    pub auth_token: Secret,
    /// The sending number in E.164 (`+15017122661`); or `messaging_service_sid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A messaging service, `MG…`, instead of `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
    /// The numbers to text, in E.164.
    pub to: Vec<String>,
    /// The API base URL.
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
}

/// Whether `number` is in E.164: `+`, then 2 to 15 digits.
fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

impl Channel for Config {
    const KIND: &'static str = "twilio";
    const SECRETS: &'static [SecretField] = &[SecretField::full("auth_token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = String;
    type Error = TargetErrors<HttpError>;

    fn validate(&self) -> Result<(), FieldError> {
        if !self.account_sid.starts_with("AC") {
            return Err(FieldError::new(
                "account_sid",
                "must be an account SID, `AC…`",
            ));
        }
        match (&self.from, &self.messaging_service_sid) {
            (Some(from), None) if !is_e164(from) => {
                return Err(FieldError::new(
                    "from",
                    "must be a number in E.164, `+15017122661`",
                ));
            }
            (Some(_), None) => {}
            (None, Some(sid)) if !sid.starts_with("MG") => {
                return Err(FieldError::new(
                    "messaging_service_sid",
                    "must be a messaging service SID, `MG…`",
                ));
            }
            (None, Some(_)) => {}
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "messaging_service_sid",
                    "give either `from` or `messaging_service_sid`, not both",
                ));
            }
            (None, None) => {
                return Err(FieldError::new(
                    "from",
                    "required (or `messaging_service_sid`)",
                ));
            }
        }
        if self.to.is_empty() {
            return Err(FieldError::new("to", "required: at least one number"));
        }
        if let Some(bad) = self.to.iter().position(|n| !is_e164(n)) {
            return Err(FieldError::new(
                format!("to.{bad}"),
                "must be a number in E.164, `+15558675310`",
            ));
        }
        chat::check_url("api_url", &self.api_url)
    }

    fn render(&self, _: &Delivery<'_>, parts: &Parts<'_>) -> Result<String, DeliveryError> {
        let text = format!("{}\n{}", parts.render("title")?, parts.render("text")?);
        Ok(chat::clip(&text, BODY_MAX))
    }

    async fn send(&self, body: String, cx: &SendContext<'_>) -> Result<(), Self::Error> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_url.trim_end_matches('/'),
            self.account_sid
        );
        // Validated: one of the two is set.
        let sender = match (&self.from, &self.messaging_service_sid) {
            (Some(from), _) => ("From", from.as_str()),
            (None, sid) => ("MessagingServiceSid", sid.as_deref().unwrap_or_default()),
        };
        let numbers = self.to.iter().map(String::as_str);
        targets::send_each(cx, numbers, |to| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("To", to);
            form.append_pair(sender.0, sender.1);
            form.append_pair("Body", &body);
            let request = cx
                .http()
                .post(&url)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.finish());
            async move { http::send(request, cx).await.map(drop).map_err(refusal) }
        })
        .await
    }
}

/// A refusal as Twilio words it: its error code and message.
fn refusal(error: HttpError) -> HttpError {
    http::worded(error, "Twilio", |reply| {
        let code = reply["code"].as_u64()?;
        let message = reply["message"].as_str().unwrap_or("no message");
        Some((format!("error {code}: {message}"), None))
    })
}
