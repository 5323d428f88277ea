//! The retry schedule: exponential backoff with jitter (backon), never sooner
//! than a `Retry-After`, stopped by a wall-clock budget or an attempt count.
//! Waits are async and end early on shutdown, so a retrying delivery never
//! holds up the consumer loop or a graceful stop.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries stop once the next wait would end past this budget.
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

/// What the schedule needs to know of an error.
pub trait Verdict {
    /// `None` to stop now; `Some(after)` to retry, not before `after` if given.
    fn retry(&self) -> Option<Option<Duration>>;
}

/// Runs `attempt` (given its 1-based number) until it succeeds, fails for good,
/// or the policy's budget is spent. Returns the last result and the number of
/// attempts made. `on_retry` sees each error that will be retried and the wait.
pub async fn run<T, E, Fut>(
    policy: &RetryPolicy,
    shutdown: &CancellationToken,
    mut attempt: impl FnMut(u32) -> Fut,
    mut on_retry: impl FnMut(&E, Duration),
) -> (Result<T, E>, u32)
where
    E: Verdict,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut made = 0u32;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_jitter()
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize);
    let token = shutdown.clone();
    let result = (|| {
        made += 1;
        attempt(made)
    })
    .retry(backoff)
    .sleep(move |wait| {
        let shutdown = token.clone();
        async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => {}
            }
        }
    })
    .when(|e: &E| e.retry().is_some())
    .adjust(|e: &E, next: Option<Duration>| {
        let wait = next?.max(e.retry().flatten().unwrap_or_default());
        (started.elapsed() + wait <= policy.max_elapsed).then_some(wait)
    })
    .notify(|e: &E, wait| on_retry(e, wait))
    .await;
    (result, made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Answer {
        Ok,
        Busy(Option<u64>),
        NotFound,
    }

    impl Verdict for Answer {
        fn retry(&self) -> Option<Option<Duration>> {
            match self {
                Answer::Busy(after) => Some(after.map(Duration::from_secs)),
                _ => None,
            }
        }
    }

    async fn play(
        policy: RetryPolicy,
        answers: &[Answer],
    ) -> (Result<(), Answer>, u32, Vec<Duration>) {
        let shutdown = CancellationToken::new();
        let start = Instant::now();
        let mut at = Vec::new();
        let (result, attempts) = run(
            &policy,
            &shutdown,
            |n| {
                at.push(start.elapsed());
                let a = answers[(n as usize - 1).min(answers.len() - 1)];
                async move { if a == Answer::Ok { Ok(()) } else { Err(a) } }
            },
            |_, _| {},
        )
        .await;
        (result, attempts, at)
    }

    fn policy(max_elapsed: u64, max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_elapsed: Duration::from_secs(max_elapsed),
            max_attempts,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_is_not_retried() {
        let (result, attempts, _) = play(policy(60, 10), &[Answer::NotFound]).await;
        assert_eq!(result, Err(Answer::NotFound));
        assert_eq!(attempts, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_respected_even_when_backoff_is_shorter() {
        let (result, attempts, at) = play(
            policy(60, 10),
            &[Answer::Busy(Some(2)), Answer::Busy(Some(2)), Answer::Ok],
        )
        .await;
        assert_eq!(result, Ok(()));
        assert_eq!(attempts, 3);
        assert!(at[1] - at[0] >= Duration::from_secs(2), "{at:?}");
        assert!(at[2] - at[1] >= Duration::from_secs(2), "{at:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_until_the_budget_is_spent() {
        let (result, attempts, at) = play(policy(10, 100), &[Answer::Busy(None)]).await;
        assert_eq!(result, Err(Answer::Busy(None)));
        assert!(attempts > 3, "{attempts}");
        assert!(*at.last().unwrap() <= Duration::from_secs(10), "{at:?}");
        let gaps: Vec<_> = at.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| *g <= Duration::from_secs(10)),
            "{gaps:?}"
        );
        assert!(gaps.last() > gaps.first(), "backoff should grow: {gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_capped() {
        let (_, attempts, _) = play(policy(600, 3), &[Answer::Busy(None)]).await;
        assert_eq!(attempts, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_budget_ends_the_round() {
        let (result, attempts, _) = play(policy(5, 10), &[Answer::Busy(Some(60))]).await;
        assert_eq!(result, Err(Answer::Busy(Some(60))));
        assert_eq!(attempts, 1);
    }
}
