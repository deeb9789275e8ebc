//! TLS termination: certificates from files and ACME, selected by SNI, swapped atomically.

pub mod certs;
mod resolver;

pub use certs::{load_files, load_pem, name_matches, CertError, LoadedCert};
pub use resolver::{CertResolver, CertSource, TlsMetrics};

use gatehouse_config::routes::HostPattern;
use gatehouse_config::{Config, ConfigError};

/// The certificate files of `config`, loaded and checked. Errors name the config path.
pub fn load_file_certs(config: &Config) -> Result<Vec<LoadedCert>, Vec<ConfigError>> {
    let mut certs = Vec::new();
    let mut errors = Vec::new();
    for (i, c) in config.tls.certificates.iter().enumerate() {
        match load_files(&c.cert_file, &c.key_file) {
            Ok(cert) => certs.push(cert),
            Err(e) => {
                let field = match &e {
                    CertError::Read { path, .. } if *path == c.key_file => "key_file",
                    CertError::NoKey | CertError::Key(_) | CertError::KeyMismatch => "key_file",
                    _ => "cert_file",
                };
                errors.push(ConfigError::new(
                    format!("tls.certificates[{i}].{field}"),
                    format!("{} / {}: {e}", c.cert_file.display(), c.key_file.display()),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(certs)
    } else {
        Err(errors)
    }
}

/// The TLS part of loading a config, beyond the YAML itself.
#[derive(Debug, Default)]
pub struct TlsCheck {
    /// The certificate files, loaded (empty when any failed).
    pub certs: Vec<LoadedCert>,
    /// Problems that make the config unusable.
    pub errors: Vec<ConfigError>,
    /// Probably unintended: names no certificate covers, expired files.
    pub warnings: Vec<ConfigError>,
}

/// What `gatehouse check` (and every load) reports about TLS beyond the YAML itself: problems
/// with the certificate files (errors) and names that no certificate covers (warnings).
pub fn check(config: &Config) -> TlsCheck {
    let (certs, mut errors) = match load_file_certs(config) {
        Ok(c) => (c, Vec::new()),
        Err(e) => (Vec::new(), e),
    };
    let mut warnings = Vec::new();
    if let Some(ca) = config
        .tls
        .acme
        .as_ref()
        .and_then(|a| a.directory_ca_file.as_ref())
    {
        if let Err(e) = crate::acme::AcmeHttp::new(Some(ca)) {
            errors.push(ConfigError::new(
                "tls.acme.directory_ca_file",
                e.to_string(),
            ));
        }
    }
    if !config.listeners.iter().any(|l| l.tls) {
        return TlsCheck {
            certs,
            errors,
            warnings,
        };
    }
    let acme_names: Vec<&str> = config
        .tls
        .acme
        .iter()
        .flat_map(|a| a.certificates.iter())
        .flat_map(|c| c.names.iter().map(String::as_str))
        .collect();
    let covered = |name: &str| {
        certs.iter().any(|c| c.covers(name)) || acme_names.iter().any(|p| name_matches(p, name))
    };
    let now = std::time::SystemTime::now();
    for (i, c) in certs.iter().enumerate() {
        if c.not_after <= now {
            warnings.push(ConfigError::new(
                format!("tls.certificates[{i}].cert_file"),
                format!(
                    "the certificate for {} has expired; clients will refuse it",
                    c.names.join(", ")
                ),
            ));
        }
    }
    if let Some(name) = &config.tls.default_certificate {
        if errors.is_empty() && !covered(name) {
            errors.push(ConfigError::new(
                "tls.default_certificate",
                format!("no certificate (file or ACME) covers `{name}`"),
            ));
        }
    }
    if config.tls.default_certificate.is_none() {
        for (r, route) in config.routes.iter().enumerate() {
            for (h, host) in route.hosts.iter().enumerate() {
                let probe = match host {
                    HostPattern::Exact(n) => n.clone(),
                    // A wildcard route is covered when a name under it is.
                    HostPattern::Wildcard(suffix) => format!("x{suffix}"),
                };
                if !covered(&probe) {
                    let shown = match host {
                        HostPattern::Exact(n) => n.clone(),
                        HostPattern::Wildcard(s) => format!("*{s}"),
                    };
                    warnings.push(ConfigError::new(
                        format!("routes[{r}].hosts[{h}]"),
                        format!("`{shown}` is not covered by any certificate or ACME entry; HTTPS handshakes for it will fail (plain HTTP still works)"),
                    ));
                }
            }
        }
    }
    TlsCheck {
        certs,
        errors,
        warnings,
    }
}
