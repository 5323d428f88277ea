//! Rule policies at routing: what becomes of each notification a batch's
//! events get once silences, inhibitions, resolve tracking, thresholds,
//! throttles, quiet hours, groups and digests had their say. Every decision
//! is kept on the notification (`status`, `reason`), so explain and the
//! notification list say why one was suppressed, held or grouped; none is
//! dropped silently.
//!
//! Decisions that need no state (silences, inhibitions against the open
//! problems read before, quiet hours) are made in memory ([`draft`]).
//! Thresholds, throttles and groups keep state per rule and key; a batch that
//! needs them is settled inside its routing transaction ([`settle`]), for its
//! new events only, so a redelivered event counts nothing twice.
//!
//! It does not match rules (see `rules.rs`) nor write anything itself.

use std::collections::HashMap;

use herald_model::{Event, NotificationStatus, Problem, Rule, Severity, problem_key};
use herald_store::{
    FiringTarget, GroupAsk, NewNotification, Planned, RuleState, StateTx, StoreError, Throttled,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rules::{RuleSet, Target};

/// What routing reads before it decides: the open problems (for
/// inhibitions) and who got the firing events of the problems a batch's
/// resolving events close.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    pub problems: Vec<Problem>,
    pub firing: HashMap<String, Vec<FiringTarget>>,
}

/// Why a notification was not delivered, or not yet: the label of
/// `herald_suppressed_total` or `herald_deferred_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Silence,
    Inhibition,
    Threshold,
    Throttle,
    QuietHours,
    Group,
    Digest,
}

impl Tag {
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Silence => "silence",
            Tag::Inhibition => "inhibition",
            Tag::Threshold => "threshold",
            Tag::Throttle => "throttle",
            Tag::QuietHours => "quiet_hours",
            Tag::Group => "group",
            Tag::Digest => "digest",
        }
    }

    /// Suppressed for good, rather than deferred.
    pub fn suppresses(self) -> bool {
        matches!(
            self,
            Tag::Silence | Tag::Inhibition | Tag::Threshold | Tag::Throttle
        )
    }
}

/// One notification of one event, decided as far as memory allows.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub event: usize,
    pub notification: NewNotification,
    /// It exists (or also exists) because it resolves a problem its notifier
    /// was notified of: thresholds and throttles do not hold it back.
    pub resolve: bool,
    pub tag: Option<Tag>,
}

impl Draft {
    fn suppressed(&self) -> bool {
        self.notification.status == NotificationStatus::Suppressed
    }
}

/// The notifications of `events`, with the decisions that need no state.
pub(crate) fn draft(
    rules: &RuleSet,
    events: &[Event],
    lookups: &Lookups,
    now: OffsetDateTime,
) -> Vec<Draft> {
    let mut out = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let mut targets: Vec<(Target, bool)> = rules
            .targets(event)
            .into_iter()
            .map(|t| (t, false))
            .collect();
        if event.resolved {
            add_resolve_targets(rules, event, lookups, &mut targets);
        }
        let suppressed = rules
            .silenced(event, now)
            .map(|why| (Tag::Silence, why))
            .or_else(|| {
                rules
                    .inhibited(event, &lookups.problems)
                    .map(|w| (Tag::Inhibition, w))
            });
        for (target, resolve) in targets {
            let mut notification = NewNotification {
                id: Uuid::now_v7(),
                event_id: event.id,
                notifier_id: target.notifier_id,
                notifier_name: target.notifier_name,
                kind: target.kind,
                rule_ids: target.rule_ids,
                notes: target.notes,
                status: NotificationStatus::Pending,
                reason: None,
                due_at: None,
                group_id: None,
            };
            let mut tag = None;
            if let Some((t, why)) = &suppressed {
                notification.status = NotificationStatus::Suppressed;
                notification.reason = Some(why.clone());
                tag = Some(*t);
            }
            out.push(Draft {
                event: i,
                notification,
                resolve,
                tag,
            });
        }
    }
    out
}

/// Adds the notifiers that got the firing events of the problem `event`
/// resolves, unless every rule that sent them there says `send_resolved:
/// false`.
fn add_resolve_targets(
    rules: &RuleSet,
    event: &Event,
    lookups: &Lookups,
    targets: &mut Vec<(Target, bool)>,
) {
    let Some(firing) = lookups.firing.get(&problem_key(event)) else {
        return;
    };
    for f in firing {
        let wanted = f.rule_ids.is_empty()
            || f.rule_ids
                .iter()
                .any(|id| rules.rule(*id).is_none_or(|r| r.spec.send_resolved));
        if !wanted {
            continue;
        }
        let note = format!(
            "resolves the problem notified by event {} to this notifier",
            f.event_id
        );
        match targets
            .iter_mut()
            .find(|(t, _)| t.notifier_id == f.notifier_id)
        {
            Some((t, resolve)) => {
                *resolve = true;
                t.notes.push(note);
            }
            None => targets.push((
                Target {
                    notifier_id: f.notifier_id,
                    notifier_name: f.notifier_name.clone(),
                    kind: f.kind.clone(),
                    rule_ids: f.rule_ids.clone(),
                    notes: vec![note],
                },
                true,
            )),
        }
    }
}

/// Whether settling `drafts` needs state: a draft still to deliver that a
/// rule with a threshold, throttle, group or digest selected.
pub(crate) fn needs_state(rules: &RuleSet, drafts: &[Draft]) -> bool {
    drafts.iter().any(|d| {
        !d.suppressed()
            && d.notification
                .rule_ids
                .iter()
                .any(|id| rules.rule(*id).is_some_and(|r| r.spec.is_stateful()))
    })
}

/// Settles drafts without state (no rule among them counts or groups):
/// quiet hours only.
pub(crate) fn settle_stateless(
    rules: &RuleSet,
    events: &[Event],
    drafts: &mut [Draft],
    now: OffsetDateTime,
) {
    for d in drafts.iter_mut().filter(|d| !d.suppressed()) {
        let passing = d.notification.rule_ids.clone();
        hold_for_quiet_hours(rules, &events[d.event], d, &passing, now);
    }
}

/// What a rule's threshold or throttle decided for one event.
#[derive(Debug, Clone)]
enum Verdict {
    Pass,
    Hold(Tag, String),
}

/// Settles drafts with state, inside the routing transaction: the drafts of
/// events seen before are left as drafted (their notifications exist and
/// are kept).
pub(crate) async fn settle(
    rules: &RuleSet,
    events: &[Event],
    mut drafts: Vec<Draft>,
    tx: &StateTx<'_>,
    new_events: &std::collections::HashSet<Uuid>,
    now: OffsetDateTime,
) -> Result<(Planned, Vec<Draft>), StoreError> {
    let fresh = |d: &Draft| new_events.contains(&events[d.event].id) && !d.suppressed();
    let (verdicts, throttled) = count(rules, events, &drafts, &fresh, tx, now).await?;
    for d in drafts.iter_mut().filter(|d| fresh(d)) {
        let event = &events[d.event];
        let mut passing = Vec::new();
        let mut held = Vec::new();
        for rule_id in &d.notification.rule_ids {
            match verdicts.get(&(*rule_id, event.id)) {
                Some(Verdict::Hold(tag, why)) if !d.resolve => held.push((*tag, why.clone())),
                _ => passing.push(*rule_id),
            }
        }
        if passing.is_empty() {
            let (tag, _) = held[0];
            d.notification.status = NotificationStatus::Suppressed;
            d.notification.reason = Some(
                held.iter()
                    .map(|(_, w)| w.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            d.tag = Some(tag);
            continue;
        }
        if !held.is_empty() {
            d.notification
                .notes
                .extend(held.into_iter().map(|(_, w)| w));
        }
        hold_for_quiet_hours(rules, event, d, &passing, now);
        if !d.resolve {
            group(rules, event, d, &passing, tx, now).await?;
        }
    }
    let planned = Planned {
        notifications: drafts.iter().map(|d| d.notification.clone()).collect(),
        throttled,
    };
    Ok((planned, drafts))
}

/// The key a rule counts `event` under: its template rendered, or source +
/// scope + kind.
fn policy_key(rules: &RuleSet, rule: &Rule, which: KeyOf, event: &Event) -> String {
    rules
        .render_key(rule.id, which, event)
        .unwrap_or_else(|| format!("{}/{}/{}", event.source, event.scope, event.kind))
}

/// Which policy's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOf {
    Threshold,
    Throttle,
}

type Verdicts = HashMap<(Uuid, Uuid), Verdict>;

/// Runs the thresholds and throttles of the rules that selected the new
/// events, in event order, against their state, and writes it back.
async fn count(
    rules: &RuleSet,
    events: &[Event],
    drafts: &[Draft],
    fresh: &impl Fn(&Draft) -> bool,
    tx: &StateTx<'_>,
    now: OffsetDateTime,
) -> Result<(Verdicts, Vec<Throttled>), StoreError> {
    // Each (rule, event) once, however many notifiers the rule names.
    let mut asks: Vec<(&Rule, usize)> = Vec::new();
    for d in drafts.iter().filter(|d| fresh(d)) {
        for id in &d.notification.rule_ids {
            if let Some(rule) = rules.rule(*id)
                && (rule.spec.threshold.is_some() || rule.spec.throttle.is_some())
                && !asks.iter().any(|(r, e)| r.id == *id && *e == d.event)
            {
                asks.push((rule, d.event));
            }
        }
    }
    let mut verdicts = Verdicts::new();
    if asks.is_empty() {
        return Ok((verdicts, Vec::new()));
    }
    let keyed: Vec<(&Rule, usize, Option<String>, Option<String>)> = asks
        .iter()
        .map(|(rule, e)| {
            let event = &events[*e];
            let t = rule
                .spec
                .threshold
                .as_ref()
                .map(|_| policy_key(rules, rule, KeyOf::Threshold, event));
            let h = rule
                .spec
                .throttle
                .as_ref()
                .map(|_| policy_key(rules, rule, KeyOf::Throttle, event));
            (*rule, *e, t, h)
        })
        .collect();
    let keys: Vec<(Uuid, String)> = keyed
        .iter()
        .flat_map(|(r, _, t, h)| {
            [t, h]
                .into_iter()
                .flatten()
                .map(|k| (r.id, k.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut state = tx.lock_rule_state(&keys).await?;
    let mut throttled: Vec<Throttled> = Vec::new();
    for (rule, e, threshold_key, throttle_key) in keyed {
        let event = &events[e];
        let verdict = if event.resolved {
            Verdict::Hold(
                Tag::Threshold,
                format!(
                    "rule '{}' counts firing events: a resolving one goes only to the notifiers that got the firing one",
                    rule.spec.name
                ),
            )
        } else {
            let mut verdict = Verdict::Pass;
            if let (Some(t), Some(key)) = (&rule.spec.threshold, &threshold_key) {
                let s = state.entry((rule.id, key.clone())).or_default();
                verdict = threshold(rule, t, key, s, now);
            }
            if let (Verdict::Pass, Some(t), Some(key)) =
                (&verdict, &rule.spec.throttle, &throttle_key)
            {
                let s = state.entry((rule.id, key.clone())).or_default();
                verdict = throttle(rule, t, key, s, event, now, &mut throttled);
            }
            verdict
        };
        verdicts.insert((rule.id, event.id), verdict);
    }
    tx.save_rule_state(&state).await?;
    Ok((verdicts, throttled))
}

/// The threshold step: the event passes when it is the `count`th within the
/// window since the last notification; then the count starts again.
fn threshold(
    rule: &Rule,
    t: &herald_model::Threshold,
    key: &str,
    s: &mut RuleState,
    now: OffsetDateTime,
) -> Verdict {
    let window = t.window.get();
    s.hits.retain(|h| now - *h < window);
    s.hits.push(now);
    let seen = s.hits.len();
    if seen >= t.count as usize {
        s.hits.clear();
        return Verdict::Pass;
    }
    Verdict::Hold(
        Tag::Threshold,
        format!(
            "threshold of rule '{}': {seen} of {} matching events within {} for key {key}",
            rule.spec.name, t.count, t.window
        ),
    )
}

/// The throttle step: one notification per key and window; the others are
/// counted on it.
fn throttle(
    rule: &Rule,
    t: &herald_model::Throttle,
    key: &str,
    s: &mut RuleState,
    event: &Event,
    now: OffsetDateTime,
    throttled: &mut Vec<Throttled>,
) -> Verdict {
    if let (Some(sent_event), Some(sent_at)) = (s.sent_event, s.sent_at)
        && now - sent_at < t.window.get()
    {
        throttled.push(Throttled {
            rule_id: rule.id,
            event_id: sent_event,
            count: 1,
        });
        return Verdict::Hold(
            Tag::Throttle,
            format!(
                "throttled by rule '{}': event {sent_event} was notified for key {key} at {}, within {}",
                rule.spec.name,
                rfc3339(sent_at),
                t.window
            ),
        );
    }
    s.sent_event = Some(event.id);
    s.sent_at = Some(now);
    Verdict::Pass
}

/// Holds a notification until the latest end of the quiet hours (its
/// notifier's and its passing rules') that `now` falls in.
fn hold_for_quiet_hours(
    rules: &RuleSet,
    event: &Event,
    d: &mut Draft,
    passing: &[Uuid],
    now: OffsetDateTime,
) {
    let severity: Severity = event.severity;
    let notifier = rules
        .notifier_quiet_hours(d.notification.notifier_id)
        .map(|q| (format!("notifier '{}'", d.notification.notifier_name), q));
    let of_rules = passing.iter().filter_map(|id| {
        let rule = rules.rule(*id)?;
        let q = rule.spec.quiet_hours.as_ref()?;
        Some((format!("rule '{}'", rule.spec.name), q))
    });
    let latest = notifier
        .into_iter()
        .chain(of_rules)
        .filter_map(|(whose, q)| Some((q.release(now, severity)?, whose, q.describe())))
        .max_by_key(|(until, _, _)| *until);
    if let Some((until, whose, window)) = latest {
        d.notification.due_at = Some(until);
        d.notification.reason = Some(format!(
            "held by the quiet hours of {whose} ({window}) until {}",
            rfc3339(until)
        ));
        d.tag = Some(Tag::QuietHours);
    }
}

/// Puts a notification in the group of the first passing rule that groups
/// or digests: the group's first notification leads and goes out when the
/// group is due, with every event that joined; the others are `grouped`.
async fn group(
    rules: &RuleSet,
    event: &Event,
    d: &mut Draft,
    passing: &[Uuid],
    tx: &StateTx<'_>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let Some(rule) = passing
        .iter()
        .filter_map(|id| rules.rule(*id))
        .find(|r| r.spec.group.is_some() || r.spec.digest.is_some())
    else {
        return Ok(());
    };
    let (key, wait, interval, at, tag) = match (&rule.spec.group, &rule.spec.digest) {
        (Some(g), _) => (
            g.key(event),
            g.wait.get(),
            g.interval.get(),
            None,
            Tag::Group,
        ),
        (None, Some(digest)) => {
            let due = digest.next_after(now);
            let key = format!(
                "{}@{}",
                herald_model::policy::group_key(&digest.by, event),
                rfc3339(due)
            );
            (
                key,
                Default::default(),
                Default::default(),
                Some(due),
                Tag::Digest,
            )
        }
        (None, None) => return Ok(()),
    };
    let join = tx
        .join_group(&GroupAsk {
            rule_id: rule.id,
            notifier_id: d.notification.notifier_id,
            key: key.clone(),
            notification_id: d.notification.id,
            wait,
            interval,
            at,
            not_before: d.notification.due_at,
        })
        .await?;
    let what = match tag {
        Tag::Digest => "digest",
        _ => "group",
    };
    let shown_key = if key.is_empty() {
        "(all)"
    } else {
        key.as_str()
    };
    d.notification.group_id = Some(join.group_id);
    d.tag = Some(tag);
    if join.leader == d.notification.id {
        d.notification.due_at = Some(join.due_at);
        d.notification.reason = Some(format!(
            "opens the {what} {shown_key} of rule '{}': goes out at {} with the events that join it",
            rule.spec.name,
            rfc3339(join.due_at)
        ));
    } else {
        d.notification.status = NotificationStatus::Grouped;
        d.notification.due_at = None;
        d.notification.reason = Some(format!(
            "grouped into notification {} ({what} {shown_key} of rule '{}', goes out at {})",
            join.leader,
            rule.spec.name,
            rfc3339(join.due_at)
        ));
    }
    Ok(())
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use herald_model::{RuleSpec, Span, Threshold, Throttle};
    use serde_json::json;

    use super::*;

    fn rule() -> Rule {
        let spec = json!({"name": "r", "notifiers": [Uuid::nil()]});
        Rule {
            id: Uuid::from_u128(1),
            spec: RuleSpec::from_json(spec).unwrap(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_000_000 + secs)
    }

    fn passes(v: &Verdict) -> bool {
        matches!(v, Verdict::Pass)
    }

    #[test]
    fn a_threshold_passes_the_nth_event_within_its_window_and_starts_again() {
        let t = Threshold {
            count: 3,
            window: Span::from_secs(60),
            key: None,
        };
        // (seconds, passes): the hit at 0 has left the window by 70.
        let cases = [
            (0, false),
            (10, false),
            (20, true),
            (30, false),
            (100, false),
            (110, false),
            (120, true),
            (121, false),
        ];
        let mut state = RuleState::default();
        for (secs, want) in cases {
            let verdict = threshold(&rule(), &t, "k", &mut state, at(secs));
            assert_eq!(passes(&verdict), want, "at {secs}s: {verdict:?}");
        }
        let mut state = RuleState::default();
        threshold(&rule(), &t, "k", &mut state, at(0));
        threshold(&rule(), &t, "k", &mut state, at(50));
        let late = threshold(&rule(), &t, "k", &mut state, at(70));
        assert!(
            matches!(&late, Verdict::Hold(Tag::Threshold, why) if why.contains("2 of 3")),
            "the first hit left the window: {late:?}"
        );
    }

    #[test]
    fn a_throttle_passes_one_per_window_and_counts_the_rest_on_it() {
        let t = Throttle {
            window: Span::from_secs(600),
            key: None,
        };
        let event = |n: u128| {
            let mut e =
                herald_model::parse_event(br#"{"source": "ci", "category": "system"}"#, at(0))
                    .unwrap();
            e.id = Uuid::from_u128(n);
            e
        };
        let mut state = RuleState::default();
        let mut throttled = Vec::new();
        let cases = [
            (1, 0, true),
            (2, 60, false),
            (3, 599, false),
            (4, 600, true),
            (5, 700, false),
        ];
        for (n, secs, want) in cases {
            let v = throttle(
                &rule(),
                &t,
                "k",
                &mut state,
                &event(n),
                at(secs),
                &mut throttled,
            );
            assert_eq!(passes(&v), want, "event {n} at {secs}s: {v:?}");
        }
        let kept: Vec<u128> = throttled.iter().map(|t| t.event_id.as_u128()).collect();
        assert_eq!(
            kept,
            [1, 1, 4],
            "each suppressed one is counted on the one kept"
        );
    }
}
