//! The schedule: one task per probe, each on its own interval from a fixed epoch plus a
//! per-probe offset (a hash of the name, so probes spread over the interval and keep their
//! slot across reloads and restarts), with no drift (due times are `epoch + offset + k *
//! interval`, never "last run + interval"), and a global bound on checks in flight.

use crate::check::{self, Armed, Prepared};
use crate::hub::Hub;
use gatehouse_config::probes::{Probe, ProbeKind};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

struct Running {
    probe: Probe,
    task: JoinHandle<()>,
}

/// Starts, restarts and stops probe tasks as the config changes.
pub(crate) struct Scheduler {
    rt: tokio::runtime::Handle,
    hub: Arc<Hub>,
    epoch: Instant,
    slots: Arc<Semaphore>,
    concurrency: Mutex<usize>,
    running: Mutex<HashMap<String, Running>>,
}

impl Scheduler {
    pub(crate) fn new(rt: tokio::runtime::Handle, hub: Arc<Hub>, concurrency: usize) -> Self {
        Scheduler {
            rt,
            hub,
            epoch: Instant::now(),
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency: Mutex::new(concurrency),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Make the running probes match `probes`: new ones start, changed ones restart (in the
    /// same slot of their interval), removed ones stop; unchanged ones are not touched.
    /// Returns (started, restarted, stopped).
    pub(crate) fn apply(&self, probes: &[Probe], concurrency: usize) -> (usize, usize, usize) {
        self.resize(concurrency);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = HashMap::new();
        let (mut started, mut restarted) = (0, 0);
        for p in probes {
            match running.remove(&p.name) {
                Some(r) if r.probe == *p && !r.task.is_finished() => {
                    next.insert(p.name.clone(), r);
                }
                old => {
                    if let Some(old) = old {
                        old.task.abort();
                        if old.probe.group != p.group {
                            self.hub.metrics.remove(&old.probe.name, &old.probe.group);
                        }
                        restarted += 1;
                    } else {
                        started += 1;
                    }
                    self.hub.metrics.add(&p.name);
                    let task = self.rt.spawn(run_probe(
                        Arc::new(Armed {
                            name: p.name.as_str().into(),
                            group: p.group.as_str().into(),
                            prepared: Prepared::new(p),
                            probe: p.clone(),
                        }),
                        self.hub.clone(),
                        self.slots.clone(),
                        self.first_due(p),
                    ));
                    next.insert(
                        p.name.clone(),
                        Running {
                            probe: p.clone(),
                            task,
                        },
                    );
                }
            }
        }
        let stopped = running.len();
        for (name, r) in running.drain() {
            r.task.abort();
            self.hub.metrics.remove(&name, &r.probe.group);
            self.hub.forget(&name);
        }
        *running = next;
        (started, restarted, stopped)
    }

    fn resize(&self, concurrency: usize) {
        let mut current = self.concurrency.lock().unwrap_or_else(|p| p.into_inner());
        if concurrency > *current {
            self.slots.add_permits(concurrency - *current);
        } else if concurrency < *current {
            // Slots in use are taken away as they come back.
            let mut missing = *current - concurrency;
            missing -= self.slots.forget_permits(missing);
            if missing > 0 {
                let slots = self.slots.clone();
                self.rt.spawn(async move {
                    if let Ok(p) = slots.acquire_many(missing as u32).await {
                        p.forget();
                    }
                });
            }
        }
        *current = concurrency;
    }

    /// The first due time at or after now: `epoch + offset + k * interval`.
    fn first_due(&self, p: &Probe) -> Instant {
        let interval = p.interval.max(Duration::from_millis(1));
        let offset = offset(&p.name, interval);
        let now = Instant::now();
        let base = self.epoch + offset;
        if now <= base {
            return base;
        }
        let periods = ((now - base).as_nanos() / interval.as_nanos()) + 1;
        base + nanos(periods * interval.as_nanos())
    }

    /// Stop every probe.
    pub(crate) fn stop(&self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for (_, r) in running.drain() {
            r.task.abort();
        }
    }
}

fn nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

/// A stable offset within the interval, from the probe's name.
fn offset(name: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let nanos = interval.as_nanos().max(1);
    Duration::from_nanos((u128::from(h.finish()) % nanos) as u64)
}

async fn run_probe(armed: Arc<Armed>, hub: Arc<Hub>, slots: Arc<Semaphore>, mut due: Instant) {
    let interval = armed.probe.interval.max(Duration::from_millis(1));
    let wake = match armed.probe.kind {
        ProbeKind::Heartbeat(_) => hub.heartbeats.wake_of(&armed.name),
        _ => None,
    };
    loop {
        let woken = match &wake {
            Some(w) => tokio::select! {
                _ = tokio::time::sleep_until(due) => false,
                _ = w.notified() => true,
            },
            None => {
                tokio::time::sleep_until(due).await;
                false
            }
        };
        let scheduled = if woken { Instant::now() } else { due };
        let Some(result) = check::run(&armed, &hub.heartbeats, &slots, scheduled).await else {
            return;
        };
        hub.publish(result);
        if woken {
            continue;
        }
        // The next slot after now; slots that passed while the check ran are skipped.
        let now = Instant::now();
        due += interval;
        if due <= now {
            let behind = (now - due).as_nanos() / interval.as_nanos() + 1;
            due += nanos(behind * interval.as_nanos());
            hub.metrics
                .skipped
                .with_label_values(&[&armed.name])
                .inc_by(behind as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::offset;
    use std::time::Duration;

    #[test]
    fn offsets_are_stable_and_spread() {
        let i = Duration::from_secs(10);
        assert_eq!(offset("api", i), offset("api", i));
        assert!(offset("api", i) < i);
        let mut buckets = [0u32; 10];
        for n in 0..1000 {
            let o = offset(&format!("probe-{n}"), i);
            buckets[o.as_secs() as usize] += 1;
        }
        // 1000 names over 10 one-second buckets: none empty, none with a quarter of them.
        assert!(buckets.iter().all(|&b| b > 50 && b < 250), "{buckets:?}");
    }
}
