//! The retry schedule: exponential backoff with jitter (backon), never sooner
//! than a `Retry-After` (held to the budget left), stopped by a wall-clock
//! budget or an attempt count.
//!
//! It only answers "how long until the next attempt, if any": a sender does
//! not wait in-process between attempts. The notification is put aside in the
//! database until then and the scheduler queues its job again, so a waiting
//! retry holds no slot, no message and no memory, and outlives the process.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries stop once the next attempt would begin past this budget,
    /// counted from the round's first attempt.
    pub max_elapsed: Duration,
    /// Attempts at most, the first one included.
    pub max_attempts: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_elapsed: Duration::from_secs(120),
            max_attempts: 10,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt of a round that made `made` attempts
    /// (at least one) over `elapsed`, the last one asking to wait at least
    /// `retry_after`; `None` when the round is over.
    pub fn next_wait(
        &self,
        made: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if made >= self.max_attempts {
            return None;
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .with_max_times(self.max_attempts as usize)
            .build()
            .nth(made.saturating_sub(1) as usize)?;
        let remaining = self.max_elapsed.saturating_sub(elapsed);
        // An endpoint asking for more than the budget has left (an hour, or
        // 18446744073709551615 seconds) gets one last attempt when the budget
        // ends, not a wait past it; after that the error table takes over.
        let wait = backoff.max(retry_after.unwrap_or_default().min(remaining));
        (wait <= remaining).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    fn policy(max_elapsed: u64, max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_elapsed: S(max_elapsed),
            max_attempts,
            min_delay: MS(100),
            max_delay: S(5),
        }
    }

    /// A policy, attempts made, time elapsed and `Retry-After`, and the range
    /// the wait must fall in (`None`: the round is over).
    type Case = (
        RetryPolicy,
        u32,
        Duration,
        Option<Duration>,
        Option<(Duration, Duration)>,
    );

    #[test]
    fn schedule_table() {
        let cases: [Case; 10] = [
            (policy(60, 10), 1, S(0), None, Some((MS(100), MS(200)))),
            (policy(60, 10), 3, S(1), None, Some((MS(400), MS(800)))),
            (policy(60, 10), 9, S(1), None, Some((S(5), S(10)))),
            (policy(60, 10), 1, S(0), Some(S(2)), Some((S(2), S(2)))),
            (policy(60, 3), 3, S(0), None, None),
            // A Retry-After past the budget: one last attempt as it ends.
            (policy(5, 10), 1, S(0), Some(S(60)), Some((S(5), S(5)))),
            (policy(5, 10), 1, S(2), Some(S(60)), Some((S(3), S(3)))),
            (policy(10, 10), 1, S(10), None, None),
            (policy(10, 10), 1, S(10), Some(S(60)), None),
            (
                policy(60, 10),
                1,
                S(0),
                Some(S(u64::MAX)),
                Some((S(60), S(60))),
            ),
        ];
        for (i, (policy, made, elapsed, after, want)) in cases.into_iter().enumerate() {
            let got = policy.next_wait(made, elapsed, after);
            match want {
                None => assert_eq!(got, None, "case {i}"),
                Some((lo, hi)) => {
                    let got = got.unwrap_or_else(|| panic!("case {i}: no retry"));
                    assert!(
                        lo <= got && got <= hi,
                        "case {i}: {got:?} not in {lo:?}..{hi:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn backoff_grows_until_the_budget_is_spent() {
        let policy = policy(10, 100);
        let (mut elapsed, mut made, mut waits) = (Duration::ZERO, 1, Vec::new());
        while let Some(wait) = policy.next_wait(made, elapsed, None) {
            waits.push(wait);
            elapsed += wait;
            made += 1;
        }
        assert!(waits.len() > 3, "{waits:?}");
        assert!(elapsed <= S(10), "{elapsed:?}");
        assert!(
            waits.last() > waits.first(),
            "backoff should grow: {waits:?}"
        );
    }
}
