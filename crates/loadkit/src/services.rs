//! Disposable RabbitMQ nodes and PostgreSQL clusters, for fault tests and the
//! soak run: each instance has its own name, ports and data directory under
//! the temp dir, can be stopped and started at will, and is removed on drop.
//! Faulting these leaves the machine's own services, and whoever else uses
//! them, alone; two runs at once do not meet.
//!
//! They run from Debian's packages (`rabbitmq-server`, `postgresql`), as the
//! `rabbitmq` and `postgres` users: this needs root, or sudo, as
//! `ops/services.sh` does. Everything listens on 127.0.0.1 only.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use uuid::Uuid;

use crate::eventually;

/// A RabbitMQ node of its own: node name, AMQP and distribution ports, data
/// and log directories. `guest` may connect over loopback.
pub struct RabbitNode {
    node: String,
    pub port: u16,
    dir: PathBuf,
}

impl RabbitNode {
    /// Boots a fresh node and waits until it accepts connections.
    pub async fn start() -> RabbitNode {
        let id = &Uuid::new_v4().simple().to_string()[..10];
        let dir = owned_temp_dir(&format!("herald-rabbitmq-{id}"), "rabbitmq");
        let node = RabbitNode {
            node: format!("herald-{id}@localhost"),
            port: free_port(),
            dir,
        };
        let dist_port = free_port();
        let env = [
            ("HOME", "/var/lib/rabbitmq".to_owned()),
            ("RABBITMQ_NODENAME", node.node.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT", node.port.to_string()),
            ("RABBITMQ_DIST_PORT", dist_port.to_string()),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_MNESIA_BASE", node.path("mnesia")),
            ("RABBITMQ_LOG_BASE", node.path("log")),
            ("RABBITMQ_PID_FILE", node.path("pid")),
            ("RABBITMQ_CONFIG_FILE", node.path("rabbitmq")),
            (
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                node.path("enabled_plugins"),
            ),
            // As ops/services.sh: schedulers that busy-wait take CPU the others need.
            (
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "+sbwt none +sbwtdcpu none +sbwtdio none".into(),
            ),
        ];
        let mut boot = as_user("rabbitmq", "/usr/lib/rabbitmq/bin/rabbitmq-server");
        boot.arg("-detached").envs(env);
        run(boot, "boot a RabbitMQ node").await;
        node.await_startup().await;
        node
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Stops the RabbitMQ application; the Erlang node stays up, as with
    /// `rabbitmqctl stop_app` on a real broker.
    pub async fn stop_app(&self) {
        run(self.ctl(&["stop_app"]), "stop RabbitMQ").await;
    }

    pub async fn start_app(&self) {
        run(self.ctl(&["start_app"]), "start RabbitMQ").await;
        self.await_startup().await;
    }

    /// Messages ready and unacknowledged in every queue whose name starts with
    /// `prefix`, by queue.
    pub async fn queue_depths(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut list = self.ctl(&["list_queues", "name", "messages", "--no-table-headers"]);
        let out = list.output().await.expect("rabbitmqctl runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let (name, n) = line.split_once('\t')?;
                let n = n.trim().parse().ok()?;
                name.starts_with(prefix).then(|| (name.to_owned(), n))
            })
            .collect()
    }

    async fn await_startup(&self) {
        // `await_startup` fails at once while the node has not registered with
        // epmd yet, so it is repeated until the node answers.
        eventually(
            "the RabbitMQ node to start",
            Duration::from_secs(90),
            || async {
                let mut wait = self.ctl(&["await_startup", "--timeout", "30"]);
                match wait.output().await {
                    Ok(out) if out.status.success() => Ok(()),
                    Ok(out) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await;
    }

    fn ctl(&self, args: &[&str]) -> Command {
        let mut ctl = Command::new("rabbitmqctl");
        ctl.args(["-q", "-n", &self.node]).args(args);
        ctl
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of its own, made by `initdb` in a temp dir, on its own
/// port, trusting local connections for the `postgres` user.
pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PgCluster {
    pub async fn start() -> PgCluster {
        let id = &Uuid::new_v4().simple().to_string()[..10];
        let cluster = PgCluster {
            port: free_port(),
            dir: owned_temp_dir(&format!("herald-postgres-{id}"), "postgres"),
            bin: postgres_bin(),
        };
        let mut init = as_user("postgres", &cluster.tool("initdb"));
        init.args(["-D", &cluster.data(), "-A", "trust", "-U", "postgres"])
            .args(["-E", "UTF8", "--no-sync"]);
        run(init, "initdb").await;
        cluster.start_server().await;
        cluster
    }

    /// The URL of database `name` in this cluster (Herald creates it).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.server_url())
    }

    /// The cluster's URL without a database.
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// A fast shutdown, as an operator's `pg_ctlcluster … stop -m fast`:
    /// sessions are cut, the server exits.
    pub async fn stop(&self) {
        run(
            self.pg_ctl(&["stop", "-m", "fast", "-w"]),
            "stop PostgreSQL",
        )
        .await;
    }

    pub async fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let mut start = self.pg_ctl(&["start", "-w", "-t", "60", "-o", &options]);
        start.args(["-l", &log.to_string_lossy()]);
        run(start, "start PostgreSQL").await;
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut ctl = as_user("postgres", &self.tool("pg_ctl"));
        ctl.args(["-D", &self.data()]).args(args);
        ctl
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn tool(&self, name: &str) -> String {
        self.bin.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = user_command("postgres", &self.tool("pg_ctl"))
            .args(["-D", &self.data(), "stop", "-m", "immediate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed PostgreSQL's binaries (`/usr/lib/postgresql/<v>/bin`).
fn postgres_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<u32> = std::fs::read_dir(root)
        .expect("PostgreSQL is installed under /usr/lib/postgresql (ops/test.sh installs it)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let newest = versions.pop().expect("a PostgreSQL version is installed");
    root.join(newest.to_string()).join("bin")
}

/// A command run as `user`: through runuser as root, else through sudo.
fn user_command(user: &str, program: &str) -> std::process::Command {
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", user, "--"]);
        c
    } else {
        let mut c = std::process::Command::new("sudo");
        c.args(["-E", "-u", user, "--"]);
        c
    };
    cmd.arg(program);
    cmd
}

fn as_user(user: &str, program: &str) -> Command {
    Command::from(user_command(user, program))
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

async fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot {what}: {e}"));
    assert!(
        out.status.success(),
        "cannot {what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new directory under the temp dir, owned by `user` (who runs the server).
fn owned_temp_dir(name: &str, user: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).expect("the temp dir is writable");
    let status = user_command("root", "chown")
        .args([user, &dir.to_string_lossy()])
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "cannot give {} to {user}: the disposable services need root or sudo",
        dir.display()
    );
    dir
}

/// A port free on loopback right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("loopback has free ports")
        .port()
}
