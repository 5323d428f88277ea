//! Channels that send one message to several targets (Slack channels,
//! Telegram chats, Twilio numbers, IRC channels and users): each target's
//! outcome is kept, and a later attempt of the same notification sends only
//! to the targets that have not had it yet.
//!
//! The sender reads a [`TargetLog`] before an attempt (what earlier attempts
//! delivered) and records it after; this module neither reads nor writes the
//! database.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Classify, Disposition, SendContext};

/// The targets of one notification: those delivered by earlier attempts, and
/// what this attempt did to each of the others.
#[derive(Debug, Default)]
pub struct TargetLog {
    done: BTreeSet<String>,
    outcomes: Mutex<BTreeMap<String, Result<(), String>>>,
}

impl TargetLog {
    /// A log for an attempt after earlier ones delivered to `done`.
    pub fn new(done: impl IntoIterator<Item = String>) -> TargetLog {
        TargetLog {
            done: done.into_iter().collect(),
            outcomes: Mutex::default(),
        }
    }

    pub fn is_done(&self, target: &str) -> bool {
        self.done.contains(target)
    }

    /// Records a target's outcome; IRC, which sends to its targets over one
    /// connection in order, records them itself.
    pub(crate) fn record(&self, target: &str, outcome: Result<(), String>) {
        self.outcomes
            .lock()
            .expect("never poisoned")
            .insert(target.to_owned(), outcome);
    }

    /// This attempt's outcomes as the notification records them,
    /// `{"<target>": {"status": "sent"}, "<target>": {"status": "failed", "error": "…"}}`;
    /// `None` when the channel has no separate targets.
    pub fn outcomes(&self) -> Option<Value> {
        let outcomes = self.outcomes.lock().expect("never poisoned");
        if outcomes.is_empty() {
            return None;
        }
        let map = outcomes
            .iter()
            .map(|(target, outcome)| {
                let value = match outcome {
                    Ok(()) => json!({"status": "sent"}),
                    Err(error) => json!({"status": "failed", "error": error}),
                };
                (target.clone(), value)
            })
            .collect();
        Some(Value::Object(map))
    }
}

/// The targets of a message that did not get it, each with its error.
#[derive(Debug)]
pub struct TargetErrors<E>(pub Vec<(String, E)>);

impl<E: fmt::Display> fmt::Display for TargetErrors<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (target, error)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{target}: {error}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for TargetErrors<E> {}

/// Retried while any target's error may pass (after the longest wait any
/// asked for); permanent when none may.
impl<E: Classify> Classify for TargetErrors<E> {
    fn disposition(&self) -> Disposition {
        let mut retry: Option<Option<Duration>> = None;
        for (_, error) in &self.0 {
            if let Disposition::Retry { after } = error.disposition() {
                let longest = retry.flatten().max(after);
                retry = Some(longest);
            }
        }
        match retry {
            Some(after) => Disposition::Retry { after },
            None => Disposition::Permanent,
        }
    }

    fn summary(&self) -> String
    where
        Self: Sized + 'static,
    {
        let each: Vec<String> = self
            .0
            .iter()
            .map(|(target, error)| format!("{target}: {}", error.summary()))
            .collect();
        each.join("; ")
    }
}

/// Sends to every target not delivered yet, all at once, recording each
/// outcome in `cx.targets`; the errors of those that failed.
pub(crate) async fn send_each<'t, E, F, Fut>(
    cx: &SendContext<'_>,
    targets: impl IntoIterator<Item = &'t str>,
    send: F,
) -> Result<(), TargetErrors<E>>
where
    E: fmt::Display,
    F: Fn(&'t str) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let pending: Vec<&str> = targets
        .into_iter()
        .filter(|t| !cx.targets.is_done(t))
        .collect();
    let sends = pending.iter().map(|target| {
        let sent = send(target);
        async move { (*target, sent.await) }
    });
    let mut errors = Vec::new();
    for (target, outcome) in futures::future::join_all(sends).await {
        match outcome {
            Ok(()) => cx.targets.record(target, Ok(())),
            Err(e) => {
                cx.targets.record(target, Err(e.to_string()));
                errors.push((target.to_owned(), e));
            }
        }
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(TargetErrors(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpError;
    use crate::{Guard, Outbound};

    fn cx<'a>(outbound: &'a Outbound, log: &'a TargetLog) -> SendContext<'a> {
        SendContext {
            outbound,
            timeout: Duration::from_secs(1),
            targets: log,
        }
    }

    #[tokio::test]
    async fn only_targets_not_delivered_yet_are_sent_to_and_each_outcome_is_kept() {
        let outbound = Outbound::new(Guard::default());
        let log = TargetLog::new(["#done".to_owned()]);
        let tried = Mutex::new(Vec::new());
        let result = send_each(&cx(&outbound, &log), ["#done", "#ok", "#bad"], |t| {
            tried.lock().unwrap().push(t.to_owned());
            async move {
                match t {
                    "#bad" => Err(HttpError::Transport("reset".into())),
                    _ => Ok(()),
                }
            }
        })
        .await;
        let mut tried = tried.into_inner().unwrap();
        tried.sort();
        assert_eq!(tried, ["#bad", "#ok"]);
        let errors = result.unwrap_err();
        assert_eq!(errors.to_string(), "#bad: reset");
        assert_eq!(
            log.outcomes().unwrap(),
            json!({"#ok": {"status": "sent"}, "#bad": {"status": "failed", "error": "reset"}})
        );
    }

    #[test]
    fn several_errors_retry_when_any_may_pass_after_the_longest_wait() {
        let status = |code, secs: Option<u64>| HttpError::Status {
            status: reqwest::StatusCode::from_u16(code).unwrap(),
            retry_after: secs.map(Duration::from_secs),
            body: String::new(),
        };
        let cases = [
            (vec![status(404, None)], Disposition::Permanent),
            (
                vec![
                    status(404, None),
                    status(429, Some(3)),
                    status(503, Some(9)),
                ],
                Disposition::Retry {
                    after: Some(Duration::from_secs(9)),
                },
            ),
            (vec![status(500, None)], Disposition::Retry { after: None }),
        ];
        for (errors, want) in cases {
            let errors = TargetErrors(errors.into_iter().map(|e| ("t".to_owned(), e)).collect());
            assert_eq!(errors.disposition(), want, "{errors}");
        }
    }
}
