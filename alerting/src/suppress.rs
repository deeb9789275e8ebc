//! What keeps a firing alert quiet: maintenance windows (from the config) and silences
//! (created at runtime through the admin API, persisted, with an expiry).

use gatehouse_config::alerting::maintenance::{Maintenance, Schedule};
use jiff::{civil, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A silence: alerts whose labels match every matcher are not notified until `ends_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Random id.
    pub id: String,
    /// Label name → value; a value ending in `*` matches by prefix.
    pub matchers: BTreeMap<String, String>,
    /// From.
    pub starts_at: Timestamp,
    /// Until.
    pub ends_at: Timestamp,
    /// Why.
    pub comment: String,
    /// Who.
    pub created_by: String,
}

impl Silence {
    /// In force at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Whether it covers an alert with `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matchers.is_empty()
            && self.matchers.iter().all(|(k, want)| {
                labels
                    .get(k)
                    .is_some_and(|have| match want.strip_suffix('*') {
                        Some(prefix) => have.starts_with(prefix),
                        None => have == want,
                    })
            })
    }
}

/// Whether `m` covers an alert about `subject` with `labels`.
pub(crate) fn maintenance_covers(
    m: &Maintenance,
    subject: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    (m.subjects.is_empty() || m.subjects.iter().any(|s| s == subject))
        && m.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The window `m` is in at `now`, or the next one: `(start, end)`. `None` when a one-off
/// window is over.
pub fn maintenance_window(m: &Maintenance, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
    match &m.schedule {
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

/// Whether `m` is on at `now`.
pub fn maintenance_active(m: &Maintenance, now: Timestamp) -> bool {
    maintenance_window(m, now).is_some_and(|(s, _)| s <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert!(!maintenance_active(&m, ts("2026-11-29T00:59:00Z")));
        assert!(maintenance_active(&m, ts("2026-11-29T01:00:00Z")));
        assert!(maintenance_active(&m, ts("2026-11-29T02:59:59Z")));
        assert!(!maintenance_active(&m, ts("2026-11-29T03:00:00Z")));
        assert!(
            !maintenance_active(&m, ts("2026-11-30T01:30:00Z")),
            "Monday"
        );
        // Summer time: UTC+2.
        assert!(maintenance_active(&m, ts("2026-07-05T00:30:00Z")));
        let (s, e) = maintenance_window(&m, ts("2026-11-30T12:00:00Z")).unwrap_or_default();
        assert_eq!(
            (s, e),
            (ts("2026-12-06T01:00:00Z"), ts("2026-12-06T03:00:00Z"))
        );
    }

    #[test]
    fn daily_window_across_midnight() {
        let m = recurring(vec![], (23, 30), 1, "UTC");
        assert!(maintenance_active(&m, ts("2026-11-23T23:45:00Z")));
        assert!(maintenance_active(&m, ts("2026-11-24T00:15:00Z")));
        assert!(!maintenance_active(&m, ts("2026-11-24T00:30:00Z")));
    }

    #[test]
    fn one_off_window() {
        let mut m = recurring(vec![], (0, 0), 1, "UTC");
        m.schedule = Schedule::Once {
            start: ts("2026-12-01T02:00:00Z").as_second(),
            end: ts("2026-12-01T03:00:00Z").as_second(),
        };
        assert!(!maintenance_active(&m, ts("2026-12-01T01:59:59Z")));
        assert!(maintenance_active(&m, ts("2026-12-01T02:00:00Z")));
        assert!(!maintenance_active(&m, ts("2026-12-01T03:00:00Z")));
        assert!(maintenance_window(&m, ts("2026-12-02T00:00:00Z")).is_none());
    }

    #[test]
    fn silence_matchers() {
        let mut labels = BTreeMap::new();
        labels.insert("rule".to_string(), "probe-down".to_string());
        labels.insert("subject".to_string(), "api-eu".to_string());
        let mut s = Silence {
            id: "x".into(),
            matchers: BTreeMap::new(),
            starts_at: ts("2026-01-01T00:00:00Z"),
            ends_at: ts("2026-01-02T00:00:00Z"),
            comment: String::new(),
            created_by: String::new(),
        };
        assert!(!s.matches(&labels), "no matchers match nothing");
        s.matchers.insert("subject".into(), "api-*".into());
        assert!(s.matches(&labels));
        s.matchers.insert("rule".into(), "other".into());
        assert!(!s.matches(&labels));
        assert!(s.active(ts("2026-01-01T12:00:00Z")));
        assert!(!s.active(ts("2026-01-02T00:00:00Z")));
    }
}
