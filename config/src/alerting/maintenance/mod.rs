//! Maintenance windows: while one is active, the alerts it matches are not notified (the
//! probes still run and their results are stored).

pub(crate) mod compile;

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
