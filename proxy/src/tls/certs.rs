//! Certificates as the TLS listener serves them: a PEM chain and key turned into a rustls
//! `CertifiedKey`, with the facts the rest of gatehouse needs (names, validity, serial).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a certificate cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No `CERTIFICATE` block in the chain.
    #[error("no PEM certificate found (expected `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate,
    /// No private key block.
    #[error("no PEM private key found (expected PKCS#8, PKCS#1 or SEC1)")]
    NoKey,
    /// The PEM text is damaged.
    #[error("damaged PEM: {0}")]
    Pem(String),
    /// The key is of a kind rustls cannot sign with.
    #[error("unsupported private key: {0}")]
    Key(String),
    /// The leaf certificate cannot be parsed.
    #[error("the certificate cannot be parsed: {0}")]
    Parse(String),
    /// The key does not belong to the leaf certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
}

/// A certificate ready to serve.
#[derive(Clone, Debug)]
pub struct LoadedCert {
    /// Chain and signing key for rustls.
    pub key: Arc<CertifiedKey>,
    /// DNS names of the leaf (subjectAltName, else the CN), lower-case; wildcards as `*.x`.
    pub names: Vec<String>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Serial number, hex.
    pub serial: String,
}

impl LoadedCert {
    /// Whether the leaf is valid at `now`.
    pub fn valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now < self.not_after
    }

    /// Whether this certificate covers `name` (exact, or one label under a wildcard).
    pub fn covers(&self, name: &str) -> bool {
        self.names.iter().any(|n| name_matches(n, name))
    }

    /// The leaf certificate, DER.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.key.cert.first()
    }
}

/// Whether certificate name `pattern` (`example.com` or `*.example.com`) covers `name`.
/// A wildcard covers exactly one label, as in RFC 6125.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

/// Read and check a chain file and a key file.
pub fn load_files(cert_file: &Path, key_file: &Path) -> Result<LoadedCert, CertError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| CertError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    load_pem(&read(cert_file)?, &read(key_file)?)
}

/// Parse and check a PEM chain (leaf first) and its PEM private key.
pub fn load_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<LoadedCert, CertError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate);
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => return Err(CertError::NoKey),
        Err(e) => return Err(CertError::Pem(e.to_string())),
    };
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| CertError::Key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(_)) => return Err(CertError::KeyMismatch),
        // Unknown: rustls could not tell (e.g. an unusual key type); do not refuse on that.
        Err(_) => {}
    }
    let leaf = certified.cert.first().ok_or(CertError::NoCertificate)?;
    let facts = leaf_facts(leaf.as_ref())?;
    Ok(LoadedCert {
        key: Arc::new(certified),
        names: facts.names,
        not_before: facts.not_before,
        not_after: facts.not_after,
        serial: facts.serial,
    })
}

struct LeafFacts {
    names: Vec<String>,
    not_before: SystemTime,
    not_after: SystemTime,
    serial: String,
}

fn leaf_facts(der: &[u8]) -> Result<LeafFacts, CertError> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Parse(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.to_ascii_lowercase());
            }
        }
    }
    let to_time = |t: ASN1Time| {
        let secs = t.timestamp();
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH
        }
    };
    Ok(LeafFacts {
        names,
        not_before: to_time(cert.validity().not_before),
        not_after: to_time(cert.validity().not_after),
        serial: cert.raw_serial_as_string().replace(':', ""),
    })
}

/// Seconds since the Unix epoch, for metrics and logs.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn loads_names_and_validity() {
        let (cert, key) = self_signed(&["a.test", "*.w.test"]);
        let c = load_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(c.names, vec!["a.test", "*.w.test"]);
        assert!(c.valid_at(SystemTime::now()));
        assert!(c.covers("a.test"));
        assert!(c.covers("x.w.test"));
        assert!(!c.covers("w.test"));
        assert!(!c.covers("y.x.w.test"));
        assert!(!c.serial.is_empty());
    }

    #[test]
    fn refuses_a_key_of_another_certificate() {
        let (cert, _) = self_signed(&["a.test"]);
        let (_, other_key) = self_signed(&["a.test"]);
        assert!(matches!(
            load_pem(cert.as_bytes(), other_key.as_bytes()),
            Err(CertError::KeyMismatch)
        ));
    }

    #[test]
    fn refuses_truncated_and_empty_files() {
        let (cert, key) = self_signed(&["a.test"]);
        let truncated = &cert[..cert.len() / 2];
        assert!(load_pem(truncated.as_bytes(), key.as_bytes()).is_err());
        assert!(matches!(
            load_pem(b"", key.as_bytes()),
            Err(CertError::NoCertificate)
        ));
        assert!(matches!(
            load_pem(cert.as_bytes(), b"garbage"),
            Err(CertError::NoKey)
        ));
    }
}
