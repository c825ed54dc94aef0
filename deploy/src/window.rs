//! When a task may start: not before `--at`, and inside `--window`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Local, NaiveDateTime, NaiveTime, TimeZone, Timelike};

use crate::error::{Error, Result};

/// A daily window in the server's local time, `22:00-06:00` (it may wrap
/// past midnight; the end is excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: u32,
    end: u32,
}

fn minutes(s: &str) -> Option<u32> {
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
    Some(t.hour() * 60 + t.minute())
}

impl FromStr for Window {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("{s:?} is not a window (HH:MM-HH:MM, e.g. 22:00-06:00)"));
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start == end {
            return Err(Error::Invalid(format!("window {s:?} is empty")));
        }
        Ok(Window { start, end })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}-{:02}:{:02}", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

impl Window {
    /// True when the minute of the day `m` (0..1440) is inside.
    pub fn contains_minute(&self, m: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&m)
        } else {
            m >= self.start || m < self.end
        }
    }

    /// True when `t` is inside.
    pub fn contains<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> bool {
        self.contains_minute(t.hour() * 60 + t.minute())
    }
}

/// May a task with these constraints start at `now`?
pub fn may_start<Tz: TimeZone>(not_before: Option<i64>, window: Option<&Window>, now: &DateTime<Tz>) -> bool {
    not_before.is_none_or(|t| now.timestamp() >= t) && window.is_none_or(|w| w.contains(now))
}

/// A Unix time as this machine's local time with its offset
/// (`2026-12-01 22:30:00 +01:00`), as every view prints times.
pub fn local_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map(|d| d.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %:z").to_string()).unwrap_or_else(|| t.to_string())
}

/// Parses `--at`: RFC 3339 (`2026-11-27T22:30:00+01:00`), local
/// `YYYY-MM-DD HH:MM[:SS]`, or local `HH:MM` (the next such time).
pub fn parse_at(s: &str, now: DateTime<Local>) -> Result<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Local.from_local_datetime(&n).earliest().map(|t| t.timestamp()).ok_or_else(|| Error::Invalid(format!("{s:?} does not exist in local time")));
        }
    }
    if let Some(m) = minutes(s) {
        let today = now.date_naive().and_hms_opt(m / 60, m % 60, 0).expect("valid time");
        let mut t = Local.from_local_datetime(&today).earliest().ok_or_else(|| Error::Invalid(format!("{s:?} does not exist today")))?;
        if t <= now {
            t += chrono::Duration::days(1);
        }
        return Ok(t.timestamp());
    }
    Err(Error::Invalid(format!("{s:?} is not a time (2026-11-27 22:30, 22:30, or RFC 3339)")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn windows_wrap_midnight() {
        let w: Window = "22:00-06:00".parse().unwrap();
        assert_eq!(w.to_string(), "22:00-06:00");
        for (m, inside) in [(22 * 60, true), (23 * 60 + 59, true), (0, true), (5 * 60 + 59, true), (6 * 60, false), (12 * 60, false), (21 * 60 + 59, false)] {
            assert_eq!(w.contains_minute(m), inside, "minute {m}");
        }
        let day: Window = "08:30-17:00".parse().unwrap();
        assert!(day.contains_minute(8 * 60 + 30) && !day.contains_minute(17 * 60));
        for bad in ["22:00", "25:00-06:00", "10:00-10:00", "x-y"] {
            assert!(bad.parse::<Window>().is_err(), "{bad}");
        }
    }

    #[test]
    fn start_needs_both_time_and_window() {
        let noon = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let night: Window = "22:00-06:00".parse().unwrap();
        assert!(may_start(None, None, &noon));
        assert!(!may_start(None, Some(&night), &noon), "outside the window nothing starts");
        assert!(may_start(None, Some(&night), &(noon + chrono::Duration::hours(11))));
        assert!(!may_start(Some(noon.timestamp() + 60), None, &noon));
        assert!(may_start(Some(noon.timestamp()), None, &noon));
    }

    #[test]
    fn at_forms() {
        let now = Local::now();
        assert_eq!(parse_at("2026-11-27T22:30:00+00:00", now).unwrap(), Utc.with_ymd_and_hms(2026, 11, 27, 22, 30, 0).unwrap().timestamp());
        let next = parse_at("03:00", now).unwrap();
        assert!(next > now.timestamp() && next <= now.timestamp() + 86_400);
        assert!(parse_at("tomorrow", now).is_err());
    }
}
