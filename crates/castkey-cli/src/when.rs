//! Times as people read them: "in 42 min", "3 min ago", a local date.
//! The broker sends Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A length of time, rounded down to what matters: `42 s`, `42 min`,
/// `1 h 5 min` (under 10 hours), `13 h`, `1 day`, `3 days`.
pub(crate) fn span(secs: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    match secs {
        s if s < MIN => format!("{s} s"),
        s if s < HOUR => format!("{} min", s / MIN),
        s if s < 10 * HOUR && s % HOUR >= MIN => format!("{} h {} min", s / HOUR, s % HOUR / MIN),
        s if s < DAY => format!("{} h", s / HOUR),
        s if s < 2 * DAY => "1 day".to_string(),
        s => format!("{} days", s / DAY),
    }
}

/// `at` seen from `now`: `in 42 min`, `3 min ago`, or `now`.
pub(crate) fn relative(at: u64, now: u64) -> String {
    match at.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", span(at - now)),
        std::cmp::Ordering::Less => format!("{} ago", span(now - at)),
        std::cmp::Ordering::Equal => "now".to_string(),
    }
}

/// When something expires: `expires in 42 min`, or `expired 3 min ago`.
pub(crate) fn expiry(at: u64, now: u64) -> String {
    match at.cmp(&now) {
        std::cmp::Ordering::Greater => format!("expires in {}", span(at - now)),
        std::cmp::Ordering::Less => format!("expired {} ago", span(now - at)),
        std::cmp::Ordering::Equal => "expires now".to_string(),
    }
}

/// `at` as a local date and time, `2026-12-01 14:03:22`.
pub(crate) fn local(at: u64) -> String {
    i64::try_from(at)
        .ok()
        .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| format!("@{at}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_round_down_to_the_unit_that_matters() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(60), "1 min");
        assert_eq!(span(42 * 60 + 59), "42 min");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(3600 + 5 * 60 + 10), "1 h 5 min");
        assert_eq!(span(9 * 3600 + 59 * 60), "9 h 59 min");
        assert_eq!(span(13 * 3600 + 30 * 60), "13 h");
        assert_eq!(span(86_400 + 3600), "1 day");
        assert_eq!(span(2 * 86_400 + 7), "2 days");
        assert_eq!(span(400 * 86_400), "400 days");
    }

    #[test]
    fn relative_times_say_which_way() {
        let now = 1_000_000;
        assert_eq!(relative(now + 42 * 60, now), "in 42 min");
        assert_eq!(relative(now - 180, now), "3 min ago");
        assert_eq!(relative(now - 2 * 86_400, now), "2 days ago");
        assert_eq!(relative(now, now), "now");
        assert_eq!(expiry(now + 42 * 60 + 30, now), "expires in 42 min");
        assert_eq!(expiry(now - 200, now), "expired 3 min ago");
        assert_eq!(expiry(now, now), "expires now");
    }

    #[test]
    fn local_times_are_dates() {
        let s = local(1_700_000_000);
        assert_eq!(s.len(), "2023-11-14 22:13:20".len(), "{s}");
        assert!(s.starts_with("2023-11-1"), "{s}");
        assert_eq!(local(u64::MAX), format!("@{}", u64::MAX));
    }
}
