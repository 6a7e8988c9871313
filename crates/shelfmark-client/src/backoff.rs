//! When to try again after a sync failed for a reason that may pass (network, 5xx, 429):
//! exponential backoff with jitter, so a branch full of desks does not hammer a server that is
//! coming back all at the same instant; the server's `Retry-After` wins when it gave one (a
//! server shedding load answers `503 overloaded` with it).

use std::time::Duration;

/// The first retry waits this long; each further failure doubles it, up to [`MAX`].
pub const BASE: Duration = Duration::from_secs(1);
/// The longest wait between two tries.
pub const MAX: Duration = Duration::from_secs(300);

/// The wait before try number `failures + 1`. `jitter` in `[0, 1)` spreads the wait over
/// its upper half (`rand::random()` in production, fixed in tests).
pub fn delay(failures: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    if let Some(after) = retry_after {
        return after.min(MAX);
    }
    let exp = BASE.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)));
    let capped = exp.min(MAX);
    capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// The wait before the next sync after try number `failures` failed for a reason that may
/// pass: the server's `Retry-After` when it gave one, even past the sync `interval` (a server
/// shedding load asked for it), else the backoff, never longer than the interval.
pub fn after_failure(
    failures: u32,
    retry_after: Option<Duration>,
    interval: Duration,
    jitter: f64,
) -> Duration {
    let wait = delay(failures, retry_after, jitter);
    match retry_after {
        Some(_) => wait,
        None => wait.min(interval.max(BASE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_retry_after_is_honoured_past_the_sync_interval_and_backoff_is_not() {
        let interval = Duration::from_secs(30);
        assert_eq!(
            after_failure(1, Some(Duration::from_secs(120)), interval, 0.5),
            Duration::from_secs(120)
        );
        assert_eq!(after_failure(12, None, interval, 1.0), interval);
        assert_eq!(after_failure(1, None, interval, 1.0), BASE);
    }

    #[test]
    fn waits_double_with_each_failure_up_to_the_cap() {
        let full = |n| delay(n, None, 1.0);
        assert_eq!(full(1), Duration::from_secs(1));
        assert_eq!(full(2), Duration::from_secs(2));
        assert_eq!(full(5), Duration::from_secs(16));
        assert_eq!(full(40), MAX);
    }

    #[test]
    fn jitter_spreads_the_wait_over_its_upper_half() {
        assert_eq!(delay(3, None, 0.0), Duration::from_secs(2));
        assert_eq!(delay(3, None, 0.5), Duration::from_secs(3));
    }

    #[test]
    fn the_servers_retry_after_wins_within_the_cap() {
        assert_eq!(
            delay(9, Some(Duration::from_secs(7)), 0.3),
            Duration::from_secs(7)
        );
        assert_eq!(delay(1, Some(Duration::from_secs(9999)), 0.3), MAX);
    }
}
