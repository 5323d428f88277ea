//! `POST /api/v1/events` with CloudEvents (structured and batched) and `POST
//! /api/v1/ingest/alertmanager`: any bytes. An error is an answer; a panic is
//! a bug; an event accepted here that the router would refuse once published
//! (Herald's own JSON) is a bug too.
#![no_main]

use herald_model::AlertmanagerOptions;
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let now = OffsetDateTime::UNIX_EPOCH;
    let mut accepted = Vec::new();
    if let Ok(event) = herald_model::parse_cloudevent(data, now) {
        accepted.push(event);
    }
    if let Ok(events) = herald_model::parse_cloudevent_batch(data, now) {
        accepted.extend(events);
    }
    let options = AlertmanagerOptions::default();
    if let Ok(events) = herald_model::parse_alertmanager(data, &options, now) {
        accepted.extend(events);
    }
    for event in accepted {
        let json = serde_json::to_vec(&event).expect("an accepted event serialises");
        let read = herald_model::parse_event(&json, now).expect("the router reads what was accepted");
        assert_eq!(read, event, "the event reads back as it was published");
    }
});
