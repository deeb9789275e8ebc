//! `tls`: certificates from PEM files and from ACME (RFC 8555), the default certificate, and how
//! plain HTTP is redirected once HTTPS exists.

pub(crate) mod compile;
pub(crate) mod raw;

use crate::defaults;
use std::path::PathBuf;
use std::time::Duration;

/// TLS certificates and how plain HTTP is treated once HTTPS exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificates read from PEM files (reloaded with the config).
    pub certificates: Vec<CertificateFiles>,
    /// A server name whose certificate answers handshakes without SNI or for unknown names;
    /// `None`: such handshakes fail.
    pub default_certificate: Option<String>,
    /// Redirect plain-HTTP requests for TLS-served hosts to HTTPS (308).
    pub redirect_http: bool,
    /// Port in the redirect's Location; `None`: the first TLS listener's port.
    pub https_port: Option<u16>,
    /// Certificates obtained and renewed over ACME.
    pub acme: Option<AcmeConfig>,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// Chain, leaf first.
    pub cert_file: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// ACME (RFC 8555) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// Contact address given to the CA (expiry notices).
    pub email: Option<String>,
    /// Directory URL.
    pub directory: String,
    /// A CA certificate (PEM) trusted for the directory's own HTTPS, besides the system roots.
    pub directory_ca_file: Option<PathBuf>,
    /// External Account Binding, for CAs that require one.
    pub external_account: Option<ExternalAccount>,
    /// Longest time between renewal checks.
    pub check_interval: Duration,
    /// First wait after a failed order; doubles per failure.
    pub retry_min: Duration,
    /// Longest wait between failed orders.
    pub retry_max: Duration,
    /// The certificates to obtain.
    pub certificates: Vec<AcmeCertificate>,
}

/// External Account Binding credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccount {
    /// Key identifier from the CA.
    pub key_id: String,
    /// The HMAC key, decoded from base64url.
    pub hmac_key: Vec<u8>,
}

/// One certificate to obtain over ACME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeCertificate {
    /// Lower-case DNS names; the first names the certificate in storage and logs.
    pub names: Vec<String>,
    /// How the CA checks that we control the names.
    pub challenge: Challenge,
}

/// ACME challenge kinds gatehouse answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP-01: the proxy answers `/.well-known/acme-challenge/` on its plain listener.
    Http01,
    /// DNS-01: an operator hook sets and clears the TXT record (needed for wildcards).
    Dns01(DnsHook),
}

/// The operator's hook that sets and clears `_acme-challenge` TXT records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsHook {
    /// What to call.
    pub target: DnsHookTarget,
    /// Wait after setting the record before asking the CA to validate.
    pub propagation_delay: Duration,
    /// Longest run of one hook call.
    pub timeout: Duration,
}

/// A command or an HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsHookTarget {
    /// Run `argv` plus `set|clear`, the record name and the value.
    Command(Vec<String>),
    /// POST `{"action","name","value"}` as JSON.
    Url(String),
}

/// Named ACME directories.
pub const ACME_DIRECTORIES: &[(&str, &str)] = &[
    ("letsencrypt", defaults::ACME_DIRECTORY),
    (
        "letsencrypt-staging",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    ("zerossl", "https://acme.zerossl.com/v2/DV90"),
];

#[cfg(test)]
mod tests;
