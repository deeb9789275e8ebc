//! Cluster mode: a probe's verdict from every instance that checked it recently. A probe is
//! down when at least `quorum.needed(n)` of the `n` instances that reported within the
//! window see it down (`probes[].quorum`, default a majority), so one instance with a bad
//! route to a target does not page, and a target down for all pages once.

use crate::result::CheckResult;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// How a result counts for alerting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Up for alerting.
    pub up: bool,
    /// Why it is down (empty when up).
    pub reason: String,
}

/// Other instances' results count when they are this many intervals old at most (results
/// reach the store in batches up to half a second late).
const WINDOW_INTERVALS: u32 = 3;
/// And at least this old, for short intervals.
const WINDOW_MIN: Duration = Duration::from_secs(5);

/// The verdict of `r` (checked at `interval`, `quorum`) with the others' newest results from
/// `store`; the instance's own result alone when the store is not shared or does not answer
/// within a second.
pub(crate) async fn judge(
    store: &Arc<dyn Store>,
    r: &CheckResult,
    interval: Duration,
    quorum: gatehouse_config::probes::Quorum,
) -> Verdict {
    let own = Verdict {
        up: r.up,
        reason: r.failures.join("; "),
    };
    if !store.shared() {
        return own;
    }
    let window = (interval * WINDOW_INTERVALS).max(WINDOW_MIN);
    let since = r.at.checked_sub(window).unwrap_or(r.at);
    let (s, probe) = (store.clone(), r.probe.to_string());
    let read = tokio::task::spawn_blocking(move || s.others_verdicts(&probe, since));
    let others = match tokio::time::timeout(Duration::from_secs(1), read).await {
        Ok(Ok(Ok(o))) => o,
        _ => return own,
    };
    combine(r, &others, quorum)
}

fn combine(
    r: &CheckResult,
    others: &[(String, bool)],
    quorum: gatehouse_config::probes::Quorum,
) -> Verdict {
    let n = others.len() + 1;
    let down_elsewhere: Vec<&str> = others
        .iter()
        .filter(|(_, up)| !up)
        .map(|(i, _)| i.as_str())
        .collect();
    let down = down_elsewhere.len() + usize::from(!r.up);
    let needed = quorum.needed(n);
    if down < needed {
        return Verdict {
            up: true,
            reason: String::new(),
        };
    }
    let mut reason = if r.up {
        format!("down as seen from {}", down_elsewhere.join(", "))
    } else {
        r.failures.join("; ")
    };
    if n > 1 {
        reason.push_str(&format!(" ({down} of {n} instances see it down)"));
    }
    Verdict { up: false, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::probes::Quorum;

    fn result(up: bool) -> CheckResult {
        CheckResult {
            probe: "web".into(),
            group: "default".into(),
            kind: "http",
            at: std::time::SystemTime::now(),
            duration: Duration::ZERO,
            up,
            attempts: 1,
            phases: Default::default(),
            status_code: None,
            cert_expiry: None,
            hit_ratio: None,
            failures: if up {
                vec![]
            } else {
                vec!["status is 503".into()]
            },
            lag: Duration::ZERO,
            maintenance: false,
        }
    }

    #[test]
    fn a_majority_of_the_instances_that_reported_decides() {
        let b_up = [("b".to_string(), true)];
        let b_down = [("b".to_string(), false)];
        // Two instances, one sees it down: not down by majority, down by `any`.
        assert!(combine(&result(false), &b_up, Quorum::Majority).up);
        assert!(!combine(&result(false), &b_up, Quorum::Any).up);
        assert!(!combine(&result(false), &b_down, Quorum::Majority).up);
        // Down elsewhere only: the reason names the instance.
        let v = combine(&result(true), &b_down, Quorum::Any);
        assert!(!v.up);
        assert!(v.reason.contains("seen from b (1 of 2"), "{}", v.reason);
        // Alone: its own verdict, whatever the quorum.
        for q in [
            Quorum::Any,
            Quorum::Majority,
            Quorum::All,
            Quorum::AtLeast(3),
        ] {
            assert!(!combine(&result(false), &[], q).up);
            assert!(combine(&result(true), &[], q).up);
        }
        // Three: 2 of 3 is a majority, not all.
        let two_down = [("b".to_string(), false), ("c".to_string(), true)];
        assert!(!combine(&result(false), &two_down, Quorum::Majority).up);
        assert!(combine(&result(false), &two_down, Quorum::All).up);
        assert!(!combine(&result(false), &two_down, Quorum::AtLeast(2)).up);
    }
}
