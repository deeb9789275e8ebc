//! `alerting.maintenance`: one-off windows (`start` with `end` or `duration`) and recurring
//! ones (`every`, `at`, `duration`, `timezone`).

use super::*;
use crate::alerting::raw::*;
use crate::compiler::{Compiler, NamedList};
use serde_yaml::Value;
use std::time::Duration;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Compiler {
    pub(crate) fn maintenance(&mut self, value: Option<Value>) -> Vec<Maintenance> {
        let mut out = Vec::new();
        let mut names = NamedList::new("alerting.maintenance", "maintenance window");
        for (i, item) in self
            .list(value, "alerting.maintenance")
            .into_iter()
            .enumerate()
        {
            let Some((path, raw)) = names.item::<RawMaintenance>(self, i, item) else {
                continue;
            };
            let schedule = if raw.every.is_some() {
                self.recurring(&raw, &path)
            } else {
                self.once(&raw, &path)
            };
            if let Some(schedule) = schedule {
                out.push(Maintenance {
                    name: raw.name,
                    description: raw.description,
                    subjects: raw.subjects,
                    labels: raw.labels,
                    schedule,
                });
            }
        }
        out
    }

    fn once(&mut self, raw: &RawMaintenance, path: &str) -> Option<Schedule> {
        let Some(start) = raw.start.as_deref() else {
            self.err(
                path,
                "a maintenance window needs `start` (with `end` or `duration`), or `every` with `at` and `duration`",
            );
            return None;
        };
        let start = self.instant(start, &format!("{path}.start"))?;
        let end = match (raw.end.as_deref(), raw.duration.as_deref()) {
            (Some(e), None) => self.instant(e, &format!("{path}.end"))?,
            (None, Some(d)) => {
                let d = self.duration(Some(d), format!("{path}.duration"), Duration::ZERO);
                start.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            }
            _ => {
                self.err(path, "give exactly one of `end` or `duration`");
                return None;
            }
        };
        if end <= start {
            self.err(path, "the window ends before it starts");
            return None;
        }
        for (v, name) in [
            (raw.at.is_some(), "at"),
            (raw.timezone.is_some(), "timezone"),
        ] {
            if v {
                self.err(
                    format!("{path}.{name}"),
                    "only for recurring windows (with `every`); a one-off window takes times with their offset, e.g. `2026-12-01T02:00:00+01:00`",
                );
            }
        }
        Some(Schedule::Once { start, end })
    }

    fn recurring(&mut self, raw: &RawMaintenance, path: &str) -> Option<Schedule> {
        let mut days = Vec::new();
        let every = raw
            .every
            .as_ref()
            .map(|e| match e {
                OneOrMany::One(s) => vec![s.clone()],
                OneOrMany::Many(v) => v.clone(),
            })
            .unwrap_or_default();
        for (j, d) in every.iter().enumerate() {
            let d = d.to_ascii_lowercase();
            if d == "day" || d == "daily" {
                days.clear();
                break;
            }
            match DAYS.iter().position(|x| d.starts_with(x)) {
                Some(k) => days.push(u8::try_from(k + 1).unwrap_or(1)),
                None => {
                    self.err(
                        format!("{path}.every[{j}]"),
                        format!("`{d}` is not a day; write `day` or days like `sun` or [sat, sun]"),
                    );
                    return None;
                }
            }
        }
        let Some(at) = raw.at.as_deref() else {
            self.err(
                format!("{path}.at"),
                "a recurring window needs `at`, e.g. `02:00`",
            );
            return None;
        };
        let start = match at
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u8>().ok()?, m.parse::<u8>().ok()?)))
        {
            Some((h, m)) if h < 24 && m < 60 => (h, m),
            _ => {
                self.err(
                    format!("{path}.at"),
                    format!("`{at}` is not a time; write HH:MM, e.g. `02:30`"),
                );
                return None;
            }
        };
        let Some(duration) = raw.duration.as_deref() else {
            self.err(
                format!("{path}.duration"),
                "a recurring window needs `duration`, e.g. `2h`",
            );
            return None;
        };
        let duration = self.duration(Some(duration), format!("{path}.duration"), Duration::ZERO);
        if duration.is_zero() || duration > Duration::from_secs(7 * 86400) {
            self.err(
                format!("{path}.duration"),
                "must be longer than zero and at most 7 days",
            );
        }
        let name = raw.timezone.as_deref().unwrap_or("UTC");
        let timezone = jiff::tz::TimeZone::get(name).unwrap_or_else(|e| {
            self.err(
                format!("{path}.timezone"),
                format!("unknown time zone `{name}` ({e}); use an IANA name like `Europe/Berlin` or `UTC`"),
            );
            jiff::tz::TimeZone::UTC
        });
        if raw.start.is_some() || raw.end.is_some() {
            self.err(
                path,
                "a recurring window (with `every`) takes `at` and `duration`, not `start`/`end`",
            );
        }
        Some(Schedule::Recurring {
            days,
            start,
            duration,
            timezone,
        })
    }

    /// An RFC 3339 instant with its offset, as Unix seconds.
    fn instant(&mut self, text: &str, path: &str) -> Option<i64> {
        match text.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t.as_second()),
            Err(_) => {
                self.err(
                    path,
                    format!("`{text}` is not a time with an offset; write e.g. `2026-12-01T02:00:00Z` or `2026-12-01T02:00:00+01:00`"),
                );
                None
            }
        }
    }
}
