//! Login throttling: after a few failures, an account and a source address
//! must each wait, doubling with every further failure (capped), before
//! the next attempt is even checked. A success clears the account's and the
//! address's count. In memory, per server process: a restart forgives.
//!
//! By hand rather than `governor`: that crate limits a steady rate, while
//! what is wanted here is a back-off that grows with consecutive failures
//! and resets on success.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before waiting starts.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Keys tracked at most (oldest dropped), so a flood of made-up names or
/// addresses cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

impl Record {
    fn wait(&self) -> Duration {
        if self.failures < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doubled = Duration::from_secs(1u64 << (self.failures - FREE_FAILURES).min(20));
        doubled.min(MAX_WAIT)
    }

    fn ready_at(&self) -> Instant {
        self.last + self.wait()
    }
}

/// Consecutive login failures by account and by source address.
#[derive(Debug, Default)]
pub struct Throttle {
    by_key: Mutex<HashMap<String, Record>>,
}

fn keys(user: &str, source: &str) -> [String; 2] {
    [format!("user:{}", user.to_ascii_lowercase()), format!("addr:{source}")]
}

impl Throttle {
    /// How long the next attempt for `user` from `source` must still wait
    /// at `now` (zero: go ahead).
    pub fn wait(&self, user: &str, source: &str, now: Instant) -> Duration {
        let map = self.by_key.lock().unwrap();
        keys(user, source).iter().filter_map(|k| map.get(k)).map(|r| r.ready_at().saturating_duration_since(now)).max().unwrap_or(Duration::ZERO)
    }

    /// Records a failed attempt.
    pub fn failed(&self, user: &str, source: &str, now: Instant) {
        let mut map = self.by_key.lock().unwrap();
        if map.len() >= MAX_KEYS {
            let oldest = map.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        for k in keys(user, source) {
            let r = map.entry(k).or_insert(Record { failures: 0, last: now });
            r.failures = r.failures.saturating_add(1);
            r.last = now;
        }
    }

    /// Records a success: both counts start again.
    pub fn succeeded(&self, user: &str, source: &str) {
        let mut map = self.by_key.lock().unwrap();
        for k in keys(user, source) {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_failures_and_a_success_clears_them() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for n in 0..FREE_FAILURES {
            assert_eq!(t.wait("ann", "198.18.0.9", t0), Duration::ZERO, "attempt {n} is free");
            t.failed("ann", "198.18.0.9", t0);
        }
        assert_eq!(t.wait("ann", "198.18.0.9", t0), Duration::from_secs(1));
        assert_eq!(t.wait("ANN", "198.18.0.50", t0), Duration::from_secs(1), "the account waits from any address");
        assert_eq!(t.wait("bob", "198.18.0.9", t0), Duration::from_secs(1), "the address waits for any account");
        assert_eq!(t.wait("bob", "198.18.0.50", t0), Duration::ZERO);
        t.failed("ann", "198.18.0.9", t0);
        t.failed("ann", "198.18.0.9", t0);
        assert_eq!(t.wait("ann", "198.18.0.9", t0), Duration::from_secs(4));
        assert_eq!(t.wait("ann", "198.18.0.9", t0 + Duration::from_secs(4)), Duration::ZERO);
        for _ in 0..40 {
            t.failed("ann", "198.18.0.9", t0);
        }
        assert_eq!(t.wait("ann", "198.18.0.9", t0), MAX_WAIT);
        t.succeeded("ann", "198.18.0.9");
        assert_eq!(t.wait("ann", "198.18.0.9", t0), Duration::ZERO);
    }
}
