//! `POST /api/v1/events` and the router's reading of a message: one event or
//! an array, any bytes. An error is an answer; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let now = OffsetDateTime::UNIX_EPOCH;
    if let Ok(events) = herald_model::parse_events(data, now) {
        // What was accepted serialises for the broker and the store.
        for event in events {
            serde_json::to_vec(&event).expect("an accepted event serialises");
        }
    }
});
