//! Rules: which events go to which notifiers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{FieldError, from_value};
use crate::event::{Category, Event, Severity};
use crate::scope::Scope;

/// What an administrator writes. Empty lists match anything; `scope` matches its
/// own path and every path below it; every label listed must be equal on the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub categories: Vec<Category>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub severities: Vec<Severity>,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub notifiers: Vec<Uuid>,
}

fn yes() -> bool {
    true
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: Uuid,
    #[serde(flatten)]
    pub spec: RuleSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RuleSpec {
    /// Parses a rule from API input, naming the field at fault.
    pub fn from_json(value: serde_json::Value) -> Result<RuleSpec, FieldError> {
        let mut spec: RuleSpec = from_value(value)?;
        spec.name = spec.name.trim().to_owned();
        if spec.name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        // A scope given over the API is untrusted text: normalise and check it.
        spec.scope = Scope::parse(spec.scope.as_str()).map_err(|m| FieldError::new("scope", m))?;
        if spec.notifiers.is_empty() {
            return Err(FieldError::new(
                "notifiers",
                "must list at least one notifier id",
            ));
        }
        spec.notifiers.dedup();
        Ok(spec)
    }

    /// Whether this rule selects `event`, ignoring `enabled` (callers keep only
    /// enabled rules in the set they match against).
    pub fn matches(&self, event: &Event) -> bool {
        (self.categories.is_empty() || self.categories.contains(&event.category))
            && (self.severities.is_empty() || self.severities.contains(&event.severity))
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && self.scope.contains(&event.scope)
            && self
                .labels
                .iter()
                .all(|(k, v)| event.labels.get(k) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: serde_json::Value) -> Event {
        crate::parse_event(v.to_string().as_bytes(), OffsetDateTime::now_utc()).unwrap()
    }

    fn rule(v: serde_json::Value) -> RuleSpec {
        let mut v = v;
        v["name"] = json!("r");
        v["notifiers"] = json!([Uuid::nil()]);
        RuleSpec::from_json(v).unwrap()
    }

    #[test]
    fn matching_table() {
        let e = event(json!({
            "source": "ci", "category": "job", "kind": "failed", "severity": "critical",
            "scope": "acme/web/deploy-app", "labels": {"env": "prod", "team": "web"}
        }));
        let cases = [
            (json!({}), true),
            (json!({"categories": ["job"]}), true),
            (json!({"categories": ["system", "deployment"]}), false),
            (json!({"severities": ["critical", "warning"]}), true),
            (json!({"severities": ["info"]}), false),
            (json!({"kinds": ["failed", "aborted"]}), true),
            (json!({"kinds": ["succeeded"]}), false),
            (json!({"scope": "acme"}), true),
            (json!({"scope": "acme/web/deploy-app"}), true),
            (json!({"scope": "acme-old"}), false),
            (json!({"scope": "acme/web/deploy-app/x"}), false),
            (json!({"labels": {"env": "prod"}}), true),
            (json!({"labels": {"env": "prod", "team": "web"}}), true),
            (json!({"labels": {"env": "staging"}}), false),
            (json!({"labels": {"region": "eu"}}), false),
            (
                json!({"categories": ["job"], "severities": ["info"]}),
                false,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(rule(r.clone()).matches(&e), want, "rule {r}");
        }
    }

    #[test]
    fn bad_rules_are_rejected_naming_the_field() {
        let n = json!([Uuid::nil()]);
        let cases = [
            (json!({"notifiers": n}), "name"),
            (json!({"name": " ", "notifiers": n}), "name"),
            (json!({"name": "r"}), "notifiers"),
            (json!({"name": "r", "notifiers": []}), "notifiers"),
            (json!({"name": "r", "notifiers": ["x"]}), "notifiers[0]"),
            (
                json!({"name": "r", "notifiers": n, "categories": ["jobs"]}),
                "categories[0]",
            ),
            (
                json!({"name": "r", "notifiers": n, "severities": ["high"]}),
                "severities[0]",
            ),
            (
                json!({"name": "r", "notifiers": n, "scope": "a//b"}),
                "scope",
            ),
            (
                json!({"name": "r", "notifiers": n, "colour": "red"}),
                "colour",
            ),
        ];
        for (input, field) in cases {
            let err = RuleSpec::from_json(input.clone()).expect_err(&input.to_string());
            assert_eq!(err.field, field, "{input} gave {err}");
        }
    }

    #[test]
    fn a_rule_is_enabled_unless_said_otherwise() {
        assert!(rule(json!({})).enabled);
        assert!(!rule(json!({"enabled": false})).enabled);
    }
}
