//! Progress reporting hooks for long operations, and a simple rate limiter.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Receives progress from capture and restore; the CLI draws bars with it.
pub trait Progress: Send + Sync {
    /// A phase begins; `total` is in bytes.
    fn begin(&self, phase: &str, total: u64);
    /// `bytes` more of the phase are done.
    fn advance(&self, bytes: u64);
    /// The phase is over.
    fn finish(&self);
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Caps a byte rate by sleeping; shared by all tasks of one operation.
pub struct RateLimit {
    bytes_per_sec: u64,
    state: Mutex<(Instant, u64)>,
}

impl RateLimit {
    /// A limiter allowing `bytes_per_sec`.
    pub fn new(bytes_per_sec: u64) -> Self {
        Self { bytes_per_sec: bytes_per_sec.max(1), state: Mutex::new((Instant::now(), 0)) }
    }

    /// How long to wait after moving `n` more bytes.
    pub fn charge(&self, n: u64) -> Duration {
        let mut s = self.state.lock().unwrap();
        s.1 += n;
        let due = Duration::from_secs_f64(s.1 as f64 / self.bytes_per_sec as f64);
        due.saturating_sub(s.0.elapsed())
    }
}
