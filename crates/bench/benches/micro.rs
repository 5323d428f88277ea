//! Micro benchmarks of the two pieces of per-event work that grow with
//! configuration: matching an event against the rules (10 to 10,000 rules, of
//! which 3 match, with and without conditions) and rendering a notification
//! (webhook JSON natively and by its template, email from its templates).
//! `cargo bench -p herald-bench --bench micro`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use herald_channels::{Delivery, NotifierConfig};
use herald_model::{Event, Rule, RuleSpec};
use herald_router::RuleSet;
use herald_store::{NotifierInfo, RoutingSnapshot};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

const NOTIFIER: Uuid = Uuid::from_u128(1);

fn event() -> Event {
    let body = json!({
        "source": "ci", "category": "job", "kind": "failed", "severity": "critical",
        "scope": "acme/web/deploy-app", "title": "Deploy of web failed",
        "message": "Step 3 of 5 exited with code 2.", "labels": {"env": "prod", "service": "svc-0"},
        "data": {"exit_code": 2, "step": "migrate"}, "url": "https://ci.example.com/runs/42"
    });
    herald_model::parse_event(body.to_string().as_bytes(), OffsetDateTime::now_utc())
        .expect("a valid event")
}

/// `n` rules of which three match `event()`: the others differ by scope,
/// category and labels, as in a real installation with many teams.
fn rules(n: usize, condition: bool) -> RuleSet {
    let now = OffsetDateTime::now_utc();
    let rules = (0..n)
        .map(|i| {
            let spec = if i < 3 {
                let mut spec =
                    json!({"name": format!("match-{i}"), "scope": "acme", "notifiers": [NOTIFIER]});
                if condition {
                    spec["condition"] =
                        json!("event.labels.env == 'prod' and event.data.exit_code > 0");
                }
                spec
            } else {
                let category = ["system", "deployment", "spending", "configuration", "job"][i % 5];
                json!({"name": format!("other-{i}"), "scope": format!("team-{}/svc-{i}", i % 97),
                       "categories": [category], "labels": {"service": format!("svc-{i}")},
                       "notifiers": [NOTIFIER]})
            };
            Rule {
                id: Uuid::from_u128(i as u128 + 100),
                spec: RuleSpec::from_json(spec).expect("a valid rule"),
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    RuleSet::new(
        RoutingSnapshot {
            version: 1,
            rules,
            notifiers: HashMap::from([(
                NOTIFIER,
                NotifierInfo {
                    name: "hook".to_owned(),
                    kind: "webhook".to_owned(),
                    quiet_hours: None,
                },
            )]),
            silences: Vec::new(),
            inhibitions: Vec::new(),
            monitors: Vec::new(),
        },
        "http://127.0.0.1:8080",
    )
}

fn matching(c: &mut Criterion) {
    let event = event();
    for (name, condition) in [
        ("rule matching", false),
        ("rule matching, 3 with conditions", true),
    ] {
        let mut group = c.benchmark_group(name);
        for n in [10, 100, 1_000, 10_000] {
            let set = rules(n, condition);
            assert_eq!(set.targets(&event)[0].rule_ids.len(), 3);
            group.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
                b.iter(|| black_box(set.targets(black_box(&event))));
            });
        }
        group.finish();
    }
}

fn rendering(c: &mut Criterion) {
    let event = event();
    let delivery = Delivery {
        event: &event,
        notification_id: Uuid::now_v7(),
        notifier: "ops",
        attempt: 1,
        rules: &[],
        public_url: "http://127.0.0.1:8080",
        group: &[],
    };
    let hook = NotifierConfig::parse("webhook", &json!({"url": "http://127.0.0.1:9/hook"}))
        .expect("valid settings");
    let email = NotifierConfig::parse(
        "email",
        &json!({"host": "127.0.0.1", "from": "herald@example.com", "to": ["ops@example.com"]}),
    )
    .expect("valid settings");
    let mut group = c.benchmark_group("rendering");
    group.bench_function("webhook payload, native", |b| {
        b.iter(|| {
            black_box(serde_json::to_vec(&herald_channels::webhook::Payload {
                notification_id: delivery.notification_id,
                notifier: delivery.notifier,
                event: delivery.event,
                events: delivery.group,
            }))
        })
    });
    group.bench_function("webhook payload, default template", |b| {
        b.iter(|| black_box(hook.preview(black_box(&delivery))))
    });
    group.bench_function("email parts, default templates", |b| {
        b.iter(|| black_box(email.preview(black_box(&delivery))))
    });
    group.finish();
}

criterion_group!(benches, matching, rendering);
criterion_main!(benches);
