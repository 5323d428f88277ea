//! Quiet hours and digest schedules: wall-clock times in IANA time zones,
//! turned into instants (DST-correct).
//!
//! What it does: validates what an administrator writes (`quiet_hours`,
//! `digest`), answers when a delivery held by quiet hours may go, and when a
//! digest schedule next comes. What it does not: read the clock, keep state,
//! or touch the file system. The time zone database is compiled in (chrono-tz's
//! prebuilt tables), never read from /usr/share/zoneinfo, so a decision is the
//! same on every host. The rest of Herald speaks `time::OffsetDateTime`; chrono
//! is used only inside this module, converted at its edges.
//!
//! Local times that a zone skips or repeats (DST):
//! - a time in a spring-forward gap resolves to the first instant after the
//!   gap (02:30 on a day Berlin jumps 02:00 → 03:00 is 03:00 CEST), for quiet
//!   hours and for digests alike;
//! - a repeated time (fall back) resolves, for quiet hours, to its first
//!   occurrence for `from` and its second for `to`: the window covers the
//!   whole repeated hour, since quiet hours promise silence and when in doubt
//!   stay quiet longer. A digest at a repeated time runs once, at the first
//!   occurrence (croner's behaviour for fixed times; a schedule with a
//!   wildcard or step in its hour or minute, such as `*/15 * * * *`, runs in
//!   both passes of the repeated hour, as its interval says).

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::FieldError;
use crate::event::Severity;
use crate::limits::{MAX_SHORT_TEXT_CHARS, check_chars, check_count};
use crate::policy::check_field_paths;

/// What quiet hours do with a critical event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuietCritical {
    /// Critical events go out inside the window too.
    #[default]
    Deliver,
    /// Critical events wait like the others.
    Hold,
}

/// `{"timezone": "Europe/Berlin", "days": ["mon", …], "from": "22:00",
/// "to": "07:00", "critical": "deliver"}`: non-critical deliveries inside the
/// window wait until it ends. A window whose `to` is not after `from` runs past
/// midnight; `days` are the days a window starts on (all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub timezone: String,
    #[serde(default)]
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub critical: QuietCritical,
}

impl QuietHours {
    /// Checks the zone, days and times; errors name the field below `field`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        self.window(field).map(|_| ())
    }

    /// When a delivery due at `now` of an event of `severity` may go: `None`
    /// now, `Some(t)` when the window it falls in ends.
    pub fn release(&self, now: OffsetDateTime, severity: Severity) -> Option<OffsetDateTime> {
        if severity == Severity::Critical && self.critical == QuietCritical::Deliver {
            return None;
        }
        // Validation refuses what does not parse, so this only meets a record
        // that bypassed it; holding on a window we cannot read could hold for
        // ever, so such a delivery goes.
        let window = self.window("").ok()?;
        let end = window.end_if_inside(to_chrono(now)?)?;
        // The end is within two days of `now`, so it fails to convert only at
        // the very edge of `time`'s range; the delivery goes then.
        to_time(end)
    }

    /// The window in words, as explain shows it: `22:00–07:00 Europe/Berlin`,
    /// with the days when not all: `22:00–07:00 Europe/Berlin (mon, tue)`.
    pub fn describe(&self) -> String {
        let mut text = format!("{}–{} {}", self.from, self.to, self.timezone);
        if !self.days.is_empty() {
            text.push_str(&format!(" ({})", self.days.join(", ")));
        }
        text
    }

    /// The parsed window, or the first error, named below `field`.
    fn window(&self, field: &str) -> Result<Window, FieldError> {
        let zone = parse_zone(&format!("{field}.timezone"), &self.timezone)?;
        let days = parse_days(&format!("{field}.days"), &self.days)?;
        let from = parse_clock(&format!("{field}.from"), &self.from)?;
        let to = parse_clock(&format!("{field}.to"), &self.to)?;
        if from == to {
            // Equal ends would mean either no window or a whole day; neither
            // is what anybody wrote quiet hours for, so the intent is asked.
            return Err(FieldError::new(
                format!("{field}.to"),
                format!(
                    "\"{}\" is the same time as from; a window needs two different times, such as from 22:00 to 07:00",
                    self.to
                ),
            ));
        }
        Ok(Window {
            zone,
            days,
            from,
            to,
        })
    }
}

/// Quiet hours parsed: the wall-clock window, repeated on the allowed days.
struct Window {
    zone: Tz,
    /// Bit `n` set: a window may start on the weekday `n` days after Monday.
    days: u8,
    from: NaiveTime,
    to: NaiveTime,
}

impl Window {
    /// The end of the window holding `now`, if one does.
    fn end_if_inside(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&self.zone).date_naive();
        // A window lasts less than a day of wall-clock time, so one holding
        // `now` started on its local day or the day before (03:00 on Tuesday
        // lies in Monday's 22:00–07:00).
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter(|day| self.starts_on(*day))
            .filter_map(|day| self.instants(day))
            .filter(|(start, end)| *start <= now && now < *end)
            .map(|(_, end)| end)
            .max()
    }

    fn starts_on(&self, day: NaiveDate) -> bool {
        self.days & day_bit(day.weekday()) != 0
    }

    /// The instants of the window starting on local day `day`: `from` at its
    /// first occurrence, `to` at its last (see the module notes). On a day
    /// where both fall in the same gap the window is empty, and holds nothing.
    fn instants(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let end_day = match self.to <= self.from {
            true => day.succ_opt()?,
            false => day,
        };
        let start = resolve(&self.zone, day.and_time(self.from), Occurrence::First)?;
        let end = resolve(&self.zone, end_day.and_time(self.to), Occurrence::Last)?;
        Some((start, end))
    }
}

/// Which instant a repeated wall-clock time (a fall-back hour) stands for.
#[derive(Clone, Copy)]
enum Occurrence {
    First,
    Last,
}

/// The instant of wall-clock time `local` in `zone`. A time skipped by a
/// spring-forward gap becomes the first instant after the gap.
fn resolve(zone: &Tz, local: NaiveDateTime, pick: Occurrence) -> Option<DateTime<Utc>> {
    let instant = match zone.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => t,
        MappedLocalTime::Ambiguous(first, last) => match pick {
            Occurrence::First => first,
            Occurrence::Last => last,
        },
        MappedLocalTime::None => first_after_gap(zone, local)?,
    };
    Some(instant.with_timezone(&Utc))
}

/// The first wall-clock minute after `local` that exists in `zone`. Zones
/// change offset on whole minutes, so this is the instant the gap ends. The
/// longest gap on record is a whole day (Samoa, 2011-12-30); two bound the
/// search.
fn first_after_gap(zone: &Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    const MAX_GAP_MINUTES: i64 = 2 * 24 * 60;
    (1..=MAX_GAP_MINUTES).find_map(|minutes| {
        let later = local.checked_add_signed(chrono::TimeDelta::minutes(minutes))?;
        zone.from_local_datetime(&later).earliest()
    })
}

/// `{"cron": "0 9 * * mon-fri", "timezone": "Europe/Berlin"}`: one
/// notification per schedule, listing the events since the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub cron: String,
    #[serde(default = "utc")]
    pub timezone: String,
    /// Event fields that split the digest into several (as `group.by`).
    #[serde(default)]
    pub by: Vec<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl Digest {
    /// Checks the schedule, the zone and the `by` fields; errors name the
    /// field below `field`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let cron_field = format!("{field}.cron");
        let cron = parse_cron(&cron_field, &self.cron)?;
        let zone = parse_zone(&format!("{field}.timezone"), &self.timezone)?;
        // A pattern such as `0 0 30 2 *` parses but never comes: a digest on
        // it would hold its events for ever. A pattern that comes at all
        // comes within every 400 years (the Gregorian calendar repeats), so
        // one search from the year 4000 up to croner's horizon (the year
        // 5000) settles it; a search from today would walk three times as
        // many years to refuse a pattern that never comes.
        let since = NaiveDate::from_ymd_opt(4000, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|at| zone.from_utc_datetime(&at));
        if since.is_none_or(|since| cron.find_next_occurrence(&since, false).is_err()) {
            return Err(FieldError::new(
                cron_field,
                format!(
                    "\"{}\" never comes (no date matches it); check the day-of-month and month fields",
                    self.cron
                ),
            ));
        }
        check_field_paths(&format!("{field}.by"), &self.by)
    }

    /// The first scheduled instant strictly after `now`.
    ///
    /// Validation refuses what does not parse; for a record that bypassed it,
    /// an unknown zone counts as UTC and a schedule that cannot be read or
    /// never comes gives one day after `now`, so a digest never holds its
    /// events for ever.
    pub fn next_after(&self, now: OffsetDateTime) -> OffsetDateTime {
        let fallback = now + time::Duration::DAY;
        self.scheduled_after(now).unwrap_or(fallback)
    }

    fn scheduled_after(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let cron = parse_cron("cron", &self.cron).ok()?;
        let zone = parse_zone("timezone", &self.timezone).unwrap_or(Tz::UTC);
        // croner works in whole seconds and an exclusive search starts one
        // second on; from `now` cut to its second, that is the first
        // scheduled instant strictly after `now` (schedules fall on whole
        // minutes, never inside the cut-off fraction).
        let start = to_chrono(now.replace_nanosecond(0).ok()?)?.with_timezone(&zone);
        let next = cron.find_next_occurrence(&start, false).ok()?;
        to_time(next.with_timezone(&Utc))
    }
}

/// Five fields (minute, hour, day of month, month, day of week) or a
/// nickname such as `@daily`, in croner's dialect: names (`mon`, `jan`),
/// ranges, steps, lists, `L`, `W`, `#` and `+` as croner documents them,
/// day-of-month and day-of-week joined by OR as in Vixie cron. No seconds and
/// no year field: a six-field pattern is read as leading seconds by some
/// tools and as a trailing year by others, so Herald accepts neither rather
/// than guess, and a digest more often than once a minute would not be one.
fn parse_cron(field: &str, text: &str) -> Result<Cron, FieldError> {
    check_chars(field, text, MAX_SHORT_TEXT_CHARS)?;
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    parser.parse(text).map_err(|e| {
        FieldError::new(
            field,
            format!(
                "\"{text}\" is not a cron schedule ({e}); write five fields (minute hour day-of-month month day-of-week), such as \"0 9 * * mon-fri\""
            ),
        )
    })
}

/// An IANA zone by its exact name. A name that differs only in case gets a
/// hint: the names are case-sensitive in the database, and we store what
/// was written.
fn parse_zone(field: &str, name: &str) -> Result<Tz, FieldError> {
    check_chars(field, name, MAX_SHORT_TEXT_CHARS)?;
    Tz::from_str(name).map_err(|_| {
        let hint = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(name))
            .map(|tz| format!(" (did you mean {}?)", tz.name()))
            .unwrap_or_default();
        FieldError::new(
            field,
            format!("unknown time zone \"{name}\"{hint}; use an IANA name such as Europe/Berlin"),
        )
    })
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_bit(day: Weekday) -> u8 {
    1 << day.num_days_from_monday()
}

/// The allowed start days as a bit set; none listed means all.
fn parse_days(field: &str, days: &[String]) -> Result<u8, FieldError> {
    // Seven days: a longer list only repeats some.
    check_count(field, days.len(), DAY_NAMES.len())?;
    if days.is_empty() {
        return Ok(u8::MAX);
    }
    let mut set = 0;
    for (i, day) in days.iter().enumerate() {
        let index = DAY_NAMES
            .iter()
            .position(|name| name.eq_ignore_ascii_case(day))
            .ok_or_else(|| {
                let shown: String = day.chars().take(MAX_SHORT_TEXT_CHARS).collect();
                FieldError::new(
                    format!("{field}[{i}]"),
                    format!("\"{shown}\" is not a day; use {}", DAY_NAMES.join(", ")),
                )
            })?;
        set |= 1 << index;
    }
    Ok(set)
}

/// A wall-clock time written `HH:MM`, 00:00 to 23:59.
fn parse_clock(field: &str, text: &str) -> Result<NaiveTime, FieldError> {
    check_chars(field, text, MAX_SHORT_TEXT_CHARS)?;
    let bad = || {
        FieldError::new(
            field,
            format!("\"{text}\" is not a time; write HH:MM, 00:00 to 23:59"),
        )
    };
    let (hours, minutes) = text.split_once(':').ok_or_else(bad)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return Err(bad());
    }
    let (h, m) = (
        hours.parse().map_err(|_| bad())?,
        minutes.parse().map_err(|_| bad())?,
    );
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

/// `time` → chrono, through the Unix timestamp. chrono's range is wider
/// than `time`'s, so this always succeeds in practice.
fn to_chrono(at: OffsetDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.unix_timestamp(), at.nanosecond())
}

/// chrono → `time`, through the Unix timestamp in nanoseconds.
fn to_time(at: DateTime<Utc>) -> Option<OffsetDateTime> {
    let nanos =
        i128::from(at.timestamp()) * 1_000_000_000 + i128::from(at.timestamp_subsec_nanos());
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn quiet(
        zone: &str,
        days: &[&str],
        from: &str,
        to: &str,
        critical: QuietCritical,
    ) -> QuietHours {
        QuietHours {
            timezone: zone.to_owned(),
            days: days.iter().map(|d| (*d).to_owned()).collect(),
            from: from.to_owned(),
            to: to.to_owned(),
            critical,
        }
    }

    fn night(days: &[&str]) -> QuietHours {
        quiet(
            "Europe/Berlin",
            days,
            "22:00",
            "07:00",
            QuietCritical::Deliver,
        )
    }

    fn digest(cron: &str, zone: &str) -> Digest {
        Digest {
            cron: cron.to_owned(),
            timezone: zone.to_owned(),
            by: Vec::new(),
        }
    }

    // 2026-01-05 is a Monday; Berlin is on CET (+01:00) in January.

    #[test]
    fn a_window_past_midnight_holds_until_its_end_the_next_morning() {
        let q = night(&[]);
        let cases = [
            (datetime!(2026-01-05 21:59 +01:00), None),
            (
                datetime!(2026-01-05 22:00 +01:00),
                Some(datetime!(2026-01-06 07:00 +01:00)),
            ),
            (
                datetime!(2026-01-05 23:59:59.9 +01:00),
                Some(datetime!(2026-01-06 07:00 +01:00)),
            ),
            (
                datetime!(2026-01-06 00:00 +01:00),
                Some(datetime!(2026-01-06 07:00 +01:00)),
            ),
            (
                datetime!(2026-01-06 03:00 +01:00),
                Some(datetime!(2026-01-06 07:00 +01:00)),
            ),
            (
                datetime!(2026-01-06 06:59:59 +01:00),
                Some(datetime!(2026-01-06 07:00 +01:00)),
            ),
            (datetime!(2026-01-06 07:00 +01:00), None),
            (datetime!(2026-01-06 12:00 +01:00), None),
        ];
        for (now, want) in cases {
            assert_eq!(q.release(now, Severity::Warning), want, "{now}");
        }
    }

    #[test]
    fn a_window_within_a_day_holds_only_between_its_ends() {
        let q = quiet(
            "Europe/Berlin",
            &[],
            "12:00",
            "14:00",
            QuietCritical::Deliver,
        );
        let cases = [
            (datetime!(2026-01-05 11:59 +01:00), None),
            (
                datetime!(2026-01-05 12:00 +01:00),
                Some(datetime!(2026-01-05 14:00 +01:00)),
            ),
            (
                datetime!(2026-01-05 13:30 +01:00),
                Some(datetime!(2026-01-05 14:00 +01:00)),
            ),
            (datetime!(2026-01-05 14:00 +01:00), None),
            (datetime!(2026-01-05 23:00 +01:00), None),
        ];
        for (now, want) in cases {
            assert_eq!(q.release(now, Severity::Info), want, "{now}");
        }
    }

    #[test]
    fn days_name_the_day_a_window_starts_on() {
        let tue_7 = Some(datetime!(2026-01-06 07:00 +01:00));
        let cases: [(&[&str], OffsetDateTime, Option<OffsetDateTime>); 8] = [
            // Monday's window runs into Tuesday morning.
            (&["mon"], datetime!(2026-01-05 23:00 +01:00), tue_7),
            (&["mon"], datetime!(2026-01-06 03:00 +01:00), tue_7),
            // Sunday's window, not Monday's, holds Monday morning.
            (&["mon"], datetime!(2026-01-05 03:00 +01:00), None),
            // Tuesday's own window is not allowed.
            (&["mon"], datetime!(2026-01-06 22:30 +01:00), None),
            (&["mon"], datetime!(2026-01-07 03:00 +01:00), None),
            (&["tue"], datetime!(2026-01-06 03:00 +01:00), None),
            // Names are read whatever their case.
            (&["MON"], datetime!(2026-01-06 03:00 +01:00), tue_7),
            (
                &["Sun", "mon"],
                datetime!(2026-01-05 03:00 +01:00),
                Some(datetime!(2026-01-05 07:00 +01:00)),
            ),
        ];
        for (days, now, want) in cases {
            assert_eq!(
                night(days).release(now, Severity::Warning),
                want,
                "{days:?} {now}"
            );
        }
    }

    #[test]
    fn critical_events_go_or_wait_as_critical_says() {
        let now = datetime!(2026-01-06 03:00 +01:00);
        let end = Some(datetime!(2026-01-06 07:00 +01:00));
        let cases = [
            (QuietCritical::Deliver, Severity::Critical, None),
            (QuietCritical::Deliver, Severity::Warning, end),
            (QuietCritical::Deliver, Severity::Info, end),
            (QuietCritical::Hold, Severity::Critical, end),
            (QuietCritical::Hold, Severity::Warning, end),
        ];
        for (critical, severity, want) in cases {
            let q = quiet("Europe/Berlin", &[], "22:00", "07:00", critical);
            assert_eq!(q.release(now, severity), want, "{critical:?} {severity:?}");
        }
        // Outside the window nothing waits, whatever `critical` says.
        let q = quiet("Europe/Berlin", &[], "22:00", "07:00", QuietCritical::Hold);
        assert_eq!(
            q.release(datetime!(2026-01-06 12:00 +01:00), Severity::Critical),
            None
        );
    }

    // Berlin 2026: clocks jump 02:00 CET → 03:00 CEST at 2026-03-29 01:00Z,
    // and fall back 03:00 CEST → 02:00 CET at 2026-10-25 01:00Z (02:00–02:59
    // comes twice: 00:00Z–00:59Z and 01:00Z–01:59Z).

    #[test]
    fn quiet_hours_end_at_the_right_instant_across_spring_forward() {
        let cases = [
            // Started 22:00 CET, ends 07:00 CEST: an hour less of UTC.
            (
                "22:00",
                "07:00",
                datetime!(2026-03-29 00:30 UTC),
                Some(datetime!(2026-03-29 05:00 UTC)),
            ),
            // `from` in the gap: the window opens when the gap ends, 03:00 CEST.
            ("02:30", "06:00", datetime!(2026-03-29 00:59 UTC), None),
            (
                "02:30",
                "06:00",
                datetime!(2026-03-29 01:00 UTC),
                Some(datetime!(2026-03-29 04:00 UTC)),
            ),
            // `to` in the gap: the window closes when the gap ends.
            (
                "22:00",
                "02:30",
                datetime!(2026-03-29 00:59 UTC),
                Some(datetime!(2026-03-29 01:00 UTC)),
            ),
            ("22:00", "02:30", datetime!(2026-03-29 01:00 UTC), None),
            // Both ends in the gap: there is no window that night.
            ("02:00", "02:30", datetime!(2026-03-29 01:00 UTC), None),
            // The next day the window is back, on summer time.
            (
                "02:00",
                "02:30",
                datetime!(2026-03-30 00:15 UTC),
                Some(datetime!(2026-03-30 00:30 UTC)),
            ),
        ];
        for (from, to, now, want) in cases {
            let q = quiet("Europe/Berlin", &[], from, to, QuietCritical::Deliver);
            assert_eq!(q.release(now, Severity::Info), want, "{from}–{to} at {now}");
        }
    }

    #[test]
    fn quiet_hours_cover_the_whole_repeated_hour_at_fall_back() {
        let cases = [
            // Started 22:00 CEST, ends 07:00 CET: an hour more of UTC.
            (
                "22:00",
                "07:00",
                datetime!(2026-10-25 05:30 UTC),
                Some(datetime!(2026-10-25 06:00 UTC)),
            ),
            // `to` repeated: the later 02:30 (CET, 01:30Z) ends the window,
            // whichever pass of the hour `now` is in.
            (
                "22:00",
                "02:30",
                datetime!(2026-10-25 00:45 UTC),
                Some(datetime!(2026-10-25 01:30 UTC)),
            ),
            (
                "22:00",
                "02:30",
                datetime!(2026-10-25 01:15 UTC),
                Some(datetime!(2026-10-25 01:30 UTC)),
            ),
            ("22:00", "02:30", datetime!(2026-10-25 01:30 UTC), None),
            // `from` repeated: the earlier 02:30 (CEST, 00:30Z) opens it.
            ("02:30", "06:00", datetime!(2026-10-25 00:29 UTC), None),
            (
                "02:30",
                "06:00",
                datetime!(2026-10-25 00:30 UTC),
                Some(datetime!(2026-10-25 05:00 UTC)),
            ),
            (
                "02:30",
                "06:00",
                datetime!(2026-10-25 01:10 UTC),
                Some(datetime!(2026-10-25 05:00 UTC)),
            ),
        ];
        for (from, to, now, want) in cases {
            let q = quiet("Europe/Berlin", &[], from, to, QuietCritical::Deliver);
            assert_eq!(q.release(now, Severity::Info), want, "{from}–{to} at {now}");
        }
    }

    #[test]
    fn quiet_hours_follow_zones_off_the_hour_and_utc() {
        let cases = [
            // India is 05:30 ahead of UTC, all year.
            ("Asia/Kolkata", datetime!(2026-01-05 16:29 UTC), None),
            (
                "Asia/Kolkata",
                datetime!(2026-01-05 16:30 UTC),
                Some(datetime!(2026-01-06 01:30 UTC)),
            ),
            (
                "Asia/Kolkata",
                datetime!(2026-01-06 01:29 UTC),
                Some(datetime!(2026-01-06 01:30 UTC)),
            ),
            ("Asia/Kolkata", datetime!(2026-01-06 01:30 UTC), None),
            (
                "UTC",
                datetime!(2026-01-05 22:00 UTC),
                Some(datetime!(2026-01-06 07:00 UTC)),
            ),
            ("UTC", datetime!(2026-01-05 21:00 UTC), None),
        ];
        for (zone, now, want) in cases {
            let q = quiet(zone, &[], "22:00", "07:00", QuietCritical::Deliver);
            assert_eq!(q.release(now, Severity::Info), want, "{zone} at {now}");
        }
    }

    #[test]
    fn quiet_hours_that_fail_validation_hold_nothing() {
        let q = quiet("Europe/Berln", &[], "22:00", "07:00", QuietCritical::Hold);
        assert_eq!(
            q.release(datetime!(2026-01-06 03:00 UTC), Severity::Info),
            None
        );
    }

    #[test]
    fn describe_shows_the_window_and_its_days_when_not_all() {
        let cases = [
            (night(&[]), "22:00–07:00 Europe/Berlin"),
            (
                night(&["mon", "tue"]),
                "22:00–07:00 Europe/Berlin (mon, tue)",
            ),
            (night(&["Sat"]), "22:00–07:00 Europe/Berlin (Sat)"),
        ];
        for (q, want) in cases {
            assert_eq!(q.describe(), want);
        }
    }

    #[test]
    fn digest_comes_at_the_next_scheduled_local_time() {
        let cases = [
            // Friday evening in winter: Monday 09:00 CET.
            (
                "0 9 * * mon-fri",
                "Europe/Berlin",
                datetime!(2026-01-09 18:00 +01:00),
                datetime!(2026-01-12 08:00 UTC),
            ),
            // In summer the same schedule is 07:00Z.
            (
                "0 9 * * mon-fri",
                "Europe/Berlin",
                datetime!(2026-07-03 18:00 UTC),
                datetime!(2026-07-06 07:00 UTC),
            ),
            // Strictly after: the scheduled instant itself gives the next one.
            (
                "0 9 * * mon-fri",
                "Europe/Berlin",
                datetime!(2026-01-12 08:00 UTC),
                datetime!(2026-01-13 08:00 UTC),
            ),
            (
                "0 9 * * mon-fri",
                "Europe/Berlin",
                datetime!(2026-01-12 08:00:00.5 UTC),
                datetime!(2026-01-13 08:00 UTC),
            ),
            (
                "0 9 * * mon-fri",
                "Europe/Berlin",
                datetime!(2026-01-12 07:59:59.999 UTC),
                datetime!(2026-01-12 08:00 UTC),
            ),
            (
                "0 9 * * *",
                "Asia/Kolkata",
                datetime!(2026-01-05 00:00 UTC),
                datetime!(2026-01-05 03:30 UTC),
            ),
            (
                "*/15 * * * *",
                "UTC",
                datetime!(2026-01-05 10:07 UTC),
                datetime!(2026-01-05 10:15 UTC),
            ),
            (
                "@daily",
                "UTC",
                datetime!(2026-01-05 10:07 UTC),
                datetime!(2026-01-06 00:00 UTC),
            ),
            (
                "0 8 1 * *",
                "UTC",
                datetime!(2026-01-31 12:00 UTC),
                datetime!(2026-02-01 08:00 UTC),
            ),
        ];
        for (cron, zone, now, want) in cases {
            assert_eq!(
                digest(cron, zone).next_after(now),
                want,
                "{cron} {zone} after {now}"
            );
        }
    }

    #[test]
    fn digest_at_a_skipped_or_repeated_time_comes_once() {
        let d = digest("30 2 * * *", "Europe/Berlin");
        let cases = [
            // 02:30 does not exist on 2026-03-29: the first instant after the
            // gap, 03:00 CEST.
            (
                datetime!(2026-03-28 12:00 UTC),
                datetime!(2026-03-29 01:00 UTC),
            ),
            (
                datetime!(2026-03-29 01:00 UTC),
                datetime!(2026-03-30 00:30 UTC),
            ),
            // 02:30 comes twice on 2026-10-25: the first (CEST) only.
            (
                datetime!(2026-10-24 12:00 UTC),
                datetime!(2026-10-25 00:30 UTC),
            ),
            (
                datetime!(2026-10-25 00:30 UTC),
                datetime!(2026-10-26 01:30 UTC),
            ),
        ];
        for (now, want) in cases {
            assert_eq!(d.next_after(now), want, "after {now}");
        }
    }

    #[test]
    fn digest_that_fails_validation_comes_a_day_later() {
        let now = datetime!(2026-01-05 10:00 UTC);
        assert_eq!(
            digest("0 0 30 2 *", "UTC").next_after(now),
            datetime!(2026-01-06 10:00 UTC)
        );
        assert_eq!(
            digest("nonsense", "UTC").next_after(now),
            datetime!(2026-01-06 10:00 UTC)
        );
        // An unknown zone counts as UTC.
        assert_eq!(
            digest("0 12 * * *", "Mars/Olympus").next_after(now),
            datetime!(2026-01-05 12:00 UTC)
        );
    }

    #[test]
    fn good_inputs_pass_validation() {
        for q in [
            night(&[]),
            night(&["mon", "TUE", "Wed", "thu", "fri", "sat", "sun"]),
            quiet("Asia/Kolkata", &[], "00:00", "23:59", QuietCritical::Hold),
            quiet("UTC", &[], "23:59", "00:00", QuietCritical::Hold),
        ] {
            assert_eq!(q.validate("quiet_hours"), Ok(()), "{q:?}");
        }
        for d in [
            digest("0 9 * * mon-fri", "Europe/Berlin"),
            digest("0 9 * * MON-FRI", "UTC"),
            digest("*/30 8-18 * * 1-5", "America/New_York"),
            digest("0 0 29 2 *", "UTC"),
            digest("0 9 L * *", "UTC"),
            digest("@weekly", "UTC"),
        ] {
            assert_eq!(d.validate("digest"), Ok(()), "{d:?}");
        }
    }

    #[test]
    fn bad_quiet_hours_name_the_field_and_say_what_is_accepted() {
        let long = "x".repeat(MAX_SHORT_TEXT_CHARS + 1);
        let cases: [(QuietHours, &str, &str); 12] = [
            (
                quiet(
                    "Europe/Berln",
                    &[],
                    "22:00",
                    "07:00",
                    QuietCritical::Deliver,
                ),
                "quiet_hours.timezone",
                "unknown time zone \"Europe/Berln\"; use an IANA name such as Europe/Berlin",
            ),
            (
                quiet(
                    "europe/berlin",
                    &[],
                    "22:00",
                    "07:00",
                    QuietCritical::Deliver,
                ),
                "quiet_hours.timezone",
                "(did you mean Europe/Berlin?)",
            ),
            (
                quiet("", &[], "22:00", "07:00", QuietCritical::Deliver),
                "quiet_hours.timezone",
                "unknown time zone",
            ),
            (
                quiet(&long, &[], "22:00", "07:00", QuietCritical::Deliver),
                "quiet_hours.timezone",
                "at most 256 characters",
            ),
            (
                night(&["mon", "tue", "thurs"]),
                "quiet_hours.days[2]",
                "\"thurs\" is not a day; use mon, tue",
            ),
            (night(&["monday"]), "quiet_hours.days[0]", "is not a day"),
            (
                night(&["mon", "tue", "wed", "thu", "fri", "sat", "sun", "mon"]),
                "quiet_hours.days",
                "at most 7",
            ),
            (
                quiet("UTC", &[], "25:00", "07:00", QuietCritical::Deliver),
                "quiet_hours.from",
                "\"25:00\" is not a time; write HH:MM",
            ),
            (
                quiet("UTC", &[], "7:00", "08:00", QuietCritical::Deliver),
                "quiet_hours.from",
                "write HH:MM",
            ),
            (
                quiet("UTC", &[], "22:00", "07:60", QuietCritical::Deliver),
                "quiet_hours.to",
                "write HH:MM",
            ),
            (
                quiet("UTC", &[], "22:00", "24:00", QuietCritical::Deliver),
                "quiet_hours.to",
                "write HH:MM",
            ),
            (
                quiet("UTC", &[], "22:00", "22:00", QuietCritical::Deliver),
                "quiet_hours.to",
                "the same time as from",
            ),
        ];
        for (q, field, message) in cases {
            let err = q.validate("quiet_hours").unwrap_err();
            assert_eq!(err.field, field, "{q:?}");
            assert!(err.message.contains(message), "{q:?}: {}", err.message);
        }
    }

    #[test]
    fn bad_digests_name_the_field_and_say_what_is_accepted() {
        let by = |by: &[&str]| Digest {
            by: by.iter().map(|b| (*b).to_owned()).collect(),
            ..digest("0 9 * * *", "UTC")
        };
        let cases = [
            (digest("0 9 * *", "UTC"), "digest.cron", "write five fields"),
            // Six fields: seconds first or a year last? Neither is accepted.
            (
                digest("0 0 9 * * mon", "UTC"),
                "digest.cron",
                "is not a cron schedule",
            ),
            (
                digest("0 9 * * mon 2027", "UTC"),
                "digest.cron",
                "is not a cron schedule",
            ),
            (
                digest("61 * * * *", "UTC"),
                "digest.cron",
                "\"61 * * * *\" is not a cron schedule",
            ),
            (
                digest("0 9 * * mo-fr", "UTC"),
                "digest.cron",
                "is not a cron schedule",
            ),
            (digest("", "UTC"), "digest.cron", "is not a cron schedule"),
            (digest("0 0 30 2 *", "UTC"), "digest.cron", "never comes"),
            (
                digest("0 9 * * *", "Mars/Olympus"),
                "digest.timezone",
                "unknown time zone \"Mars/Olympus\"; use an IANA name",
            ),
            (by(&["nope"]), "digest.by[0]", "is not an event field"),
        ];
        for (d, field, message) in cases {
            let err = d.validate("digest").unwrap_err();
            assert_eq!(err.field, field, "{d:?}");
            assert!(err.message.contains(message), "{d:?}: {}", err.message);
        }
    }

    #[test]
    fn json_with_an_unknown_key_is_refused() {
        let q = serde_json::json!({"timezone": "UTC", "frm": "22:00", "to": "07:00"});
        let err = crate::from_value::<QuietHours>(q).unwrap_err();
        assert!(err.message.contains("unknown field `frm`"), "{err}");
        let d = serde_json::json!({"cron": "0 9 * * *", "tz": "UTC"});
        let err = crate::from_value::<Digest>(d).unwrap_err();
        assert!(err.message.contains("unknown field `tz`"), "{err}");
    }

    #[test]
    fn json_defaults_are_every_day_critical_delivered_and_utc() {
        let q: QuietHours = crate::from_value(serde_json::json!(
            {"timezone": "Europe/Berlin", "from": "22:00", "to": "07:00"}
        ))
        .unwrap();
        assert_eq!(q, night(&[]));
        let d: Digest = crate::from_value(serde_json::json!({"cron": "0 9 * * *"})).unwrap();
        assert_eq!(d, digest("0 9 * * *", "UTC"));
    }
}
