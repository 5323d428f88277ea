//! Durations as operators write them (`HERALD_FLUSH_INTERVAL`, a notifier's
//! `max_elapsed`, `since=24h`): parsing never panics, and what is shown
//! reads back as the same duration.
#![no_main]

use herald_model::Span;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(span) = text.parse::<Span>() {
        let shown = span.to_string();
        assert_eq!(shown.parse::<Span>(), Ok(span), "{text} -> {shown}");
    }
});
