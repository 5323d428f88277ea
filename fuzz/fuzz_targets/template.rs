//! Any text as a template and as a condition: compiled as on save, then
//! rendered and evaluated against an event as the router and the senders
//! do, within the fuel that bounds a template's work.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use herald_model::{condition_context, herald_context};
use herald_templates::{Condition, TemplateSet, Value, context};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use uuid::Uuid;

fn event() -> &'static Value {
    static EVENT: OnceLock<Value> = OnceLock::new();
    EVENT.get_or_init(|| {
        let json = br#"{"source": "ci", "category": "job", "kind": "failed", "severity": "critical",
            "scope": "acme/web/deploy", "title": "Deploy failed", "message": "exit 1",
            "labels": {"env": "prod", "team": "web"}, "data": {"duration_s": 900, "trace": "line\nline"},
            "url": "https://ci.example.com/runs/1"}"#;
        let event = herald_model::parse_event(json, OffsetDateTime::UNIX_EPOCH).unwrap();
        let herald = herald_context("http://127.0.0.1:8080");
        condition_context(&context(&event), Uuid::nil(), "fuzz", &herald)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    for part in ["body", "html_body"] {
        let parts = BTreeMap::from([(part.to_owned(), source.to_owned())]);
        if let Ok(set) = TemplateSet::compile(&parts) {
            let _ = set.render(part, event());
        }
    }
    if let Ok(condition) = Condition::compile(source) {
        let _ = condition.eval(event());
    }
});
