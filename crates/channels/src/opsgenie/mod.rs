//! Opsgenie Alert API: a firing event creates an alert (`POST /v2/alerts`)
//! whose alias is the event's dedup key (as PagerDuty's), so repeats fold
//! into one alert; an event with `resolved: true` closes the alert by alias
//! (`POST /v2/alerts/{alias}/close?identifierType=alias`). Priority follows
//! severity: critical P1, warning P3, info P5.
//!
//! Opsgenie answers 202 to both (the request is processed asynchronously);
//! 400, 401, 403 and 422 are permanent; 429 and 5xx are retried.

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret, Severity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TITLE};
use crate::http::{self, HttpError};
use crate::pagerduty::dedup_key;
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

/// Opsgenie's limits on an alert's message and description.
const MESSAGE_MAX: usize = 130;
const DESCRIPTION_MAX: usize = 15000;

/// Where the account lives: each region has its own API host.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    #[default]
    Us,
    Eu,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// An API integration's key (a secret).
    #[schemars(with = "String")]
    pub api_key: Secret,
    /// `us` (api.opsgenie.com) or `eu` (api.eu.opsgenie.com).
    #[serde(default)]
    pub region: Region,
    /// A base URL instead of the region's (tests, proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Teams, users or schedules to notify, as Opsgenie's `responders`
    /// (`{"type": "team", "name": "ops"}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<Value>,
}

/// A request to the Alert API: where, and what.
pub struct Message {
    path: String,
    body: Value,
}

fn priority(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "P1",
        Severity::Warning => "P3",
        Severity::Info => "P5",
    }
}

impl Config {
    fn base(&self) -> &str {
        let region = match self.region {
            Region::Us => "https://api.opsgenie.com",
            Region::Eu => "https://api.eu.opsgenie.com",
        };
        self.api_url
            .as_deref()
            .unwrap_or(region)
            .trim_end_matches('/')
    }
}

impl Channel for Config {
    const KIND: &'static str = "opsgenie";
    const SECRETS: &'static [SecretField] = &[SecretField::full("api_key")];
    const PARTS: &'static [Part] = &[
        Part {
            name: "message",
            about: "The alert's message (at most 130 characters).",
            default: TITLE.default,
        },
        Part {
            name: "description",
            about: "The alert's description (at most 15,000 characters).",
            default: crate::chat::TEXT.default,
        },
    ];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = Message;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        if self.api_key.expose().trim().is_empty() {
            return Err(FieldError::new("api_key", "required"));
        }
        match &self.api_url {
            Some(url) => chat::check_url("api_url", url),
            None => Ok(()),
        }
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Message, DeliveryError> {
        let e = d.event;
        let alias = dedup_key(e);
        if e.resolved {
            let mut path = url::form_urlencoded::Serializer::new(String::new());
            path.append_pair("identifierType", "alias");
            return Ok(Message {
                path: format!(
                    "/v2/alerts/{}/close?{}",
                    url::form_urlencoded::byte_serialize(alias.as_bytes()).collect::<String>(),
                    path.finish()
                ),
                body: json!({"source": "Herald", "note": parts.render("message")?}),
            });
        }
        let mut details = serde_json::Map::new();
        details.extend(e.labels.iter().map(|(k, v)| (k.clone(), json!(v))));
        details.insert("event_id".into(), json!(e.id));
        if let Some(url) = &e.url {
            details.insert("url".into(), json!(url));
        }
        let mut body = json!({
            "message": chat::clip(&parts.render("message")?, MESSAGE_MAX),
            "alias": alias,
            "description": chat::clip(&parts.render("description")?, DESCRIPTION_MAX),
            "priority": priority(e.severity),
            "source": e.source,
            "entity": e.scope.to_string(),
            "tags": [e.category.as_str(), e.kind, e.severity.as_str()],
            "details": details,
        });
        if !self.responders.is_empty() {
            body["responders"] = json!(self.responders);
        }
        Ok(Message {
            path: "/v2/alerts".into(),
            body,
        })
    }

    async fn send(&self, message: Message, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let request = cx
            .http()
            .post(format!("{}{}", self.base(), message.path))
            .header(
                "authorization",
                format!("GenieKey {}", self.api_key.expose()),
            )
            .json(&message.body);
        http::send(request, cx).await.map(drop)
    }
}
