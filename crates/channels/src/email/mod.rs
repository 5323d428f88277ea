//! Email over SMTP (lettre): plain-text mail to one or many recipients, with
//! an HTML alternative when the `html_body` part is not empty.
//!
//! `security` is `none` (plain SMTP, for a relay on localhost), `starttls` (the
//! default: upgrade on port 587, refuse to go on without TLS) or `tls` (implicit
//! TLS, port 465). The Message-ID is derived from the notification id, so a mail
//! client can fold the rare second copy of the same notification.
//!
//! `auth` is `password` (a login with `username` and `password`) or `oauth2`
//! (a client-credentials token, see [`oauth`], sent with `XOAUTH2`). A failed
//! job's trace (`data.trace`, or what the `trace` part renders) is attached
//! as `trace.txt` rather than inlined. Each notifier keeps its SMTP
//! transport, and with it lettre's connection pool, while its settings are
//! unchanged and its host resolves to the same address. The host is resolved
//! and checked by the outbound guard, and lettre connects to the address
//! checked, while TLS still verifies the host name.

mod oauth;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lettre::message::MultiPart;

pub use oauth::TokenError;

use crate::outbound::ResolveError;
use crate::{Channel, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The SMTP server.
    pub host: String,
    /// Defaults by `security`: 25, 587 or 465.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub subject_prefix: String,
    /// Check the server's certificate (`starttls` and `tls`). Turn off only for
    /// a server with a self-signed certificate on a network you trust.
    #[serde(default = "verify_by_default")]
    pub tls_verify: bool,
    /// `password` (a login with `username` and `password`, when given) or
    /// `oauth2` (`XOAUTH2` with a client-credentials token).
    #[serde(default)]
    pub auth: Auth,
    /// The OAuth 2.0 token endpoint, with `auth: oauth2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The OAuth 2.0 client secret (a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub client_secret: Option<Secret>,
    /// Scopes to ask for, space-separated (e.g.
    /// `https://outlook.office365.com/.default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The transport and token kept between sends.
    #[serde(skip)]
    #[schemars(skip)]
    kept: Arc<Kept>,
}

fn verify_by_default() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    #[default]
    Password,
    Oauth2,
}

/// What a notifier keeps between sends: its OAuth token, and its transport
/// (lettre's pool) with the address and credentials it was built for.
#[derive(Default)]
struct Kept {
    token: oauth::TokenCache,
    transport: Mutex<Option<(TransportKey, AsyncSmtpTransport<Tokio1Executor>)>>,
}

/// The server's address, checked, and the OAuth token (with `auth: oauth2`).
type TransportKey = (IpAddr, Option<String>);

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    None,
    #[default]
    Starttls,
    Tls,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("SMTP TLS setup for {host} failed: {source}")]
    Tls {
        host: String,
        source: lettre::transport::smtp::Error,
    },
    #[error("SMTP delivery through {host}:{port} failed: {source}")]
    Smtp {
        host: String,
        port: u16,
        source: lettre::transport::smtp::Error,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl Config {
    fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::None => 25,
            Security::Starttls => 587,
            Security::Tls => 465,
        })
    }

    /// The notifier's transport to `key`: the one kept, unless the address
    /// or the token changed.
    fn transport(
        &self,
        cx: &SendContext<'_>,
        key: TransportKey,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
        let mut kept = self.kept.transport.lock().expect("never poisoned");
        if let Some((built_for, transport)) = &*kept
            && *built_for == key
        {
            return Ok(transport.clone());
        }
        let transport = self.build_transport(cx, key.0, key.1.as_deref())?;
        *kept = Some((key, transport.clone()));
        Ok(transport)
    }

    /// A transport connecting to `addr`, the host's address as checked, and
    /// verifying the certificate against the host name.
    fn build_transport(
        &self,
        cx: &SendContext<'_>,
        addr: IpAddr,
        token: Option<&str>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
        let tls = match self.security {
            Security::None => Tls::None,
            Security::Starttls | Security::Tls => {
                let params = TlsParameters::builder(self.host.clone())
                    .dangerous_accept_invalid_certs(!self.tls_verify)
                    .dangerous_accept_invalid_hostnames(!self.tls_verify)
                    .build()
                    .map_err(|source| EmailError::Tls {
                        host: self.host.clone(),
                        source,
                    })?;
                if self.security == Security::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.to_string())
            .port(self.port())
            .tls(tls)
            .timeout(Some(cx.timeout));
        match (token, &self.username, &self.password) {
            (Some(token), user, _) => {
                // XOAUTH2 names the mailbox: the username, else the sender.
                let user = user.clone().unwrap_or_else(|| self.from.clone());
                builder = builder
                    .credentials(Credentials::new(user, token.to_owned()))
                    .authentication(vec![Mechanism::Xoauth2]);
            }
            (None, Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            _ => {}
        }
        Ok(builder.build())
    }

    /// A token, with `auth: oauth2`.
    async fn token(&self, cx: &SendContext<'_>) -> Result<Option<String>, EmailError> {
        let (Auth::Oauth2, Some(token_url), Some(client_id), Some(secret)) = (
            self.auth,
            &self.token_url,
            &self.client_id,
            &self.client_secret,
        ) else {
            return Ok(None);
        };
        let client = oauth::Client {
            token_url,
            client_id,
            client_secret: secret.expose(),
            scope: self.scope.as_deref(),
        };
        let token = self.kept.token.token(&client, cx).await?;
        Ok(Some(token))
    }

    fn check_auth(&self) -> Result<(), FieldError> {
        // Over a plain connection a password or a token crosses the network
        // readable by anyone on the way.
        let credentials = self.password.is_some() || matches!(self.auth, Auth::Oauth2);
        if credentials && matches!(self.security, Security::None) {
            return Err(FieldError::new(
                "security",
                "credentials are never sent over `security: none`; use `starttls` or `tls`",
            ));
        }
        match self.auth {
            Auth::Password => match (&self.username, &self.password) {
                (Some(_), None) => Err(FieldError::new("password", "is required with a username")),
                (None, Some(_)) => Err(FieldError::new("username", "is required with a password")),
                _ => Ok(()),
            },
            Auth::Oauth2 => {
                if self.password.is_some() {
                    return Err(FieldError::new(
                        "password",
                        "goes with `auth: password`; `oauth2` uses a token",
                    ));
                }
                let url = self.token_url.as_deref().ok_or_else(|| {
                    FieldError::new("token_url", "is required with `auth: oauth2`")
                })?;
                crate::chat::check_url("token_url", url)?;
                if self.client_id.as_deref().is_none_or(str::is_empty) {
                    return Err(FieldError::new(
                        "client_id",
                        "is required with `auth: oauth2`",
                    ));
                }
                if self.client_secret.is_none() {
                    return Err(FieldError::new(
                        "client_secret",
                        "is required with `auth: oauth2`",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Whether the TLS handshake failed on the server's certificate. lettre calls
/// that a connection error; the rustls error sits inside an `io::Error`,
/// whose `source()` skips it, so each link is opened with `get_ref`.
fn untrusted_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut link = Some(error);
    while let Some(e) = link {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        let tls = inner
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .or_else(|| e.downcast_ref());
        if matches!(tls, Some(rustls::Error::InvalidCertificate(_))) {
            return true;
        }
        link = inner
            .map(|i| i as &(dyn std::error::Error + 'static))
            .or_else(|| e.source());
    }
    false
}

fn mailbox(field: String, text: &str) -> Result<Mailbox, FieldError> {
    text.parse::<Mailbox>()
        .map_err(|e| FieldError::new(field, format!("`{text}` is not an email address: {e}")))
}

impl Channel for Config {
    const KIND: &'static str = "email";
    const SECRETS: &'static [SecretField] = &[
        SecretField::full("password"),
        SecretField::full("client_secret"),
    ];
    const PARTS: &'static [Part] = &[
        Part {
            name: "subject",
            about: "The subject line; `subject_prefix` goes in front.",
            default: include_str!("../defaults/title.j2"),
        },
        Part {
            name: "body",
            about: "The plain-text body.",
            default: include_str!("body.j2"),
        },
        Part {
            name: "html_body",
            about: "An HTML alternative to the body, sent when not empty; inserted values are escaped.",
            default: "",
        },
        Part {
            name: "trace",
            about: "Attached as trace.txt when not empty: by default the event's `data.trace`.",
            default: "{% if event.data is mapping and event.data.trace is defined %}{{ event.data.trace }}{% endif %}",
        },
    ];
    const DESTINATIONS: &'static [Destination] =
        &[Destination::Host("host"), Destination::Url("token_url")];
    type Message = Message;
    type Error = EmailError;

    fn validate(&self) -> Result<(), FieldError> {
        if self.host.trim().is_empty() {
            return Err(FieldError::new("host", "must not be empty"));
        }
        if self.port == Some(0) {
            return Err(FieldError::new("port", "must be between 1 and 65535"));
        }
        mailbox("from".into(), &self.from)?;
        if self.to.is_empty() {
            return Err(FieldError::new("to", "must list at least one recipient"));
        }
        for (i, to) in self.to.iter().enumerate() {
            mailbox(format!("to[{i}]"), to)?;
        }
        for (i, cc) in self.cc.iter().enumerate() {
            mailbox(format!("cc[{i}]"), cc)?;
        }
        self.check_auth()
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Message, DeliveryError> {
        let bad = |e: FieldError| DeliveryError::permanent(format!("invalid email settings: {e}"));
        let from = mailbox("from".into(), &self.from).map_err(bad)?;
        // A subject is one line: a template's stray newline must not end the headers.
        let rendered = parts.render("subject")?;
        let line = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
        let subject = match self.subject_prefix.trim() {
            "" => line,
            prefix => format!("{prefix} {line}"),
        };
        let text = parts.render("body")?;
        let html = parts.render("html_body")?;
        let domain = from.email.domain().to_owned();
        let mut builder = Message::builder()
            .from(from)
            .subject(subject)
            .message_id(Some(format!("<{}@{domain}>", d.notification_id)));
        for to in &self.to {
            builder = builder.to(mailbox("to".into(), to).map_err(bad)?);
        }
        for cc in &self.cc {
            builder = builder.cc(mailbox("cc".into(), cc).map_err(bad)?);
        }
        let trace = parts.render("trace")?;
        let built = match (html.trim(), trace.trim()) {
            ("", "") => builder.header(ContentType::TEXT_PLAIN).body(text),
            (_, "") => builder.multipart(MultiPart::alternative_plain_html(text, html)),
            (html_text, _) => {
                let body = match html_text {
                    "" => MultiPart::mixed().singlepart(SinglePart::plain(text)),
                    _ => {
                        MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text, html))
                    }
                };
                let file =
                    Attachment::new("trace.txt".to_owned()).body(trace, ContentType::TEXT_PLAIN);
                builder.multipart(body.singlepart(file))
            }
        };
        built.map_err(|e| DeliveryError::permanent(format!("cannot build the email: {e}")))
    }

    async fn send(&self, message: Message, cx: &SendContext<'_>) -> Result<(), EmailError> {
        let token = self.token(cx).await?;
        // One address: lettre would try the others of a name itself, past
        // the guard.
        let addrs = cx.outbound.guard().resolve(&self.host, self.port()).await?;
        let addr = addrs.first().ok_or_else(|| ResolveError::Lookup {
            host: self.host.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        let transport = self.transport(cx, (addr.ip(), token))?;
        transport
            .send(message)
            .await
            .map(drop)
            .map_err(|source| EmailError::Smtp {
                host: self.host.clone(),
                port: self.port(),
                source,
            })
    }
}

impl crate::Classify for EmailError {
    fn disposition(&self) -> Disposition {
        match self {
            // 5xx replies, refusals by the client itself and certificates it does not
            // trust will not change on a retry.
            EmailError::Smtp { source, .. }
                if source.is_permanent()
                    || source.is_client()
                    || source.is_tls()
                    || untrusted_certificate(source) =>
            {
                Disposition::Permanent
            }
            EmailError::Tls { .. }
            | EmailError::Token(TokenError::Refused(_) | TokenError::Outbound(_)) => {
                Disposition::Permanent
            }
            EmailError::Resolve(e) => e.disposition(),
            EmailError::Smtp { .. } | EmailError::Token(TokenError::Unreachable(_)) => {
                Disposition::Retry { after: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<crate::NotifierConfig, FieldError> {
        crate::NotifierConfig::parse("email", &v)
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let base = json!({"host": "smtp.example.com", "from": "herald@example.com", "to": ["ops@example.com"]});
        let with = |k: &str, v: serde_json::Value| {
            let mut c = base.clone();
            c[k] = v;
            c
        };
        let cases = [
            (with("host", json!("")), "config.host"),
            (with("port", json!(0)), "config.port"),
            (with("port", json!(70000)), "config.port"),
            (with("security", json!("ssl")), "config.security"),
            (with("from", json!("not an address")), "config.from"),
            (with("to", json!([])), "config.to"),
            (
                with("to", json!(["ops@example.com", "nope"])),
                "config.to[1]",
            ),
            (with("cc", json!(["x"])), "config.cc[0]"),
            (with("username", json!("u")), "config.password"),
            (with("password", json!("p")), "config.username"),
            (with("auth", json!("oauth2")), "config.token_url"),
            (with("auth", json!("kerberos")), "config.auth"),
            (
                json!({"host": "h", "from": "a@b.c", "to": ["d@e.f"], "security": "none", "username": "u", "password": "p"}),
                "config.security",
            ),
            (
                json!({"host": "h", "from": "a@b.c", "to": ["d@e.f"], "security": "none", "auth": "oauth2", "token_url": "https://idp.example.com/t", "client_id": "c", "client_secret": "s"}),
                "config.security",
            ),
        ];
        for (config, field) in cases {
            let err = parse(config.clone()).expect_err(&config.to_string());
            assert_eq!(err.field, field, "{config}: {err}");
        }
        assert!(parse(base).is_ok());
    }

    #[test]
    fn ports_follow_the_security_mode() {
        for (security, port) in [("none", 25), ("starttls", 587), ("tls", 465)] {
            let c: Config = serde_json::from_value(
                json!({"host": "h", "from": "a@b.c", "to": ["d@e.f"], "security": security}),
            )
            .unwrap();
            assert_eq!(c.port(), port);
        }
    }
}
