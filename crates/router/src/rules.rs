//! The in-memory rule set the router matches against, indexed so that the
//! cost of matching an event depends on the rules that could match it, not on
//! how many rules there are.
//!
//! Rules are filed by scope (an event looks up its own scope and each ancestor,
//! a handful of lookups), then by category (or "any"), then, for rules that
//! require labels, by one of their label pairs (looked up with each of the
//! event's labels). What is found is checked in full with [`RuleSpec::matches`],
//! then by the rule's condition, compiled once per rule set; the event is
//! converted for conditions only when a candidate has one, once for all.
//!
//! [`RuleSpec::matches`]: herald_model::RuleSpec::matches

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use herald_model::policy::event_field;
use herald_model::{
    Category, Decision, Event, Inhibition, Monitor, Problem, QuietHours, Rule, Silence,
    condition_context, condition_decision, herald_context,
};
use herald_store::{NotifierInfo, RoutingSnapshot};
use herald_templates::{Condition, TemplateSet, Value, context, context_of};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::policy::{KeyOf, rfc3339};

/// A notifier an event goes to, and the rules that sent it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub notifier_id: Uuid,
    pub notifier_name: String,
    pub kind: String,
    pub rule_ids: Vec<Uuid>,
    /// Conditions that errored and were ignored on the way.
    pub notes: Vec<String>,
}

/// Rules of one scope and one category (or any category), by position.
#[derive(Debug, Clone, Default)]
struct Bucket {
    without_labels: Vec<usize>,
    /// Rules that require labels, filed under their first `(key, value)`.
    by_label: HashMap<(String, String), Vec<usize>>,
}

impl Bucket {
    fn add(&mut self, rule: &Rule, position: usize) {
        match rule.spec.labels.iter().next() {
            Some((k, v)) => self
                .by_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .push(position),
            None => self.without_labels.push(position),
        }
    }

    fn candidates<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = usize> + 'a {
        let labelled = event
            .labels
            .iter()
            .filter_map(|(k, v)| self.by_label.get(&(k.clone(), v.clone())))
            .flatten();
        self.without_labels.iter().chain(labelled).copied()
    }
}

/// The buckets of one scope: one per category, and one for rules of any category.
#[derive(Debug, Clone, Default)]
struct ScopeRules {
    by_category: HashMap<Category, Bucket>,
    any_category: Bucket,
}

/// Enabled rules as of one configuration version.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// 0 before anything was loaded; stored versions start at 1.
    version: i64,
    rules: Vec<Rule>,
    /// Each rule's compiled condition, by position.
    conditions: Arc<Vec<Option<Condition>>>,
    by_scope: HashMap<String, ScopeRules>,
    notifiers: HashMap<Uuid, NotifierInfo>,
    /// What conditions see as `herald`.
    herald: Value,
    /// Each rule's position by id.
    by_id: HashMap<Uuid, usize>,
    /// Each rule's compiled threshold and throttle keys, by position.
    keys: Arc<Vec<PolicyKeys>>,
    silences: Arc<Vec<Silence>>,
    inhibitions: Arc<Vec<Inhibition>>,
    /// Enabled monitors, which the events routed feed (`crate::monitors`).
    monitors: Arc<Vec<Monitor>>,
}

/// A rule's threshold and throttle key templates, compiled.
#[derive(Debug, Default)]
struct PolicyKeys {
    threshold: Option<TemplateSet>,
    throttle: Option<TemplateSet>,
}

impl PolicyKeys {
    fn of(rule: &Rule) -> PolicyKeys {
        let compile = |key: Option<&String>| {
            let key = key?;
            TemplateSet::compile(&BTreeMap::from([("key".to_owned(), key.clone())])).ok()
        };
        PolicyKeys {
            threshold: compile(rule.spec.threshold.as_ref().and_then(|t| t.key.as_ref())),
            throttle: compile(rule.spec.throttle.as_ref().and_then(|t| t.key.as_ref())),
        }
    }
}

impl RuleSet {
    /// The rules of `snapshot`; conditions see `public_url` as `herald.url`.
    pub fn new(snapshot: RoutingSnapshot, public_url: &str) -> RuleSet {
        let mut by_scope: HashMap<String, ScopeRules> = HashMap::new();
        for (position, rule) in snapshot.rules.iter().enumerate() {
            let scope = by_scope
                .entry(rule.spec.scope.as_str().to_owned())
                .or_default();
            if rule.spec.categories.is_empty() {
                scope.any_category.add(rule, position);
            }
            for category in &rule.spec.categories {
                scope
                    .by_category
                    .entry(*category)
                    .or_default()
                    .add(rule, position);
            }
        }
        let conditions = snapshot
            .rules
            .iter()
            .map(|r| r.spec.compile_condition())
            .collect();
        let by_id = snapshot
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        let keys = snapshot.rules.iter().map(PolicyKeys::of).collect();
        RuleSet {
            by_id,
            keys: Arc::new(keys),
            silences: Arc::new(snapshot.silences),
            inhibitions: Arc::new(snapshot.inhibitions),
            version: snapshot.version,
            rules: snapshot.rules,
            conditions: Arc::new(conditions),
            by_scope,
            notifiers: snapshot.notifiers,
            herald: herald_context(public_url),
            monitors: Arc::new(snapshot.monitors),
        }
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The enabled rule of this id.
    pub fn rule(&self, id: Uuid) -> Option<&Rule> {
        self.by_id.get(&id).map(|&i| &self.rules[i])
    }

    /// A notifier's own quiet hours.
    pub fn notifier_quiet_hours(&self, id: Uuid) -> Option<&QuietHours> {
        self.notifiers.get(&id)?.quiet_hours.as_ref()
    }

    /// A rule's threshold or throttle key for `event`, when the rule has a
    /// key template and it renders.
    pub(crate) fn render_key(&self, rule_id: Uuid, which: KeyOf, event: &Event) -> Option<String> {
        let keys = &self.keys[*self.by_id.get(&rule_id)?];
        let set = match which {
            KeyOf::Threshold => keys.threshold.as_ref(),
            KeyOf::Throttle => keys.throttle.as_ref(),
        }?;
        let context = context_of([("event", context(event))]);
        set.render("key", &context)?.ok()
    }

    /// The active silence that mutes `event` now, in words.
    pub fn silenced(&self, event: &Event, now: OffsetDateTime) -> Option<String> {
        let silence = self
            .silences
            .iter()
            .find(|s| s.is_active(now) && s.spec.matchers.matches(event))?;
        let comment = match silence.spec.comment.as_str() {
            "" => String::new(),
            c => format!(" '{c}'"),
        };
        Some(format!(
            "suppressed by silence{comment} ({}) by {}, until {}",
            silence.id,
            silence.spec.created_by,
            rfc3339(silence.spec.ends_at)
        ))
    }

    /// Whether an inhibition's target side matches `event`.
    pub fn may_be_inhibited(&self, event: &Event) -> bool {
        self.inhibitions
            .iter()
            .any(|i| i.spec.target_match.matches(event))
    }

    /// The inhibition that suppresses `event` while one of `problems` (not
    /// its own) is open and matches its source side with the `equal` fields
    /// the same, in words.
    pub fn inhibited(&self, event: &Event, problems: &[Problem]) -> Option<String> {
        let own = herald_model::problem_key(event);
        self.inhibitions.iter().find_map(|inhibition| {
            let spec = &inhibition.spec;
            if !spec.target_match.matches(event) {
                return None;
            }
            let source = problems.iter().find(|p| {
                let opener = p.event();
                p.key != own
                    && spec.source_match.matches(&opener)
                    && spec
                        .equal
                        .iter()
                        .all(|f| event_field(&opener, f) == event_field(event, f))
            })?;
            let name = match spec.name.as_str() {
                "" => String::new(),
                n => format!(" '{n}'"),
            };
            Some(format!(
                "inhibited by inhibition{name} ({}): problem \"{}\" from {} is open since {}",
                inhibition.id,
                source.title,
                source.source,
                rfc3339(source.opened_at)
            ))
        })
    }

    /// The enabled monitors, which the events routed feed.
    pub fn monitors(&self) -> &[Monitor] {
        &self.monitors
    }

    /// The positions of the rules whose fields match `event`, in rule order.
    fn matching(&self, event: &Event) -> Vec<usize> {
        let mut found: Vec<usize> = event
            .scope
            .ancestors()
            .filter_map(|scope| self.by_scope.get(scope))
            .flat_map(|s| {
                let own = s.by_category.get(&event.category).into_iter();
                own.chain([&s.any_category])
                    .flat_map(|b| b.candidates(event))
            })
            .filter(|&i| self.rules[i].spec.matches(event))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The rules that select `event`, in rule order, each with the note of a
    /// condition that errored and was ignored.
    fn selecting(&self, event: &Event) -> Vec<(usize, Option<String>)> {
        let mut shared: Option<Value> = None;
        let mut out = Vec::new();
        for i in self.matching(event) {
            let rule = &self.rules[i];
            let Some(condition) = &self.conditions[i] else {
                out.push((i, None));
                continue;
            };
            let event_value = shared.get_or_insert_with(|| context(event));
            // `matching` checked the fields: only the condition is left.
            let context = condition_context(event_value, rule.id, &rule.spec.name, &self.herald);
            match condition_decision(condition, &context) {
                Decision::Matched => out.push((i, None)),
                Decision::Skipped(_) => {}
                error @ Decision::ConditionError(_) => {
                    let note = format!("rule \"{}\": {}", rule.spec.name, error.reason());
                    out.push((i, Some(note)));
                }
            }
        }
        out
    }

    /// Each notifier `event` goes to, once, with every rule that selected it,
    /// in the order the rules name them.
    pub fn targets(&self, event: &Event) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for (i, note) in self.selecting(event) {
            let rule = &self.rules[i];
            for notifier_id in &rule.spec.notifiers {
                if let Some(t) = out.iter_mut().find(|t| t.notifier_id == *notifier_id) {
                    t.rule_ids.push(rule.id);
                    t.notes.extend(note.clone());
                } else if let Some(notifier) = self.notifiers.get(notifier_id) {
                    out.push(Target {
                        notifier_id: *notifier_id,
                        notifier_name: notifier.name.clone(),
                        kind: notifier.kind.clone(),
                        rule_ids: vec![rule.id],
                        notes: note.iter().cloned().collect(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_model::RuleSpec;
    use serde_json::{Value, json};
    use time::OffsetDateTime;

    fn rule(id: u128, spec: Value) -> Rule {
        Rule {
            id: Uuid::from_u128(id),
            spec: RuleSpec::from_json(spec).unwrap(),
            created_at: OffsetDateTime::now_utc(),
            updated_at: OffsetDateTime::now_utc(),
        }
    }

    fn event(v: Value) -> Event {
        herald_model::parse_event(v.to_string().as_bytes(), OffsetDateTime::now_utc()).unwrap()
    }

    fn info(name: &str, kind: &str) -> NotifierInfo {
        NotifierInfo {
            name: name.into(),
            kind: kind.into(),
            quiet_hours: None,
        }
    }

    const A: Uuid = Uuid::from_u128(10);
    const B: Uuid = Uuid::from_u128(11);

    fn set(rules: Vec<Rule>) -> RuleSet {
        RuleSet::new(
            RoutingSnapshot {
                version: 1,
                rules,
                notifiers: HashMap::from([
                    (A, info("hook", "webhook")),
                    (B, info("mail", "email")),
                ]),
                silences: Vec::new(),
                inhibitions: Vec::new(),
                monitors: Vec::new(),
            },
            "",
        )
    }

    #[test]
    fn a_notifier_named_by_two_matching_rules_gets_one_target() {
        let set = set(vec![
            rule(
                1,
                json!({"name": "all jobs", "categories": ["job"], "notifiers": [A]}),
            ),
            rule(
                2,
                json!({"name": "acme", "scope": "acme", "notifiers": [A, B]}),
            ),
            rule(
                3,
                json!({"name": "billing", "categories": ["spending"], "notifiers": [B]}),
            ),
        ]);
        let targets = set.targets(&event(
            json!({"source": "ci", "category": "job", "kind": "failed", "scope": "acme/web"}),
        ));
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].notifier_id, A);
        assert_eq!(
            targets[0].rule_ids,
            [Uuid::from_u128(1), Uuid::from_u128(2)]
        );
        assert_eq!(targets[1].kind, "email");
        assert_eq!(targets[1].rule_ids, [Uuid::from_u128(2)]);
    }

    /// The index must find exactly what a scan with `matches` finds.
    #[test]
    fn the_index_agrees_with_a_full_scan() {
        let mut rules = Vec::new();
        let scopes = [
            "",
            "acme",
            "acme/web",
            "acme/web/deploy",
            "acme-old",
            "other/x",
        ];
        let categories = [
            json!([]),
            json!(["job"]),
            json!(["system", "job"]),
            json!(["spending"]),
        ];
        let labels = [
            json!({}),
            json!({"env": "prod"}),
            json!({"env": "prod", "team": "web"}),
            json!({"team": "data"}),
        ];
        let mut id = 0;
        for scope in scopes {
            for c in &categories {
                for l in &labels {
                    id += 1;
                    rules.push(rule(
                        id,
                        json!({"name": format!("r{id}"), "scope": scope, "categories": c,
                                               "labels": l, "notifiers": [A]}),
                    ));
                }
            }
        }
        let set = set(rules.clone());
        let events = [
            json!({"source": "s", "category": "job", "kind": "failed", "scope": "acme/web/deploy/x", "labels": {"env": "prod", "team": "web"}}),
            json!({"source": "s", "category": "system", "scope": "acme", "labels": {"team": "data"}}),
            json!({"source": "s", "category": "spending"}),
            json!({"source": "s", "category": "job", "kind": "started", "scope": "acme-old/web", "labels": {"env": "prod"}}),
            json!({"source": "s", "category": "deployment", "scope": "other"}),
        ];
        for e in events {
            let e = event(e);
            let scanned: Vec<usize> = (0..rules.len())
                .filter(|&i| rules[i].spec.matches(&e))
                .collect();
            assert_eq!(set.matching(&e), scanned, "event {}", e.scope);
        }
    }
}
