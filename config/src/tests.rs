use super::*;
use routes::HostPattern;
use std::time::Duration;
use tls::{Challenge, DnsHookTarget};
use upstreams::HealthCheckKind;

const GOOD: &str = r#"
listeners:
  - name: http
    address: "127.0.0.1:8080"
upstreams:
  app:
    backends:
      - address: "127.0.0.1:3000"
        weight: 3
      - address: "localhost:3001"
    health_check:
      type: http
      path: /healthz
      interval: 2s
routes:
  - name: api
    hosts: ["API.example.com", "*.example.org"]
    path_prefix: /api
    upstream: app
    timeouts: { connect: 1s, read: 10s, total: 30s }
    max_body_size: 1MiB
  - name: web
    upstream: app
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn parses_a_complete_file() {
    let c = Config::from_yaml_with_env(GOOD, &no_env).expect("valid");
    assert_eq!(c.listeners[0].address.port(), 8080);
    let app = &c.upstreams["app"];
    assert_eq!(app.backends[0].weight, 3);
    assert_eq!(app.backends[1].weight, 1);
    assert_eq!(app.backends[1].address.port(), 3001);
    let hc = app.health_check.as_ref().expect("health check");
    assert_eq!(hc.interval, Duration::from_secs(2));
    assert!(matches!(&hc.kind, HealthCheckKind::Http { path, .. } if path == "/healthz"));
    let api = &c.routes[0];
    assert_eq!(
        api.hosts,
        vec![
            HostPattern::Exact("api.example.com".into()),
            HostPattern::Wildcard(".example.org".into())
        ]
    );
    assert_eq!(api.timeouts.total, Some(Duration::from_secs(30)));
    assert_eq!(api.max_body_size, 1 << 20);
    let web = &c.routes[1];
    assert_eq!(web.path_prefix, "/");
    assert_eq!(web.max_body_size, defaults::MAX_BODY_SIZE);
    assert_eq!(c.admin.listen.to_string(), defaults::ADMIN_LISTEN);
}

#[test]
fn reports_every_problem_with_path_and_line() {
    let text = r#"listeners:
  - name: http
    address: "127.0.0.1:8080"
upstreams:
  app:
    backends:
      - address: "127.0.0.1:3000"
routes:
  - name: api
    upstream: nope
    path_prefix: /api
    timeouts:
      read: soon
  - name: web
    upstream: app
    max_body_size: 10XB
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let got: Vec<(String, Option<usize>)> = errs
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("routes[0].upstream".to_string(), Some(10)),
            ("routes[0].timeouts.read".to_string(), Some(13)),
            ("routes[1].max_body_size".to_string(), Some(16)),
        ],
        "{errs}"
    );
    let text = errs.to_string();
    assert!(text.contains("3 problems"), "{text}");
    assert!(
        text.contains("unknown upstream `nope`; defined upstreams: app"),
        "{text}"
    );
}

#[test]
fn unknown_keys_are_errors_in_every_section() {
    let text = r#"listeners:
  - name: http
    address: "127.0.0.1:8080"
    colour: blue
upstreams:
  app:
    backends: [{ address: "127.0.0.1:3000", wieght: 2 }]
routes:
  - name: web
    upstream: app
frobnicate: true
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errs.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "listeners[0].colour",
            "upstreams.app.backends[0].wieght",
            "frobnicate"
        ],
        "{errs}"
    );
    assert!(errs.errors[0].message.contains("unknown field `colour`"));
    assert_eq!(errs.errors[0].line, Some(4));
}

#[test]
fn env_secrets_are_substituted_and_missing_ones_are_errors() {
    let text = GOOD.replace("/healthz", "${HC_PATH}");
    let env = |n: &str| (n == "HC_PATH").then(|| "/ready".to_string());
    let c = Config::from_yaml_with_env(&text, &env).expect("valid");
    assert!(
        matches!(&c.upstreams["app"].health_check.as_ref().map(|h| &h.kind),
        Some(HealthCheckKind::Http { path, .. }) if path == "/ready")
    );
    let errs = Config::from_yaml_with_env(&text, &no_env).unwrap_err();
    assert_eq!(errs.errors.len(), 1, "{errs}");
    assert_eq!(errs.errors[0].path, "upstreams.app.health_check.path");
    assert!(errs.errors[0].message.contains("HC_PATH"));
}

#[test]
fn duplicate_routes_and_bad_hosts() {
    let text = r#"listeners: [{ name: http, address: "127.0.0.1:8080" }]
upstreams: { app: { backends: [{ address: "127.0.0.1:3000" }] } }
routes:
  - { name: a, upstream: app, hosts: [x.com], path_prefix: /p }
  - { name: a, upstream: app, hosts: [X.com], path_prefix: /p }
  - { name: c, upstream: app, hosts: ["https://x.com/"] }
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let msgs: Vec<String> = errs.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("duplicate route name `a`"));
    assert!(msgs[1].contains("same hosts and path_prefix"));
    assert!(msgs[2].contains("routes[2].hosts[0]"));
}

#[test]
fn yaml_syntax_errors_have_a_line() {
    let errs = Config::from_yaml_with_env("listeners:\n  - name: [\n", &no_env).unwrap_err();
    assert_eq!(errs.errors.len(), 1);
    assert!(errs.errors[0].line.is_some(), "{errs}");
    assert!(errs.errors[0].message.contains("not valid YAML"));
}

#[test]
fn the_shipped_examples_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("config/examples exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let env = |name: &str| {
                Some(match name {
                    "SENTRY_DSN" => "https://key@sentry.example/1".to_string(),
                    n if n.ends_with("_URL") => "https://hooks.example.com/T000/B000".to_string(),
                    "TELEGRAM_BOT_TOKEN" => "123456789:AAE-example_token".to_string(),
                    _ => "value-from-the-environment".to_string(),
                })
            };
            let text = std::fs::read_to_string(&path).expect("readable");
            if let Err(e) = Config::from_yaml_with_env(&text, &env) {
                panic!("{}: {e}", path.display());
            }
            n += 1;
        }
    }
    assert!(
        n >= 2,
        "expected the reference and quickstart examples, found {n}"
    );
}

#[test]
fn a_broken_upstream_is_not_also_unknown_but_a_similar_name_is() {
    let text = r#"listeners: [{ name: http, address: "127.0.0.1:8080" }]
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000", colour: red }] }
routes:
  - { name: a, upstream: app }
  - { name: b, upstream: ap, path_prefix: /b }
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errs.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["upstreams.app.backends[0].colour", "routes[1].upstream"],
        "{errs}"
    );
}

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

#[test]
fn request_integrity_and_connection_settings() {
    let ok = Config::from_yaml_with_env(GOOD, &no_env).expect("valid");
    assert_eq!(ok.server.limits.header_line, 16 << 10);
    assert_eq!(ok.server.keepalive_requests, 1000);
    assert_eq!(ok.server.http2_max_resets, 100);
    assert_eq!(ok.server.tls_handshake_timeout, Duration::from_secs(10));
    assert_eq!(ok.server.max_tls_handshakes, 1024);
    assert!(!ok.server.underscores_in_headers);
    assert_eq!(ok.listeners[0].max_connections_per_ip, 1000);
    let text = r#"
listeners:
  - { name: http, address: "127.0.0.1:8080", max_connections: 0 }
server:
  keepalive_requests: 0
  keepalive_timeout: 10ms
  header_timeout: 1ms
  tls_handshake_timeout: 5ms
  http2_max_resets: 0
  max_tls_handshakes: 0
  limits: { headers: 300, header_line: "12", head: 1KiB, request_line: 4KiB }
upstreams: { app: { backends: [{ address: "127.0.0.1:3000" }] } }
routes:
  - { name: a, upstream: app, path_prefix: "/a/../b" }
  - { name: b, upstream: app, path_prefix: "/b;x" }
  - { name: c, upstream: app, path_prefix: "/c%20d" }
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errs.errors.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "listeners[0].max_connections",
        "server.keepalive_requests",
        "server.keepalive_timeout",
        "server.header_timeout",
        "server.tls_handshake_timeout",
        "server.http2_max_resets",
        "server.max_tls_handshakes",
        "server.limits.headers",
        "server.limits.header_line",
        "server.limits.head",
        "routes[0].path_prefix",
        "routes[1].path_prefix",
        "routes[2].path_prefix",
    ] {
        assert!(paths.contains(&want), "{want} not in {paths:?}");
    }
    assert!(errs.errors.iter().all(|e| e.line.is_some()), "{errs}");
}

#[test]
fn state_dir_defaults_to_systemds_state_directory_then_the_working_directory() {
    let base = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams: { app: { backends: [{ address: \"127.0.0.1:3000\" }] } }\nroutes: [{ name: app, upstream: app }]\n";
    let systemd = |name: &str| {
        (name == "STATE_DIRECTORY").then(|| "/var/lib/gatehouse:/var/lib/other".to_string())
    };
    let c = Config::from_yaml_with_env(base, &systemd).expect("valid");
    assert_eq!(c.state_dir, std::path::PathBuf::from("/var/lib/gatehouse"));
    let c = Config::from_yaml_with_env(base, &no_env).expect("valid");
    assert_eq!(c.state_dir, std::path::PathBuf::from("gatehouse-data"));
    // The file wins over the environment.
    let text = format!("{base}state_dir: /srv/gh\n");
    let c = Config::from_yaml_with_env(&text, &systemd).expect("valid");
    assert_eq!(c.state_dir, std::path::PathBuf::from("/srv/gh"));
}

#[test]
fn problems_carry_line_and_column() {
    let text = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams: { app: { backends: [{ address: \"127.0.0.1:3000\" }] } }\nroutes:\n  - name: app\n    upstream: nope\n";
    let e = Config::from_yaml_with_env(text, &no_env).expect_err("invalid");
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!((e.errors[0].line, e.errors[0].column), (Some(5), Some(5)));
    let e = Config::from_yaml_with_env("routes: [\n", &no_env).expect_err("not YAML");
    assert!(
        e.errors[0].line.is_some() && e.errors[0].column.is_some(),
        "{e}"
    );
}
