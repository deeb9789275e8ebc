//! Where finished checks go: metrics, the current state of each probe, subscribers (alerting,
//! the status page) and the store writer.

use crate::heartbeat::Heartbeats;
use crate::metrics::ProbeMetrics;
use crate::result::CheckResult;
use crate::writer::Writer;
use arc_swap::ArcSwap;
use gatehouse_config::alerting::maintenance::Maintenance;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// The current state of one probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeState {
    /// The newest result.
    pub last: Arc<CheckResult>,
    /// Since when the probe has been up (or down), Unix ms; from the first result seen in this
    /// process when the state is restored from the store.
    #[serde(serialize_with = "unix_ms")]
    pub since: SystemTime,
    /// Checks in a row with the current up/down state.
    pub streak: u64,
}

fn unix_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(crate::result::unix_millis(*t))
}

/// What marks a result as taken during maintenance: the windows, and the labels of each
/// probe they match on.
#[derive(Default)]
pub(crate) struct Marks {
    pub windows: Vec<Maintenance>,
    pub labels: HashMap<String, BTreeMap<String, String>>,
}

impl Marks {
    fn covers(&self, r: &CheckResult) -> bool {
        if self.windows.is_empty() {
            return false;
        }
        let Some(labels) = self.labels.get(&*r.probe) else {
            return false;
        };
        let Ok(at) = jiff::Timestamp::try_from(r.at) else {
            return false;
        };
        self.windows
            .iter()
            .any(|m| m.covers(&r.probe, labels) && m.active(at))
    }
}

pub(crate) struct Hub {
    pub metrics: ProbeMetrics,
    pub marks: ArcSwap<Marks>,
    pub heartbeats: Heartbeats,
    pub writer: Writer,
    states: RwLock<HashMap<Arc<str>, ProbeState>>,
    stream: broadcast::Sender<Arc<CheckResult>>,
}

impl Hub {
    pub(crate) fn new(metrics: ProbeMetrics, writer: Writer) -> Self {
        Hub {
            metrics,
            heartbeats: Heartbeats::default(),
            writer,
            marks: ArcSwap::default(),
            states: RwLock::new(HashMap::new()),
            stream: broadcast::channel(4096).0,
        }
    }

    pub(crate) fn publish(&self, mut result: CheckResult) {
        result.maintenance = self.marks.load().covers(&result);
        let result = Arc::new(result);
        self.metrics.observe(&result);
        {
            let mut states = self.states.write().unwrap_or_else(|p| p.into_inner());
            match states.get_mut(&result.probe) {
                Some(s) if s.last.up == result.up => {
                    s.streak += 1;
                    s.last = result.clone();
                }
                _ => {
                    states.insert(
                        result.probe.clone(),
                        ProbeState {
                            since: result.at,
                            streak: 1,
                            last: result.clone(),
                        },
                    );
                }
            }
        }
        // No subscribers is fine.
        let _ = self.stream.send(result.clone());
        self.writer.send(result);
    }

    /// Seed the state of a probe from the store after a restart.
    pub(crate) fn restore(&self, last: CheckResult) {
        let mut states = self.states.write().unwrap_or_else(|p| p.into_inner());
        let last = Arc::new(last);
        states.entry(last.probe.clone()).or_insert(ProbeState {
            since: last.at,
            streak: 1,
            last,
        });
    }

    pub(crate) fn forget(&self, probe: &str) {
        self.states
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(probe);
    }

    pub(crate) fn state(&self, probe: &str) -> Option<ProbeState> {
        self.states
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(probe)
            .cloned()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<CheckResult>> {
        self.stream.subscribe()
    }
}
