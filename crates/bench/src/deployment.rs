//! A throwaway Herald deployment: `herald` role processes against a fresh
//! database and broker prefix on loopback.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use herald_loadkit::HeraldProcess;
use serde_json::{Value, json};
use uuid::Uuid;

/// The machine's own broker.
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Where a deployment's broker and database server are.
#[derive(Debug, Clone)]
pub struct Place {
    pub amqp: String,
    /// A PostgreSQL URL without the database name.
    pub database_server: String,
}

impl Place {
    /// The machine's own RabbitMQ and PostgreSQL.
    pub fn local() -> Place {
        Place {
            amqp: AMQP.into(),
            database_server: "postgres://postgres@127.0.0.1:5432".into(),
        }
    }
}

pub struct Deployment {
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub api: String,
    pub http: reqwest::Client,
    pub database: String,
    processes: HashMap<String, HeraldProcess>,
}

/// A free loopback port, for a process that will bind it next.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `herald` binary next to this one (the same cargo profile), unless given.
pub fn herald_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("the executable has a directory")?
            .join("herald"),
    };
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p herald)",
            path.display()
        );
    }
    Ok(path)
}

/// A client sending `token` as `Authorization: Bearer` on every request.
fn authorized_client(token: &str) -> anyhow::Result<reqwest::Client> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?;
    value.set_sensitive(true);
    let headers = reqwest::header::HeaderMap::from_iter([(reqwest::header::AUTHORIZATION, value)]);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

impl Deployment {
    /// Prepares (does not start) a deployment named `name` against the local
    /// services, with `vars` set on top of Herald's localhost defaults.
    pub fn new(binary: PathBuf, name: &str, vars: &[(&str, &str)]) -> anyhow::Result<Deployment> {
        Deployment::at(binary, name, vars, &Place::local())
    }

    /// As [`Deployment::new`], against the broker and database server of `place`.
    pub fn at(
        binary: PathBuf,
        name: &str,
        vars: &[(&str, &str)],
        place: &Place,
    ) -> anyhow::Result<Deployment> {
        let id = Uuid::now_v7().simple().to_string();
        let database = format!("herald_{name}_{}", &id[20..]);
        let port = free_port()?;
        let token = herald_model::PlainToken::generate();
        let mut env: Vec<(String, String)> = vec![
            (
                "HERALD_DATABASE_URL".into(),
                format!("{}/{database}", place.database_server),
            ),
            ("HERALD_AMQP_URL".into(), place.amqp.clone()),
            ("HERALD_AMQP_PREFIX".into(), format!("{name}-{}", &id[20..])),
            (
                "HERALD_SECRET_KEY".into(),
                herald_model::SecretKey::generate_base64(),
            ),
            ("HERALD_HTTP_ADDR".into(), format!("127.0.0.1:{port}")),
            ("HERALD_METRICS_ADDR".into(), "127.0.0.1:0".into()),
            ("HERALD_QUEUE_EXPIRES".into(), "30m".into()),
            ("HERALD_BOOTSTRAP_TOKEN".into(), token.expose().to_owned()),
            // The load is the point: no token is held to a rate.
            ("HERALD_INGEST_RATE".into(), "0".into()),
            ("HERALD_LOG".into(), "warn".into()),
            // The sinks it delivers to listen on loopback.
            ("HERALD_OUTBOUND_ALLOW".into(), "127.0.0.1,::1".into()),
        ];
        for (k, v) in vars {
            env.retain(|(name, _)| name != k);
            env.push(((*k).into(), (*v).into()));
        }
        Ok(Deployment {
            binary,
            env,
            api: format!("http://127.0.0.1:{port}/api/v1"),
            http: authorized_client(token.expose())?,
            database,
            processes: HashMap::new(),
        })
    }

    /// Starts `role` (replacing a process of that name), e.g. `api`, `sender`.
    pub fn start(&mut self, name: &str, role: &str) {
        let process = HeraldProcess::start(&self.binary, role, &self.env);
        self.processes.insert(name.to_owned(), process);
    }

    pub fn process(&mut self, name: &str) -> Option<&mut HeraldProcess> {
        self.processes.get_mut(name)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.processes.values().map(HeraldProcess::pid).collect()
    }

    /// Waits until the API answers `/readyz` with 200.
    pub async fn wait_ready(&self, deadline: Duration) -> anyhow::Result<()> {
        let url = self.api.replace("/api/v1", "/readyz");
        let end = tokio::time::Instant::now() + deadline;
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        loop {
            ticks.tick().await;
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= end {
                let logs: Vec<String> = self
                    .processes
                    .values()
                    .map(|p| p.log.display().to_string())
                    .collect();
                bail!(
                    "Herald was not ready within {deadline:?} (are RabbitMQ and PostgreSQL running? logs: {logs:?})"
                );
            }
        }
    }

    /// POSTs `body` to `path` under the API and returns the answer's JSON.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.api))
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    /// A webhook notifier to `url`; returns its id.
    pub async fn webhook(&self, name: &str, url: &str, extra: Value) -> anyhow::Result<String> {
        let mut config = json!({"url": url});
        if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
            c.extend(e);
        }
        let answer = self
            .post(
                "/notifiers",
                json!({"name": name, "kind": "webhook", "config": config}),
            )
            .await?;
        Ok(answer["id"]
            .as_str()
            .context("the notifier has an id")?
            .to_owned())
    }

    /// The value of a HERALD_* variable of this deployment.
    pub fn var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn events_url(&self) -> String {
        format!("{}/events", self.api)
    }

    /// Stops every process, deletes the deployment's queues and drops its
    /// database, wherever its variables point.
    pub async fn tear_down(mut self) {
        for (_, mut p) in self.processes.drain() {
            p.kill().await;
        }
        let prefix = self.var("HERALD_AMQP_PREFIX").unwrap_or_default();
        let amqp = self.var("HERALD_AMQP_URL").unwrap_or_else(|| AMQP.into());
        // Every queue Herald declared, one per kind and lane: left behind,
        // each costs the broker its statistics until it expires, and the runs
        // after this one would measure that too.
        let topology = herald_queue::Topology::new(
            &prefix,
            herald_queue::QueueType::Classic,
            herald_channels::KINDS,
        );
        let connect = lapin::Connection::connect(&amqp, lapin::ConnectionProperties::default());
        if let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_secs(5), connect).await
            && let Ok(ch) = conn.create_channel().await
        {
            for queue in topology.queue_names() {
                let _ = ch
                    .queue_delete(queue.as_str().into(), Default::default())
                    .await;
            }
        }
        let database_url = self.var("HERALD_DATABASE_URL").unwrap_or_default();
        let server = database_url
            .rsplit_once('/')
            .map_or("", |(server, _)| server);
        let _ = tokio::process::Command::new("psql")
            .arg(format!("{server}/postgres"))
            .arg("-qc")
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.database
            ))
            .status()
            .await;
    }
}
