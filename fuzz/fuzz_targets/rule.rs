//! `POST /api/v1/rules`: a rule's JSON, checked as the API does (fields,
//! the condition and the templates compiled, the template parts known).
#![no_main]

use herald_model::RuleSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(spec) = RuleSpec::from_json(value) {
        let _ = herald_channels::check_rule_parts(&spec.templates);
        let _ = spec.compile_condition();
    }
});
