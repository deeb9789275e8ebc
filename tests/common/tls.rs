//! TLS test material: a throw-away CA issuing certificates, and HTTPS clients that trust it
//! and resolve test names to loopback.

use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};

/// A CA for tests, and leaf certificates it signs, written as PEM files.
pub struct TestCa {
    pub cert_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gatehouse test CA");
        let cert = params.self_signed(&key).expect("self-signed");
        TestCa {
            cert_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, written to `dir/<file>.pem` and `dir/<file>.key`.
    pub fn issue(&self, names: &[&str], dir: &Path, file: &str) -> (PathBuf, PathBuf) {
        self.issue_with(names, dir, file, |_| {})
    }

    /// [`TestCa::issue`] with a chosen expiry.
    #[allow(dead_code)] // not every test binary uses it
    pub fn issue_until(
        &self,
        names: &[&str],
        dir: &Path,
        file: &str,
        not_after: time::OffsetDateTime,
    ) -> (PathBuf, PathBuf) {
        self.issue_with(names, dir, file, |p| p.not_after = not_after)
    }

    fn issue_with(
        &self,
        names: &[&str],
        dir: &Path,
        file: &str,
        edit: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let cert_path = dir.join(format!("{file}.pem"));
        let key_path = dir.join(format!("{file}.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }
}

/// An HTTPS client trusting only `root_pem`, sending `names` to 127.0.0.1:`port`, one new
/// connection per request (so that every request is a handshake), with the peer certificate
/// available through `tls_info`.
pub fn client(root_pem: &str, names: &[&str], port: u16) -> reqwest::Client {
    client_with(root_pem, names, port, &[b"h2", b"http/1.1"])
}

/// [`client`] offering the given ALPN protocols. TLS session resumption is off, so that each
/// connection shows the certificate served now (a resumed session reports the old one).
pub fn client_with(root_pem: &str, names: &[&str], port: u16, alpn: &[&[u8]]) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.expect("root pem")).expect("root");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10));
    for n in names {
        b = b.resolve(n, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    b.build().expect("client")
}

/// The leaf certificate (DER) the server presented for `rsp`.
pub fn peer_cert(rsp: &reqwest::Response) -> Vec<u8> {
    rsp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(|c| c.to_vec())
        .expect("peer certificate")
}
