//! What the engine is told: probe results as they come, and on every evaluation the
//! certificates and gatehouse's own health (read through [`Facts`], which the binary
//! implements over the proxy and the probe store). Route signals come through
//! [`gatehouse_traffic::TrafficSignals`].

use jiff::Timestamp;

/// One probe check's outcome, as alerting needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEvent {
    /// The probe's name.
    pub probe: String,
    /// Whether every condition held.
    pub up: bool,
    /// Why it is down (the failed conditions), empty when up.
    pub reason: String,
    /// When the check started.
    pub at: Timestamp,
}

/// One served certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertFact {
    /// Its first name.
    pub name: String,
    /// When it expires.
    pub not_after: Timestamp,
    /// Consecutive failed ACME renewals (0 for file certificates).
    pub acme_failures: u32,
    /// The last renewal error, when renewals fail.
    pub acme_error: Option<String>,
    /// An ACME order was tried since start (the failure count means something).
    pub acme_tried: bool,
}

/// Read on every evaluation; implemented by the binary.
pub trait Facts: Send + Sync {
    /// The certificates served now.
    fn certificates(&self) -> Vec<CertFact>;
    /// The error of the last config reload, when it failed (cleared by a good reload).
    fn reload_error(&self) -> Option<String>;
    /// The probe store's latest error, when it failed recently.
    fn store_error(&self) -> Option<String>;
}

/// Facts with nothing to report (tests, or no proxy).
#[derive(Debug, Default)]
pub struct NoFacts;

impl Facts for NoFacts {
    fn certificates(&self) -> Vec<CertFact> {
        Vec::new()
    }
    fn reload_error(&self) -> Option<String> {
        None
    }
    fn store_error(&self) -> Option<String> {
        None
    }
}
