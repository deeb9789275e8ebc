//! TLS termination with certificates from files: SNI selection, the default certificate,
//! HTTP→HTTPS redirects, ALPN, reloads, and what `gatehouse check` says about bad files.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::tls::{client, client_with, peer_cert, TestCa};
use common::{wait_for, Gatehouse, Upstream};
use std::time::Duration;

struct Files {
    ca: TestCa,
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            ca: TestCa::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A `- { cert_file, key_file }` item for a new certificate covering `names`.
    fn cert(&self, names: &[&str], file: &str) -> String {
        let (c, k) = self.ca.issue(names, self.dir.path(), file);
        format!(
            "    - {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
            c.display(),
            k.display()
        )
    }
}

/// A config body: `tls.certificates` items, extra `tls` lines, the `app` upstream and routes
/// (`- { name: app, upstream: app }` when `routes` is empty).
fn body(tls_extra: &str, certs: &str, app: &Upstream, routes: &str) -> String {
    let routes = if routes.is_empty() {
        "  - { name: app, upstream: app }\n"
    } else {
        routes
    };
    format!(
        "tls:\n{tls_extra}  certificates:\n{certs}{}routes:\n{routes}",
        upstreams(app)
    )
}

fn upstreams(app: &Upstream) -> String {
    format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\n",
        app.addr
    )
}

async fn leaf_for(g: &Gatehouse, root: &str, host: &str) -> Result<Vec<u8>, reqwest::Error> {
    let rsp = client(root, &[host], g.tls_port)
        .get(format!("https://{host}:{}/", g.tls_port))
        .send()
        .await?;
    assert_eq!(rsp.status(), 200, "{host}");
    Ok(peer_cert(&rsp))
}

fn der_of(path: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(path)
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn sni_picks_exact_then_wildcard_and_unknown_names_fail_cleanly() {
    let f = Files::new();
    let app = Upstream::start("app").await;
    let certs = [
        f.cert(&["a.test"], "a"),
        f.cert(&["b.test"], "b"),
        f.cert(&["*.w.test"], "w"),
    ];
    let body = body("", &certs.concat(), &app, "");
    let g = Gatehouse::start_tls(&body).await;
    let root = &f.ca.cert_pem;
    assert_eq!(
        leaf_for(&g, root, "a.test").await.unwrap(),
        der_of(&f.dir.path().join("a.pem"))
    );
    assert_eq!(
        leaf_for(&g, root, "b.test").await.unwrap(),
        der_of(&f.dir.path().join("b.pem"))
    );
    assert_eq!(
        leaf_for(&g, root, "x.w.test").await.unwrap(),
        der_of(&f.dir.path().join("w.pem"))
    );
    // A name nobody covers: the handshake is refused (no certificate, no default).
    assert!(leaf_for(&g, root, "other.test").await.is_err());
    assert!(
        leaf_for(&g, root, "deep.x.w.test").await.is_err(),
        "a wildcard covers one label"
    );
    assert_eq!(
        g.metric("gatehouse_tls_handshakes_total{result=\"no_certificate\"}")
            .await,
        Some(2.0)
    );
    assert!(
        g.metric("gatehouse_tls_handshakes_total{result=\"ok\"}")
            .await
            .unwrap()
            >= 3.0
    );
    for name in ["a.test", "b.test", "*.w.test"] {
        let series = format!(
            "gatehouse_tls_certificate_expiry_timestamp_seconds{{name=\"{name}\",source=\"file\"}}"
        );
        assert!(g.metric(&series).await.is_some(), "{series}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_certificate_answers_unknown_names() {
    let f = Files::new();
    let app = Upstream::start("app").await;
    let body = body(
        "  default_certificate: a.test\n",
        &f.cert(&["a.test"], "a"),
        &app,
        "",
    );
    let g = Gatehouse::start_tls(&body).await;
    // The client checks the name, so it refuses; what matters is what the server sent.
    let err = leaf_for(&g, &f.ca.cert_pem, "other.test")
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("NotValidForName"), "{err:?}");
    assert_eq!(
        g.metric("gatehouse_tls_handshakes_total{result=\"no_certificate\"}")
            .await,
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_redirects_to_https_except_acme_and_opted_out_routes() {
    let f = Files::new();
    let app = Upstream::start("app").await;
    let routes = "  - { name: app, upstream: app, hosts: [a.test, plain.test] }\n  - { name: legacy, upstream: app, hosts: [a.test], path_prefix: /legacy, redirect_https: false }\n";
    let body = body("", &f.cert(&["a.test"], "a"), &app, routes);
    let g = Gatehouse::start_tls(&body).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &'static str, host: &'static str| {
        let http = http.clone();
        let url = g.url(path);
        async move { http.get(url).header("host", host).send().await.unwrap() }
    };
    let r = get("/x/y?q=1&r=2", "A.test:80").await;
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://a.test:{}/x/y?q=1&r=2", g.tls_port).as_str()
    );
    // Opted-out route, a host with no certificate, and ACME challenges stay on plain HTTP.
    assert_eq!(get("/legacy/page", "a.test").await.status(), 200);
    assert_eq!(get("/", "plain.test").await.status(), 200);
    assert_eq!(
        get("/.well-known/acme-challenge/abc", "a.test")
            .await
            .status(),
        200
    );
    // Over HTTPS the upstream is told the scheme.
    let rsp = client(&f.ca.cert_pem, &["a.test"], g.tls_port)
        .get(format!("https://a.test:{}/", g.tls_port))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = rsp.json().await.unwrap();
    assert_eq!(v["headers"]["x-forwarded-proto"], "https");
}

#[tokio::test(flavor = "multi_thread")]
async fn alpn_negotiates_http2_or_http1() {
    let f = Files::new();
    let app = Upstream::start("app").await;
    let body = body("", &f.cert(&["a.test"], "a"), &app, "");
    let g = Gatehouse::start_tls(&body).await;
    let url = format!("https://a.test:{}/", g.tls_port);
    let h2 = client(&f.ca.cert_pem, &["a.test"], g.tls_port)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    let h1 = client_with(&f.ca.cert_pem, &["a.test"], g.tls_port, &[b"http/1.1"])
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.status(), 200);
    // TLS 1.2 clients are served too (and 1.3 is the default above).
    let tls12 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(f.ca.cert_pem.as_bytes()).unwrap())
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .resolve(
            "a.test",
            std::net::SocketAddr::from(([127, 0, 0, 1], g.tls_port)),
        )
        .build()
        .unwrap();
    assert_eq!(tls12.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_swaps_certificates_for_new_handshakes() {
    let f = Files::new();
    let app = Upstream::start("app").await;
    let first = f.cert(&["a.test"], "one");
    let g = Gatehouse::start_tls(&body("", &first, &app, "")).await;
    let root = f.ca.cert_pem.clone();
    assert_eq!(
        leaf_for(&g, &root, "a.test").await.unwrap(),
        der_of(&f.dir.path().join("one.pem"))
    );
    let second = f.cert(&["a.test"], "two");
    g.rewrite(&body("", &second, &app, ""));
    let want = der_of(&f.dir.path().join("two.pem"));
    wait_for("the new certificate", Duration::from_secs(10), || {
        let (root, want) = (root.clone(), want.clone());
        let g = &g;
        async move { leaf_for(g, &root, "a.test").await.ok() == Some(want) }
    })
    .await;
    // A reload with an unreadable key keeps the current certificates.
    let missing_key = format!(
        "    - {{ cert_file: \"{}\", key_file: /nonexistent.key }}\n",
        f.dir.path().join("two.pem").display()
    );
    g.rewrite(&body("", &missing_key, &app, ""));
    wait_for("the rejected reload", Duration::from_secs(10), || async {
        g.metric("gatehouse_config_reloads_total{result=\"error\"}")
            .await
            == Some(1.0)
    })
    .await;
    assert_eq!(leaf_for(&g, &root, "a.test").await.unwrap(), want);
}

/// `gatehouse check` on `yaml`, written to `path`.
fn check(path: &std::path::Path, yaml: &str) -> std::process::Output {
    std::fs::write(path, yaml).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn check_reports_unreadable_files_mismatched_keys_and_uncovered_names() {
    let f = Files::new();
    let (a_cert, _) = f.ca.issue(&["a.test"], f.dir.path(), "a");
    let (_, b_key) = f.ca.issue(&["b.test"], f.dir.path(), "b");
    let yaml = format!(
        "listeners:\n  - {{ name: http, address: \"127.0.0.1:1\" }}\n  - {{ name: https, address: \"127.0.0.1:2\", tls: true }}\ntls:\n  certificates:\n    - {{ cert_file: \"{}\", key_file: \"{}\" }}\n    - {{ cert_file: /nonexistent/c.pem, key_file: /nonexistent/c.key }}\nupstreams:\n  app: {{ backends: [{{ address: \"127.0.0.1:3\" }}] }}\nroutes:\n  - {{ name: app, upstream: app, hosts: [a.test] }}\n",
        a_cert.display(),
        b_key.display()
    );
    let path = f.dir.path().join("check.yaml");
    let out = check(&path, &yaml);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("check.yaml:6:45: tls.certificates[0].key_file: ")
            && err.contains("does not match"),
        "{err}"
    );
    assert!(
        err.contains("check.yaml:7:9: tls.certificates[1].cert_file: ")
            && err.contains("cannot read"),
        "{err}"
    );

    // Valid files, but a route host no certificate covers: a warning, exit 0.
    let (c_cert, c_key) = f.ca.issue(&["a.test"], f.dir.path(), "c");
    let yaml = format!(
        "listeners:\n  - {{ name: https, address: \"127.0.0.1:2\", tls: true }}\ntls:\n  certificates:\n    - {{ cert_file: \"{}\", key_file: \"{}\" }}\nupstreams:\n  app: {{ backends: [{{ address: \"127.0.0.1:3\" }}] }}\nroutes:\n  - {{ name: app, upstream: app, hosts: [a.test, b.test] }}\n",
        c_cert.display(),
        c_key.display()
    );
    let out = check(&path, &yaml);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("check.yaml:9:")
            && stdout.contains(": warning: routes[0].hosts[1]: ")
            && stdout.contains("`b.test` is not covered"),
        "{stdout}"
    );
    assert!(!stdout.contains("hosts[0]"), "{stdout}");
}
