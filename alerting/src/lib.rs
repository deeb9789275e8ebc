//! gatehouse alerting: rules over probe results, live route signals, certificates and
//! gatehouse itself; incidents that go ok → pending → firing → resolved, grouped, reminded,
//! suppressed by dependencies, maintenance windows and silences; and the notifiers that tell
//! people.

mod clock;
mod cluster;
mod dispatch;
mod engine;
mod evaluate;
mod facts;
mod incident;
mod metrics;
mod notification;
pub mod notify;
pub(crate) mod outbox;
mod runtime;
mod silence;
mod status_posts;
mod store;

pub use cluster::ClusterLink;
pub use facts::{CertFact, Facts, NoFacts, ProbeEvent};
pub use incident::Incident;
pub use metrics::AlertMetrics;
pub use notification::{dedup_key, Alert, Notification, Status};
pub use outbox::{Delivery, DeliveryState};
pub use runtime::{
    Alerting, IncidentView, Incidents, Pending, Refusal, SilenceRequest, Sources, StartError,
};
pub use silence::Silence;
pub use status_posts::{Announcement, AnnouncementRequest, IncidentUpdate, IncidentUpdateRequest};

/// The name this gatehouse signs its notifications with: the host name.
pub fn instance_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "gatehouse".into())
}
#[cfg(test)]
mod engine_tests;
