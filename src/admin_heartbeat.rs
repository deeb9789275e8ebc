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
            BeatError::Unauthorized => {
                tracing::info!(
                    monitor = name,
                    "heartbeat refused on the public listener: the token is missing or wrong"
                );
                BeatRefusal::WrongToken
            }
        })
    }
}
