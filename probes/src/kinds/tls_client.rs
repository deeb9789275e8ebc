//! TLS for probes: client configs (system roots plus an optional CA file, verification on,
//! off, or recorded), the handshake, and reading the leaf certificate's expiry.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How a probe treats the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// A chain that does not verify fails the handshake.
    Enforce,
    /// Anything is accepted (`verify_tls: false`).
    Off,
    /// The chain is verified and the verdict recorded, but the handshake goes on (TLS probes,
    /// which report `cert_valid` and the expiry of whatever certificate is served).
    Record,
}

/// The roots a probe trusts: the workspace's outbound policy (the system's roots, loaded
/// once and shared), plus the certificates of the probe's own `ca`.
pub(crate) fn roots(ca: Option<&Path>) -> Result<Arc<RootCertStore>, String> {
    gatehouse_outbound::roots_with_ca_file(ca).map_err(|e| e.to_string())
}

/// A config shared by probes of the same mode: ((verify, ALPN http/1.1), config).
type SharedTls = ((Verify, bool), Tls);

/// A client config and, for [`Verify::Record`], where the verdict lands.
#[derive(Debug, Clone)]
pub(crate) struct Tls {
    config: Arc<ClientConfig>,
    recorder: Option<Arc<Recorder>>,
}

impl Tls {
    /// Build once per probe. Probes without their own CA that do not record verdicts share
    /// one config per mode (10,000 HTTPS probes need not hold 10,000 copies of the roots).
    pub(crate) fn new(verify: Verify, ca: Option<&Path>, alpn_http1: bool) -> Result<Tls, String> {
        if ca.is_none() && verify != Verify::Record {
            static SHARED: OnceLock<Mutex<Vec<SharedTls>>> = OnceLock::new();
            let shared = SHARED.get_or_init(Default::default);
            let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, tls)) = shared.iter().find(|(k, _)| *k == (verify, alpn_http1)) {
                return Ok(tls.clone());
            }
            let tls = Self::build(verify, None, alpn_http1)?;
            shared.push(((verify, alpn_http1), tls.clone()));
            return Ok(tls);
        }
        Self::build(verify, ca, alpn_http1)
    }

    fn build(verify: Verify, ca: Option<&Path>, alpn_http1: bool) -> Result<Tls, String> {
        let roots = roots(ca)?;
        let provider = gatehouse_outbound::provider();
        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("cannot build a certificate verifier: {e}"))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let (config, recorder) = match verify {
            Verify::Enforce => (
                builder.with_root_certificates(roots).with_no_client_auth(),
                None,
            ),
            Verify::Off | Verify::Record => {
                let recorder = Arc::new(Recorder {
                    inner: webpki,
                    record: verify == Verify::Record,
                    verdict: Mutex::new(None),
                });
                let config = builder
                    .dangerous()
                    .with_custom_certificate_verifier(recorder.clone())
                    .with_no_client_auth();
                (config, (verify == Verify::Record).then_some(recorder))
            }
        };
        let mut config = config;
        if alpn_http1 {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(Tls {
            config: Arc::new(config),
            recorder,
        })
    }

    /// Handshake over `tcp` for `name`. Returns the stream, the leaf's expiry, and (for
    /// [`Verify::Record`]) whether the chain verified, with the reason when it did not.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        name: &str,
    ) -> Result<
        (
            TlsStream<TcpStream>,
            Option<SystemTime>,
            Option<Result<(), String>>,
        ),
        String,
    > {
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| format!("`{name}` is not a valid TLS server name"))?;
        // One verdict slot per handshake: a per-handshake config keeps concurrent checks of
        // the same probe apart (a probe never overlaps itself, so the shared slot is enough).
        if let Some(r) = &self.recorder {
            *r.verdict.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let stream = TlsConnector::from(self.config.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let expiry = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|leaf| not_after(leaf));
        let verdict = self.recorder.as_ref().map(|r| {
            r.verdict
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| Err("the certificate was not verified".into()))
        });
        Ok((stream, expiry, verdict))
    }
}

/// The `not_after` of a DER certificate.
pub(crate) fn not_after(der: &CertificateDer<'_>) -> Option<SystemTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let secs = cert.validity().not_after.timestamp();
    if secs >= 0 {
        Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
    } else {
        Some(UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()))
    }
}

/// Verifies with webpki and records the verdict instead of failing (or accepts anything).
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    record: bool,
    verdict: Mutex<Option<Result<(), String>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.record {
            let verdict = self
                .inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ())
                .map_err(|e| e.to_string());
            *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = Some(verdict);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
