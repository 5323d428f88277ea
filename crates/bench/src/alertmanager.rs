//! Prometheus Alertmanager as the peer Herald is compared with (the process is
//! `herald_loadkit::alertmanager`'s): a route that notifies a webhook once per
//! alert, as Herald delivers once per event, and the alerts the bench sends.

use std::path::Path;

use herald_loadkit::Request;
pub use herald_loadkit::alertmanager::{Alertmanager, binary};
use serde_json::{Value, json};
use uuid::Uuid;

/// The label that makes each alert its own group, and names it in the webhook.
pub const ID_LABEL: &str = "id";

/// A route where every alert is its own group (`...` groups by all labels,
/// and each alert has a unique one) notified at once, and never repeated
/// within a run.
fn config(webhook: &str) -> String {
    format!(
        "route:
  receiver: sink
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: sink
    webhook_configs:
      - url: '{webhook}'
        send_resolved: false
"
    )
}

/// Starts `binary` notifying `webhook` once per alert, and waits until it is
/// ready.
pub async fn start(binary: &Path, webhook: &str) -> anyhow::Result<Alertmanager> {
    Ok(Alertmanager::start(binary, &config(webhook)).await?)
}

/// A firing alert with the id label and what a Herald bench event carries.
pub fn alert(id: Uuid) -> Value {
    json!({
        "labels": {"alertname": "bench", ID_LABEL: id, "severity": "info",
                   "scope": "bench/web/deploy", "env": "bench"},
        "annotations": {"title": "bench event"},
    })
}

/// The id of an alert made by [`alert`].
pub fn alert_id(alert: &Value) -> Uuid {
    alert["labels"][ID_LABEL]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// The ids of the alerts a webhook notification carries:
/// `{"version": "4", "alerts": [{"labels": {"id": …}, …}], …}`.
pub fn notified_ids(request: &Request) -> Vec<Uuid> {
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return Vec::new();
    };
    body["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter_map(|a| a["labels"][ID_LABEL].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
