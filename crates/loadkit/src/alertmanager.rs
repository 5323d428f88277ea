//! Prometheus Alertmanager as a process of its own: on a free loopback port,
//! clustering off, a fresh storage directory, with the configuration it is
//! given. The benchmark runs it as the peer Herald is compared with; the
//! tests run it as the real sender of Herald's Alertmanager receiver.
//! Debian's package `prometheus-alertmanager` provides the binary
//! (`ops/services.sh --alertmanager` installs it).
//!
//! It does not write the configuration: each user knows its own route.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::services::free_port;

/// Where the binary is looked for when not given: `HERALD_TEST_ALERTMANAGER`,
/// upstream's name on PATH, then Debian's.
const CANDIDATES: [&str; 3] = [
    "alertmanager",
    "prometheus-alertmanager",
    "/usr/bin/prometheus-alertmanager",
];

/// How long Alertmanager may take to be ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum AlertmanagerError {
    #[error("Alertmanager not found (ops/services.sh --alertmanager installs it)")]
    NotFound,
    #[error("cannot run {binary}: {source}")]
    Run {
        binary: String,
        source: std::io::Error,
    },
    #[error("Alertmanager's directory {dir}: {source}")]
    Files { dir: String, source: std::io::Error },
    #[error("Alertmanager did not come up: {0}")]
    NotReady(String),
}

pub struct Alertmanager {
    child: Child,
    /// Config, storage and log: removed when this is dropped.
    dir: PathBuf,
    base: String,
    /// `alertmanager, version 0.25.0 (branch: …)`, as the binary says.
    pub version: String,
}

/// The Alertmanager binary: `given`, else `HERALD_TEST_ALERTMANAGER`, else
/// the first of the usual names found.
pub fn binary(given: Option<PathBuf>) -> Result<PathBuf, AlertmanagerError> {
    if let Some(path) =
        given.or_else(|| std::env::var_os("HERALD_TEST_ALERTMANAGER").map(PathBuf::from))
    {
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
        .ok_or(AlertmanagerError::NotFound)
}

impl Alertmanager {
    /// Starts `binary` with `config` (an `alertmanager.yml`), and waits until
    /// it is ready.
    pub async fn start(binary: &Path, config: &str) -> Result<Alertmanager, AlertmanagerError> {
        let version = version(binary).await?;
        let dir = std::env::temp_dir().join(format!("herald-am-{}", Uuid::now_v7()));
        let files = |source| AlertmanagerError::Files {
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir.join("data")).map_err(files)?;
        std::fs::write(dir.join("alertmanager.yml"), config).map_err(files)?;
        let log = std::fs::File::create(dir.join("log")).map_err(files)?;
        let port = free_port();
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
        let child = match child {
            Ok(c) => c,
            Err(source) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(AlertmanagerError::Run {
                    binary: binary.display().to_string(),
                    source,
                });
            }
        };
        // From here on the directory is removed on any exit, errors included.
        let mut am = Alertmanager {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            version,
        };
        am.wait_ready().await?;
        Ok(am)
    }

    async fn wait_ready(&mut self) -> Result<(), AlertmanagerError> {
        let http = reqwest::Client::new();
        let url = format!("{}/-/ready", self.base);
        let end = Instant::now() + READY_WITHIN;
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        loop {
            ticks.tick().await;
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(AlertmanagerError::NotReady(format!(
                    "exited with {status}: {}",
                    self.log()
                )));
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(AlertmanagerError::NotReady(format!(
                    "not ready within {READY_WITHIN:?}: {}",
                    self.log()
                )));
            }
        }
    }

    /// What Alertmanager logged (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Where alerts are posted (API v2).
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

async fn version(binary: &Path) -> Result<String, AlertmanagerError> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .await
        .map_err(|source| AlertmanagerError::Run {
            binary: binary.display().to_string(),
            source,
        })?;
    // Older releases print it on stderr, newer ones on stdout.
    let text = [out.stdout, out.stderr].concat();
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned())
}
