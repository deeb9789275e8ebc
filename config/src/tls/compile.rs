//! `tls`: certificate files, ACME certificates, and the HTTP→HTTPS redirect.
//!
//! What can be checked without reading files is checked here; the certificate files themselves
//! (readable, key matches, names covered) are checked by the proxy's TLS module, which knows
//! how to parse them.

use super::raw::*;
use super::*;
use crate::compiler::Compiler;
use crate::defaults;
use crate::routes::compile::parse_host;
use crate::routes::HostPattern;
use crate::server::Listener;
use base64::Engine;
use std::collections::HashMap;
use std::path::PathBuf;

impl Compiler {
    pub(crate) fn tls(&mut self, raw: RawTls, listeners: &[Listener]) -> TlsConfig {
        let tls_listeners = listeners.iter().filter(|l| l.tls).count();
        let has_material = !raw.certificates.is_empty() || raw.acme.is_some();
        if tls_listeners > 0 && !has_material && !self.has_errors_under("tls") {
            self.err(
                "tls",
                "a listener has `tls: true` but there are no certificates; add `tls.certificates` (PEM files) or `tls.acme`",
            );
        }
        if tls_listeners == 0 && has_material && !listeners.is_empty() {
            self.err(
                "tls",
                "certificates are configured but no listener has `tls: true`; add one, e.g. `- { name: https, address: \"0.0.0.0:443\", tls: true }`",
            );
        }
        let mut certificates = Vec::new();
        for (i, c) in raw.certificates.into_iter().enumerate() {
            let path = format!("tls.certificates[{i}]");
            let cert_file = self.file_path(&c.cert_file, format!("{path}.cert_file"));
            let key_file = self.file_path(&c.key_file, format!("{path}.key_file"));
            certificates.push(CertificateFiles {
                cert_file,
                key_file,
            });
        }
        if raw.https_port == Some(0) {
            self.err("tls.https_port", "must be a port number (1-65535)");
        }
        let default_certificate = raw.default_certificate.map(|name| {
            match parse_host(&name) {
                Ok(HostPattern::Exact(n)) => n,
                _ => {
                    self.err(
                        "tls.default_certificate",
                        format!("`{name}` must be a server name such as `example.com` (one of the certificates' names)"),
                    );
                    name
                }
            }
        });
        let acme = raw.acme.map(|a| self.acme(a, listeners));
        TlsConfig {
            certificates,
            default_certificate,
            redirect_http: raw.redirect_http.unwrap_or(true),
            https_port: raw.https_port,
            acme,
        }
    }

    fn has_errors_under(&self, prefix: &str) -> bool {
        self.errors.iter().any(|e| e.path.starts_with(prefix))
    }

    fn file_path(&mut self, value: &str, path: String) -> PathBuf {
        if value.trim().is_empty() {
            self.err(path, "must name a file");
        }
        PathBuf::from(value)
    }

    fn acme(&mut self, raw: RawAcme, listeners: &[Listener]) -> AcmeConfig {
        let directory = match raw.directory {
            None => defaults::ACME_DIRECTORY.to_string(),
            Some(d) => match ACME_DIRECTORIES.iter().find(|(name, _)| *name == d) {
                Some((_, url)) => url.to_string(),
                None if d.starts_with("https://") && d.len() > "https://".len() => d,
                None => {
                    let names: Vec<&str> = ACME_DIRECTORIES.iter().map(|(n, _)| *n).collect();
                    self.err(
                        "tls.acme.directory",
                        format!(
                            "`{d}` is neither a known CA ({}) nor an https:// directory URL",
                            names.join(", ")
                        ),
                    );
                    d
                }
            },
        };
        if let Some(email) = &raw.email {
            if email.starts_with("mailto:") {
                self.err(
                    "tls.acme.email",
                    "write the address alone, without `mailto:`",
                );
            } else if !email.contains('@') || email.contains(char::is_whitespace) {
                self.err(
                    "tls.acme.email",
                    format!("`{email}` is not an email address"),
                );
            }
        }
        let directory_ca_file = raw
            .directory_ca_file
            .map(|f| self.file_path(&f, "tls.acme.directory_ca_file".into()));
        let external_account = raw.external_account.map(|eab| {
            let key = eab.hmac_key.trim_end_matches('=');
            let hmac_key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(key)
                .unwrap_or_else(|_| {
                    self.err(
                        "tls.acme.external_account.hmac_key",
                        "is not base64url, as CAs hand it out; paste it unchanged",
                    );
                    Vec::new()
                });
            if key.is_empty() {
                self.err("tls.acme.external_account.hmac_key", "must not be empty");
            }
            if eab.key_id.trim().is_empty() {
                self.err("tls.acme.external_account.key_id", "must not be empty");
            }
            ExternalAccount {
                key_id: eab.key_id,
                hmac_key,
            }
        });
        let check_interval = self.duration(
            raw.check_interval.as_deref(),
            "tls.acme.check_interval".into(),
            defaults::ACME_CHECK_INTERVAL,
        );
        let retry_min = self.duration(
            raw.retry_min.as_deref(),
            "tls.acme.retry_min".into(),
            defaults::ACME_RETRY_MIN,
        );
        let retry_max = self.duration(
            raw.retry_max.as_deref(),
            "tls.acme.retry_max".into(),
            defaults::ACME_RETRY_MAX,
        );
        for (key, d) in [("check_interval", check_interval), ("retry_min", retry_min)] {
            if d.is_zero() {
                self.err(format!("tls.acme.{key}"), "must be longer than zero");
            }
        }
        if retry_max < retry_min {
            self.err("tls.acme.retry_max", "must not be shorter than `retry_min`");
        }
        if raw.certificates.is_empty() {
            self.err(
                "tls.acme.certificates",
                "list the certificates to obtain, e.g. `- names: [example.com, www.example.com]`",
            );
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut certificates = Vec::new();
        let mut http01 = false;
        for (i, c) in raw.certificates.into_iter().enumerate() {
            let path = format!("tls.acme.certificates[{i}]");
            if let Some(cert) = self.acme_certificate(c, &path, &mut seen, i) {
                http01 |= cert.challenge == Challenge::Http01;
                certificates.push(cert);
            }
        }
        if http01 {
            let plain: Vec<&Listener> = listeners.iter().filter(|l| !l.tls).collect();
            if plain.is_empty() && !listeners.is_empty() {
                self.err(
                    "tls.acme.certificates",
                    "http-01 needs a plain-HTTP listener: the CA fetches /.well-known/acme-challenge/ over HTTP on port 80",
                );
            } else if !listeners.is_empty() && !plain.iter().any(|l| l.address.port() == 80) {
                self.warn(
                    "listeners",
                    "http-01: the CA connects to port 80, and no plain listener binds port 80; make sure port 80 is forwarded to one",
                );
            }
        }
        AcmeConfig {
            email: raw.email,
            directory,
            directory_ca_file,
            external_account,
            check_interval,
            retry_min,
            retry_max,
            certificates,
        }
    }

    fn acme_certificate(
        &mut self,
        c: RawAcmeCertificate,
        path: &str,
        seen: &mut HashMap<String, usize>,
        index: usize,
    ) -> Option<AcmeCertificate> {
        if c.names.is_empty() {
            self.err(format!("{path}.names"), "needs at least one name");
            return None;
        }
        let challenge_kind = c.challenge.unwrap_or(RawChallenge::Http01);
        let mut names = Vec::new();
        for (n, name) in c.names.iter().enumerate() {
            let npath = format!("{path}.names[{n}]");
            let normalized = match parse_host(name) {
                Ok(HostPattern::Exact(h)) => h,
                Ok(HostPattern::Wildcard(suffix)) => {
                    if challenge_kind != RawChallenge::Dns01 {
                        self.err(
                            npath.clone(),
                            format!("`{name}` is a wildcard; CAs issue wildcards over dns-01 only: set `challenge: dns-01` and a `dns_hook`"),
                        );
                    }
                    format!("*{suffix}")
                }
                Err(e) => {
                    self.err(npath, e);
                    continue;
                }
            };
            let tld = normalized.rsplit('.').next().unwrap_or("");
            if tld.chars().all(|c| c.is_ascii_digit()) {
                self.err(
                    npath.clone(),
                    format!("`{name}` is an IP address; gatehouse orders certificates for DNS names only"),
                );
            } else if !normalized.contains('.') {
                self.err(
                    npath.clone(),
                    format!("`{name}` is not a public DNS name; a CA cannot issue for it"),
                );
            }
            if let Some(other) = seen.insert(normalized.clone(), index) {
                self.err(
                    npath,
                    format!("`{normalized}` is already in tls.acme.certificates[{other}]"),
                );
            }
            names.push(normalized);
        }
        let challenge = match challenge_kind {
            RawChallenge::Http01 => {
                if c.dns_hook.is_some() {
                    self.err(
                        format!("{path}.dns_hook"),
                        "only used with `challenge: dns-01`",
                    );
                }
                Challenge::Http01
            }
            RawChallenge::Dns01 => match c.dns_hook {
                None => {
                    self.err(
                        format!("{path}.dns_hook"),
                        "dns-01 needs a hook that sets the TXT record: `dns_hook: { command: [...] }` or `dns_hook: { url: ... }`",
                    );
                    return None;
                }
                Some(h) => Challenge::Dns01(self.dns_hook(h, &format!("{path}.dns_hook"))?),
            },
        };
        Some(AcmeCertificate { names, challenge })
    }

    fn dns_hook(&mut self, h: RawDnsHook, path: &str) -> Option<DnsHook> {
        let target = match (h.command, h.url) {
            (Some(argv), None) => {
                if argv.first().is_none_or(|c| c.trim().is_empty()) {
                    self.err(
                        format!("{path}.command"),
                        "must name a program, e.g. `[/usr/local/bin/dns-txt]`",
                    );
                }
                DnsHookTarget::Command(argv)
            }
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.err(
                        format!("{path}.url"),
                        format!("`{url}` must be an http:// or https:// URL"),
                    );
                }
                DnsHookTarget::Url(url)
            }
            (Some(_), Some(_)) => {
                self.err(path, "set either `command` or `url`, not both");
                return None;
            }
            (None, None) => {
                self.err(
                    path,
                    "set `command` (a program to run) or `url` (an endpoint to POST to)",
                );
                return None;
            }
        };
        let propagation_delay = self.duration(
            h.propagation_delay.as_deref(),
            format!("{path}.propagation_delay"),
            defaults::DNS_PROPAGATION_DELAY,
        );
        let timeout = self.duration(
            h.timeout.as_deref(),
            format!("{path}.timeout"),
            defaults::DNS_HOOK_TIMEOUT,
        );
        if timeout.is_zero() {
            self.err(format!("{path}.timeout"), "must be longer than zero");
        }
        Some(DnsHook {
            target,
            propagation_delay,
            timeout,
        })
    }
}
