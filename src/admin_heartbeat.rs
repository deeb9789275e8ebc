//! Heartbeat pushes on the public proxy listeners (`probing.public_heartbeat_path`): the
//! proxy's [`HeartbeatSink`] over the probes, which check each monitor's own token.

use gatehouse_probes::{BeatError, Probes};
use gatehouse_proxy::{BeatRefusal, HeartbeatSink};
use std::sync::Arc;

/// The running probes, as the proxy sees them.
pub(crate) struct ProbeBeats(pub Arc<Probes>);

impl HeartbeatSink for ProbeBeats {
    fn beat(&self, name: &str, token: &str) -> Result<(), BeatRefusal> {
        self.0.beat(name, token).map_err(|e| match e {
            BeatError::NotFound => BeatRefusal::UnknownMonitor,
            // Counted in gatehouse_requests_rejected_total{reason="unauthorized"}; not logged
            // one line per refusal, since anyone on the internet can send them.
            BeatError::Unauthorized => BeatRefusal::WrongToken,
        })
    }
}
