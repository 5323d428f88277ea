//! Micro benchmarks of the two pieces of per-event work that grow with
//! configuration: matching an event against the rules (10 to 10,000 rules, of
//! which 3 match) and rendering a notification (webhook JSON, email text).
//! `cargo bench -p herald-bench --bench micro`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use herald_channels::{Channel, Delivery, render, webhook};
use herald_model::{Event, Rule, RuleSpec};
use herald_router::RuleSet;
use herald_store::RoutingSnapshot;
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
fn rules(n: usize) -> RuleSet {
    let now = OffsetDateTime::now_utc();
    let rules = (0..n)
        .map(|i| {
            let spec = if i < 3 {
                json!({"name": format!("match-{i}"), "scope": "acme", "notifiers": [NOTIFIER]})
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
    RuleSet::new(RoutingSnapshot {
        version: 1,
        rules,
        notifiers: HashMap::from([(NOTIFIER, ("hook".to_owned(), "webhook".to_owned()))]),
    })
}

fn matching(c: &mut Criterion) {
    let event = event();
    let mut group = c.benchmark_group("rule matching");
    for n in [10, 100, 1_000, 10_000] {
        let set = rules(n);
        assert_eq!(set.targets(&event)[0].rule_ids.len(), 3);
        group.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
            b.iter(|| black_box(set.targets(black_box(&event))));
        });
    }
    group.finish();
}

fn rendering(c: &mut Criterion) {
    let event = event();
    let delivery = Delivery {
        event: &event,
        notification_id: Uuid::now_v7(),
        notifier: "ops",
    };
    let hook: webhook::Config =
        serde_json::from_value(json!({"url": "http://127.0.0.1:9/hook"})).expect("valid settings");
    let mut group = c.benchmark_group("rendering");
    group.bench_function("webhook payload", |b| {
        b.iter(|| black_box(hook.render(black_box(&delivery))))
    });
    group.bench_function("email text body", |b| {
        b.iter(|| black_box(render::text_body(black_box(&delivery))))
    });
    group.finish();
}

criterion_group!(benches, matching, rendering);
criterion_main!(benches);
