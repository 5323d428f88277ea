//! A real SMTP server (Python's aiosmtpd) that reports each message it gets.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::eventually;

#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub message_id: String,
    pub content_type: String,
    pub body: String,
    /// The HTML alternative, if any.
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<MailAttachment>,
    /// The login that authenticated, with `--auth` or `--xoauth2`.
    pub login: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailAttachment {
    pub filename: String,
    pub content_type: String,
    pub content: String,
}

pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    _child: Child,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        SmtpSink::start_with(&[]).await
    }

    /// With the sink's options: `--starttls CERT KEY`, `--tls CERT KEY`, `--auth USER:PASS`,
    /// `--xoauth2 USER:TOKEN`.
    pub async fn start_with(options: &[&str]) -> SmtpSink {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/smtp_sink.py");
        // ops/test.sh points this at a Python that has aiosmtpd.
        let python = std::env::var("HERALD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(python)
            .arg(&script)
            .args(options)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 must be installed to run the SMTP sink (ops/test.sh installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink did not start within 20s")
            .unwrap()
            .expect(
                "the SMTP sink exited at once: is aiosmtpd installed? (ops/test.sh installs it)",
            );
        let port = serde_json::from_str::<serde_json::Value>(&first).unwrap()["port"]
            .as_u64()
            .unwrap() as u16;
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = mails.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).expect("the sink prints JSON"));
            }
        });
        SmtpSink {
            port,
            mails,
            _child: child,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Mail> {
        eventually(&format!("{n} mails"), deadline, || async {
            let got = self.mails();
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} mails", got.len()))
            }
        })
        .await
    }
}
