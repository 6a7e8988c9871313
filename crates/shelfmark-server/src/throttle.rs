//! Failed sign-ins counted per (user name, client address), so that guessing a password costs
//! a quarter of an hour per five guesses (PROTOCOL.md, v1.1 "Sessions"). Kept in memory: a
//! restart forgets the counts, which costs an attacker a restart they cannot cause.
//!
//! The rule is pure over the times it is given, so its tests need no clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within [`WINDOW`] before further attempts are refused.
pub const MAX_FAILURES: usize = 5;
/// How long a failure counts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Names and addresses remembered at most; beyond it the oldest counts are dropped first.
const MAX_KEYS: usize = 100_000;

/// The failed sign-ins of the last [`WINDOW`].
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<(String, IpAddr), VecDeque<Instant>>>,
}

impl SignInThrottle {
    /// `Err(seconds)` to wait while `name` from `addr` has failed [`MAX_FAILURES`] times within
    /// the window: a refused attempt is not checked, so it does not count either.
    pub fn check(&self, name: &str, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(&(name.to_owned(), addr)) else {
            return Ok(());
        };
        forget_before(times, now);
        if times.len() < MAX_FAILURES {
            return Ok(());
        }
        // Allowed again when the oldest of the last MAX_FAILURES leaves the window.
        let oldest = times[times.len() - MAX_FAILURES];
        let wait = (oldest + WINDOW).saturating_duration_since(now);
        Err(wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Counts a wrong password (or an unknown name) for `name` from `addr`.
    pub fn failed(&self, name: &str, addr: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                forget_before(times, now);
                !times.is_empty()
            });
            if failures.len() >= MAX_KEYS {
                // A flood of distinct names: the count restarts rather than memory growing.
                failures.clear();
            }
        }
        let times = failures.entry((name.to_owned(), addr)).or_default();
        forget_before(times, now);
        times.push_back(now);
        while times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }

    /// A right password: the count of `name` from `addr` starts again.
    pub fn succeeded(&self, name: &str, addr: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&(name.to_owned(), addr));
    }
}

fn forget_before(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn the_sixth_attempt_within_the_window_is_refused_until_the_oldest_failure_leaves_it() {
        let t = SignInThrottle::default();
        let start = Instant::now();
        for i in 0..MAX_FAILURES as u64 {
            assert_eq!(t.check("manager", A, start), Ok(()));
            t.failed("manager", A, start + Duration::from_secs(i));
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(t.check("manager", A, later), Err(WINDOW.as_secs() - 60));
        // The same name from another address, and another name from this one, are untouched.
        assert_eq!(t.check("manager", B, later), Ok(()));
        assert_eq!(t.check("librarian", A, later), Ok(()));
        // Once the first failure is 15 minutes old, one more attempt is allowed.
        assert_eq!(t.check("manager", A, start + WINDOW), Ok(()));
    }

    #[test]
    fn a_right_password_starts_the_count_again() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed("manager", A, now);
        }
        t.succeeded("manager", A);
        t.failed("manager", A, now);
        assert_eq!(t.check("manager", A, now), Ok(()));
    }

    #[test]
    fn a_flood_of_names_does_not_grow_the_table_without_bound() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_KEYS + 10 {
            t.failed(&format!("user{i}"), A, now);
        }
        let len = t.failures.lock().map(|f| f.len()).unwrap_or(usize::MAX);
        assert!(len <= MAX_KEYS, "{len}");
    }
}
