//! The parts of a message (`subject`, `body`, …) and where each comes from.
//!
//! Each channel kind declares its parts with a default template. A notifier's
//! `config.templates` overrides some of them; the rules that selected a
//! notification override them again. For each part the first of these that
//! defines it wins: the rules in the order they were created (oldest first),
//! then the notifier, then the kind's default.
//!
//! Rendering happens here; a part that fails to render fails its delivery
//! for good with the error as its reason (see [`DeliveryError::render`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use herald_model::{FieldError, herald_context};
use herald_templates::{TemplateSet, Value, context, context_of};
use uuid::Uuid;

use crate::{Delivery, DeliveryError, KINDS, parts_of};

/// One part of a kind's message and its default template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    /// What the part is for, for `GET /api/v1/channels`.
    pub about: &'static str,
    pub default: &'static str,
}

/// A rule that selected a notification: what templates see as `rule`, and
/// its own templates.
#[derive(Debug)]
pub struct RuleTemplates {
    pub id: Uuid,
    pub name: String,
    pub templates: Option<TemplateSet>,
}

impl RuleTemplates {
    /// Compiles a rule's templates; they were checked on save, so one that no
    /// longer compiles is an error for the delivery, not a panic.
    pub fn new(
        id: Uuid,
        name: String,
        templates: &BTreeMap<String, String>,
    ) -> Result<RuleTemplates, herald_templates::TemplateError> {
        let templates = match templates.is_empty() {
            true => None,
            false => Some(TemplateSet::compile(templates)?),
        };
        Ok(RuleTemplates {
            id,
            name,
            templates,
        })
    }
}

/// The defaults of every kind, compiled once per process.
fn defaults(kind: &str) -> &'static TemplateSet {
    static DEFAULTS: OnceLock<HashMap<&'static str, TemplateSet>> = OnceLock::new();
    let all = DEFAULTS.get_or_init(|| {
        KINDS
            .iter()
            .map(|kind| {
                let sources = parts_of(kind)
                    .iter()
                    .map(|p| (p.name.to_owned(), p.default.to_owned()))
                    .collect();
                let set = TemplateSet::compile(&sources)
                    .unwrap_or_else(|e| panic!("the default {kind} template {e}"));
                (*kind, set)
            })
            .collect()
    });
    &all[kind]
}

/// Checks a notifier's `templates` for `kind`: known parts that compile.
/// Errors are named `templates.<part>`.
pub(crate) fn compile_notifier_templates(
    kind: &str,
    templates: &BTreeMap<String, String>,
) -> Result<Option<Arc<TemplateSet>>, FieldError> {
    let parts = parts_of(kind);
    if let Some(name) = templates
        .keys()
        .find(|n| !parts.iter().any(|p| p.name == *n))
    {
        return Err(FieldError::new(
            format!("templates.{name}"),
            unknown_part(parts),
        ));
    }
    match templates.is_empty() {
        true => Ok(None),
        false => TemplateSet::compile(templates)
            .map(|set| Some(Arc::new(set)))
            .map_err(|e| FieldError::new(format!("templates.{}", e.part), e.message)),
    }
}

fn unknown_part(parts: &[Part]) -> String {
    let names: Vec<&str> = parts.iter().map(|p| p.name).collect();
    format!("unknown part, expected one of {}", names.join(", "))
}

/// Checks the names of a rule's `templates`: each must be a part of some kind,
/// since a rule may select notifiers of several kinds. Errors are named
/// `templates.<part>`.
pub fn check_rule_parts(templates: &BTreeMap<String, String>) -> Result<(), FieldError> {
    let mut all: Vec<Part> = KINDS.iter().flat_map(|k| parts_of(k)).copied().collect();
    all.sort_by_key(|p| p.name);
    all.dedup_by_key(|p| p.name);
    match templates
        .keys()
        .find(|name| !all.iter().any(|p| p.name == *name))
    {
        Some(name) => Err(FieldError::new(
            format!("templates.{name}"),
            unknown_part(&all),
        )),
        None => Ok(()),
    }
}

/// The parts of one delivery's message, rendered on demand from the layer
/// that defines each, with one context built for all of them.
pub struct Parts<'a> {
    delivery: &'a Delivery<'a>,
    kind: &'static str,
    notifier: Option<&'a TemplateSet>,
    context: OnceLock<Value>,
}

impl<'a> Parts<'a> {
    pub(crate) fn new(
        delivery: &'a Delivery<'a>,
        kind: &'static str,
        notifier: Option<&'a TemplateSet>,
    ) -> Parts<'a> {
        Parts {
            delivery,
            kind,
            notifier,
            context: OnceLock::new(),
        }
    }

    /// The part as the notification's rules or notifier define it; `None`
    /// when neither does, so that a channel can build its default natively.
    pub fn custom(&self, part: &str) -> Result<Option<String>, DeliveryError> {
        let rules = self
            .delivery
            .rules
            .iter()
            .filter_map(|r| r.templates.as_ref());
        rules
            .chain(self.notifier)
            .find(|set| set.has(part))
            .map(|set| self.render_with(set, part))
            .transpose()
    }

    /// The part from whichever layer defines it, the kind's default last.
    pub fn render(&self, part: &str) -> Result<String, DeliveryError> {
        match self.custom(part)? {
            Some(text) => Ok(text),
            None => self.render_with(defaults(self.kind), part),
        }
    }

    /// Every part of the kind, rendered: what a preview shows.
    pub fn render_all(&self) -> Result<BTreeMap<String, String>, DeliveryError> {
        parts_of(self.kind)
            .iter()
            .map(|p| Ok((p.name.to_owned(), self.render(p.name)?)))
            .collect()
    }

    /// A template from the channel's own settings (the issue a comment goes
    /// to), rendered with the parts' context; its errors name `name`.
    pub fn render_setting(&self, name: &str, source: &str) -> Result<String, DeliveryError> {
        let sources = BTreeMap::from([(name.to_owned(), source.to_owned())]);
        let set = TemplateSet::compile(&sources).map_err(DeliveryError::render)?;
        self.render_with(&set, name)
    }

    fn render_with(&self, set: &TemplateSet, part: &str) -> Result<String, DeliveryError> {
        let context = self
            .context
            .get_or_init(|| template_context(self.delivery, self.kind));
        match set.render(part, context) {
            Some(result) => result.map_err(DeliveryError::render),
            None => Err(DeliveryError::render(herald_templates::TemplateError {
                part: part.to_owned(),
                message: format!("the {} channel has no such part", self.kind),
                line: None,
            })),
        }
    }
}

/// What templates see: `event`, `events` (a group's events, oldest first, or
/// the event alone), `notifier` (`name`, `kind`), `rule` (`id`, `name`: the
/// oldest rule that selected the notification, when one did), `notification`
/// (`id`, `attempt`) and `herald` (`url`).
fn template_context(d: &Delivery<'_>, kind: &str) -> Value {
    let mut values = vec![
        ("event", context(d.event)),
        ("events", context(&d.events())),
        (
            "notifier",
            context_of([
                ("name", Value::from(d.notifier)),
                ("kind", Value::from(kind)),
            ]),
        ),
        (
            "notification",
            context_of([
                ("id", Value::from(d.notification_id.to_string())),
                ("attempt", Value::from(d.attempt)),
            ]),
        ),
        ("herald", herald_context(d.public_url)),
    ];
    if let Some(rule) = d.rules.first() {
        let rule = context_of([
            ("id", Value::from(rule.id.to_string())),
            ("name", Value::from(rule.name.as_str())),
        ]);
        values.push(("rule", rule));
    }
    context_of(values)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::NotifierConfig;

    fn event(v: serde_json::Value) -> herald_model::Event {
        herald_model::parse_event(v.to_string().as_bytes(), time::OffsetDateTime::now_utc())
            .unwrap()
    }

    fn delivery<'a>(
        event: &'a herald_model::Event,
        rules: &'a [Arc<RuleTemplates>],
    ) -> Delivery<'a> {
        Delivery {
            event,
            notification_id: Uuid::nil(),
            notifier: "ops",
            attempt: 2,
            rules,
            public_url: "https://herald.example/",
            group: &[],
        }
    }

    fn rule(id: u128, name: &str, templates: serde_json::Value) -> Arc<RuleTemplates> {
        let templates = serde_json::from_value(templates).unwrap();
        Arc::new(RuleTemplates::new(Uuid::from_u128(id), name.into(), &templates).unwrap())
    }

    fn email(templates: serde_json::Value) -> NotifierConfig {
        let config = json!({"host": "h", "from": "a@b.c", "to": ["d@e.f"], "templates": templates});
        NotifierConfig::parse("email", &config).unwrap()
    }

    #[test]
    fn the_default_email_body_lists_what_an_operator_needs() {
        let e = event(
            json!({"id": "0190a4b2-0000-7000-8000-000000000001", "source": "ci",
            "category": "job", "kind": "failed", "severity": "warning", "scope": "acme/web",
            "title": "Build failed", "message": "step 3 of 5", "labels": {"env": "prod", "team": "web"},
            "data": {"exit": 2}, "url": "https://ci.example/42",
            "occurred_at": "2026-11-22T09:30:00Z"}),
        );
        let parts = email(json!({})).preview(&delivery(&e, &[])).unwrap();
        assert_eq!(parts["subject"], "[WARNING] Build failed");
        assert_eq!(parts["html_body"], "");
        assert_eq!(
            parts["body"],
            "Build failed\n\nstep 3 of 5\n\n\
             Status:   needs attention\n\
             Severity: warning\n\
             Category: job\n\
             Kind:     failed\n\
             Scope:    acme/web\n\
             Source:   ci\n\
             Occurred: 2026-11-22T09:30:00Z\n\
             Link:     https://ci.example/42\n\
             Labels:   env=prod, team=web\n\
             Event:    0190a4b2-0000-7000-8000-000000000001\n\
             \nData:\n{\n  \"exit\": 2\n}\n\
             \n-- \nSent by Herald through notifier \"ops\" (notification 00000000-0000-0000-0000-000000000000).\n"
        );
        let short = event(
            json!({"source": "ci", "category": "system", "resolved": true, "title": "Disk ok"}),
        );
        let parts = email(json!({})).preview(&delivery(&short, &[])).unwrap();
        assert_eq!(parts["subject"], "[RESOLVED] Disk ok");
        assert!(
            parts["body"].starts_with("Disk ok\n\nStatus:   resolved\n"),
            "{}",
            parts["body"]
        );
        assert!(!parts["body"].contains("Kind:") && !parts["body"].contains("Data:"));
    }

    #[test]
    fn the_webhook_default_template_says_what_the_native_body_is() {
        let e = event(json!({"source": "ci", "category": "job", "kind": "failed",
            "labels": {"env": "<prod>"}, "data": {"a": [1, "x & y"]}}));
        let config =
            NotifierConfig::parse("webhook", &json!({"url": "http://127.0.0.1:9/"})).unwrap();
        let d = delivery(&e, &[]);
        let from_template: serde_json::Value =
            serde_json::from_str(&config.preview(&d).unwrap()["body"]).unwrap();
        let native = json!({"notification_id": Uuid::nil(), "notifier": "ops", "event": e});
        assert_eq!(from_template, native);
    }

    /// Oldest rule first, then the notifier, then the default, part by part.
    #[test]
    fn precedence_table() {
        let e = event(json!({"source": "ci", "category": "job", "kind": "failed", "title": "T"}));
        let notifier =
            email(json!({"subject": "notifier {{ notifier.name }}", "body": "notifier body"}));
        let older = rule(
            1,
            "older",
            json!({"subject": "older {{ rule.name }} #{{ notification.attempt }}"}),
        );
        let newer = rule(
            2,
            "newer",
            json!({"subject": "newer", "body": "newer body {{ herald.url }}"}),
        );
        let plain = rule(3, "plain", json!({}));
        let cases: Vec<(Vec<Arc<RuleTemplates>>, &str, &str)> = vec![
            (vec![], "notifier ops", "notifier body"),
            (vec![plain.clone()], "notifier ops", "notifier body"),
            (
                vec![older.clone(), newer.clone()],
                "older older #2",
                "newer body https://herald.example",
            ),
            (
                vec![newer.clone()],
                "newer",
                "newer body https://herald.example",
            ),
            (vec![plain, older], "older plain #2", "notifier body"),
        ];
        for (rules, subject, body) in cases {
            let parts = notifier.preview(&delivery(&e, &rules)).unwrap();
            assert_eq!(
                (parts["subject"].as_str(), parts["body"].as_str()),
                (subject, body)
            );
        }
    }

    #[test]
    fn a_template_that_fails_to_render_is_a_permanent_render_error() {
        let e = event(json!({"source": "ci", "category": "system"}));
        let config = email(json!({"subject": "fine", "body": "x\n{{ event.labels.missing }}"}));
        let err = config.preview(&delivery(&e, &[])).unwrap_err();
        assert!(err.template.is_some() && !err.retryable());
        assert_eq!(
            err.message,
            "template body: undefined value: `event.labels.missing` is undefined (line 2)"
        );
    }

    #[test]
    fn notifier_templates_are_checked_on_save_naming_the_part() {
        let cases = [
            (
                "email",
                json!({"subject": "{{ x"}),
                "config.templates.subject",
                "syntax error",
            ),
            (
                "email",
                json!({"title": "x"}),
                "config.templates.title",
                "unknown part, expected one of subject, body, html_body",
            ),
            (
                "webhook",
                json!({"subject": "x"}),
                "config.templates.subject",
                "unknown part, expected one of body",
            ),
            ("email", json!("x"), "config.templates", "invalid type"),
        ];
        for (kind, templates, field, message) in cases {
            let mut config = match kind {
                "email" => json!({"host": "h", "from": "a@b.c", "to": ["d@e.f"]}),
                _ => json!({"url": "http://x/"}),
            };
            config["templates"] = templates;
            let err = NotifierConfig::parse(kind, &config).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.message.starts_with(message), "{err}");
        }
        let parts = BTreeMap::from([("html_body".to_owned(), "x".to_owned())]);
        assert!(check_rule_parts(&parts).is_ok());
        let parts = BTreeMap::from([("colour".to_owned(), "x".to_owned())]);
        assert_eq!(
            check_rule_parts(&parts).unwrap_err().field,
            "templates.colour"
        );
    }
}
