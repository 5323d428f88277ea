//! Rules: which events go to which notifiers, and why one did or did not
//! select an event.
//!
//! A rule matches on fields (categories, kinds, severities, scope, labels),
//! then on its optional `condition`, an expression over the event. A
//! condition that errors or is not a boolean is ignored and the event sent
//! anyway (MLRun's rule): a broken condition must not silence a page. Its
//! `templates` override the parts of the messages it selects.

use std::collections::BTreeMap;
use std::fmt::Display;

use herald_templates::{Condition, ConditionError, Value, check_template, context_of};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::calendar::{Digest, QuietHours};
use crate::error::{FieldError, from_value};
use crate::event::{Category, Event, Severity};
use crate::limits::{
    MAX_CONDITION_CHARS, MAX_RULE_KINDS, MAX_RULE_NOTIFIERS, MAX_SHORT_TEXT_CHARS,
    MAX_TEMPLATE_CHARS, check_chars, check_count, check_labels,
};
use crate::policy::{Group, Threshold, Throttle};
use crate::scope::Scope;

/// What an administrator writes. Empty lists match anything; `scope` matches its
/// own path and every path below it; every label listed must be equal on the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// An expression over `event`, `rule` and `herald`, e.g.
    /// `event.labels.env == "prod" and event.data.duration_s > 600`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Message parts (`subject`, `body`, …) for the notifications it selects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, String>,
    pub notifiers: Vec<Uuid>,
    /// Select only the `count`th matching event for a key within a window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// At most one notification per key within a window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    /// Whether a resolving event reaches the notifiers that got the firing one.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// When non-critical deliveries wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// One notification per group of events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    /// One notification per schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

fn yes() -> bool {
    true
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
        spec.name = crate::records::checked_name(&spec.name)?;
        // A scope given over the API is untrusted text: normalise and check it.
        spec.scope = Scope::parse(spec.scope.as_str()).map_err(|m| FieldError::new("scope", m))?;
        // A disabled rule may name none: it is how a rule whose notifiers are
        // all gone is kept, edited and switched off.
        if spec.notifiers.is_empty() && spec.enabled {
            return Err(FieldError::new(
                "notifiers",
                "must list at least one notifier id (a disabled rule may list none)",
            ));
        }
        spec.notifiers.dedup();
        check_count("notifiers", spec.notifiers.len(), MAX_RULE_NOTIFIERS)?;
        check_count("kinds", spec.kinds.len(), MAX_RULE_KINDS)?;
        for (i, kind) in spec.kinds.iter().enumerate() {
            check_chars(&format!("kinds[{i}]"), kind, MAX_SHORT_TEXT_CHARS)?;
        }
        check_labels("labels", spec.labels.iter())?;
        if let Some(condition) = &spec.condition {
            check_chars("condition", condition, MAX_CONDITION_CHARS)?;
            if condition.trim().is_empty() {
                spec.condition = None;
            } else {
                Condition::compile(condition)
                    .map_err(|e| FieldError::new("condition", e.message))?;
            }
        }
        for (part, source) in &spec.templates {
            check_chars(&format!("templates.{part}"), source, MAX_TEMPLATE_CHARS)?;
            check_template(part, source)
                .map_err(|e| FieldError::new(format!("templates.{part}"), e.message))?;
        }
        spec.check_policies()?;
        Ok(spec)
    }

    fn check_policies(&self) -> Result<(), FieldError> {
        if let Some(t) = &self.threshold {
            t.validate("threshold")?;
        }
        if let Some(t) = &self.throttle {
            t.validate("throttle")?;
        }
        if let Some(q) = &self.quiet_hours {
            q.validate("quiet_hours")?;
        }
        if let Some(g) = &self.group {
            g.validate("group")?;
        }
        if let Some(d) = &self.digest {
            d.validate("digest")?;
            if self.group.is_some() {
                return Err(FieldError::new(
                    "digest",
                    "a rule either groups (group) or digests (digest), not both",
                ));
            }
        }
        Ok(())
    }

    /// Whether routing this rule's selections needs state kept in the
    /// database (counts, windows, groups).
    pub fn is_stateful(&self) -> bool {
        self.threshold.is_some()
            || self.throttle.is_some()
            || self.group.is_some()
            || self.digest.is_some()
    }

    /// The compiled condition, if the rule has one that compiles (stored
    /// rules were checked on save).
    pub fn compile_condition(&self) -> Option<Condition> {
        self.condition
            .as_deref()
            .and_then(|c| Condition::compile(c).ok())
    }

    /// The first field that keeps this rule from selecting `event`, in words
    /// (`category job not in [deployment]`); `None` when every field matches.
    pub fn first_miss(&self, event: &Event) -> Option<String> {
        if !self.enabled {
            return Some("disabled".into());
        }
        if !self.categories.is_empty() && !self.categories.contains(&event.category) {
            return Some(not_in("category", event.category, &self.categories));
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&event.kind) {
            return Some(not_in("kind", &event.kind, &self.kinds));
        }
        if !self.severities.is_empty() && !self.severities.contains(&event.severity) {
            return Some(not_in("severity", event.severity, &self.severities));
        }
        if !self.scope.contains(&event.scope) {
            return Some(format!(
                "scope {} not under {}",
                shown(event.scope.as_str()),
                shown(self.scope.as_str())
            ));
        }
        self.labels
            .iter()
            .find_map(|(k, want)| match event.labels.get(k) {
                Some(v) if v == want => None,
                Some(v) => Some(format!("label {k}: {v} != {want}")),
                None => Some(format!("label {k}: missing, want {want}")),
            })
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

fn not_in<T: Display>(field: &str, value: T, allowed: &[impl Display]) -> String {
    let allowed: Vec<String> = allowed.iter().map(ToString::to_string).collect();
    format!("{field} {value} not in [{}]", allowed.join(", "))
}

fn shown(scope: &str) -> &str {
    if scope.is_empty() { "(root)" } else { scope }
}

/// What one rule decided about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Matched,
    /// The condition failed or was not a boolean: selected anyway.
    ConditionError(String),
    /// Not selected, and the first reason why.
    Skipped(String),
}

impl Decision {
    pub fn selects(&self) -> bool {
        !matches!(self, Decision::Skipped(_))
    }

    /// The decision in words, as explain shows it.
    pub fn reason(&self) -> String {
        match self {
            Decision::Matched => "matched".into(),
            Decision::ConditionError(e) => format!("condition error: {e} (sent anyway)"),
            Decision::Skipped(why) => why.clone(),
        }
    }
}

/// The context a condition sees: `event` (converted once per event and
/// shared), `rule` (`id`, `name`) and `herald` (`url`).
pub fn condition_context(event: &Value, rule_id: Uuid, rule_name: &str, herald: &Value) -> Value {
    let rule = context_of([
        ("id", Value::from(rule_id.to_string())),
        ("name", Value::from(rule_name)),
    ]);
    context_of([
        ("event", event.clone()),
        ("rule", rule),
        ("herald", herald.clone()),
    ])
}

/// What templates and conditions see as `herald`: `url`, the public base URL
/// for links back to Herald.
pub fn herald_context(public_url: &str) -> Value {
    context_of([("url", Value::from(public_url.trim_end_matches('/')))])
}

/// What each rule decides about `event`, as routing decides it, in the
/// order given.
pub fn decisions<'a>(
    event: &Event,
    rules: impl IntoIterator<Item = (Uuid, &'a RuleSpec)>,
    herald: &Value,
) -> Vec<(Uuid, Decision)> {
    let shared = herald_templates::context(event);
    rules
        .into_iter()
        .map(|(id, spec)| {
            let condition = spec.compile_condition();
            let decision = spec.decide(event, condition.as_ref(), || {
                condition_context(&shared, id, &spec.name, herald)
            });
            (id, decision)
        })
        .collect()
}

impl RuleSpec {
    /// Whether this rule selects `event` and why, its condition (compiled
    /// from `self.condition`) evaluated in `context` (see
    /// [`condition_context`]) only when every field matches.
    pub fn decide(
        &self,
        event: &Event,
        condition: Option<&Condition>,
        context: impl FnOnce() -> Value,
    ) -> Decision {
        if let Some(why) = self.first_miss(event) {
            return Decision::Skipped(why);
        }
        match condition {
            Some(condition) => condition_decision(condition, &context()),
            None => Decision::Matched,
        }
    }
}

/// What a condition decides for a rule whose fields matched.
pub fn condition_decision(condition: &Condition, context: &Value) -> Decision {
    match condition.eval(context) {
        Ok(true) => Decision::Matched,
        Ok(false) => Decision::Skipped("condition false".into()),
        Err(e @ (ConditionError::Failed(_) | ConditionError::NotBoolean(_))) => {
            Decision::ConditionError(e.to_string())
        }
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
            let spec = rule(r.clone());
            assert_eq!(spec.matches(&e), want, "rule {r}");
            assert_eq!(spec.first_miss(&e).is_none(), want, "rule {r}");
        }
    }

    #[test]
    fn decisions_say_why_table() {
        let e = event(json!({
            "source": "ci", "category": "job", "kind": "failed", "severity": "warning",
            "scope": "acme-old/web", "labels": {"env": "prod"}, "data": {"duration_s": 900}
        }));
        let cases = [
            (json!({}), "matched"),
            (json!({"enabled": false}), "disabled"),
            (
                json!({"categories": ["deployment"]}),
                "category job not in [deployment]",
            ),
            (
                json!({"kinds": ["started", "succeeded"]}),
                "kind failed not in [started, succeeded]",
            ),
            (
                json!({"severities": ["critical"]}),
                "severity warning not in [critical]",
            ),
            (
                json!({"scope": "acme"}),
                "scope acme-old/web not under acme",
            ),
            (
                json!({"labels": {"env": "staging"}}),
                "label env: prod != staging",
            ),
            (
                json!({"labels": {"team": "web"}}),
                "label team: missing, want web",
            ),
            (
                json!({"condition": "event.data.duration_s > 600"}),
                "matched",
            ),
            (
                json!({"condition": "event.data.duration_s > 6000"}),
                "condition false",
            ),
            (
                json!({"condition": "event.labels.team == 'web'"}),
                "condition error: undefined value: `event.labels.team` is undefined (line 1) (sent anyway)",
            ),
            (
                json!({"condition": "event.data.duration_s"}),
                "condition error: returned number 900, not true or false (sent anyway)",
            ),
            (json!({"condition": "rule.name == 'r'"}), "matched"),
            (
                json!({"categories": ["system"], "condition": "event.nope"}),
                "category job not in [system]",
            ),
        ];
        let herald = herald_context("http://herald.local/");
        let shared = herald_templates::context(&e);
        for (r, want) in cases {
            let spec = rule(r.clone());
            let condition = spec.compile_condition();
            let decision = spec.decide(&e, condition.as_ref(), || {
                condition_context(&shared, Uuid::nil(), &spec.name, &herald)
            });
            assert_eq!(decision.reason(), want, "rule {r}");
            assert_eq!(
                decision.selects(),
                want == "matched" || want.ends_with("(sent anyway)")
            );
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
            (json!({"name": "r".repeat(201), "notifiers": n}), "name"),
            (
                json!({"name": "r", "notifiers": n, "kinds": ["k".repeat(257)]}),
                "kinds[0]",
            ),
            (
                json!({"name": "r", "notifiers": n, "condition": "x".repeat(4097)}),
                "condition",
            ),
            (
                json!({"name": "r", "notifiers": n, "scope": "s".repeat(513)}),
                "scope",
            ),
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
            (
                json!({"name": "r", "notifiers": n, "condition": "event.title =="}),
                "condition",
            ),
            (
                json!({"name": "r", "notifiers": n, "templates": {"subject": "{{ x"}}),
                "templates.subject",
            ),
            (
                json!({"name": "r", "notifiers": n, "templates": {"body": 3}}),
                "templates.body",
            ),
        ];
        for (input, field) in cases {
            let err = RuleSpec::from_json(input.clone()).expect_err(&input.to_string());
            assert_eq!(err.field, field, "{input} gave {err}");
        }
    }

    #[test]
    fn a_disabled_rule_may_name_no_notifier() {
        let spec = RuleSpec::from_json(json!({"name": "r", "enabled": false, "notifiers": []}));
        assert!(spec.unwrap().notifiers.is_empty());
    }

    #[test]
    fn a_rule_is_enabled_unless_said_otherwise() {
        assert!(rule(json!({})).enabled);
        assert!(!rule(json!({"enabled": false})).enabled);
    }
}
