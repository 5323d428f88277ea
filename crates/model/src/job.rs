//! The delivery job: what travels from router (or scheduler, or replay) to a
//! sender. Jobs of one channel kind travel together, as a JSON array in one
//! message; a message holding one job object is read the same way.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::{Event, Severity};

/// Deliver `event` to one notifier. It carries the whole event so that a sender
/// needs no extra read to render it; the notification row stays the single
/// source of truth for its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub notification_id: Uuid,
    pub notifier_id: Uuid,
    /// The rules that selected the notification (their templates shape it).
    #[serde(default)]
    pub rule_ids: Vec<Uuid>,
    /// When it was queued, for the queue-to-delivery latency.
    #[serde(with = "time::serde::rfc3339")]
    pub routed_at: OffsetDateTime,
    pub event: Event,
}

impl DeliveryJob {
    /// Jobs of critical events travel in the priority lane.
    pub fn is_critical(&self) -> bool {
        self.event.severity == Severity::Critical
    }

    /// Jobs as they travel on the queue: one message for all of them.
    pub fn encode_all(jobs: &[DeliveryJob]) -> Vec<u8> {
        serde_json::to_vec(jobs).expect("jobs are JSON")
    }

    /// The jobs of one message: a JSON array of jobs, or one job.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<DeliveryJob>, serde_json::Error> {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice(bytes),
            _ => serde_json::from_slice(bytes).map(|job| vec![job]),
        }
    }
}

/// Jobs in one message at most.
pub const JOBS_PER_MESSAGE: usize = 100;

/// Jobs that travel in one message: one channel kind, one lane.
#[derive(Debug, Clone, PartialEq)]
pub struct JobBatch {
    pub kind: String,
    pub critical: bool,
    pub jobs: Vec<DeliveryJob>,
}

impl JobBatch {
    /// Groups jobs (each with its channel kind) by kind and lane, in batches of
    /// at most [`JOBS_PER_MESSAGE`], keeping their order within a batch.
    pub fn group(jobs: impl IntoIterator<Item = (String, DeliveryJob)>) -> Vec<JobBatch> {
        let mut batches: Vec<JobBatch> = Vec::new();
        for (kind, job) in jobs {
            let critical = job.is_critical();
            let open = batches.iter_mut().rev().find(|b| {
                b.kind == kind && b.critical == critical && b.jobs.len() < JOBS_PER_MESSAGE
            });
            match open {
                Some(batch) => batch.jobs.push(job),
                None => batches.push(JobBatch {
                    kind,
                    critical,
                    jobs: vec![job],
                }),
            }
        }
        batches
    }

    pub fn encode(&self) -> Vec<u8> {
        DeliveryJob::encode_all(&self.jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> DeliveryJob {
        let event = crate::parse_event(
            br#"{"source": "ci", "category": "job", "kind": "failed"}"#,
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        DeliveryJob {
            notification_id: Uuid::now_v7(),
            notifier_id: Uuid::now_v7(),
            rule_ids: vec![Uuid::now_v7()],
            routed_at: OffsetDateTime::UNIX_EPOCH,
            event,
        }
    }

    #[test]
    fn a_message_holds_one_job_or_many() {
        let (a, b) = (job(), job());
        let many = DeliveryJob::encode_all(&[a.clone(), b.clone()]);
        assert_eq!(DeliveryJob::decode_all(&many).unwrap(), vec![a.clone(), b]);
        let one = serde_json::to_vec(&a).unwrap();
        assert_eq!(DeliveryJob::decode_all(&one).unwrap(), vec![a]);
        assert!(DeliveryJob::decode_all(b"{\"nope\": 1}").is_err());
    }

    #[test]
    fn jobs_travel_together_by_kind_and_lane() {
        let critical = || {
            let mut j = job();
            j.event.severity = Severity::Critical;
            j
        };
        let mut jobs: Vec<(String, DeliveryJob)> = (0..JOBS_PER_MESSAGE + 1)
            .map(|_| ("webhook".to_owned(), job()))
            .collect();
        jobs.push(("email".into(), job()));
        jobs.push(("webhook".into(), critical()));
        let shape: Vec<(String, bool, usize)> = JobBatch::group(jobs)
            .into_iter()
            .map(|b| (b.kind, b.critical, b.jobs.len()))
            .collect();
        assert_eq!(
            shape,
            [
                ("webhook".into(), false, JOBS_PER_MESSAGE),
                ("webhook".into(), false, 1),
                ("email".into(), false, 1),
                ("webhook".into(), true, 1),
            ]
        );
    }

    #[test]
    fn jobs_queued_before_rule_ids_travelled_still_read() {
        let mut old = serde_json::to_value(job()).unwrap();
        old.as_object_mut().unwrap().remove("rule_ids");
        let bytes = serde_json::to_vec(&old).unwrap();
        assert!(
            DeliveryJob::decode_all(&bytes).unwrap()[0]
                .rule_ids
                .is_empty()
        );
    }
}
