//! API keys, basic auth, IP gates, and what `gatehouse check` says about bad policies.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::*;
use common::{Gatehouse, Upstream};

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_from_config_and_file_and_never_logged() {
    let app = Upstream::start("app").await;
    let keys = tempfile::tempdir().unwrap();
    let keys_file = keys.path().join("api-keys");
    std::fs::write(&keys_file, "# comment\nk-from-file\n\n").unwrap();
    let body = upstreams(&app)
        + &r#"routes:
  - { name: app, upstream: app, policy: { api_key: { header: x-api-key, keys: ["k-right-1"], keys_file: "@KEYS@" } } }
  - { name: bearer, upstream: app, path_prefix: /bearer, policy: { api_key: { header: authorization, keys: ["k-right-1"] } } }
"#
        .replace("@KEYS@", &keys_file.display().to_string());
    let g = Gatehouse::start(&body).await;
    let c = http();
    let mut sent = 0;
    let mut with_key = |path: &str, header: &str, key: Option<&str>| {
        sent += 1;
        let mut rb = c.get(g.url(path));
        if let Some(k) = key {
            rb = rb.header(header, k);
        }
        rb.send()
    };

    for key in ["k-right-1", "k-from-file"] {
        let r = with_key("/", "x-api-key", Some(key)).await.unwrap();
        assert_eq!(r.status(), 200, "{key}");
    }
    for key in [Some("k-wrong-zz"), None, Some("# comment"), Some("")] {
        let r = with_key("/", "x-api-key", key).await.unwrap();
        refusal(r, 401, "unauthorized").await;
    }
    let r = with_key("/bearer", "authorization", Some("Bearer k-right-1"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = with_key("/bearer", "authorization", Some("Bearer k-wrong-zz"))
        .await
        .unwrap();
    refusal(r, 401, "unauthorized").await;
    let r = with_key("/bearer", "authorization", None).await.unwrap();
    refusal(r, 401, "unauthorized").await;

    wait_access_lines(&g, sent).await;
    let log = g.log();
    for secret in ["k-right-1", "k-from-file", "k-wrong-zz"] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }
    wait_decision(&g, "app", "api_key", "blocked").await;
    wait_decision(&g, "app", "api_key", "allowed").await;
}

/// `gatehouse hash-password`, reading `password` from stdin.
fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "hash-password: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("$argon2id$"), "{stdout}");
    assert!(!stdout.contains(password), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_with_bcrypt_and_argon2_hashes() {
    let app = Upstream::start("app").await;
    let bcrypt_hash = bcrypt::hash("s3cret", 4).unwrap();
    let argon_hash = hash_password("argon-pass-9");
    let body = upstreams(&app)
        + &r#"routes:
  - { name: app, upstream: app, policy: { basic_auth: { realm: admin, users: { alice: "@BCRYPT@", bob: "@ARGON@" } } } }
"#
        .replace("@BCRYPT@", &bcrypt_hash)
        .replace("@ARGON@", &argon_hash);
    let g = Gatehouse::start(&body).await;
    let c = http();
    let challenge = "Basic realm=\"admin\", charset=\"UTF-8\"";

    for (user, pass) in [("alice", "s3cret"), ("bob", "argon-pass-9")] {
        let r = c
            .get(g.url("/"))
            .basic_auth(user, Some(pass))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{user}");
    }
    for (user, pass) in [
        ("alice", "wrong"),
        ("bob", "s3cret"),
        ("carol", "s3cret"),
        ("alice", ""),
    ] {
        let r = c
            .get(g.url("/"))
            .basic_auth(user, Some(pass))
            .send()
            .await
            .unwrap();
        let h = refusal(r, 401, "unauthorized").await;
        assert_eq!(once(&h, "www-authenticate"), challenge, "{user}");
    }
    let h = refusal(c.get(g.url("/")).send().await.unwrap(), 401, "unauthorized").await;
    assert_eq!(once(&h, "www-authenticate"), challenge);
    assert_default_headers(&h, false);
    wait_decision(&g, "app", "basic_auth", "blocked").await;
    wait_decision(&g, "app", "basic_auth", "allowed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_gates_use_the_peer_address_without_trusted_proxies() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"routes:
  - { name: ten, upstream: app, path_prefix: /ten, policy: { ip: { allow: ["10.0.0.0/8"] } } }
  - { name: deny, upstream: app, path_prefix: /deny, policy: { ip: { deny: ["127.0.0.0/8"] } } }
  - { name: local, upstream: app, path_prefix: /local, policy: { ip: { allow: ["127.0.0.1/32"] } } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();
    let before = hits(&app);
    refusal(c.get(g.url("/ten")).send().await.unwrap(), 403, "forbidden").await;
    // An X-Forwarded-For from an untrusted peer changes nothing.
    refusal(
        c.get(g.url("/ten"))
            .header("x-forwarded-for", "10.1.2.3")
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    refusal(
        c.get(g.url("/deny")).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        hits(&app),
        before,
        "refused requests must not reach the upstream"
    );
    assert_eq!(c.get(g.url("/local")).send().await.unwrap().status(), 200);
    wait_decision(&g, "ten", "ip", "blocked").await;
    wait_decision(&g, "local", "ip", "allowed").await;
}

// ---------------------------------------------------------------------------------------------
// gatehouse check

/// `gatehouse check` on a config with one `app` upstream and `body`: (exit code, stderr).
fn check(dir: &std::path::Path, body: &str) -> (Option<i32>, String) {
    let path = dir.join("check.yaml");
    let yaml = format!(
        "listeners:\n  - {{ name: http, address: \"127.0.0.1:8080\" }}\nupstreams:\n  app: {{ backends: [{{ address: \"127.0.0.1:3000\" }}] }}\n{body}"
    );
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `policies:` section with one policy `bad` (`policy` = its fields, indented by 4), used by
/// route `app`.
fn one_policy(policy: &str) -> String {
    format!(
        "policies:\n  bad:\n{policy}routes:\n  - {{ name: app, upstream: app, policies: [bad] }}\n"
    )
}

#[test]
fn check_accepts_the_full_policy_shape_and_names_the_path_of_each_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("api-keys");
    std::fs::write(&keys_file, "# comment\nk-from-file\n").unwrap();
    let bcrypt_hash = bcrypt::hash("s3cret", 4).unwrap();
    let full = r#"trusted_proxies: ["127.0.0.1/32"]
redis: { url: "redis://127.0.0.1:6379/0", timeout: 250ms, key_prefix: "gatehouse:" }
policies:
  web:
    headers:
      hsts: { max_age: 365d, include_subdomains: true, preload: false }
      content_security_policy:
        directives: { default-src: ["'self'"], img-src: ["'self'", "data:"] }
        report_only: false
        report_uri: gatehouse
      content_type_options: true
      frame_options: deny
      referrer_policy: no-referrer
      permissions_policy: { camera: [], geolocation: [self] }
      cross_origin_opener_policy: same-origin
      cross_origin_resource_policy: same-site
      remove: [server, x-powered-by]
    cors: { allow_origins: ["https://app.example.com", "https://*.example.com"], allow_methods: [GET, POST], allow_headers: [content-type, authorization], expose_headers: [x-request-id], allow_credentials: true, max_age: 10m }
    csrf: { trusted_origins: ["https://admin.example.com"], allow_without_origin: false }
  api:
    rate_limits:
      - { name: per-client, rate: 10/s, burst: 20, key: [client_ip], store: local }
      - { name: shared, rate: 5/m, key: [route], store: redis, on_store_error: deny }
      - { name: per-key, rate: 100/h, key: ["header:x-api-key", client_ip] }
    lockouts: [{ name: failed-logins, statuses: [401], max_failures: 3, window: 1m, block_for: 2s, key: [client_ip] }]
    ip: { allow: ["10.0.0.0/8", "2001:db8::/32"], deny: ["10.6.6.0/24"] }
    api_key: { header: x-api-key, keys: ["k-right-1"], keys_file: "@KEYS@" }
  admin:
    headers: { hsts: false, frame_options: false, referrer_policy: false, cross_origin_opener_policy: false, cross_origin_resource_policy: false }
    basic_auth: { realm: admin, users: { alice: "@BCRYPT@" } }
routes:
  - { name: app, upstream: app, policies: [web, api], policy: { headers: { frame_options: sameorigin } } }
  - { name: admin, upstream: app, path_prefix: /admin, policies: [admin] }
"#
    .replace("@KEYS@", &keys_file.display().to_string())
    .replace("@BCRYPT@", &bcrypt_hash);
    let (code, err) = check(dir.path(), &full);
    assert_eq!(code, Some(0), "the full shape is valid: {err}");

    let cases: [(String, &[&str]); 7] = [
        (
            one_policy("    headers: { referrer_policy: \"no-referrer\\r\\nx-evil: 1\" }\n"),
            &["policies.bad.headers.referrer_policy"],
        ),
        (
            one_policy(
                "    headers: { content_security_policy: { directives: { default-src: [\"'self'\"], script-src: [self] } } }\n",
            ),
            &["policies.bad.headers.content_security_policy", "'self'"],
        ),
        (
            one_policy(
                "    cors: { allow_origins: [\"*\"], allow_credentials: true }\n",
            ),
            &["policies.bad.cors"],
        ),
        (
            "routes:\n  - { name: app, upstream: app, policies: [nope] }\n".to_string(),
            &["routes[0].policies[0]", "nope"],
        ),
        (
            one_policy("    ip: { allow: [\"10.0.0.0/33\"] }\n"),
            &["policies.bad.ip.allow[0]"],
        ),
        (
            "routes:\n  - { name: app, upstream: app, policy: { ip: { deny: [\"not-a-cidr\"] } } }\n"
                .to_string(),
            &["routes[0].policy.ip.deny[0]"],
        ),
        (
            one_policy(
                "    rate_limits: [{ name: shared, rate: 5/m, key: [route], store: redis }]\n",
            ),
            &["policies.bad.rate_limits[0]", "redis"],
        ),
    ];
    for (body, needles) in cases {
        let (code, err) = check(dir.path(), &body);
        assert!(
            code.is_some_and(|c| c != 0),
            "exit {code:?} for:\n{body}\nstderr: {err}"
        );
        for needle in needles {
            assert!(
                err.contains(needle),
                "`{needle}` missing for:\n{body}\nstderr: {err}"
            );
        }
    }
}
