//! Configuration from environment variables, each with a localhost default.
//! [`VARS`] is the one list of them; `herald env` prints it as the README table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use herald_channels::Guard;
use herald_model::{Keyring, PlainToken, Secret, Span};
use herald_queue::QueueType;
use herald_sender::RetryPolicy;

/// Name, default (empty: unset) and meaning of every variable.
pub const VARS: &[(&str, &str, &str)] = &[
    (
        "HERALD_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        "RabbitMQ to use; `amqps://` for TLS.",
    ),
    (
        "HERALD_AMQP_CA_FILE",
        "",
        "PEM file of a private CA to trust for `amqps://`, beside the platform's roots.",
    ),
    (
        "HERALD_AMQP_PREFIX",
        "herald",
        "Prefix of every exchange and queue name.",
    ),
    (
        "HERALD_QUEUE_TYPE",
        "classic",
        "`classic`, or `quorum` for a RabbitMQ cluster.",
    ),
    (
        "HERALD_QUEUE_EXPIRES",
        "",
        "Delete queues unused this long (test runs only).",
    ),
    (
        "HERALD_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/herald",
        "PostgreSQL database; created if missing, migrated at start. `?sslmode=require` (or `verify-full`) for TLS.",
    ),
    (
        "HERALD_DATABASE_POOL",
        "16",
        "Database connections per process.",
    ),
    (
        "HERALD_HTTP_ADDR",
        "127.0.0.1:8080",
        "Where the API listens (roles `all` and `api`).",
    ),
    (
        "HERALD_HTTP_TIMEOUT",
        "30s",
        "Longest an API request may take, waiting for its turn included; then it is answered 503.",
    ),
    (
        "HERALD_HTTP_CONCURRENCY",
        "256",
        "API requests handled at once per process; more wait for a turn (within HERALD_HTTP_TIMEOUT).",
    ),
    (
        "HERALD_PUBLIC_URL",
        "",
        "Herald's base URL as users reach it, `herald.url` in templates; `http://` + HERALD_HTTP_ADDR when unset.",
    ),
    (
        "HERALD_METRICS_ADDR",
        "127.0.0.1:9464",
        "Where `/metrics`, `/healthz`, `/readyz` listen in roles without the API.",
    ),
    (
        "HERALD_SECRET_KEY",
        "",
        "Key sealing notifier secrets: 32 bytes in base64 (`herald keygen`). Required, here, in HERALD_SECRET_KEYS or in HERALD_SECRET_KEY_FILE: no role starts without a key.",
    ),
    (
        "HERALD_SECRET_KEYS",
        "",
        "A keyring instead of HERALD_SECRET_KEY: keys comma-separated, the current (sealing) one first, older ones still opening what they sealed until `herald rekey`.",
    ),
    (
        "HERALD_SECRET_KEY_FILE",
        "herald-secret.key",
        "Where the key (or keyring) is read when neither variable is set; never created by Herald (`herald keygen > file`).",
    ),
    (
        "HERALD_BOOTSTRAP_TOKEN",
        "",
        "An admin API token (at least 32 characters) kept under the name `bootstrap`, for containers; `herald token create` makes tokens too.",
    ),
    (
        "HERALD_METRICS_TOKEN",
        "",
        "When set, `/metrics` needs it as `Authorization: Bearer`; open otherwise.",
    ),
    (
        "HERALD_INGEST_RATE",
        "10000",
        "Events per second each API token may publish (bursts of a second's worth, at least 1,000); 0 for no limit.",
    ),
    (
        "HERALD_FLUSH_INTERVAL",
        "30m",
        "How often the error table is replayed.",
    ),
    (
        "HERALD_RETENTION",
        "30d",
        "How long events and their notifications are kept (deleted in small batches by the flush role); those an open failure needs are kept until it is resolved or discarded.",
    ),
    (
        "HERALD_FLUSH_BATCH",
        "100",
        "Failures replayed per transaction.",
    ),
    (
        "HERALD_MAX_REPLAYS",
        "10",
        "Replays after which a failure is `dead`.",
    ),
    (
        "HERALD_RETRY_MAX_ELAPSED",
        "2m",
        "Default retry budget of a delivery (a notifier's `max_elapsed` wins).",
    ),
    (
        "HERALD_RETRY_MAX_ATTEMPTS",
        "10",
        "Default attempts of a delivery (a notifier's `max_attempts` wins).",
    ),
    (
        "HERALD_RETRY_MIN_DELAY",
        "500ms",
        "First wait between attempts; it doubles, with jitter.",
    ),
    (
        "HERALD_RETRY_MAX_DELAY",
        "30s",
        "Longest wait between attempts.",
    ),
    (
        "HERALD_DELIVERY_TIMEOUT",
        "10s",
        "Default time one attempt may take (a notifier's `timeout` wins).",
    ),
    (
        "HERALD_OUTBOUND_ALLOW",
        "",
        "Private, loopback or link-local destinations notifiers may reach anyway: comma-separated CIDRs (`10.0.0.0/8`), addresses and host names (`mail.internal`). Unset: only public addresses.",
    ),
    (
        "HERALD_SENDER_CONCURRENCY",
        "1024",
        "Deliveries in flight per sender process.",
    ),
    (
        "HERALD_SENDER_PER_NOTIFIER",
        "256",
        "Deliveries in flight to one notifier per sender, well below HERALD_SENDER_CONCURRENCY so that one endpoint cannot take every slot; beyond it a healthy notifier's jobs wait their turn, a slow or failing one's are put aside for a moment.",
    ),
    (
        "HERALD_SENDER_PREFETCH",
        "512",
        "Jobs a sender holds per delivery queue before their outcome is written; the rest wait in the queue, where the router sees the backlog.",
    ),
    (
        "HERALD_ROUTER_PREFETCH",
        "512",
        "Unacked messages per router consumer at most (fewer when messages carry many events: about a batch is held).",
    ),
    (
        "HERALD_ROUTER_CONSUMERS",
        "1",
        "Router consumers of the normal lane per process (the critical lane has its own).",
    ),
    (
        "HERALD_ROUTER_BATCH",
        "100",
        "Events recorded per database statement at most; also about how many a router holds (more batches better, fewer wait less).",
    ),
    (
        "HERALD_PUBLISH_TIMEOUT",
        "5s",
        "How long a publish may wait for the broker's confirm.",
    ),
    (
        "HERALD_SHUTDOWN_TIMEOUT",
        "30s",
        "How long deliveries in flight may finish on SIGTERM.",
    ),
    (
        "HERALD_MAX_REQUEST_BYTES",
        "4194304",
        "Largest API request body (an event alone is limited to 256 KiB).",
    ),
    (
        "HERALD_LOG",
        "info",
        "Log filter, `tracing` syntax (`info,herald_sender=debug`).",
    ),
    ("HERALD_LOG_FORMAT", "text", "`text` or `json`."),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub amqp_url: String,
    pub amqp_ca_file: Option<PathBuf>,
    pub amqp_prefix: String,
    pub queue_type: QueueType,
    pub queue_expires: Option<Duration>,
    pub database_url: String,
    pub database_pool: usize,
    pub http_addr: SocketAddr,
    pub http_timeout: Duration,
    pub http_concurrency: usize,
    pub public_url: String,
    pub metrics_addr: SocketAddr,
    /// HERALD_SECRET_KEYS, else HERALD_SECRET_KEY: masked by `Debug`.
    pub secret_keys: Option<Secret>,
    pub secret_key_file: PathBuf,
    pub bootstrap_token: Option<PlainToken>,
    pub metrics_token: Option<PlainToken>,
    pub ingest_rate: u32,
    pub flush_interval: Duration,
    pub flush_batch: i64,
    pub retention: Duration,
    pub max_replays: i32,
    pub retry: RetryPolicy,
    pub delivery_timeout: Duration,
    /// The outbound guard, with the destinations HERALD_OUTBOUND_ALLOW allows.
    pub outbound_allow: Guard,
    pub sender_concurrency: usize,
    pub sender_per_notifier: usize,
    pub sender_prefetch: u16,
    pub router_prefetch: u16,
    pub router_batch: usize,
    pub router_consumers: usize,
    pub publish_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub max_request_bytes: usize,
    pub log: String,
    pub log_json: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

struct Reader<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn raw(&self, name: &'static str) -> String {
        let default = VARS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, d, _)| *d)
            .expect("every variable is listed in VARS");
        (self.lookup)(name)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    fn parse<T: std::str::FromStr>(&self, name: &'static str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.raw(name);
        raw.trim().parse().map_err(|e| ConfigError {
            name,
            message: format!("`{raw}`: {e}"),
        })
    }

    fn span(&self, name: &'static str) -> Result<Duration, ConfigError> {
        self.parse::<Span>(name).map(Span::get)
    }

    fn token(&self, name: &'static str) -> Result<Option<PlainToken>, ConfigError> {
        let raw = self.raw(name);
        if raw.is_empty() {
            return Ok(None);
        }
        PlainToken::given(&raw)
            .map(Some)
            .map_err(|message| ConfigError { name, message })
    }

    fn optional_span(&self, name: &'static str) -> Result<Option<Duration>, ConfigError> {
        if self.raw(name).is_empty() {
            return Ok(None);
        }
        self.span(name).map(Some)
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every variable through `lookup`, validating each.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let r = Reader { lookup };
        let secret_keys = ["HERALD_SECRET_KEYS", "HERALD_SECRET_KEY"]
            .into_iter()
            .map(|name| (name, r.raw(name)))
            .find(|(_, value)| !value.is_empty());
        if let Some((name, keys)) = &secret_keys {
            Keyring::from_base64_list(keys).map_err(|e| ConfigError {
                name,
                message: e.to_string(),
            })?;
        }
        let secret_keys = secret_keys.map(|(_, keys)| Secret::new(keys));
        let config = Config {
            amqp_url: r.raw("HERALD_AMQP_URL"),
            amqp_ca_file: Some(r.raw("HERALD_AMQP_CA_FILE"))
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            amqp_prefix: r.raw("HERALD_AMQP_PREFIX"),
            queue_type: r.parse("HERALD_QUEUE_TYPE")?,
            queue_expires: r.optional_span("HERALD_QUEUE_EXPIRES")?,
            database_url: r.raw("HERALD_DATABASE_URL"),
            database_pool: r.parse("HERALD_DATABASE_POOL")?,
            http_addr: r.parse("HERALD_HTTP_ADDR")?,
            http_timeout: r.span("HERALD_HTTP_TIMEOUT")?,
            http_concurrency: r.parse("HERALD_HTTP_CONCURRENCY")?,
            public_url: r.raw("HERALD_PUBLIC_URL"),
            metrics_addr: r.parse("HERALD_METRICS_ADDR")?,
            secret_keys,
            secret_key_file: r.raw("HERALD_SECRET_KEY_FILE").into(),
            bootstrap_token: r.token("HERALD_BOOTSTRAP_TOKEN")?,
            metrics_token: r.token("HERALD_METRICS_TOKEN")?,
            ingest_rate: r.parse("HERALD_INGEST_RATE")?,
            flush_interval: r.span("HERALD_FLUSH_INTERVAL")?,
            flush_batch: r.parse("HERALD_FLUSH_BATCH")?,
            retention: r.span("HERALD_RETENTION")?,
            max_replays: r.parse("HERALD_MAX_REPLAYS")?,
            retry: RetryPolicy {
                max_elapsed: r.span("HERALD_RETRY_MAX_ELAPSED")?,
                max_attempts: r.parse("HERALD_RETRY_MAX_ATTEMPTS")?,
                min_delay: r.span("HERALD_RETRY_MIN_DELAY")?,
                max_delay: r.span("HERALD_RETRY_MAX_DELAY")?,
            },
            delivery_timeout: r.span("HERALD_DELIVERY_TIMEOUT")?,
            outbound_allow: r.parse("HERALD_OUTBOUND_ALLOW")?,
            sender_concurrency: r.parse("HERALD_SENDER_CONCURRENCY")?,
            sender_per_notifier: r.parse("HERALD_SENDER_PER_NOTIFIER")?,
            sender_prefetch: r.parse("HERALD_SENDER_PREFETCH")?,
            router_prefetch: r.parse("HERALD_ROUTER_PREFETCH")?,
            router_batch: r.parse("HERALD_ROUTER_BATCH")?,
            router_consumers: r.parse("HERALD_ROUTER_CONSUMERS")?,
            publish_timeout: r.span("HERALD_PUBLISH_TIMEOUT")?,
            shutdown_timeout: r.span("HERALD_SHUTDOWN_TIMEOUT")?,
            max_request_bytes: r.parse("HERALD_MAX_REQUEST_BYTES")?,
            log: r.raw("HERALD_LOG"),
            log_json: match r.raw("HERALD_LOG_FORMAT").as_str() {
                "text" => false,
                "json" => true,
                other => {
                    return Err(ConfigError {
                        name: "HERALD_LOG_FORMAT",
                        message: format!("`{other}`: expected text or json"),
                    });
                }
            },
        };
        config.check()
    }

    fn check(mut self) -> Result<Config, ConfigError> {
        if self.public_url.is_empty() {
            self.public_url = format!("http://{}", self.http_addr);
        }
        match url::Url::parse(&self.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(ConfigError {
                    name: "HERALD_PUBLIC_URL",
                    message: format!("`{}`: expected an http:// or https:// URL", self.public_url),
                });
            }
        }
        let positive = [
            ("HERALD_DATABASE_POOL", self.database_pool),
            ("HERALD_SENDER_CONCURRENCY", self.sender_concurrency),
            ("HERALD_SENDER_PER_NOTIFIER", self.sender_per_notifier),
            ("HERALD_HTTP_CONCURRENCY", self.http_concurrency),
            ("HERALD_ROUTER_BATCH", self.router_batch),
            ("HERALD_ROUTER_CONSUMERS", self.router_consumers),
            ("HERALD_SENDER_PREFETCH", usize::from(self.sender_prefetch)),
            ("HERALD_ROUTER_PREFETCH", usize::from(self.router_prefetch)),
            (
                "HERALD_RETRY_MAX_ATTEMPTS",
                self.retry.max_attempts as usize,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError {
                    name,
                    message: "must be at least 1".into(),
                });
            }
        }
        let nonzero = [
            ("HERALD_FLUSH_INTERVAL", self.flush_interval),
            ("HERALD_RETENTION", self.retention),
            ("HERALD_HTTP_TIMEOUT", self.http_timeout),
        ];
        for (name, value) in nonzero {
            if value.is_zero() {
                return Err(ConfigError {
                    name,
                    message: "must be longer than 0s".into(),
                });
            }
        }
        if self.flush_batch < 1 {
            return Err(ConfigError {
                name: "HERALD_FLUSH_BATCH",
                message: "must be at least 1".into(),
            });
        }
        if self.amqp_prefix.is_empty() || self.amqp_prefix.len() > 100 {
            return Err(ConfigError {
                name: "HERALD_AMQP_PREFIX",
                message: "must be 1 to 100 characters".into(),
            });
        }
        Ok(self)
    }

    /// What an `amqps://` broker connection trusts beside the platform's roots.
    pub fn amqp_tls(&self) -> anyhow::Result<herald_queue::BrokerTls> {
        Ok(match &self.amqp_ca_file {
            Some(path) => herald_queue::BrokerTls::with_ca_file(path)?,
            None => herald_queue::BrokerTls::default(),
        })
    }

    /// The keyring from HERALD_SECRET_KEYS or HERALD_SECRET_KEY, else from
    /// HERALD_SECRET_KEY_FILE. A missing key is an error, never made up: a
    /// key made silently is lost with its container, and every secret with it.
    pub fn load_keyring(&self) -> anyhow::Result<Keyring> {
        use anyhow::Context;
        if let Some(keys) = &self.secret_keys {
            return Ok(Keyring::from_base64_list(keys.expose())?);
        }
        let path = &self.secret_key_file;
        let encoded = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "no secret key: set HERALD_SECRET_KEY to a key made with `herald keygen`, or write one to {} (`herald keygen > {}`)",
                path.display(),
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let list = encoded.split_whitespace().collect::<Vec<_>>().join(",");
        Keyring::from_base64_list(&list)
            .with_context(|| format!("the key in {} is unusable", path.display()))
    }
}

/// The variables as a Markdown table, for the README.
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for (name, default, doc) in VARS {
        let default = if default.is_empty() {
            "(unset)".to_owned()
        } else {
            format!("`{default}`")
        };
        out.push_str(&format!("| `{name}` | {default} | {doc} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_point_at_localhost() {
        let c = config(&[]).unwrap();
        assert_eq!(c.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.database_url, "postgres://postgres@127.0.0.1:5432/herald");
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.flush_interval, Duration::from_secs(1800));
        assert_eq!(c.retry.max_elapsed, Duration::from_secs(120));
        assert_eq!(c.queue_type, QueueType::Classic);
        assert_eq!(c.retention, Duration::from_secs(30 * 86_400));
        assert!(
            c.sender_per_notifier * 4 <= c.sender_concurrency,
            "one notifier gets well below every slot"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            ("HERALD_FLUSH_INTERVAL", "often"),
            ("HERALD_FLUSH_INTERVAL", "0s"),
            ("HERALD_RETENTION", "0s"),
            ("HERALD_RETENTION", "a month"),
            ("HERALD_HTTP_TIMEOUT", "0s"),
            ("HERALD_HTTP_CONCURRENCY", "0"),
            ("HERALD_HTTP_ADDR", "localhost"),
            ("HERALD_QUEUE_TYPE", "mirrored"),
            ("HERALD_SENDER_CONCURRENCY", "0"),
            ("HERALD_SECRET_KEY", "short"),
            ("HERALD_SECRET_KEYS", "c2hvcnQ=,also-bad"),
            ("HERALD_BOOTSTRAP_TOKEN", "too-short"),
            ("HERALD_INGEST_RATE", "-1"),
            ("HERALD_LOG_FORMAT", "xml"),
            ("HERALD_OUTBOUND_ALLOW", "127.0.0.1,10.0.0.0/33"),
            ("HERALD_OUTBOUND_ALLOW", "a host"),
        ];
        for (name, value) in cases {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{value}: {err}");
        }
    }

    #[test]
    fn a_bad_allow_list_entry_is_named() {
        let err =
            config(&[("HERALD_OUTBOUND_ALLOW", "::1, 10.0.0.0/33 ,mail.internal")]).unwrap_err();
        assert!(err.to_string().contains("`10.0.0.0/33`"), "{err}");
        let ok = config(&[(
            "HERALD_OUTBOUND_ALLOW",
            "127.0.0.1, ::1, fd00::/8, mail.internal",
        )]);
        assert!(ok.is_ok());
    }

    #[test]
    fn no_key_anywhere_refuses_to_start_naming_herald_keygen() {
        let dir = std::env::temp_dir().join(format!("herald-nokey-{}", std::process::id()));
        let file = dir.join("absent.key");
        let c = config(&[("HERALD_SECRET_KEY_FILE", file.to_str().unwrap())]).unwrap();
        let err = c.load_keyring().unwrap_err().to_string();
        assert!(err.contains("herald keygen"), "{err}");
        assert!(!file.exists(), "no key file is created");
    }

    #[test]
    fn debug_masks_the_keys_and_tokens() {
        let key = herald_model::SecretKey::generate_base64();
        let token = "t".repeat(40);
        let c = config(&[
            ("HERALD_SECRET_KEY", &key),
            ("HERALD_BOOTSTRAP_TOKEN", &token),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains(&key) && !shown.contains(&token), "{shown}");
        assert_eq!(c.load_keyring().unwrap().current().id().len(), 8);
    }

    #[test]
    fn the_table_lists_every_variable() {
        let table = markdown_table();
        assert_eq!(table.lines().count(), VARS.len() + 2);
    }
}
