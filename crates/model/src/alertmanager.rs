//! Prometheus Alertmanager's webhook payload (version 4) read as Herald
//! events, one per alert, so Herald can be an Alertmanager receiver.
//!
//! Each alert becomes an event: `labels` are its labels, `kind` its
//! `alertname`, `severity` its `severity` label ([`alert_severity`]), `title`
//! its `summary` annotation, `message` its `description`, `url` its
//! `generatorURL`, `dedup_key` `alertmanager:<fingerprint>` (so the resolve
//! closes the problem the firing alert opened), `resolved` whether its status
//! is `resolved`, and `data` the alert whole with the receiver, group labels
//! and Alertmanager's URL. Its id is derived from the fingerprint, `startsAt`
//! and the status: Alertmanager sends an alert again (a retry, a repeat) as
//! the same event.
//!
//! It speaks no HTTP; the API hands it the body and the receiver's options.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::{FieldError, from_slice};
use crate::event::{
    Category, Event, EventError, EventInput, Severity, check_count, check_published_form,
};
use crate::limits::{MAX_TITLE_CHARS, MAX_URL_CHARS};

/// The payload version Herald reads (Alertmanager 0.x's current one).
pub const ALERTMANAGER_PAYLOAD_VERSION: &str = "4";

/// The namespace of the ids derived from an alert.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x2f4c_91d7_03ab_4c58_b6e2_58f1_a0c7_3d64);

/// What a receiver's URL may set for its alerts (query parameters of
/// `POST /api/v1/ingest/alertmanager`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerOptions {
    /// The events' `source`: `alertmanager` by default.
    pub source: String,
    /// The events' `category`: `system` by default.
    pub category: Category,
    /// The events' `scope`: the root by default.
    pub scope: String,
}

impl Default for AlertmanagerOptions {
    fn default() -> Self {
        AlertmanagerOptions {
            source: "alertmanager".into(),
            category: Category::System,
            scope: String::new(),
        }
    }
}

/// The webhook body: only what Herald reads; other fields (`groupKey`,
/// `truncatedAlerts`, `commonLabels`, …) are let through.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AlertmanagerPayload {
    pub version: String,
    #[serde(default)]
    pub receiver: String,
    pub alerts: Vec<AlertmanagerAlert>,
    #[serde(default, rename = "groupLabels")]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
}

/// One alert of a webhook body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AlertmanagerAlert {
    pub status: AlertStatus,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt", with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(default, rename = "endsAt", with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// Whether an alert fires or is resolved.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// Reads a webhook body: one event per alert, in order; errors name the
/// alert (`alerts[2].labels.alertname`). `now` stamps a resolve without an
/// end time.
pub fn parse_alertmanager(
    bytes: &[u8],
    options: &AlertmanagerOptions,
    now: OffsetDateTime,
) -> Result<Vec<Event>, EventError> {
    let payload: AlertmanagerPayload = from_slice(bytes)?;
    if payload.version != ALERTMANAGER_PAYLOAD_VERSION {
        return Err(FieldError::new(
            "version",
            format!(
                "Herald reads version {ALERTMANAGER_PAYLOAD_VERSION} of Alertmanager's webhook payload, not `{}`",
                payload.version
            ),
        )
        .into());
    }
    check_count(
        payload.alerts.len(),
        "alerts",
        "alerts",
        " (set max_alerts in the receiver)",
    )?;
    payload
        .alerts
        .iter()
        .enumerate()
        .map(|(i, alert)| {
            alert
                .to_event(&payload, options, now)
                .map_err(|e| name_in_alert(e, i))
        })
        .collect()
}

/// The severity an alert's `severity` label means: `critical` (also `page`,
/// `emergency`, `error`, `high`), `warning` (also `warn`, `medium`), `info`
/// (also `none`, `low`, `notice`), any case; an alert without one, or with
/// another, is a `warning`: someone thought it worth an alert, and nobody
/// said it pages.
pub fn alert_severity(label: Option<&str>) -> Severity {
    match label.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("critical" | "page" | "emergency" | "error" | "high") => Severity::Critical,
        Some("info" | "none" | "low" | "notice") => Severity::Info,
        _ => Severity::Warning,
    }
}

impl AlertmanagerAlert {
    fn to_event(
        &self,
        payload: &AlertmanagerPayload,
        options: &AlertmanagerOptions,
        now: OffsetDateTime,
    ) -> Result<Event, EventError> {
        let fingerprint = self.fingerprint();
        let resolved = self.status == AlertStatus::Resolved;
        // Alertmanager writes the zero time (year 1) for "no end".
        let ended = self.ends_at.filter(|t| t.year() > 1);
        let input = EventInput {
            id: Some(self.id(&options.source, &fingerprint)),
            source: options.source.clone(),
            category: options.category,
            kind: self.labels.get("alertname").cloned().unwrap_or_default(),
            severity: alert_severity(self.labels.get("severity").map(String::as_str)),
            scope: options.scope.clone(),
            title: self.title(),
            message: self.annotation(&["description", "message"]),
            labels: self.labels.clone(),
            data: self.data(payload, &fingerprint, ended),
            dedup_key: Some(format!("alertmanager:{fingerprint}")),
            resolved,
            occurred_at: Some(match resolved {
                true => ended.unwrap_or(now),
                false => self.starts_at,
            }),
            url: self.url(),
        };
        let event = input.validate(now).map_err(rename)?;
        check_published_form(&event)?;
        Ok(event)
    }

    /// Alertmanager's fingerprint (a hash of the labels); one computed from
    /// the labels when a sender left it out.
    fn fingerprint(&self) -> String {
        if !self.fingerprint.is_empty() {
            return self.fingerprint.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}\u{1f}{v}"))
            .collect();
        let hash = Uuid::new_v5(&ID_NAMESPACE, labels.join("\u{1e}").as_bytes());
        hash.simple().to_string()[..16].to_owned()
    }

    /// The same alert, started at the same time and in the same state, is the
    /// same event however often Alertmanager sends it.
    fn id(&self, source: &str, fingerprint: &str) -> Uuid {
        let status = self.status.as_str();
        let started = self.starts_at.unix_timestamp_nanos();
        Uuid::new_v5(
            &ID_NAMESPACE,
            format!("{source}\u{1f}{fingerprint}\u{1f}{started}\u{1f}{status}").as_bytes(),
        )
    }

    fn annotation(&self, names: &[&str]) -> String {
        names
            .iter()
            .find_map(|n| self.annotations.get(*n).filter(|v| !v.trim().is_empty()))
            .cloned()
            .unwrap_or_default()
    }

    /// The `summary` (or `title`) annotation, cut to the title limit: a long
    /// summary must not refuse the whole notification (Alertmanager does not
    /// retry a 4xx); the whole of it stays in `data.annotations`.
    fn title(&self) -> String {
        let summary = self.annotation(&["summary", "title"]);
        if summary.chars().nth(MAX_TITLE_CHARS).is_none() {
            return summary;
        }
        let cut = summary
            .char_indices()
            .nth(MAX_TITLE_CHARS - 1)
            .map_or(summary.len(), |(i, _)| i);
        format!("{}…", &summary[..cut])
    }

    /// `generatorURL` when it is a URL Herald accepts; kept in `data` anyway.
    fn url(&self) -> Option<String> {
        let url = self.generator_url.trim();
        let fits = !url.is_empty() && url.chars().nth(MAX_URL_CHARS).is_none();
        (fits && url::Url::parse(url).is_ok()).then(|| url.to_owned())
    }

    /// The alert whole, with where it came from. Only what stays the same when
    /// Alertmanager sends the alert again is kept (not the group's common
    /// labels, which change as alerts join it, nor a firing alert's end,
    /// which moves forward on every send), so that a repeat is the same event.
    fn data(
        &self,
        payload: &AlertmanagerPayload,
        fingerprint: &str,
        ended: Option<OffsetDateTime>,
    ) -> Value {
        let time = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let mut data = json!({
            "status": self.status.as_str(),
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": time(self.starts_at),
            "generatorURL": self.generator_url,
            "fingerprint": fingerprint,
            "receiver": payload.receiver,
            "groupLabels": payload.group_labels,
            "externalURL": payload.external_url,
        });
        if let (AlertStatus::Resolved, Some(ended)) = (self.status, ended) {
            data["endsAt"] = json!(time(ended));
        }
        data
    }
}

/// A Herald field error named as the part of the alert it came from.
fn rename(e: FieldError) -> FieldError {
    let field = match e.field.as_str() {
        "kind" => "labels.alertname".to_owned(),
        "dedup_key" => "fingerprint".to_owned(),
        "message" => "annotations.description".to_owned(),
        "scope" | "source" | "category" => return e,
        other => other.to_owned(),
    };
    FieldError::new(field, e.message)
}

/// Names an alert's error by its index; the options' errors stay theirs.
fn name_in_alert(e: EventError, i: usize) -> EventError {
    let place = |e: FieldError| match e.field.as_str() {
        "scope" | "source" | "category" => e,
        _ => e.within(&format!("alerts[{i}]")),
    };
    match e {
        EventError::Invalid(e) => EventError::Invalid(place(e)),
        EventError::TooLarge(e) => EventError::TooLarge(place(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::assert_reads_back;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-21 10:00 UTC)
    }

    fn alert(status: &str) -> Value {
        json!({
            "status": status,
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-01:9100"},
            "annotations": {"summary": "Disk full on db-01", "description": "/var is 99% full",
                            "runbook_url": "https://runbooks.example/disk"},
            "startsAt": "2026-11-21T09:00:00.123Z",
            "endsAt": if status == "resolved" { "2026-11-21T09:30:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
            "fingerprint": "c0ffee1234567890"
        })
    }

    fn payload(alerts: Vec<Value>) -> Value {
        json!({
            "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
            "status": "firing", "receiver": "herald",
            "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": {"alertname": "DiskFull"}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093", "alerts": alerts
        })
    }

    /// The events read from `v`, checked to read back as the router reads them.
    fn parse(v: Value) -> Result<Vec<Event>, FieldError> {
        let events = parse_alertmanager(
            v.to_string().as_bytes(),
            &AlertmanagerOptions::default(),
            now(),
        )
        .map_err(|e| e.field_error().clone())?;
        events.iter().for_each(assert_reads_back);
        Ok(events)
    }

    #[test]
    fn severity_labels_map_to_herald_severities() {
        let cases = [
            (Some("critical"), Severity::Critical),
            (Some("Critical"), Severity::Critical),
            (Some("page"), Severity::Critical),
            (Some("error"), Severity::Critical),
            (Some("warning"), Severity::Warning),
            (Some("warn"), Severity::Warning),
            (Some("info"), Severity::Info),
            (Some("none"), Severity::Info),
            (Some("low"), Severity::Info),
            (Some("whatever"), Severity::Warning),
            (None, Severity::Warning),
        ];
        for (label, want) in cases {
            assert_eq!(alert_severity(label), want, "{label:?}");
        }
    }

    #[test]
    fn a_firing_alert_becomes_an_event() {
        let events = parse(payload(vec![alert("firing")])).unwrap();
        let e = &events[0];
        assert_eq!(e.source, "alertmanager");
        assert_eq!(
            (e.category, e.kind.as_str()),
            (Category::System, "DiskFull")
        );
        assert_eq!(e.severity, Severity::Critical);
        assert_eq!(e.title, "Disk full on db-01");
        assert_eq!(e.message, "/var is 99% full");
        assert_eq!(e.labels["instance"], "db-01:9100");
        assert_eq!(e.labels["alertname"], "DiskFull");
        assert_eq!(
            e.dedup_key.as_deref(),
            Some("alertmanager:c0ffee1234567890")
        );
        assert!(!e.resolved);
        assert_eq!(
            e.occurred_at,
            time::macros::datetime!(2026-11-21 09:00:00.123 UTC)
        );
        assert_eq!(
            e.url.as_deref(),
            Some("http://prometheus.example:9090/graph?g0.expr=up")
        );
        assert_eq!(
            e.data["annotations"]["runbook_url"],
            "https://runbooks.example/disk"
        );
        assert_eq!(e.data["receiver"], "herald");
        assert_eq!(e.data["externalURL"], "http://alertmanager.example:9093");
        assert_eq!(e.data["groupLabels"]["alertname"], "DiskFull");
        assert!(e.data.get("endsAt").is_none(), "{}", e.data);
    }

    #[test]
    fn a_resolved_alert_resolves_the_same_problem_at_its_end() {
        let firing = parse(payload(vec![alert("firing")])).unwrap().remove(0);
        let resolved = parse(payload(vec![alert("resolved")])).unwrap().remove(0);
        assert!(resolved.resolved);
        assert_eq!(resolved.dedup_key, firing.dedup_key);
        assert_ne!(resolved.id, firing.id);
        assert_eq!(
            resolved.occurred_at,
            time::macros::datetime!(2026-11-21 09:30 UTC)
        );
        assert_eq!(resolved.data["endsAt"], "2026-11-21T09:30:00Z");
    }

    #[test]
    fn ids_are_the_same_for_a_resend_and_differ_for_a_new_firing() {
        let first = parse(payload(vec![alert("firing")])).unwrap().remove(0);
        let mut resent = alert("firing");
        resent["endsAt"] = json!("2026-11-21T09:05:00Z");
        let mut regrouped = payload(vec![resent]);
        regrouped["commonLabels"] = json!({});
        let again = parse(regrouped).unwrap().remove(0);
        assert_eq!(again.id, first.id);
        assert!(first.same_content(&again), "a resend is the same event");
        let mut later = alert("firing");
        later["startsAt"] = json!("2026-11-21T11:00:00Z");
        assert_ne!(parse(payload(vec![later])).unwrap()[0].id, first.id);
        let other = AlertmanagerOptions {
            source: "am-eu".into(),
            ..AlertmanagerOptions::default()
        };
        let elsewhere = parse_alertmanager(
            payload(vec![alert("firing")]).to_string().as_bytes(),
            &other,
            now(),
        )
        .unwrap();
        assert_ne!(elsewhere[0].id, first.id, "another source");
        assert_eq!(elsewhere[0].source, "am-eu");
    }

    #[test]
    fn sparse_alerts_take_defaults() {
        let events = parse(payload(vec![json!({
            "status": "firing", "labels": {"alertname": "Up"},
            "startsAt": "2026-11-21T09:00:00Z", "generatorURL": "not a url"
        })]))
        .unwrap();
        let e = &events[0];
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.title, "alertmanager: system Up");
        assert_eq!(e.url, None);
        assert_eq!(e.data["generatorURL"], "not a url");
        let fingerprint = e.dedup_key.as_deref().unwrap();
        assert_eq!(
            fingerprint.len(),
            "alertmanager:".len() + 16,
            "{fingerprint}"
        );
    }

    #[test]
    fn a_long_summary_is_cut_to_the_title_limit() {
        let mut long = alert("firing");
        long["annotations"]["summary"] = json!("s".repeat(5000));
        let e = parse(payload(vec![long])).unwrap().remove(0);
        assert_eq!(e.title.chars().count(), MAX_TITLE_CHARS);
        assert_eq!(
            e.data["annotations"]["summary"].as_str().unwrap().len(),
            5000
        );
    }

    #[test]
    fn bad_payloads_are_refused_naming_the_field() {
        let mut no_start = alert("firing");
        no_start.as_object_mut().unwrap().remove("startsAt");
        let mut bad_status = alert("firing");
        bad_status["status"] = json!("burning");
        let mut numeric_label = alert("firing");
        numeric_label["labels"]["code"] = json!(500);
        let mut long_label = alert("firing");
        long_label["labels"]["instance"] = json!("x".repeat(2000));
        let mut wrong_version = payload(vec![alert("firing")]);
        wrong_version["version"] = json!("3");
        let mut no_alerts = payload(vec![]);
        no_alerts.as_object_mut().unwrap().remove("alerts");
        let cases = [
            (
                payload(vec![alert("firing"), no_start]),
                "alerts[1].startsAt",
            ),
            (payload(vec![bad_status]), "alerts[0].status"),
            (payload(vec![numeric_label]), "alerts[0].labels.code"),
            (payload(vec![long_label]), "alerts[0].labels.instance"),
            (wrong_version, "version"),
            (no_alerts, "alerts"),
            (json!("a payload"), ""),
        ];
        for (body, field) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e}");
        }
        let job = AlertmanagerOptions {
            category: Category::Job,
            ..AlertmanagerOptions::default()
        };
        let e = parse_alertmanager(
            payload(vec![alert("firing")]).to_string().as_bytes(),
            &job,
            now(),
        )
        .unwrap_err();
        assert_eq!(e.field_error().field, "alerts[0].labels.alertname", "{e}");
        let bad_scope = AlertmanagerOptions {
            scope: "a//b".into(),
            ..AlertmanagerOptions::default()
        };
        let e = parse_alertmanager(
            payload(vec![alert("firing")]).to_string().as_bytes(),
            &bad_scope,
            now(),
        )
        .unwrap_err();
        assert_eq!(e.field_error().field, "scope", "{e}");
    }

    #[test]
    fn an_empty_notification_is_no_events() {
        assert!(parse(payload(vec![])).unwrap().is_empty());
    }
}
