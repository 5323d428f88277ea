//! One IRC session: connect, register, send, confirm, quit.

use std::collections::HashMap;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Config, IrcError, is_channel, tls};
use crate::SendContext;

/// Numeric replies that refuse a target (RFC 2812 §5.2), with why.
const TARGET_ERRORS: &[(&str, &str)] = &[
    ("401", "no such nick or channel"),
    ("403", "no such channel"),
    ("404", "cannot send to channel"),
    ("405", "joined too many channels"),
    ("471", "channel is full"),
    ("473", "channel is invite-only"),
    ("474", "banned from channel"),
    ("475", "channel needs a key"),
    ("476", "bad channel mask"),
    ("477", "channel needs a registered nickname"),
];

/// Numeric replies that end a registration for good.
const REFUSALS: &[&str] = &["464", "465"];

/// How many times a nickname in use gets `_` appended.
const NICK_TRIES: usize = 3;

/// A line from the server: its command (or numeric) and parameters, the
/// trailing one included.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub command: String,
    pub params: Vec<String>,
}

/// Parses `[:prefix] COMMAND params [:trailing]`.
pub(crate) fn parse(raw: &str) -> Option<Line> {
    let mut rest = raw.trim_end_matches(['\r', '\n']);
    if let Some(after) = rest.strip_prefix(':') {
        rest = after.split_once(' ')?.1;
    }
    let (head, trailing) = match rest.split_once(" :") {
        Some((head, trailing)) => (head, Some(trailing)),
        None => (rest, None),
    };
    let mut words = head.split(' ').filter(|w| !w.is_empty());
    let command = words.next()?.to_ascii_uppercase();
    let mut params: Vec<String> = words.map(str::to_owned).collect();
    params.extend(trailing.map(str::to_owned));
    Some(Line { command, params })
}

pub(crate) async fn deliver(
    config: &Config,
    lines: &[String],
    cx: &SendContext<'_>,
) -> Result<(), IrcError> {
    // Connects to the addresses the guard checked, not to the name (which
    // could resolve elsewhere by now); TLS still verifies the name.
    let addrs = cx
        .outbound
        .guard()
        .resolve(&config.server, config.port())
        .await?;
    let tcp = TcpStream::connect(addrs.as_slice())
        .await
        .map_err(|e| IrcError::Connect {
            server: format!("{}:{}", config.server, config.port()),
            error: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    if config.tls {
        let stream = tls::connect(tcp, &config.server, config.tls_verify).await?;
        Session::new(stream).run(config, lines, cx).await
    } else {
        Session::new(tcp).run(config, lines, cx).await
    }
}

struct Session<S> {
    reader: BufReader<tokio::io::ReadHalf<S>>,
    writer: tokio::io::WriteHalf<S>,
}

impl<S: AsyncRead + AsyncWrite> Session<S> {
    fn new(stream: S) -> Self {
        let (read, writer) = tokio::io::split(stream);
        Session {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn run(
        mut self,
        config: &Config,
        lines: &[String],
        cx: &SendContext<'_>,
    ) -> Result<(), IrcError> {
        self.register(config).await?;
        let mut pending: Vec<&str> = config
            .targets
            .iter()
            .map(String::as_str)
            .filter(|t| !cx.targets.is_done(t))
            .collect();
        // Servers throttle private messages (ngircd: 2 s each): users who
        // are not online are not written to at all.
        let offline = self.offline(&pending).await?;
        for user in &offline {
            cx.targets.record(user, Err("not online".to_owned()));
        }
        pending.retain(|t| !offline.contains(t));
        for target in &pending {
            if is_channel(target) {
                self.send(&format!("JOIN {target}")).await?;
            }
            for line in lines {
                self.send(&format!("PRIVMSG {target} :{line}")).await?;
            }
        }
        let refused = self.confirm().await?;
        for target in pending {
            let outcome = match refused.get(&target.to_ascii_lowercase()) {
                Some(why) => Err(why.clone()),
                None => Ok(()),
            };
            cx.targets.record(target, outcome);
        }
        // The messages are confirmed; a QUIT that fails changes nothing.
        let _ = self.send("QUIT :Herald").await;
        Ok(())
    }

    /// `PASS`, `NICK` and `USER`, until the welcome (001).
    async fn register(&mut self, config: &Config) -> Result<(), IrcError> {
        self.welcome(config).await.map_err(|e| match e {
            // Servers that close on a wrong password (ngircd: "Access denied:
            // Bad password?") say so only in the ERROR.
            IrcError::Closed(why) if why.to_ascii_lowercase().contains("password") => {
                IrcError::Refused(why)
            }
            other => other,
        })
    }

    async fn welcome(&mut self, config: &Config) -> Result<(), IrcError> {
        if let Some(password) = &config.password {
            self.send(&format!("PASS {}", password.expose())).await?;
        }
        let mut nick = config.nickname.clone();
        self.send(&format!("NICK {nick}")).await?;
        self.send(&format!(
            "USER {} 0 * :Herald notifications",
            config.nickname
        ))
        .await?;
        let mut tries = 0;
        loop {
            let line = self.next().await?;
            match line.command.as_str() {
                "001" => return Ok(()),
                // ERR_NICKNAMEINUSE, ERR_NICKCOLLISION.
                "433" | "436" if tries < NICK_TRIES => {
                    tries += 1;
                    nick.push('_');
                    self.send(&format!("NICK {nick}")).await?;
                }
                code if REFUSALS.contains(&code) || code == "433" || code == "436" => {
                    return Err(IrcError::Refused(describe(&line)));
                }
                _ => {}
            }
        }
    }

    /// The user targets that are not online, asked with one `ISON`.
    async fn offline<'t>(&mut self, targets: &[&'t str]) -> Result<Vec<&'t str>, IrcError> {
        let users: Vec<&str> = targets.iter().copied().filter(|t| !is_channel(t)).collect();
        if users.is_empty() {
            return Ok(Vec::new());
        }
        self.send(&format!("ISON {}", users.join(" "))).await?;
        loop {
            let line = self.next().await?;
            // RPL_ISON: the nicknames online, space-separated.
            if line.command == "303" {
                let online: Vec<String> = line
                    .params
                    .get(1)
                    .map(|l| l.split_whitespace().map(str::to_ascii_lowercase).collect())
                    .unwrap_or_default();
                return Ok(users
                    .into_iter()
                    .filter(|u| !online.contains(&u.to_ascii_lowercase()))
                    .collect());
            }
        }
    }

    /// Sends a `PING` and reads up to its `PONG`: the server has handled
    /// everything sent before by then. Answers the targets it refused, by
    /// lowercase name, with why.
    async fn confirm(&mut self) -> Result<HashMap<String, String>, IrcError> {
        let token = format!("herald-{}", uuid::Uuid::new_v4().simple());
        self.send(&format!("PING :{token}")).await?;
        let mut refused = HashMap::new();
        loop {
            let line = self.next().await?;
            if line.command == "PONG" && line.params.contains(&token) {
                return Ok(refused);
            }
            if let Some((_, why)) = TARGET_ERRORS.iter().find(|(c, _)| *c == line.command)
                && let Some(target) = line.params.get(1)
            {
                refused.insert(
                    target.to_ascii_lowercase(),
                    format!("{} ({})", why, line.command),
                );
            }
        }
    }

    /// The next line that is not a `PING` (answered here); `ERROR` or the
    /// end of the stream end the session.
    async fn next(&mut self) -> Result<Line, IrcError> {
        loop {
            let mut raw = Vec::new();
            let read = self
                .reader
                .read_until(b'\n', &mut raw)
                .await
                .map_err(|e| IrcError::Closed(e.to_string()))?;
            if read == 0 {
                return Err(IrcError::Closed("connection closed".into()));
            }
            let Some(line) = parse(&String::from_utf8_lossy(&raw)) else {
                continue;
            };
            match line.command.as_str() {
                "PING" => {
                    let token = line.params.first().cloned().unwrap_or_default();
                    self.send(&format!("PONG :{token}")).await?;
                }
                "ERROR" => return Err(IrcError::Closed(line.params.join(" "))),
                _ => return Ok(line),
            }
        }
    }

    async fn send(&mut self, line: &str) -> Result<(), IrcError> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.writer
            .write_all(&bytes)
            .await
            .map_err(|e| IrcError::Closed(e.to_string()))?;
        self.writer
            .flush()
            .await
            .map_err(|e| IrcError::Closed(e.to_string()))
    }
}

/// A numeric reply as text: its code and its words after the nickname.
fn describe(line: &Line) -> String {
    let words = line.params.get(1..).unwrap_or_default().join(" ");
    format!("{} {words}", line.command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines_parse_into_command_and_parameters() {
        let cases = [
            (
                ":irc.example 001 herald :Welcome to IRC",
                "001",
                vec!["herald", "Welcome to IRC"],
            ),
            ("PING :irc.example\r\n", "PING", vec!["irc.example"]),
            (
                ":srv 401 herald nobody :No such nick or channel name",
                "401",
                vec!["herald", "nobody", "No such nick or channel name"],
            ),
            (":srv PONG srv :herald-1", "PONG", vec!["srv", "herald-1"]),
            ("error :Closing link", "ERROR", vec!["Closing link"]),
        ];
        for (raw, command, params) in cases {
            let line = parse(raw).unwrap();
            assert_eq!(line.command, command, "{raw}");
            assert_eq!(line.params, params, "{raw}");
        }
        assert_eq!(parse(":only-a-prefix"), None);
    }
}
