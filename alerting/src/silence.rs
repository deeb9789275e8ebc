//! Silences: created at runtime through the admin API, persisted in the alert store, with an
//! expiry. The engine's `suppression.rs` decides, per alert, whether one holds it.

use jiff::Timestamp;
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

/// A silence from an API request at `now`; the error says what is wrong with it.
pub(crate) fn silence_of(
    req: crate::runtime::SilenceRequest,
    now: Timestamp,
) -> Result<Silence, String> {
    if req.matchers.is_empty() {
        return Err("`matchers` must name at least one label, e.g. {\"subject\": \"api\"}".into());
    }
    let starts_at = req.starts_at.unwrap_or(now);
    let ends_at = match (req.duration.as_deref(), req.ends_at) {
        (Some(d), None) => {
            let d =
                gatehouse_config::units::parse_duration(d).map_err(|e| format!("duration: {e}"))?;
            let d = jiff::SignedDuration::try_from(d).map_err(|e| format!("duration: {e}"))?;
            starts_at
                .checked_add(d)
                .map_err(|e| format!("duration: {e}"))?
        }
        (None, Some(t)) => t,
        _ => {
            return Err(
                "give exactly one of `duration` (e.g. \"2h\") or `ends_at` (RFC 3339)".into(),
            )
        }
    };
    if ends_at <= starts_at || ends_at <= now {
        return Err("the silence would end before it starts or in the past".into());
    }
    Ok(Silence {
        id: new_id(now),
        matchers: req.matchers,
        starts_at,
        ends_at,
        comment: req.comment,
        created_by: req.created_by,
    })
}

/// A 16-hex-digit id from the clock and a per-process random hasher.
fn new_id(now: Timestamp) -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i128(now.as_nanosecond());
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
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
