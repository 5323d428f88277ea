//! Prometheus Alertmanager as the peer Herald is compared with: a process of
//! its own on a free loopback port, clustering off, a fresh storage directory,
//! and a route that notifies a webhook once per alert, as Herald delivers once
//! per event. Debian's package `prometheus-alertmanager` provides the binary
//! (`ops/services.sh --alertmanager` installs it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_loadkit::Request;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::deployment::free_port;

/// The label that makes each alert its own group, and names it in the webhook.
pub const ID_LABEL: &str = "id";

/// Where the binary is looked for when not given: upstream's name on PATH,
/// then Debian's.
const CANDIDATES: [&str; 3] = [
    "alertmanager",
    "prometheus-alertmanager",
    "/usr/bin/prometheus-alertmanager",
];

pub struct Alertmanager {
    child: Child,
    /// Config, storage and log: removed when this is dropped.
    dir: PathBuf,
    base: String,
    pub version: String,
}

/// The Alertmanager binary: `given`, else the first of the usual names found.
pub fn binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    CANDIDATES
        .iter()
        .map(Path::new)
        .flat_map(|name| {
            if name.is_absolute() {
                vec![name.to_path_buf()]
            } else {
                dirs.iter().map(|d| d.join(name)).collect()
            }
        })
        .find(|p| p.is_file())
        .context("Alertmanager not found (ops/services.sh --alertmanager installs it)")
}

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

impl Alertmanager {
    /// Starts `binary` notifying `webhook`, and waits until it is ready.
    pub async fn start(binary: &Path, webhook: &str) -> anyhow::Result<Alertmanager> {
        let version = version(binary).await?;
        let dir = std::env::temp_dir().join(format!("herald-bench-am-{}", Uuid::now_v7()));
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::write(dir.join("alertmanager.yml"), config(webhook))?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("log"))?;
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Empty: no gossip, a single instance.
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn();
        // From here on the directory is removed on any exit, errors included.
        let mut am = Alertmanager {
            child: match child {
                Ok(c) => c,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    bail!("cannot start {}: {e}", binary.display());
                }
            },
            dir,
            base: format!("http://127.0.0.1:{port}"),
            version,
        };
        am.wait_ready(Duration::from_secs(30)).await?;
        Ok(am)
    }

    async fn wait_ready(&mut self, deadline: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/-/ready", self.base);
        let end = Instant::now() + deadline;
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        loop {
            ticks.tick().await;
            if let Some(status) = self.child.try_wait()? {
                bail!("Alertmanager exited with {status}: {}", self.log());
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > end {
                bail!(
                    "Alertmanager was not ready within {deadline:?}: {}",
                    self.log()
                );
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("Alertmanager is running")
    }

    pub fn alerts_url(&self) -> String {
        format!("{}/api/v2/alerts", self.base)
    }

    /// Kills the process and waits for it; the directory goes with the drop.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `alertmanager, version 0.25.0 (branch: …)`, as the binary says.
async fn version(binary: &Path) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .await
        .with_context(|| format!("cannot run {}", binary.display()))?;
    // Older releases print it on stderr, newer ones on stdout.
    let text = [out.stdout, out.stderr].concat();
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned())
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
