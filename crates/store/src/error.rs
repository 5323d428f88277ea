use tokio_postgres::error::SqlState;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached; callers hand work back and retry later.
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: Uuid },
    /// The input clashes with stored data: a duplicate name, a state that
    /// forbids the change.
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    /// Rules (id, name) still send to the notifier being deleted, or other
    /// notifiers (id, name) fall back to it.
    #[error("notifier {notifier} is {}; remove it from them, or delete them, first", users(.rules, .notifiers))]
    InUse {
        notifier: Uuid,
        rules: Vec<(Uuid, String)>,
        notifiers: Vec<(Uuid, String)>,
    },
    /// The input names something that does not exist.
    #[error("{field}: {message}")]
    UnknownReference {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Config(String),
    /// TLS refused the database server (its certificate, its name): trying
    /// again will not help.
    #[error("TLS to the database failed: {0}")]
    Tls(String),
    #[error("migrating the database failed: {0}")]
    Migration(String),
    #[error("database query `{op}` failed: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// One statement made for many callers failed; each gets this copy.
    #[error("{0}")]
    Shared(String),
    /// Lost a race with another transaction (a deadlock); trying again succeeds.
    #[error("the database refused `{0}` for now (a conflicting transaction); try again")]
    Transient(&'static str),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }

    /// A copy for every caller that shared one failed statement.
    pub fn shared(&self) -> StoreError {
        match self {
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Transient(op) => StoreError::Transient(op),
            other => StoreError::Shared(other.to_string()),
        }
    }

    pub(crate) fn query(op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
        move |source| {
            let conflict = [
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::T_R_SERIALIZATION_FAILURE,
            ];
            if lost_connection(&source) {
                StoreError::Unavailable(format!("{op}: {source}"))
            } else if source.code().is_some_and(|c| conflict.contains(c)) {
                StoreError::Transient(op)
            } else {
                StoreError::Query { op, source }
            }
        }
    }

    pub(crate) fn connect(source: tokio_postgres::Error) -> StoreError {
        if crate::tls::refused(&source) {
            return StoreError::Tls(error_chain(&source));
        }
        StoreError::Unavailable(source.to_string())
    }

    pub(crate) fn from_pool(error: deadpool_postgres::PoolError) -> StoreError {
        StoreError::Unavailable(error.to_string())
    }

    pub(crate) fn not_found(what: &'static str, id: Uuid) -> StoreError {
        StoreError::NotFound { what, id }
    }

    pub(crate) fn unique_name(what: &'static str, name: &str) -> impl Fn(StoreError) -> StoreError {
        let message = format!("a {what} named `{name}` already exists");
        move |e| match e {
            StoreError::Query { ref source, .. }
                if source.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
            {
                StoreError::Conflict {
                    field: "name",
                    message: message.clone(),
                }
            }
            other => other,
        }
    }
}

/// Who uses a notifier, for the refusal of its deletion: `used by rules …`,
/// `the fallback of notifiers …`, or both.
fn users(rules: &[(Uuid, String)], notifiers: &[(Uuid, String)]) -> String {
    let list = |items: &[(Uuid, String)]| {
        let named: Vec<String> = items
            .iter()
            .map(|(id, name)| format!("`{name}` ({id})"))
            .collect();
        named.join(", ")
    };
    let mut parts = Vec::new();
    if !rules.is_empty() {
        parts.push(format!("used by rules {}", list(rules)));
    }
    if !notifiers.is_empty() {
        parts.push(format!("the fallback of notifiers {}", list(notifiers)));
    }
    parts.join(" and ")
}

/// Errors that mean "the server went away", not "the statement was wrong".
/// Without a SQL state, only a closed connection or an I/O error counts: a
/// parameter that cannot be encoded is a bug to report, not an outage to wait
/// out.
fn lost_connection(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => e.is_closed() || io_error(e),
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
    }
}

/// An error and its causes, `: `-separated: rustls's reason sits below an
/// I/O error that does not show it.
fn error_chain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = inner.source();
    }
    text
}

fn io_error(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}
