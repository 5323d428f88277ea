use std::future::Future;
use std::time::Duration;

/// How often conditions are checked.
const POLL: Duration = Duration::from_millis(25);

/// Checks `probe` until it yields a value or the deadline passes, then panics
/// naming what was awaited and the last state seen.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let end = tokio::time::Instant::now() + deadline;
    let mut ticks = tokio::time::interval(POLL);
    loop {
        ticks.tick().await;
        let last = match probe().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        if tokio::time::Instant::now() >= end {
            panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}");
        }
    }
}
