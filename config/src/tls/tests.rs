//! The `tls` and `acme` sections: defaults, mistakes reported together, and how listeners and
//! certificates need each other.

use super::{Challenge, DnsHookTarget};
use crate::defaults;
use crate::tests::no_env;
use crate::Config;
use std::time::Duration;

const TLS_BASE: &str = r#"listeners:
  - { name: http, address: "0.0.0.0:80" }
  - { name: https, address: "0.0.0.0:443", tls: true }
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000" }] }
routes:
  - { name: web, upstream: app, redirect_https: false }
"#;

#[test]
fn tls_and_acme_sections_compile_with_defaults() {
    let text = format!(
        "{TLS_BASE}tls:\n  acme:\n    email: ops@example.com\n    directory: letsencrypt-staging\n    external_account: {{ key_id: kid-1, hmac_key: \"c2VjcmV0LWtleQ\" }}\n    certificates:\n      - names: [Example.com, www.example.com]\n      - names: [\"*.example.com\"]\n        challenge: dns-01\n        dns_hook: {{ url: \"http://127.0.0.1:9/txt\", propagation_delay: 10s }}\n"
    );
    let c = Config::from_yaml_with_env(&text, &no_env).expect("valid");
    assert!(c.listeners[1].tls && c.listeners[1].http2);
    assert!(!c.listeners[0].tls);
    assert!(!c.routes[0].redirect_https);
    assert!(c.tls.redirect_http);
    assert_eq!(c.state_dir, std::path::PathBuf::from(defaults::STATE_DIR));
    let acme = c.tls.acme.as_ref().expect("acme");
    assert_eq!(
        acme.directory,
        "https://acme-staging-v02.api.letsencrypt.org/directory"
    );
    assert_eq!(
        acme.external_account.as_ref().unwrap().hmac_key,
        b"secret-key"
    );
    assert_eq!(
        acme.certificates[0].names,
        vec!["example.com", "www.example.com"]
    );
    assert_eq!(acme.certificates[0].challenge, Challenge::Http01);
    assert_eq!(acme.certificates[1].names, vec!["*.example.com"]);
    match &acme.certificates[1].challenge {
        Challenge::Dns01(h) => {
            assert_eq!(h.propagation_delay, Duration::from_secs(10));
            assert_eq!(
                h.target,
                DnsHookTarget::Url("http://127.0.0.1:9/txt".into())
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(acme.retry_min, defaults::ACME_RETRY_MIN);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn tls_mistakes_are_reported_together() {
    let text = r#"listeners:
  - { name: https, address: "0.0.0.0:443", tls: true }
  - { name: http, address: "0.0.0.0:80", http2: true }
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000" }] }
routes:
  - { name: web, upstream: app }
tls:
  https_port: 0
  acme:
    directory: ftp://ca.example
    email: "mailto:ops@example.com"
    retry_min: 10m
    retry_max: 1m
    certificates:
      - names: ["*.example.com"]
      - names: [example.com]
        challenge: dns-01
      - names: [example.com, localhost]
      - names: [10.0.0.1, -bad.example.com]
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errs.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "listeners[1].http2",
            "tls.https_port",
            "tls.acme.directory",
            "tls.acme.email",
            "tls.acme.retry_max",
            "tls.acme.certificates[0].names[0]",
            "tls.acme.certificates[1].dns_hook",
            "tls.acme.certificates[2].names[0]",
            "tls.acme.certificates[2].names[1]",
            "tls.acme.certificates[3].names[0]",
            "tls.acme.certificates[3].names[1]",
        ],
        "{errs}"
    );
    let text = errs.to_string();
    assert!(text.contains("dns-01 only"), "{text}");
    assert!(
        text.contains("already in tls.acme.certificates[1]"),
        "{text}"
    );
}

#[test]
fn a_tls_listener_needs_certificates_and_certificates_need_a_tls_listener() {
    let no_certs = r#"listeners:
  - { name: https, address: "0.0.0.0:443", tls: true }
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000" }] }
routes:
  - { name: web, upstream: app }
"#;
    let errs = Config::from_yaml_with_env(no_certs, &no_env).unwrap_err();
    assert_eq!(errs.errors[0].path, "tls", "{errs}");
    let no_listener = r#"listeners:
  - { name: http, address: "0.0.0.0:8080" }
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000" }] }
routes:
  - { name: web, upstream: app }
tls:
  acme:
    certificates: [{ names: [example.com] }]
"#;
    let errs = Config::from_yaml_with_env(no_listener, &no_env).unwrap_err();
    assert!(
        errs.to_string().contains("no listener has `tls: true`"),
        "{errs}"
    );
}

#[test]
fn http01_without_port_80_is_a_warning() {
    let text = r#"listeners:
  - { name: http, address: "0.0.0.0:8080" }
  - { name: https, address: "0.0.0.0:8443", tls: true }
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000" }] }
routes:
  - { name: web, upstream: app }
tls:
  acme:
    certificates: [{ names: [example.com] }]
"#;
    let c = Config::from_yaml_with_env(text, &no_env).expect("valid");
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].path, "listeners");
    assert_eq!(c.warnings[0].line, Some(1));
    assert!(c.warnings[0].message.contains("port 80"));
}
