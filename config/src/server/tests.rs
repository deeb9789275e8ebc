use crate::server::ConnectionLimits;
use crate::tests::{no_env, GOOD};
use crate::Config;
use std::time::Duration;

const BASE: &str = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes: [{ name: app, upstream: app }]\n";

fn errors(yaml: &str) -> String {
    match Config::from_yaml(&format!("{BASE}{yaml}")) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_when_not_written() {
    let c = Config::from_yaml(&format!("{BASE}demo: {{ listen: \"127.0.0.1:8081\" }}\n"))
        .expect("valid");
    assert_eq!(c.admin.connections, ConnectionLimits::ADMIN);
    assert_eq!(c.demo.expect("demo").connections, ConnectionLimits::DEMO);
    assert_eq!(c.admin.connections.header_timeout, Duration::from_secs(30));
    assert_eq!(c.admin.connections.idle_timeout, Duration::from_secs(60));
}

#[test]
fn written_values_and_partial_blocks() {
    let c = Config::from_yaml(&format!(
        "{BASE}admin:\n  connections: {{ header_timeout: 2s, idle_timeout: 1500ms, max: 3 }}\ndemo: {{ listen: \"127.0.0.1:8081\", connections: {{ max: 7 }} }}\n"
    ))
    .expect("valid");
    assert_eq!(
        c.admin.connections,
        ConnectionLimits {
            header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_millis(1500),
            max: 3
        }
    );
    let demo = c.demo.expect("demo").connections;
    assert_eq!(demo.max, 7);
    assert_eq!(demo.idle_timeout, ConnectionLimits::DEMO.idle_timeout);
}

#[test]
fn bad_values_name_their_path() {
    let e = errors(
        "admin:\n  connections: { header_timeout: 0s, idle_timeout: soon, max: 0, per_ip: 2 }\n",
    );
    assert!(e.contains("admin.connections"), "{e}");
    let e = errors("admin:\n  connections: { header_timeout: 0s, idle_timeout: soon, max: 0 }\n");
    assert!(e.contains("admin.connections.header_timeout"), "{e}");
    assert!(e.contains("at least 100ms"), "{e}");
    assert!(e.contains("admin.connections.idle_timeout"), "{e}");
    assert!(e.contains("admin.connections.max"), "{e}");
    let e = errors("demo: { listen: \"127.0.0.1:8081\", connections: { max: 0 } }\n");
    assert!(e.contains("demo.connections.max"), "{e}");
}

#[test]
fn request_integrity_and_connection_settings() {
    let ok = Config::from_yaml_with_env(GOOD, &no_env).expect("valid");
    assert_eq!(ok.server.limits.header_line, 16 << 10);
    assert_eq!(ok.server.keepalive_requests, 1000);
    assert_eq!(ok.server.http2_max_resets, 100);
    assert_eq!(ok.server.tls_handshake_timeout, Duration::from_secs(10));
    assert_eq!(ok.server.max_tls_handshakes, 1024);
    assert_eq!(ok.server.upstream_keepalive_pool, 128);
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
  upstream_keepalive_pool: 0
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
        "server.upstream_keepalive_pool",
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
