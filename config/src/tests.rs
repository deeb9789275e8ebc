use super::*;
use routes::HostPattern;
use std::time::Duration;
use upstreams::HealthCheckKind;

pub(crate) const GOOD: &str = r#"
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

pub(crate) fn no_env(_: &str) -> Option<String> {
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
