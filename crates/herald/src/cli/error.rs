//! What a command line run ends with: the exit code a script can test, and
//! the one line on stderr a person reads.
//!
//! Codes (the README's "Exit codes" table): 0 success, 1 any other failure
//! (the broker or database commands), 2 usage (bad arguments, a bad file, a
//! missing `${VAR}`), 3 not found, 4 access refused (the API's token, the
//! broker's credentials), 5 the API refused the request or failed (validation,
//! conflict, a failed test send, a server error), 6 cannot connect.

use std::fmt::Write as _;
use std::process::ExitCode;

/// A failure of a command that talks to the API, with what its exit code says.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("access refused (HTTP {status}): {message}")]
    Auth { status: u16, message: String },
    #[error("the API refused the request (HTTP {status}): {message}")]
    Api { status: u16, message: String },
    #[error("cannot reach the API at {url}: {cause}")]
    Connect { url: String, cause: String },
}

pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const AUTH: u8 = 4;
pub const API: u8 = 5;
pub const CONNECT: u8 = 6;

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    pub fn code(&self) -> u8 {
        match self {
            CliError::Usage(_) => USAGE,
            CliError::NotFound(_) => NOT_FOUND,
            CliError::Auth { .. } => AUTH,
            CliError::Api { .. } => API,
            CliError::Connect { .. } => CONNECT,
        }
    }
}

/// Prints `error` once on stderr and answers its exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", message(error));
    ExitCode::from(code(error))
}

/// The error and its causes on one line, each cause once: library errors
/// often repeat their source's text in their own, and a cause already said
/// is not said again.
pub fn message(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        let _ = write!(text, "{cause}");
    }
    text
}

fn code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<herald_queue::QueueError>() {
            return match e {
                herald_queue::QueueError::Refused(_) => AUTH,
                herald_queue::QueueError::Unavailable(_) => CONNECT,
                _ => 1,
            };
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner cause")]
    struct Inner;

    #[test]
    fn a_cause_repeated_by_its_wrapper_is_said_once() {
        let e = anyhow::Error::new(Outer(Inner)).context("emit");
        assert_eq!(message(&e), "emit: outer: inner cause");
    }

    #[test]
    fn the_first_cli_error_in_the_chain_decides_the_code() {
        let e = anyhow::Error::new(CliError::NotFound("notifier `x`".into())).context("get");
        assert_eq!(code(&e), NOT_FOUND);
        assert_eq!(code(&anyhow::anyhow!("other")), 1);
    }
}
