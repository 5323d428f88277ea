//! The plain-text rendering of an event that text channels share: a subject line
//! that says how bad it is, and a body that reads well in a mail client or chat.

use std::fmt::Write;

use herald_model::{Event, Severity};
use time::format_description::well_known::Rfc3339;

use crate::Delivery;

/// `[RESOLVED] ` or `[CRITICAL] ` etc. before the title.
pub fn subject(event: &Event) -> String {
    let tag = if event.resolved {
        "RESOLVED".to_owned()
    } else {
        event.severity.as_str().to_uppercase()
    };
    format!("[{tag}] {}", event.title)
}

/// The event as labelled lines, then its data, then where it came from.
pub fn text_body(delivery: &Delivery<'_>) -> String {
    let e = delivery.event;
    let mut out = String::new();
    let _ = writeln!(out, "{}", e.title);
    if !e.message.is_empty() {
        let _ = writeln!(out, "\n{}", e.message.trim_end());
    }
    out.push('\n');
    let occurred = e.occurred_at.format(&Rfc3339).unwrap_or_default();
    let status = if e.resolved {
        "resolved"
    } else {
        severity_word(e.severity)
    };
    let mut fields = vec![
        ("Status", status.to_owned()),
        ("Severity", e.severity.to_string()),
        ("Category", e.category.to_string()),
    ];
    if !e.kind.is_empty() {
        fields.push(("Kind", e.kind.clone()));
    }
    if !e.scope.is_root() {
        fields.push(("Scope", e.scope.to_string()));
    }
    fields.push(("Source", e.source.clone()));
    fields.push(("Occurred", occurred));
    if let Some(url) = &e.url {
        fields.push(("Link", url.clone()));
    }
    if !e.labels.is_empty() {
        let labels: Vec<String> = e.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        fields.push(("Labels", labels.join(", ")));
    }
    fields.push(("Event", e.id.to_string()));
    for (name, value) in fields {
        let _ = writeln!(out, "{:<10}{value}", format!("{name}:"));
    }
    if !e.data.is_null() {
        let data = serde_json::to_string_pretty(&e.data).unwrap_or_default();
        let _ = writeln!(out, "\nData:\n{data}");
    }
    let _ = write!(
        out,
        "\n-- \nSent by Herald through notifier \"{}\" (notification {}).\n",
        delivery.notifier, delivery.notification_id
    );
    out
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "needs attention now",
        Severity::Warning => "needs attention",
        Severity::Info => "for information",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn event(v: serde_json::Value) -> Event {
        herald_model::parse_event(v.to_string().as_bytes(), time::OffsetDateTime::now_utc())
            .unwrap()
    }

    #[test]
    fn subject_says_how_bad_it_is_or_that_it_is_over() {
        let e = event(json!({"source": "ci", "category": "job", "kind": "failed",
            "severity": "critical", "title": "Deploy failed"}));
        assert_eq!(subject(&e), "[CRITICAL] Deploy failed");
        let r = event(
            json!({"source": "ci", "category": "job", "kind": "succeeded",
            "resolved": true, "title": "Deploy fixed"}),
        );
        assert_eq!(subject(&r), "[RESOLVED] Deploy fixed");
    }

    #[test]
    fn body_lists_what_an_operator_needs() {
        let e = event(json!({"source": "ci", "category": "job", "kind": "failed",
            "severity": "warning", "scope": "acme/web", "title": "Build failed",
            "message": "step 3 of 5", "labels": {"env": "prod"}, "data": {"exit": 2},
            "url": "https://ci.example/42"}));
        let id = Uuid::nil();
        let body = text_body(&Delivery {
            event: &e,
            notification_id: id,
            notifier: "ops",
        });
        for needle in [
            "Build failed\n\nstep 3 of 5\n",
            "Scope:    acme/web\n",
            "Labels:   env=prod\n",
            "Link:     https://ci.example/42\n",
            "\"exit\": 2",
            "notifier \"ops\"",
        ] {
            assert!(body.contains(needle), "missing {needle:?} in:\n{body}");
        }
    }
}
