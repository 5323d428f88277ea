//! `POST /api/v1/notifiers`: a kind (the first byte picks one of the
//! channels) and a JSON `config`, validated as the API does, templates
//! compiled.
#![no_main]

use herald_channels::{KINDS, NotifierConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(pick) % KINDS.len()];
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let _ = NotifierConfig::parse(kind, &config);
});
