//! Maintenance windows: while one is active, the alerts it matches are not notified (the
//! probes still run and their results are stored).

pub(crate) mod compile;

use jiff::{civil, Timestamp, ToSpan};
use std::collections::BTreeMap;
use std::time::Duration;

/// One maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    /// Name, shown in the incidents API and on the status page.
    pub name: String,
    /// What the operator wants visitors to read.
    pub description: Option<String>,
    /// Subjects (probe, route or certificate names) covered; empty with empty `labels`
    /// covers everything.
    pub subjects: Vec<String>,
    /// Alerts with every one of these labels are covered.
    pub labels: BTreeMap<String, String>,
    /// When.
    pub schedule: Schedule,
}

/// When a maintenance window is active.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Once, between two instants (Unix seconds).
    Once {
        /// Start, inclusive.
        start: i64,
        /// End, exclusive.
        end: i64,
    },
    /// Every week on `days` (every day when empty) at `start` local time in `timezone`, for
    /// `duration`.
    Recurring {
        /// Days of the week, 1 = Monday ... 7 = Sunday.
        days: Vec<u8>,
        /// Local start time: hour and minute.
        start: (u8, u8),
        /// Length.
        duration: Duration,
        /// The time zone `start` is in (an IANA name such as `Europe/Berlin`, or `UTC`),
        /// looked up once when the config is read.
        timezone: jiff::tz::TimeZone,
    },
}

impl Maintenance {
    /// Whether the window covers an alert (or a check) about `subject` with `labels`: by name
    /// when `subjects` is given, and by every label in `labels`.
    pub fn covers(&self, subject: &str, labels: &BTreeMap<String, String>) -> bool {
        (self.subjects.is_empty() || self.subjects.iter().any(|s| s == subject))
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// The window it is in at `now`, or the next one: `(start, end)`. `None` when a one-off
    /// window is over.
    pub fn window(&self, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        match &self.schedule {
            Schedule::Once { start, end } => {
                let (s, e) = (
                    Timestamp::from_second(*start).ok()?,
                    Timestamp::from_second(*end).ok()?,
                );
                (now < e).then_some((s, e))
            }
            Schedule::Recurring {
                days,
                start,
                duration,
                timezone,
            } => {
                let length = jiff::SignedDuration::try_from(*duration).ok()?;
                let today = now.to_zoned(timezone.clone()).date();
                // A window that started up to 7 days ago may still be on; then the next 8 days.
                for offset in -7i64..=8 {
                    let date = today.checked_add(offset.days()).ok()?;
                    let weekday = u8::try_from(date.weekday().to_monday_one_offset()).ok()?;
                    if !days.is_empty() && !days.contains(&weekday) {
                        continue;
                    }
                    let local = civil::DateTime::from_parts(
                        date,
                        civil::time(
                            i8::try_from(start.0).ok()?,
                            i8::try_from(start.1).ok()?,
                            0,
                            0,
                        ),
                    );
                    let Ok(zoned) = local.to_zoned(timezone.clone()) else {
                        continue;
                    };
                    let s = zoned.timestamp();
                    let e = s.checked_add(length).ok()?;
                    if now < e {
                        return Some((s, e));
                    }
                }
                None
            }
        }
    }

    /// Whether the window is on at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.window(now).is_some_and(|(s, _)| s <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recurring(days: Vec<u8>, start: (u8, u8), hours: u64, tz: &str) -> Maintenance {
        Maintenance {
            name: "m".into(),
            description: None,
            subjects: vec![],
            labels: BTreeMap::new(),
            schedule: Schedule::Recurring {
                days,
                start,
                duration: Duration::from_secs(hours * 3600),
                timezone: jiff::tz::TimeZone::get(tz).expect("tzdb"),
            },
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn weekly_window_in_a_time_zone() {
        // Sundays 02:00–04:00 in Berlin (UTC+1 in winter).
        let m = recurring(vec![7], (2, 0), 2, "Europe/Berlin");
        // 2026-11-29 is a Sunday.
        assert!(!m.active(ts("2026-11-29T00:59:00Z")));
        assert!(m.active(ts("2026-11-29T01:00:00Z")));
        assert!(m.active(ts("2026-11-29T02:59:59Z")));
        assert!(!m.active(ts("2026-11-29T03:00:00Z")));
        assert!(!m.active(ts("2026-11-30T01:30:00Z")), "Monday");
        // Summer time: UTC+2.
        assert!(m.active(ts("2026-07-05T00:30:00Z")));
        let (s, e) = m.window(ts("2026-11-30T12:00:00Z")).unwrap_or_default();
        assert_eq!(
            (s, e),
            (ts("2026-12-06T01:00:00Z"), ts("2026-12-06T03:00:00Z"))
        );
    }

    #[test]
    fn daily_window_across_midnight() {
        let m = recurring(vec![], (23, 30), 1, "UTC");
        assert!(m.active(ts("2026-11-23T23:45:00Z")));
        assert!(m.active(ts("2026-11-24T00:15:00Z")));
        assert!(!m.active(ts("2026-11-24T00:30:00Z")));
    }

    #[test]
    fn one_off_window() {
        let mut m = recurring(vec![], (0, 0), 1, "UTC");
        m.schedule = Schedule::Once {
            start: ts("2026-12-01T02:00:00Z").as_second(),
            end: ts("2026-12-01T03:00:00Z").as_second(),
        };
        assert!(!m.active(ts("2026-12-01T01:59:59Z")));
        assert!(m.active(ts("2026-12-01T02:00:00Z")));
        assert!(!m.active(ts("2026-12-01T03:00:00Z")));
        assert!(m.window(ts("2026-12-02T00:00:00Z")).is_none());
    }
}
