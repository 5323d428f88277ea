//! Who may call the API: roles, API tokens and the audit trail's records.
//!
//! A token is 32 random bytes shown once, in base64url behind a `hrld_`
//! prefix (so secret scanners and people can tell what it is); only its
//! SHA-256 is stored. Tokens are random enough that a fast hash is as safe as a
//! slow one, and a fast hash keeps every request's check cheap.
//!
//! This module does no I/O: the store keeps tokens and audit entries, the API
//! checks them.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::FieldError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// `POST /api/v1/events` only.
    Publisher,
    /// Every `GET`.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Publisher, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        }
    }

    /// Whether a token of this role may do what needs `needed`: an admin may do
    /// everything, the others only their own part.
    pub fn grants(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role; expected admin, publisher or viewer"))
    }
}

const TOKEN_PREFIX: &str = "hrld_";
/// Bytes of randomness in a generated token.
const TOKEN_BYTES: usize = 32;
/// The shortest token Herald accepts from configuration
/// (`HERALD_BOOTSTRAP_TOKEN`, `HERALD_METRICS_TOKEN`).
pub const MIN_TOKEN_CHARS: usize = 32;

/// A token in plain text, shown once when it is created. `Debug` masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(String);

impl PlainToken {
    pub fn generate() -> PlainToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        PlainToken(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token chosen by the operator (`HERALD_BOOTSTRAP_TOKEN`), long enough
    /// not to be guessed.
    pub fn given(text: &str) -> Result<PlainToken, String> {
        let text = text.trim();
        if text.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!(
                "must be at least {MIN_TOKEN_CHARS} characters (`herald token create` makes one)"
            ));
        }
        Ok(PlainToken(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up: the SHA-256 of the token.
    pub fn hash(&self) -> Vec<u8> {
        token_hash(&self.0)
    }

    /// The first characters, stored so an operator can tell tokens apart.
    pub fn hint(&self) -> String {
        self.0.chars().take(TOKEN_PREFIX.len() + 4).collect()
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(********)")
    }
}

/// The SHA-256 of a presented token, to look it up.
pub fn token_hash(presented: &str) -> Vec<u8> {
    digest(&SHA256, presented.as_bytes()).as_ref().to_vec()
}

/// The longest token name.
pub const TOKEN_NAME_MAX: usize = 100;

/// What a client sends to create a token.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub name: String,
    pub role: Role,
    /// When the token stops working; never when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl TokenSpec {
    pub fn validate(&self, now: OffsetDateTime) -> Result<(), FieldError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        if name.chars().count() > TOKEN_NAME_MAX {
            return Err(FieldError::new(
                "name",
                format!("must be at most {TOKEN_NAME_MAX} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(FieldError::new("expires_at", "must be in the future"));
        }
        Ok(())
    }
}

/// A stored token, as listed: never the token itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The token's first characters.
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// Whether the token may be used at `now`.
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// One change, as the audit trail keeps it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The name of the token that made the change (`herald` for Herald's own
    /// command line, which talks to the database).
    pub actor: String,
    /// `create`, `update`, `delete`, `replay`, `discard`, `test`, `revoke`, ….
    pub action: String,
    /// `notifier`, `rule`, `failure`, `token`, ….
    pub object: String,
    /// The object's id, when the change was about one.
    pub object_id: Option<String>,
    /// More about the change: the request's method and path, a name.
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_distinct_and_hash_stably() {
        let a = PlainToken::generate();
        let b = PlainToken::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("hrld_"));
        assert!(
            a.expose().len() >= TOKEN_PREFIX.len() + 43,
            "{}",
            a.expose()
        );
        assert_eq!(a.hash(), token_hash(a.expose()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "PlainToken(********)");
    }

    #[test]
    fn admin_grants_every_role_and_the_others_only_their_own() {
        let table = [
            (Role::Admin, Role::Admin, true),
            (Role::Admin, Role::Viewer, true),
            (Role::Admin, Role::Publisher, true),
            (Role::Viewer, Role::Viewer, true),
            (Role::Viewer, Role::Publisher, false),
            (Role::Viewer, Role::Admin, false),
            (Role::Publisher, Role::Publisher, true),
            (Role::Publisher, Role::Viewer, false),
            (Role::Publisher, Role::Admin, false),
        ];
        for (has, needed, granted) in table {
            assert_eq!(has.grants(needed), granted, "{has} for {needed}");
        }
    }

    #[test]
    fn given_tokens_must_be_long() {
        assert!(PlainToken::given("short").is_err());
        assert!(PlainToken::given(&"x".repeat(MIN_TOKEN_CHARS)).is_ok());
    }

    #[test]
    fn token_names_are_bounded() {
        let now = OffsetDateTime::now_utc();
        let spec = |name: &str| TokenSpec {
            name: name.into(),
            role: Role::Viewer,
            expires_at: None,
        };
        assert!(spec("ci").validate(now).is_ok());
        for bad in ["", " ", &"n".repeat(TOKEN_NAME_MAX + 1), "a\nb"] {
            assert_eq!(
                spec(bad).validate(now).unwrap_err().field,
                "name",
                "{bad:?}"
            );
        }
        let expired = TokenSpec {
            expires_at: Some(now - time::Duration::seconds(1)),
            ..spec("old")
        };
        assert_eq!(expired.validate(now).unwrap_err().field, "expires_at");
    }
}
