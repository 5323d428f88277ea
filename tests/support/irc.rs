//! A real IRC server (Debian's `ngircd`, installed by `ops/services.sh
//! --irc`) on free loopback ports, plain and TLS, one per test; and a
//! watcher: a client that joins channels and records what is said to it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::{certificate, eventually};

pub struct IrcServer {
    pub port: u16,
    pub tls_port: u16,
    _child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl IrcServer {
    /// Starts ngircd; `password` is the server password clients must give.
    pub async fn start(password: Option<&str>) -> IrcServer {
        let binary = std::env::var("HERALD_TEST_NGIRCD").unwrap_or_else(|_| "ngircd".into());
        let dir = std::env::temp_dir().join(format!("herald-irc-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = certificate();
        let (port, tls_port) = (free_port(), free_port());
        let password = password
            .map(|p| format!("Password = {p}\n"))
            .unwrap_or_default();
        let conf = format!(
            "[Global]\nName = irc.herald.test\nInfo = Herald test server\nListen = 127.0.0.1\n\
             Ports = {port}\n{password}MotdPhrase = Herald tests\nPidFile = {pid}\n\
             ServerUID = {uid}\nServerGID = {uid}\n\
             [Limits]\nMaxNickLength = 30\nPingTimeout = 120\nPongTimeout = 60\n\
             [Options]\nDNS = no\nIdent = no\nPAM = no\n\
             [SSL]\nCertFile = {cert}\nKeyFile = {key}\nPorts = {tls_port}\n",
            pid = dir.join("ngircd.pid").display(),
            uid = users_uid(),
        );
        let path: PathBuf = dir.join("ngircd.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(binary)
            .args(["--nodaemon", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("ngircd must be installed to run the IRC tests (ops/test.sh installs it)");
        for p in [port, tls_port] {
            eventually("ngircd listening", Duration::from_secs(20), || async move {
                TcpStream::connect(("127.0.0.1", p))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .await;
        }
        IrcServer {
            port,
            tls_port,
            _child: child,
        }
    }
}

/// The user id the tests run as: ngircd drops to it when started as root.
fn users_uid() -> String {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "0".into())
}

/// A client on the server, recording every `PRIVMSG` it sees as
/// `(target, text)`.
pub struct IrcWatcher {
    writer: OwnedWriteHalf,
    heard: Arc<Mutex<Vec<(String, String)>>>,
    /// Every other line from the server.
    joined: Arc<Mutex<Vec<String>>>,
}

impl IrcWatcher {
    pub async fn connect(port: u16, nick: &str, password: Option<&str>) -> IrcWatcher {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (read, mut writer) = stream.into_split();
        let mut hello = String::new();
        if let Some(p) = password {
            hello.push_str(&format!("PASS {p}\r\n"));
        }
        hello.push_str(&format!("NICK {nick}\r\nUSER {nick} 0 * :watcher\r\n"));
        writer.write_all(hello.as_bytes()).await.unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let joined = Arc::new(Mutex::new(Vec::new()));
        let (h, j) = (heard.clone(), joined.clone());
        let (welcome_tx, welcome_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut welcome = Some(welcome_tx);
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let words: Vec<&str> = line.splitn(4, ' ').collect();
                if words.get(1) == Some(&"001") {
                    welcome.take().map(|w| w.send(()));
                } else if words.get(1) == Some(&"PRIVMSG") && words.len() == 4 {
                    let text = words[3].strip_prefix(':').unwrap_or(words[3]);
                    h.lock()
                        .unwrap()
                        .push((words[2].to_owned(), text.to_owned()));
                } else {
                    j.lock().unwrap().push(line);
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), welcome_rx)
            .await
            .expect("the IRC server welcomed the watcher")
            .unwrap();
        // The server pings after its PingTimeout (120 s), longer than a test.
        IrcWatcher {
            writer,
            heard,
            joined,
        }
    }

    pub async fn say(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    /// Joins `channel` and waits until the server confirms it.
    pub async fn join(&mut self, channel: &str) {
        self.command(&format!("JOIN {channel}"), &format!("JOIN :{channel}"))
            .await;
    }

    /// Sets a channel's modes and waits until the server confirms them.
    pub async fn mode(&mut self, channel: &str, modes: &str) {
        self.command(
            &format!("MODE {channel} {modes}"),
            &format!("MODE {channel} {modes}"),
        )
        .await;
    }

    /// Sends `line` and waits for a line from the server containing `echo`.
    async fn command(&mut self, line: &str, echo: &str) {
        self.say(line).await;
        let seen = self.joined.clone();
        eventually(
            &format!("`{echo}` from the server"),
            Duration::from_secs(10),
            || {
                let seen = seen.clone();
                async move {
                    match seen.lock().unwrap().iter().any(|l| l.contains(echo)) {
                        true => Ok(()),
                        false => Err("not yet".to_owned()),
                    }
                }
            },
        )
        .await;
    }

    /// Waits until `n` messages were said to `target`; answers their texts.
    pub async fn heard(&self, target: &str, n: usize) -> Vec<String> {
        let heard = self.heard.clone();
        eventually(
            &format!("{n} messages to {target}"),
            Duration::from_secs(20),
            || {
                let heard = heard.clone();
                async move {
                    let got: Vec<String> = heard
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(t, _)| t == target)
                        .map(|(_, text)| text.clone())
                        .collect();
                    match got.len() >= n {
                        true => Ok(got),
                        false => Err(format!("{} so far", got.len())),
                    }
                }
            },
        )
        .await
    }

    /// Everything said to `target` so far.
    pub fn said_to(&self, target: &str) -> Vec<String> {
        self.heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == target)
            .map(|(_, text)| text.clone())
            .collect()
    }
}
