//! Grafana: an annotation (`POST /api/annotations` with a service account
//! token), so that graphs show when a deployment, a change or a failure
//! happened. Organisation-wide, or on one dashboard (and panel). A resolved
//! event is a region: from `data.started_at` (when the event carries it) to
//! the resolve, tagged `resolved`.
//!
//! Grafana answers 200 `{"message": "Annotation added", "id": …}`; 400, 401,
//! 403 and 404 are permanent; 429 and 5xx are retried.

use herald_model::secret::SecretField;
use herald_model::{Event, FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::chat::{self, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Grafana's base URL, e.g. `https://grafana.example.org`.
    pub url: String,
    /// A service account token with the annotation writer role (a secret).
    #[schemars(with = "String")]
    pub token: Secret,
    /// Only on this dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_uid: Option<String>,
    /// Only on this panel of the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel_id: Option<u64>,
    /// Tags added to the event's own (`herald`, severity, category, source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Milliseconds since the epoch, as Grafana takes times.
fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// When a resolved event's problem began, if the event says.
fn started_at(event: &Event) -> Option<OffsetDateTime> {
    let text = event.data.get("started_at")?.as_str()?;
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

impl Channel for Config {
    const KIND: &'static str = "grafana";
    const SECRETS: &'static [SecretField] = &[SecretField::full("token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("url")];
    type Message = Value;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        if self.panel_id.is_some() && self.dashboard_uid.is_none() {
            return Err(FieldError::new("dashboard_uid", "required with `panel_id`"));
        }
        chat::check_url("url", &self.url)
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Value, DeliveryError> {
        let e = d.event;
        let mut tags = vec![
            "herald".to_owned(),
            e.severity.as_str().to_owned(),
            e.category.as_str().to_owned(),
            e.source.clone(),
        ];
        tags.extend(self.tags.iter().cloned());
        let at = millis(e.occurred_at);
        let mut body = json!({
            "time": at,
            "text": format!("{}\n{}", parts.render("title")?, parts.render("text")?),
        });
        if e.resolved {
            tags.push("resolved".to_owned());
            body["time"] = json!(started_at(e).map_or(at, millis).min(at));
            body["timeEnd"] = json!(at);
        }
        body["tags"] = json!(tags);
        if let Some(uid) = &self.dashboard_uid {
            body["dashboardUID"] = json!(uid);
        }
        if let Some(panel) = self.panel_id {
            body["panelId"] = json!(panel);
        }
        Ok(body)
    }

    async fn send(&self, body: Value, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let url = format!("{}/api/annotations", self.url.trim_end_matches('/'));
        let request = cx
            .http()
            .post(url)
            .bearer_auth(self.token.expose())
            .json(&body);
        http::send(request, cx).await.map(drop)
    }
}
