use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_SCOPE_BYTES, MAX_SCOPE_SEGMENTS};

/// A slash path such as `acme/web/deploy-app`: organisation, project, template.
/// A rule scoped to a path applies to that path and everything below it, which is
/// how a rule on an organisation is inherited by its projects.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct Scope(String);

impl Scope {
    /// Normalises leading and trailing slashes away; rejects empty segments,
    /// control characters, and scopes over [`MAX_SCOPE_BYTES`] or
    /// [`MAX_SCOPE_SEGMENTS`]. The empty scope is the root and contains everything.
    pub fn parse(s: &str) -> Result<Scope, String> {
        let trimmed = s.trim().trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Scope::default());
        }
        if trimmed.len() > MAX_SCOPE_BYTES {
            return Err(format!(
                "is {} bytes; a scope is at most {MAX_SCOPE_BYTES} bytes",
                trimmed.len()
            ));
        }
        let segments = trimmed.split('/').count();
        if segments > MAX_SCOPE_SEGMENTS {
            return Err(format!(
                "has {segments} segments; a scope has at most {MAX_SCOPE_SEGMENTS}"
            ));
        }
        if trimmed.split('/').any(|seg| seg.trim().is_empty()) {
            return Err(format!("`{s}` has an empty segment"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(format!(
                "`{}` contains a control character",
                s.escape_debug()
            ));
        }
        Ok(Scope(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `other` is this scope or lies below it: `acme` contains
    /// `acme/web` but not `acme-old`.
    pub fn contains(&self, other: &Scope) -> bool {
        match other.0.strip_prefix(&self.0) {
            Some(rest) => self.0.is_empty() || rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// This scope and each of its ancestors, root last: `a/b` yields `a/b`, `a`, ``.
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        let s = self.0.as_str();
        let cuts = s.rmatch_indices('/').map(move |(i, _)| &s[..i]);
        std::iter::once(s)
            .chain(cuts)
            .chain((!s.is_empty()).then_some(""))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).unwrap()
    }

    #[test]
    fn containment_follows_path_segments_not_string_prefixes() {
        let cases = [
            ("", "acme/web", true),
            ("acme", "acme", true),
            ("acme", "acme/web/deploy-app", true),
            ("acme/web", "acme/web/deploy-app", true),
            ("acme", "acme-old", false),
            ("acme", "acme-old/web", false),
            ("acme/web", "acme", false),
            ("acme/web", "", false),
            ("acme/web", "acme/webshop", false),
        ];
        for (rule, event, want) in cases {
            assert_eq!(s(rule).contains(&s(event)), want, "{rule} contains {event}");
        }
    }

    #[test]
    fn parsing_normalises_and_rejects_empty_segments() {
        assert_eq!(s("/acme/web/").as_str(), "acme/web");
        assert_eq!(s("  ").as_str(), "");
        assert!(Scope::parse("acme//web").is_err());
        assert!(Scope::parse("acme/ /web").is_err());
        assert!(Scope::parse("acme/\u{7}").is_err());
    }

    #[test]
    fn scopes_are_bounded_in_bytes_and_segments() {
        let deepest = vec!["a"; MAX_SCOPE_SEGMENTS].join("/");
        assert!(Scope::parse(&deepest).is_ok());
        assert!(Scope::parse(&format!("{deepest}/a")).is_err());
        assert!(Scope::parse(&"a".repeat(MAX_SCOPE_BYTES)).is_ok());
        let err = Scope::parse(&"a".repeat(MAX_SCOPE_BYTES + 1)).unwrap_err();
        assert!(err.contains("512 bytes"), "{err}");
    }

    #[test]
    fn ancestors_run_from_the_scope_to_the_root() {
        assert_eq!(
            s("a/b/c").ancestors().collect::<Vec<_>>(),
            ["a/b/c", "a/b", "a", ""]
        );
        assert_eq!(s("").ancestors().collect::<Vec<_>>(), [""]);
    }
}
