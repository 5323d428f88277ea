//! IRC (RFC 2812): connect (plain or TLS), register (`PASS`, `NICK`,
//! `USER`), `JOIN` each channel target, `PRIVMSG` each channel and user
//! target line by line (users only when `ISON` says they are online), then
//! `PING` and read up to its `PONG` to learn which targets the server
//! refused, and `QUIT`. Servers throttle private messages: a notifier with
//! several users may want a longer `timeout`.
//!
//! As AWX does, a missing user or a channel that cannot be joined or posted
//! to does not fail the delivery: it is recorded as that target's outcome.
//! Only connectivity (connection, TLS, registration, timeout) fails it, and
//! is retried; a refused server password is permanent, and so is the
//! outbound guard's refusal of the server's address. A nickname in use is
//! retried with `_` appended.

mod protocol;
mod tls;

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chat::{self, TEXT, TITLE};
use crate::outbound::ResolveError;
use crate::{
    Channel, Classify, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext,
};

/// The most lines one notification sends to each target: IRC servers
/// throttle a client that sends more (ngircd holds each private message
/// 2 s).
const MAX_LINES: usize = 4;
/// The most bytes of text in one `PRIVMSG`: 512 less the CRLF, the command,
/// the target and the `nick!user@host` prefix the server adds when relaying.
const LINE_BYTES: usize = 400;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server's host name.
    pub server: String,
    /// 6697 with `tls`, else 6667, unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Connect with TLS.
    #[serde(default)]
    pub tls: bool,
    /// Check the server's certificate (with `tls`); off only for a
    /// self-signed server on a network you trust.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// The bot's nickname.
    pub nickname: String,
    /// The server password (`PASS`), when it wants one (a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub password: Option<Secret>,
    /// Channels (`#ops`) and users (`alice`) to message.
    pub targets: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum IrcError {
    #[error("cannot connect to {server}: {error}")]
    Connect { server: String, error: String },
    /// The server's name did not resolve, or the outbound guard refused it.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("TLS with {server} failed: {error}")]
    Tls { server: String, error: String },
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The server closed the connection or said `ERROR`.
    #[error("the server ended the session: {0}")]
    Closed(String),
    /// The server refused the registration for a reason that will not pass
    /// (a wrong password, a banned host).
    #[error("the server refused the registration: {0}")]
    Refused(String),
}

impl Classify for IrcError {
    fn disposition(&self) -> Disposition {
        match self {
            IrcError::Refused(_) => Disposition::Permanent,
            IrcError::Resolve(e) => e.disposition(),
            _ => Disposition::Retry { after: None },
        }
    }
}

impl Config {
    fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 6697 } else { 6667 })
    }
}

/// Whether `name` is a valid target: a channel (`#`, `&`, `+`, `!`) or a
/// nickname, without spaces, commas or control characters.
fn is_target(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 50
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == ':')
}

/// Whether `target` is a channel, which must be joined before posting.
pub(crate) fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

impl Channel for Config {
    const KIND: &'static str = "irc";
    const SECRETS: &'static [SecretField] = &[SecretField::full("password")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Host("server")];
    type Message = Vec<String>;
    type Error = IrcError;

    fn validate(&self) -> Result<(), FieldError> {
        if self.server.trim().is_empty() || self.server.contains(['/', ' ']) {
            return Err(FieldError::new("server", "must be a host name"));
        }
        if self.port == Some(0) {
            return Err(FieldError::new("port", "must be 1 to 65535"));
        }
        let nick_ok = self.nickname.len() <= 30
            && self
                .nickname
                .starts_with(|c: char| c.is_ascii_alphabetic() || "[]\\`_^{|}".contains(c))
            && self
                .nickname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c));
        if !nick_ok {
            return Err(FieldError::new(
                "nickname",
                "must be a nickname: a letter, then letters, digits or []\\`_^{|}-",
            ));
        }
        if self.targets.is_empty() {
            return Err(FieldError::new(
                "targets",
                "required: at least one channel or user",
            ));
        }
        if let Some(bad) = self.targets.iter().position(|t| !is_target(t)) {
            return Err(FieldError::new(
                format!("targets.{bad}"),
                "must be a channel (`#ops`) or a nickname, without spaces or commas",
            ));
        }
        Ok(())
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Vec<String>, DeliveryError> {
        let mut text = format!("{}\n{}", parts.render("title")?, parts.render("text")?);
        if let Some(url) = &d.event.url {
            text.push('\n');
            text.push_str(url);
        }
        Ok(lines(&text))
    }

    async fn send(&self, lines: Vec<String>, cx: &SendContext<'_>) -> Result<(), IrcError> {
        tokio::time::timeout(cx.timeout, protocol::deliver(self, &lines, cx))
            .await
            .unwrap_or(Err(IrcError::Timeout(cx.timeout)))
    }
}

/// The text as IRC lines: no empty ones, each cut to [`LINE_BYTES`], at most
/// [`MAX_LINES`].
fn lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .map(|l| clip_bytes(l, LINE_BYTES))
        .collect();
    if lines.len() > MAX_LINES {
        lines.truncate(MAX_LINES);
        lines[MAX_LINES - 1] = chat::clip(&format!("{} …", lines[MAX_LINES - 1]), LINE_BYTES);
    }
    lines
}

/// `line` cut to at most `max` bytes, at a character boundary.
fn clip_bytes(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_owned();
    }
    let mut cut = max - '…'.len_utf8();
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &line[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_at_most_four_lines_of_at_most_400_bytes() {
        let long = "é".repeat(300);
        let text = format!("title\n\n{long}\n1\n2\n3");
        let got = lines(&text);
        assert_eq!(got.len(), MAX_LINES);
        assert_eq!(got[0], "title");
        assert!(got[1].len() <= LINE_BYTES && got[1].ends_with('…'));
        assert_eq!(got[3], "2 …");
    }

    #[test]
    fn targets_are_channels_or_nicknames() {
        for ok in ["#ops", "&local", "alice", "bob[m]"] {
            assert!(is_target(ok), "{ok}");
        }
        for bad in ["", "#a b", "a,b", "x:y", "a\u{7}"] {
            assert!(!is_target(bad), "{bad:?}");
        }
        assert!(is_channel("#ops") && !is_channel("alice"));
    }
}
