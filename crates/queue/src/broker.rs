//! One AMQP connection per process, kept alive by a supervisor task.
//!
//! `amqps://` URLs connect over rustls and check the broker's certificate
//! against the platform's trust store, and against a private CA's
//! certificates when given ([`BrokerTls`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use lapin::tcp::OwnedTLSConfig;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{QueueError, Topology, bounded};

/// How long connecting and declaring the topology may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection in use, numbered so that users can tell it was replaced.
type Current = Option<(u64, Arc<Connection>)>;

/// A handle on the process's broker connection; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    topology: Arc<Topology>,
    current: watch::Receiver<Current>,
    /// Why the broker last refused to connect, cleared once connected.
    refused: watch::Receiver<Option<String>>,
}

/// What an `amqps://` connection trusts beside the platform's roots.
#[derive(Debug, Clone, Default)]
pub struct BrokerTls {
    ca_pem: Option<String>,
}

impl BrokerTls {
    /// Also trusts the certificates in the PEM file at `path`: the CA of a
    /// broker whose certificate no public authority signed.
    pub fn with_ca_file(path: &Path) -> Result<BrokerTls, QueueError> {
        let failed = |why: String| QueueError::Tls(format!("CA file `{}`: {why}", path.display()));
        let pem = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(failed("holds no PEM certificate".into()));
        }
        Ok(BrokerTls { ca_pem: Some(pem) })
    }
}

impl Broker {
    /// Starts connecting in the background and returns at once. The supervisor
    /// reconnects with capped exponential backoff for as long as `shutdown` is not
    /// cancelled, and declares the topology on every new connection.
    pub fn start(url: &str, name: &str, topology: Topology, shutdown: CancellationToken) -> Broker {
        Broker::start_tls(url, BrokerTls::default(), name, topology, shutdown)
    }

    /// As [`Broker::start`], trusting `tls` too on an `amqps://` URL.
    pub fn start_tls(
        url: &str,
        tls: BrokerTls,
        name: &str,
        topology: Topology,
        shutdown: CancellationToken,
    ) -> Broker {
        let (tx, rx) = watch::channel(None);
        let (refused_tx, refused) = watch::channel(None);
        let topology = Arc::new(topology);
        tokio::spawn(supervise(
            Target {
                url: url.to_owned(),
                tls,
                name: name.to_owned(),
                topology: topology.clone(),
            },
            tx,
            refused_tx,
            shutdown,
        ));
        Broker {
            topology,
            current: rx,
            refused,
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn is_connected(&self) -> bool {
        self.current
            .borrow()
            .as_ref()
            .is_some_and(|(_, c)| c.status().connected())
    }

    /// Waits up to `wait` for a connection.
    pub async fn wait_connected(&self, wait: Duration) -> bool {
        let mut rx = self.current.clone();
        let connected = rx.wait_for(|c| c.as_ref().is_some_and(|(_, c)| c.status().connected()));
        matches!(tokio::time::timeout(wait, connected).await, Ok(Ok(_)))
    }

    /// Waits up to `wait` for a connection, returning early with
    /// [`QueueError::Refused`] when the broker refuses the credentials: a
    /// one-shot client then says why at once instead of timing out.
    pub async fn wait_usable(&self, wait: Duration) -> Result<(), QueueError> {
        let mut refused = self.refused.clone();
        let refusal = refused.wait_for(Option::is_some);
        tokio::select! {
            connected = self.wait_connected(wait) => if connected {
                Ok(())
            } else {
                Err(QueueError::Unavailable(format!("no connection within {wait:?}")))
            },
            Ok(why) = refusal => Err(QueueError::Refused(why.clone().unwrap_or_default())),
        }
    }

    /// Returns once the supervisor has closed the connection and stopped,
    /// after its shutdown token was cancelled: a process that exits before
    /// then cuts the connection mid-close, and lapin logs that as an error.
    pub async fn closed(&self) {
        let mut rx = self.current.clone();
        while rx.changed().await.is_ok() {}
    }

    /// Opens a channel, waiting up to `wait` for the connection; also returns
    /// the number of the connection it is on.
    pub(crate) async fn channel(&self, wait: Duration) -> Result<(u64, Channel), QueueError> {
        if !self.wait_connected(wait).await {
            return Err(QueueError::Unavailable(format!(
                "no connection within {wait:?}"
            )));
        }
        let current = self.current.borrow().clone();
        let (generation, conn) =
            current.ok_or_else(|| QueueError::Unavailable("connection lost".into()))?;
        let channel = bounded("channel.open", conn.create_channel()).await?;
        Ok((generation, channel))
    }

    /// Returns once connection number `generation` is lost or replaced: a
    /// consumer on it may not notice by itself.
    pub(crate) async fn lost(&self, generation: u64) {
        let mut rx = self.current.clone();
        let _ = rx
            .wait_for(|c| !matches!(c, Some((g, _)) if *g == generation))
            .await;
    }
}

/// Where the supervisor connects, and what it declares there.
struct Target {
    url: String,
    tls: BrokerTls,
    name: String,
    topology: Arc<Topology>,
}

async fn supervise(
    target: Target,
    current: watch::Sender<Current>,
    refused: watch::Sender<Option<String>>,
    shutdown: CancellationToken,
) {
    let Target {
        url,
        tls,
        name,
        topology,
    } = target;
    let mut generation = 0u64;
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times();
    let mut backoff = policy.build();
    let shown = redact_url(&url);
    while !shutdown.is_cancelled() {
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&url, &tls, &name, &topology));
        match attempt
            .await
            .unwrap_or(Err(QueueError::Timeout(CONNECT_TIMEOUT)))
        {
            Ok(conn) => {
                info!(broker = %shown, "connected to the broker");
                refused.send_replace(None);
                backoff = policy.build();
                let conn = Arc::new(conn);
                generation += 1;
                current.send_replace(Some((generation, conn.clone())));
                wait_until_lost(&conn, &shutdown).await;
                current.send_replace(None);
                if shutdown.is_cancelled() {
                    let _ =
                        bounded("connection.close", conn.close(200, "shutting down".into())).await;
                    return;
                }
                warn!(broker = %shown, "lost the broker connection; reconnecting");
            }
            Err(error) => {
                // Services keep trying (the broker's users may be fixed while
                // they run); waiters learn the refusal at once.
                if let Some(why) = error.refusal() {
                    refused.send_replace(Some(why));
                }
                warn!(broker = %shown, %error, "cannot reach the broker; retrying");
            }
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn connect(
    url: &str,
    tls: &BrokerTls,
    name: &str,
    topology: &Topology,
) -> Result<Connection, QueueError> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let runtime = lapin::runtime::default_runtime().map_err(QueueError::amqp("runtime"))?;
    let config = OwnedTLSConfig {
        identity: None,
        cert_chain: tls.ca_pem.clone(),
    };
    let conn = Connection::connect_with_config(url, props, config, runtime)
        .await
        .map_err(QueueError::amqp("connection.open"))?;
    if topology.already_declared(&conn).await {
        return Ok(conn);
    }
    let ch = conn
        .create_channel()
        .await
        .map_err(QueueError::amqp("channel.open"))?;
    topology
        .declare(&ch)
        .await
        .map_err(QueueError::amqp("declare topology"))?;
    let _ = ch.close(200, "declared".into()).await;
    Ok(conn)
}

/// Returns when the connection reports an error or stops being connected.
async fn wait_until_lost(conn: &Connection, shutdown: &CancellationToken) {
    let mut events = conn.events_listener();
    let mut poll = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(lapin::Event::Error(error)) => {
                    warn!(%error, "broker connection error");
                    return;
                }
                None => return,
                Some(_) => {}
            },
            _ = poll.tick() => if !conn.status().connected() { return },
            () = shutdown.cancelled() => return,
        }
    }
}

/// The URL with its password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("********"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_logs() {
        let shown = super::redact_url("amqp://guest:s3cret@127.0.0.1:5672/%2f");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("guest"), "{shown}");
    }
}
