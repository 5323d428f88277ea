//! `spawn_app`: Herald with every role, in-process, on a random port, against a
//! fresh database and its own exchange and queue prefix, so tests run in
//! parallel without seeing each other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use herald::{Config, Roles, Running};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::http_sink::SOON;
use super::{SmtpSink, eventually};

pub struct TestApp {
    pub addr: SocketAddr,
    pub config: Config,
    pub vars: HashMap<String, String>,
    pub http: reqwest::Client,
    running: Vec<Running>,
}

/// Herald with the test defaults: short retry waits, a 10s retry budget.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Herald with some variables set otherwise, e.g. `("HERALD_FLUSH_INTERVAL", "300ms")`.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_roles(Roles::ALL, overrides).await
}

/// Only `roles` (at least the API) in the first instance; start the others with
/// [`TestApp::start_roles`], as separate processes would run them.
pub async fn spawn_roles(roles: Roles, overrides: &[(&str, &str)]) -> TestApp {
    assert!(
        roles.api,
        "the first instance serves the API the tests talk to"
    );
    init_logs();
    let id = Uuid::new_v4().simple().to_string();
    let mut vars: HashMap<String, String> = [
        (
            "HERALD_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/herald_test_{id}"),
        ),
        ("HERALD_AMQP_PREFIX", format!("test-{}", &id[..12])),
        (
            "HERALD_SECRET_KEY",
            herald_model::SecretKey::generate_base64(),
        ),
        (
            "HERALD_BOOTSTRAP_TOKEN",
            herald_model::PlainToken::generate().expose().to_owned(),
        ),
        ("HERALD_HTTP_ADDR", "127.0.0.1:0".into()),
        ("HERALD_METRICS_ADDR", "127.0.0.1:0".into()),
        ("HERALD_QUEUE_EXPIRES", "10m".into()),
        ("HERALD_RETRY_MIN_DELAY", "50ms".into()),
        ("HERALD_RETRY_MAX_DELAY", "500ms".into()),
        ("HERALD_RETRY_MAX_ELAPSED", "10s".into()),
        ("HERALD_DELIVERY_TIMEOUT", "5s".into()),
        ("HERALD_DATABASE_POOL", "4".into()),
        ("HERALD_SHUTDOWN_TIMEOUT", "5s".into()),
        // The sinks tests deliver to listen on loopback; `("HERALD_OUTBOUND_ALLOW", "")`
        // runs an instance with no exception to the outbound guard.
        ("HERALD_OUTBOUND_ALLOW", "127.0.0.1,::1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let config =
        Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid");
    let running = herald::start(&config, roles).await.expect(
        "Herald starts (PostgreSQL must be reachable on 127.0.0.1:5432; ops/test.sh starts it)",
    );
    let http = client_with_token(&vars["HERALD_BOOTSTRAP_TOKEN"]);
    let app = TestApp {
        addr: running.addr,
        config,
        vars,
        http,
        running: vec![running],
    };
    app.wait_ready().await;
    app
}

/// An HTTP client that sends `token` as `Authorization: Bearer` on every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .expect("a token is header text");
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("the test client builds")
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = std::env::var("HERALD_TEST_LOG").unwrap_or_else(|_| "error".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The admin token every helper here sends (`HERALD_BOOTSTRAP_TOKEN`).
    pub fn admin_token(&self) -> &str {
        &self.vars["HERALD_BOOTSTRAP_TOKEN"]
    }

    pub fn prefix(&self) -> &str {
        &self.config.amqp_prefix
    }

    /// Waits until `/readyz` says the broker and the database are up.
    pub async fn wait_ready(&self) {
        eventually(
            "Herald to be ready (RabbitMQ must be reachable on 127.0.0.1:5672; ops/test.sh starts it)",
            SOON,
            || async {
                let (status, body) = self.get_url(&self.url("/readyz")).await;
                if status == StatusCode::OK { Ok(()) } else { Err(body.to_string()) }
            },
        )
        .await;
    }

    /// Starts more roles in this process against the same database and broker
    /// prefix, as a second Herald process would be; returns its address.
    pub async fn start_roles(&mut self, roles: Roles) -> SocketAddr {
        let running = herald::start(&self.config, roles)
            .await
            .expect("roles start");
        let addr = running.addr;
        self.running.push(running);
        addr
    }

    /// The variables of this instance as a process environment, for running the
    /// `herald` binary against it.
    pub fn env(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn get_url(&self, url: &str) -> (StatusCode, Value) {
        self.send(self.http.get(url)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_url(&self.url(&format!("/api/v1{path}"))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_raw(path, body.to_string().into_bytes()).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let url = self.url(&format!("/api/v1{path}"));
        self.send(
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            self.http
                .put(self.url(&format!("/api/v1{path}")))
                .json(&body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> StatusCode {
        self.delete_answer(path).await.0
    }

    /// A DELETE's status and body, for a refusal that says why.
    pub async fn delete_answer(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(self.url(&format!("/api/v1{path}"))))
            .await
    }

    pub async fn notifier(&self, name: &str, kind: &str, config: Value) -> Uuid {
        let (status, body) = self
            .post(
                "/notifiers",
                json!({"name": name, "kind": kind, "config": config}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// A webhook notifier to `url`, with `extra` settings merged in.
    pub async fn webhook(&self, name: &str, url: &str, extra: Value) -> Uuid {
        let mut config = json!({"url": url});
        merge(&mut config, extra);
        self.notifier(name, "webhook", config).await
    }

    /// An email notifier through `smtp`, plain SMTP, with `extra` merged in.
    pub async fn email(&self, name: &str, smtp: &SmtpSink, extra: Value) -> Uuid {
        let mut config = json!({
            "host": "127.0.0.1", "port": smtp.port, "security": "none",
            "from": "Herald <herald@example.com>", "to": ["ops@example.com"],
        });
        merge(&mut config, extra);
        self.notifier(name, "email", config).await
    }

    /// A rule; `spec` needs `notifiers`, a name is made up if absent.
    pub async fn rule(&self, mut spec: Value) -> Uuid {
        if spec.get("name").is_none() {
            spec["name"] = json!(format!("rule-{}", Uuid::new_v4()));
        }
        let (status, body) = self.post("/rules", spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Posts events (one object or an array) and returns their ids.
    pub async fn publish(&self, events: Value) -> Vec<Uuid> {
        let (status, body) = self.post("/events", events).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().parse().unwrap())
            .collect()
    }

    pub async fn notifications(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/notifications?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    /// Waits until the notification of `event` to `notifier` has `status`.
    pub async fn wait_notification(
        &self,
        event: Uuid,
        notifier: Uuid,
        status: &str,
        deadline: Duration,
    ) -> Value {
        let query = format!("event_id={event}&notifier_id={notifier}");
        eventually(
            &format!("notification of {event} to be {status}"),
            deadline,
            || async {
                let found = self.notifications(&query).await;
                match found.first() {
                    Some(n) if n["status"] == status => Ok(n.clone()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await
    }

    pub async fn failures(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/failures?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    /// The Prometheus text served at `addr` (this app's own when `None`).
    pub async fn metrics_text(&self, addr: Option<SocketAddr>) -> String {
        let addr = addr.unwrap_or(self.addr);
        let response = self
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    /// Waits until the flush job at `addr` (this app's own when `None`) has
    /// completed `n` more runs than when called.
    pub async fn wait_flush_runs(&self, addr: Option<SocketAddr>, n: f64) {
        let runs = self.metric_at(addr, "herald_flush_runs_total").await;
        eventually(&format!("{n} more flush runs"), SOON, || async {
            let now = self.metric_at(addr, "herald_flush_runs_total").await;
            if now >= runs + n {
                Ok(())
            } else {
                Err(format!("{now} runs"))
            }
        })
        .await;
    }

    /// The value of one sample in `/metrics`, e.g.
    /// `herald_deliveries_total{channel="webhook",outcome="sent"}`; 0 if absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        self.metric_at(None, sample).await
    }

    /// As [`TestApp::metric`], from the process at `addr`.
    pub async fn metric_at(&self, addr: Option<SocketAddr>, sample: &str) -> f64 {
        let text = self.metrics_text(addr).await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(sample)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

/// Each app deletes its queues and drops its database when the test is over,
/// so that test runs leave nothing for the broker to recover on a restart.
impl Drop for TestApp {
    fn drop(&mut self) {
        for running in &self.running {
            running.shutdown_token().cancel();
        }
        let topology = herald_queue::Topology::new(
            &self.config.amqp_prefix,
            self.config.queue_type,
            herald_channels::KINDS,
        );
        let queues = topology.queue_names();
        let amqp_url = self.config.amqp_url.clone();
        let (server, database) = self
            .config
            .database_url
            .rsplit_once('/')
            // Parameters (`?sslmode=require`) are not part of the name.
            .map(|(server, db)| {
                let name = db.split('?').next().unwrap_or(db);
                (server.to_owned(), name.to_owned())
            })
            .unwrap_or_default();
        // The test's runtime is shutting down; clean up from a runtime of our own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(clean_up(&amqp_url, queues, &server, &database));
        });
        let _ = cleanup.join();
    }
}

async fn clean_up(amqp_url: &str, queues: Vec<String>, server: &str, database: &str) {
    use lapin::options::QueueDeleteOptions;
    let connect = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default());
    if let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_secs(5), connect).await
        && let Ok(ch) = conn.create_channel().await
    {
        for queue in queues {
            let _ = ch
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = conn.close(200, "done".into()).await;
    }
    let admin = format!("{server}/postgres");
    if let Ok((client, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            ))
            .await;
    }
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}
