//! PagerDuty Events API v2: `trigger` for a firing event, `resolve` for one
//! with `resolved: true`, both with the same `dedup_key`, so that PagerDuty
//! folds repeats into one incident and closes it.
//!
//! The key is the event's `dedup_key`, else `<source>/<scope>/<kind>` (the
//! same problem from the same place). Severity maps one to one (critical,
//! warning, info). 202 is success; 400 is permanent (the event is invalid);
//! 429 and 5xx are retried, as PagerDuty documents.

use herald_model::secret::SecretField;
use herald_model::{Event, FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{self, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

const API_URL: &str = "https://events.pagerduty.com";
/// PagerDuty's limits on a dedup key and a summary.
const DEDUP_KEY_MAX: usize = 255;
const SUMMARY_MAX: usize = 1024;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The integration's 32-character routing key (a secret).
    #[schemars(with = "String")]
    pub routing_key: Secret,
    /// The Events API base URL.
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
}

/// The key PagerDuty groups an event's trigger and resolve by.
pub fn dedup_key(event: &Event) -> String {
    let key = match &event.dedup_key {
        Some(key) => key.clone(),
        None => format!("{}/{}/{}", event.source, event.scope, event.kind),
    };
    key.chars().take(DEDUP_KEY_MAX).collect()
}

impl Channel for Config {
    const KIND: &'static str = "pagerduty";
    const SECRETS: &'static [SecretField] = &[SecretField::full("routing_key")];
    const PARTS: &'static [Part] = &[Part {
        name: "summary",
        about: "The incident's summary (at most 1,024 characters).",
        default: TITLE.default,
    }];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        if self.routing_key.expose().chars().count() != 32 {
            return Err(FieldError::new(
                "routing_key",
                "must be the integration's 32-character routing key",
            ));
        }
        chat::check_url("api_url", &self.api_url)
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let e = d.event;
        let key = self.routing_key.expose();
        if e.resolved {
            return Ok(json!({
                "routing_key": key,
                "event_action": "resolve",
                "dedup_key": dedup_key(e),
            }));
        }
        let mut body = json!({
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup_key(e),
            "payload": {
                "summary": chat::clip(&parts.render("summary")?, SUMMARY_MAX),
                "source": e.source,
                "severity": e.severity.as_str(),
                "timestamp": e.occurred_at.format(&time::format_description::well_known::Rfc3339).ok(),
                "component": e.scope.to_string(),
                "group": e.category.as_str(),
                "class": e.kind,
                "custom_details": {
                    "message": e.message,
                    "labels": e.labels,
                    "data": e.data,
                    "event_id": e.id,
                },
            },
            "client": "Herald",
            "client_url": format!("{}/api/v1/events/{}", d.public_url.trim_end_matches('/'), e.id),
        });
        if let Some(url) = &e.url {
            body["links"] = json!([{"href": url, "text": "Source"}]);
        }
        Ok(body)
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let url = format!("{}/v2/enqueue", self.api_url.trim_end_matches('/'));
        http::send(cx.http().post(url).json(&body), cx)
            .await
            .map(drop)
    }
}
