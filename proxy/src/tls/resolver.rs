//! SNI certificate selection. The listeners hold one [`CertResolver`] for the life of the
//! process; the certificate set inside it is swapped atomically when the config reloads or
//! ACME brings a new certificate, so new handshakes see the change at once and established
//! connections are untouched.

use super::certs::{unix_seconds, LoadedCert};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use prometheus::{GaugeVec, IntCounter, IntCounterVec, Opts, Registry};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Where a served certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files named in the config.
    File,
    /// Obtained over ACME.
    Acme,
}

impl CertSource {
    fn label(self) -> &'static str {
        match self {
            CertSource::File => "file",
            CertSource::Acme => "acme",
        }
    }
}

/// TLS metrics.
#[derive(Clone, Debug)]
pub struct TlsMetrics {
    /// `gatehouse_tls_handshakes_total{result}`.
    pub handshakes: IntCounterVec,
    ok: IntCounter,
    no_certificate: IntCounter,
    /// `gatehouse_tls_certificate_expiry_timestamp_seconds{name,source}`.
    pub expiry: GaugeVec,
}

impl TlsMetrics {
    /// Register on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let handshakes = IntCounterVec::new(
            Opts::new(
                "gatehouse_tls_handshakes_total",
                "TLS handshakes: result=ok (completed), no_certificate (no certificate for the requested name, handshake refused) or failed (every failed handshake, no_certificate ones included).",
            ),
            &["result"],
        )?;
        let expiry = GaugeVec::new(
            Opts::new(
                "gatehouse_tls_certificate_expiry_timestamp_seconds",
                "Unix time at which each served certificate expires, by its first name and source (file or acme).",
            ),
            &["name", "source"],
        )?;
        registry.register(Box::new(handshakes.clone()))?;
        registry.register(Box::new(expiry.clone()))?;
        Ok(TlsMetrics {
            ok: handshakes.with_label_values(&["ok"]),
            no_certificate: handshakes.with_label_values(&["no_certificate"]),
            handshakes,
            expiry,
        })
    }
}

/// The certificates currently served, indexed for lookup by SNI.
#[derive(Debug, Default)]
struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertSet {
    fn find(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        self.exact.get(name).or_else(|| {
            name.split_once('.')
                .and_then(|(_, parent)| self.wildcard.get(parent))
        })
    }
}

#[derive(Debug, Default)]
struct Sources {
    files: Vec<LoadedCert>,
    acme: BTreeMap<String, LoadedCert>,
    default_name: Option<String>,
}

/// The SNI resolver given to every TLS listener.
#[derive(Debug)]
pub struct CertResolver {
    set: ArcSwap<CertSet>,
    sources: Mutex<Sources>,
    metrics: TlsMetrics,
}

impl CertResolver {
    /// An empty resolver (every handshake fails until certificates arrive).
    pub fn new(metrics: TlsMetrics) -> Arc<Self> {
        Arc::new(CertResolver {
            set: ArcSwap::from_pointee(CertSet::default()),
            sources: Mutex::new(Sources::default()),
            metrics,
        })
    }

    /// Replace the certificates that come from files, and the default name.
    pub fn set_files(&self, files: Vec<LoadedCert>, default_name: Option<String>) {
        let mut s = self.lock();
        s.files = files;
        s.default_name = default_name;
        self.rebuild(&s);
    }

    /// Serve `cert` as the ACME certificate `id` (replacing the one before it).
    pub fn set_acme(&self, id: &str, cert: LoadedCert) {
        let mut s = self.lock();
        s.acme.insert(id.to_string(), cert);
        self.rebuild(&s);
    }

    /// Stop serving the ACME certificate `id`.
    pub fn remove_acme(&self, id: &str) {
        let mut s = self.lock();
        if s.acme.remove(id).is_some() {
            self.rebuild(&s);
        }
    }

    /// Every certificate served, as (first name, expiry): files first, then ACME ones.
    pub fn certificates(&self) -> Vec<(String, SystemTime)> {
        let s = self.lock();
        s.files
            .iter()
            .chain(s.acme.values())
            .map(|c| {
                let name = c.names.first().cloned().unwrap_or_else(|| c.serial.clone());
                (name, c.not_after)
            })
            .collect()
    }

    /// Whether some certificate answers for `name`.
    pub fn has_certificate_for(&self, name: &str) -> bool {
        self.set.load().find(name).is_some()
    }

    /// Callbacks for the TLS listener that count completed handshakes.
    pub fn handshake_callbacks(&self) -> pingora::listeners::TlsAcceptCallbacks {
        Box::new(HandshakeCounter {
            ok: self.metrics.ok.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Index every certificate by name. Where several cover the same name, the one valid now
    /// that expires last wins, so a renewed certificate takes over from the one it replaces.
    fn rebuild(&self, s: &Sources) {
        let now = SystemTime::now();
        let all: Vec<(&LoadedCert, CertSource)> = s
            .files
            .iter()
            .map(|c| (c, CertSource::File))
            .chain(s.acme.values().map(|c| (c, CertSource::Acme)))
            .collect();
        let rank = |c: &LoadedCert| (c.valid_at(now), c.not_after);
        let mut best: HashMap<&str, &LoadedCert> = HashMap::new();
        for (c, _) in &all {
            for n in &c.names {
                let better = best.get(n.as_str()).is_none_or(|b| rank(c) > rank(b));
                if better {
                    best.insert(n, c);
                }
            }
        }
        let mut set = CertSet::default();
        for (name, c) in &best {
            match name.strip_prefix("*.") {
                Some(parent) => set.wildcard.insert(parent.to_string(), c.key.clone()),
                None => set.exact.insert(name.to_string(), c.key.clone()),
            };
        }
        set.default = s.default_name.as_deref().and_then(|n| set.find(n).cloned());
        self.set.store(Arc::new(set));
        self.metrics.expiry.reset();
        for (c, source) in all {
            if let Some(first) = c.names.first() {
                self.metrics
                    .expiry
                    .with_label_values(&[first.as_str(), source.label()])
                    .set(unix_seconds(c.not_after));
            }
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let set = self.set.load();
        let found = match hello.server_name() {
            Some(name) => {
                // rustls hands over the SNI already validated as a DNS name; match it lower-case.
                let lower;
                let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                    lower = name.to_ascii_lowercase();
                    lower.as_str()
                } else {
                    name
                };
                set.find(name).or(set.default.as_ref())
            }
            None => set.default.as_ref(),
        };
        if found.is_none() {
            self.metrics.no_certificate.inc();
            tracing::debug!(
                server_name = hello.server_name().unwrap_or(""),
                "TLS handshake refused: no certificate for this name and no tls.default_certificate"
            );
        }
        found.cloned()
    }
}

struct HandshakeCounter {
    ok: IntCounter,
}

#[async_trait]
impl TlsAccept for HandshakeCounter {
    async fn handshake_complete_callback(
        &self,
        _tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        self.ok.inc();
        None
    }
}
