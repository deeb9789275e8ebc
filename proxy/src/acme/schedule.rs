//! When to renew, and how long to wait after a failure. Pure functions, tested on their own.

use instant_acme::RenewalInfo;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A renewal window suggested by the CA (ARI, RFC 9773).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Earliest suggested renewal time.
    pub start: SystemTime,
    /// Latest suggested renewal time.
    pub end: SystemTime,
}

impl Window {
    /// The window of a renewalInfo response.
    pub fn from_info(info: &RenewalInfo) -> Option<Window> {
        let to_time = |t: time::OffsetDateTime| {
            u64::try_from(t.unix_timestamp())
                .ok()
                .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        };
        Some(Window {
            start: to_time(info.suggested_window.start)?,
            end: to_time(info.suggested_window.end)?,
        })
    }
}

/// When a certificate valid from `not_before` to `not_after` should be renewed: when a third
/// of its lifetime is left, or earlier when the CA's window says so. Within the CA's window a
/// time is picked at `pick` (0..1, random in use) so that many clients do not renew at once,
/// as RFC 9773 §4.2 asks. A window that ends before it starts is ignored.
pub fn renewal_time(
    not_before: SystemTime,
    not_after: SystemTime,
    window: Option<Window>,
    pick: f64,
) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    let own = not_after - lifetime / 3;
    match window {
        Some(w) if w.end >= w.start => {
            let span = w.end.duration_since(w.start).unwrap_or_default();
            let at = w.start + span.mul_f64(pick.clamp(0.0, 1.0));
            at.min(own)
        }
        _ => own,
    }
}

/// Wait before the next attempt after `failures` consecutive failures (1 or more): `min`
/// doubling per failure up to `max`, never shorter than the CA's `Retry-After`.
pub fn backoff(
    failures: u32,
    min: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = failures.saturating_sub(1).min(31);
    let wait = min.saturating_mul(1u32 << exp).min(max);
    match retry_after {
        Some(ra) if ra > wait => ra,
        _ => wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn renews_with_a_third_of_the_lifetime_left() {
        // 90 days: renew at day 60.
        let day = 86_400;
        let t = renewal_time(at(0), at(90 * day), None, 0.5);
        assert_eq!(t, at(60 * day));
    }

    /// A renewalInfo response as Let's Encrypt sends it (RFC 9773 §4.2 example shape).
    const RECORDED: &str = r#"{
        "suggestedWindow": {
            "start": "2025-01-02T04:00:00Z",
            "end": "2025-01-03T04:00:00Z"
        },
        "explanationURL": "https://acme.example.com/docs/ari"
    }"#;

    #[test]
    fn an_earlier_ari_window_wins() {
        let info: RenewalInfo = serde_json::from_str(RECORDED).unwrap();
        let w = Window::from_info(&info).unwrap();
        let start = 1_735_790_400; // 2025-01-02T04:00:00Z
        assert_eq!(w.start, at(start));
        assert_eq!(w.end, at(start + 86_400));
        // A certificate issued 2024-12-01 for 90 days would renew on 2025-01-30 by itself;
        // the CA asks for the window (e.g. a revocation is coming), so renew inside it.
        let issued = 1_733_011_200; // 2024-12-01T00:00:00Z
        let expires = issued + 90 * 86_400;
        let t = renewal_time(at(issued), at(expires), Some(w), 0.25);
        assert_eq!(t, at(start + 86_400 / 4));
        assert!(t < at(expires - 30 * 86_400));
        // The picked time stays in the window at both ends.
        assert_eq!(renewal_time(at(issued), at(expires), Some(w), 0.0), w.start);
        assert_eq!(renewal_time(at(issued), at(expires), Some(w), 1.0), w.end);
    }

    #[test]
    fn a_later_ari_window_does_not_delay_renewal() {
        let w = Window {
            start: at(80),
            end: at(85),
        };
        assert_eq!(renewal_time(at(0), at(90), Some(w), 0.5), at(60));
        let inverted = Window {
            start: at(50),
            end: at(10),
        };
        assert_eq!(renewal_time(at(0), at(90), Some(inverted), 0.5), at(60));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_respects_retry_after() {
        let min = Duration::from_secs(60);
        let max = Duration::from_secs(600);
        let waits: Vec<u64> = (1..=6)
            .map(|n| backoff(n, min, max, None).as_secs())
            .collect();
        assert_eq!(waits, vec![60, 120, 240, 480, 600, 600]);
        assert_eq!(
            backoff(1, min, max, Some(Duration::from_secs(3600))),
            Duration::from_secs(3600)
        );
        assert_eq!(
            backoff(3, min, max, Some(Duration::from_secs(5))),
            Duration::from_secs(240)
        );
        assert_eq!(backoff(1000, min, max, None), max);
    }
}
