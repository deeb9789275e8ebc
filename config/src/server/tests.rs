use crate::server::ConnectionLimits;
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
