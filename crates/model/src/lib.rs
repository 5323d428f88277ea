//! Herald's shared vocabulary: the event schema that publishers send, the rules that
//! select events, the silences and inhibitions that hold them back, the monitors that
//! raise an event when events stop coming, the standard formats read as events
//! (CloudEvents, Alertmanager's webhook), the records of
//! notifiers, notifications and failures, and the delivery job that travels between
//! router and sender.
//!
//! Everything here is pure: parsing, validation, matching, masking and sealing of
//! secrets. No I/O happens in this crate, so every other crate can depend on it and
//! its behaviour is tested with plain tables of inputs and outputs.

pub mod access;
mod alertmanager;
mod calendar;
mod cloudevent;
mod error;
mod event;
mod job;
pub mod limits;
mod monitor;
pub mod policy;
mod records;
mod rule;
mod scope;
pub mod secret;
mod silence;
mod span;

pub use access::{AuditEntry, PlainToken, Role, TokenRecord, TokenSpec};
pub use alertmanager::{
    ALERTMANAGER_PAYLOAD_VERSION, AlertStatus, AlertmanagerAlert, AlertmanagerOptions,
    AlertmanagerPayload, alert_severity, parse_alertmanager,
};
pub use calendar::{Digest, QuietCritical, QuietHours};
pub use cloudevent::{
    CLOUDEVENTS_SPEC_VERSION, category_and_kind, cloudevent_from_binary, parse_cloudevent,
    parse_cloudevent_batch,
};
pub use error::{FieldError, from_value};
pub use event::{
    Category, Event, EventError, EventInput, JOB_KINDS, MAX_EVENT_BYTES, Severity, event_bodies,
    parse_event, parse_events,
};
pub use job::{DeliveryJob, JOBS_PER_MESSAGE, JobBatch};
pub use monitor::{
    MAX_SILENT_FOR, MIN_SILENT_FOR, MONITOR_SOURCE, Monitor, MonitorSpec, MonitorState,
    NO_ACTIVITY_KIND, raised_by_monitor,
};
pub use policy::{EventMatch, Group, Problem, Threshold, Throttle, problem_key};
pub use records::{
    CloneSpec, Failure, FailureEntry, FailureStatus, Notification, NotificationStatus, Notifier,
    NotifierSpec, RecordedEvent, ReplayEntry, ReplayedBy,
};
pub use rule::{
    Decision, Rule, RuleSpec, condition_context, condition_decision, decisions, herald_context,
};
pub use scope::Scope;
pub use secret::{Keyring, Secret, SecretKey};
pub use silence::{Inhibition, InhibitionSpec, Silence, SilenceSpec, SilenceState};
pub use span::Span;
