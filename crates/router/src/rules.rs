//! The in-memory rule set the router matches against.

use std::collections::HashMap;

use herald_model::{Event, Rule};
use herald_store::RoutingSnapshot;
use uuid::Uuid;

/// A notifier an event goes to, and the rules that sent it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub notifier_id: Uuid,
    pub notifier_name: String,
    pub kind: String,
    pub rule_ids: Vec<Uuid>,
}

/// Enabled rules as of one configuration version.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// 0 before anything was loaded; stored versions start at 1.
    version: i64,
    rules: Vec<Rule>,
    notifiers: HashMap<Uuid, (String, String)>,
}

impl RuleSet {
    pub fn new(snapshot: RoutingSnapshot) -> RuleSet {
        RuleSet {
            version: snapshot.version,
            rules: snapshot.rules,
            notifiers: snapshot.notifiers,
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

    /// Each notifier `event` goes to, once, with every rule that matched it, in
    /// the order the rules name them.
    pub fn targets(&self, event: &Event) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for rule in self.rules.iter().filter(|r| r.spec.matches(event)) {
            for notifier_id in &rule.spec.notifiers {
                if let Some(t) = out.iter_mut().find(|t| t.notifier_id == *notifier_id) {
                    t.rule_ids.push(rule.id);
                } else if let Some((name, kind)) = self.notifiers.get(notifier_id) {
                    out.push(Target {
                        notifier_id: *notifier_id,
                        notifier_name: name.clone(),
                        kind: kind.clone(),
                        rule_ids: vec![rule.id],
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
    use serde_json::json;
    use time::OffsetDateTime;

    fn rule(id: u128, spec: serde_json::Value) -> Rule {
        Rule {
            id: Uuid::from_u128(id),
            spec: RuleSpec::from_json(spec).unwrap(),
            created_at: OffsetDateTime::now_utc(),
            updated_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn a_notifier_named_by_two_matching_rules_gets_one_target() {
        let a = Uuid::from_u128(10);
        let b = Uuid::from_u128(11);
        let set = RuleSet::new(RoutingSnapshot {
            version: 1,
            rules: vec![
                rule(
                    1,
                    json!({"name": "all jobs", "categories": ["job"], "notifiers": [a]}),
                ),
                rule(
                    2,
                    json!({"name": "acme", "scope": "acme", "notifiers": [a, b]}),
                ),
                rule(
                    3,
                    json!({"name": "billing", "categories": ["spending"], "notifiers": [b]}),
                ),
            ],
            notifiers: HashMap::from([
                (a, ("hook".to_owned(), "webhook".to_owned())),
                (b, ("mail".to_owned(), "email".to_owned())),
            ]),
        });
        let event = herald_model::parse_event(
            json!({"source": "ci", "category": "job", "kind": "failed", "scope": "acme/web"})
                .to_string()
                .as_bytes(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let targets = set.targets(&event);
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].notifier_id, a);
        assert_eq!(
            targets[0].rule_ids,
            [Uuid::from_u128(1), Uuid::from_u128(2)]
        );
        assert_eq!(targets[1].kind, "email");
        assert_eq!(targets[1].rule_ids, [Uuid::from_u128(2)]);
    }
}
