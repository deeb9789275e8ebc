//! The one root-store policy of outbound TLS: the system's roots (loaded once per process)
//! plus, per use, the extra roots it is given. Probes build their own `ClientConfig` (they
//! record verdicts instead of failing) but from these roots and this provider.

use crate::{CaFileError, Error};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The crypto provider of every outbound TLS connection: ring, as for the listeners.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The roots of this system (`ca-certificates`, or what `SSL_CERT_FILE`/`SSL_CERT_DIR`
/// name), read once: 10,000 HTTPS probes and every notifier share one copy.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            // A certificate of the system store that rustls cannot use is skipped, as
            // OpenSSL would: one odd file must not cost every other root.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                tracing::warn!("no trusted root certificates found on this system (install ca-certificates); outbound HTTPS (ACME, notifiers, telemetry, probes) can only reach servers whose CA is given explicitly");
            }
            Arc::new(roots)
        })
        .clone()
}

/// The certificates of a PEM file (other blocks, such as keys, are skipped).
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let pem = std::fs::read(path).map_err(|source| CaFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| CaFileError::NotPem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The system's roots plus `extra`; the shared system store itself when there is no extra.
pub fn roots_with(extra: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, rustls::Error> {
    if extra.is_empty() {
        return Ok(system_roots());
    }
    let mut roots = (*system_roots()).clone();
    for cert in extra {
        roots.add(cert.clone())?;
    }
    Ok(Arc::new(roots))
}

/// The system's roots plus the certificates of the PEM file at `ca`, when given.
pub fn roots_with_ca_file(ca: Option<&Path>) -> Result<Arc<RootCertStore>, CaFileError> {
    let Some(path) = ca else {
        return Ok(system_roots());
    };
    roots_with(&read_ca_file(path)?).map_err(|source| CaFileError::Rejected {
        path: path.to_owned(),
        source,
    })
}

/// The client config of outbound HTTPS: ring, rustls' safe protocol versions, `roots`, no
/// client certificate.
pub fn client_config(roots: Arc<RootCertStore>) -> Result<ClientConfig, Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Build(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_roots_are_loaded_once() {
        assert!(Arc::ptr_eq(&system_roots(), &system_roots()));
        assert!(Arc::ptr_eq(&roots_with(&[]).unwrap(), &system_roots()));
    }

    #[test]
    fn a_ca_file_must_be_readable_pem_with_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = roots_with_ca_file(Some(&missing)).unwrap_err();
        assert!(matches!(err, CaFileError::Read { .. }), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = roots_with_ca_file(Some(&empty)).unwrap_err();
        assert!(matches!(err, CaFileError::Empty { .. }), "{err}");

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = roots_with_ca_file(Some(&broken)).unwrap_err();
        assert!(matches!(err, CaFileError::NotPem { .. }), "{err}");
    }
}
