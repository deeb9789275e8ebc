//! Certificates that obtain and renew themselves, against a real ACME CA (pebble, `-strict`)
//! with pebble-challtestsrv as its DNS. Every name resolves to 127.0.0.1, where gatehouse's
//! plain listener answers HTTP-01.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::pebble::{Pebble, PebbleOptions, EAB_HMAC};
use common::tls::{client, peer_cert};
use common::{free_port, wait_for, Gatehouse, Upstream};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const ISSUE: Duration = Duration::from_secs(90);

struct Setup {
    pebble: Pebble,
    g: Gatehouse,
    app: Upstream,
}

fn options(http_port: u16) -> PebbleOptions {
    PebbleOptions {
        http_port,
        validity_secs: None,
        nonce_reject: 5,
        eab: false,
    }
}

/// The upstreams and routes after the `tls` section: `app` for `hosts` (empty: any host).
fn app_routes(app: &Upstream, hosts: &str) -> String {
    format!(
        "upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app, hosts: [{hosts}] }}\n",
        app.addr
    )
}

/// gatehouse in front of a new upstream for `hosts`, with `tls_yaml` pointing at `pebble`,
/// its plain listener on the port pebble validates HTTP-01 against.
async fn gatehouse_for(pebble: Pebble, tls_yaml: &str, hosts: &str) -> Setup {
    let app = Upstream::start("app").await;
    let body = format!("{tls_yaml}{}", app_routes(&app, hosts));
    let dir = tempfile::tempdir().expect("tempdir");
    let port = pebble.http_port();
    let g = Gatehouse::start_tls_in(dir, port, free_port(), free_port(), &body).await;
    Setup { pebble, g, app }
}

/// pebble plus gatehouse serving `hosts` from an upstream, with `certificates` ordered.
async fn setup(
    validity_secs: Option<u64>,
    nonce_reject: u32,
    certificates: &str,
    hosts: &str,
) -> Setup {
    let pebble = Pebble::start(PebbleOptions {
        validity_secs,
        nonce_reject,
        ..options(free_port())
    })
    .await;
    let yaml = pebble.acme_yaml(certificates);
    gatehouse_for(pebble, &yaml, hosts).await
}

/// The one directory's folder under `<state_dir>/acme/`.
fn acme_folder(g: &Gatehouse) -> std::path::PathBuf {
    let acme_dir = g.dir.path().join("state/acme");
    let mut folders = std::fs::read_dir(&acme_dir).expect("state/acme exists");
    folders
        .next()
        .expect("one directory")
        .expect("entry")
        .path()
}

async fn orders(g: &Gatehouse, result: &str) -> f64 {
    g.metric(&format!(
        "gatehouse_acme_orders_total{{result=\"{result}\"}}"
    ))
    .await
    .unwrap_or(0.0)
}

async fn wait_orders(s: &Setup, result: &str, n: f64) {
    let deadline = std::time::Instant::now() + ISSUE;
    while orders(&s.g, result).await < n {
        if std::time::Instant::now() > deadline {
            panic!(
                "no {n} {result} orders in {ISSUE:?}\ngatehouse log:\n{}\npebble log:\n{}",
                s.g.log(),
                s.pebble.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GET https://app.test/ through gatehouse, verifying against pebble's issuing root; the
/// status, the HTTP version and the served leaf.
async fn https_get(s: &Setup, root: &str, host: &str) -> (u16, reqwest::Version, Vec<u8>) {
    let c = client(root, &[host], s.g.tls_port);
    let rsp = c
        .get(format!("https://{host}:{}/hello", s.g.tls_port))
        .send()
        .await
        .unwrap_or_else(|e| panic!("HTTPS to {host} failed: {e:?}\nlog:\n{}", s.g.log()));
    let cert = peer_cert(&rsp);
    (rsp.status().as_u16(), rsp.version(), cert)
}

#[tokio::test(flavor = "multi_thread")]
async fn issues_over_http01_serves_it_and_stores_it_privately() {
    let s = setup(None, 5, "      - names: [app.test]\n", "app.test").await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    let (status, version, _) = https_get(&s, &root, "app.test").await;
    assert_eq!(status, 200);
    assert_eq!(version, reqwest::Version::HTTP_2, "h2 by ALPN");

    // Plain HTTP for the host now served over TLS is redirected, path and query kept.
    let rsp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(s.g.url("/a/b?c=d"))
        .header("host", "app.test")
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 308);
    assert_eq!(
        rsp.headers()["location"],
        format!("https://app.test:{}/a/b?c=d", s.g.tls_port).as_str()
    );

    // Account key and certificate bundle are on disk, readable by the owner only.
    let folder = acme_folder(&s.g);
    for f in ["account.json", "certificates/app.test.pem"] {
        let mode = std::fs::metadata(folder.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let expiry =
        s.g.metric(
            "gatehouse_tls_certificate_expiry_timestamp_seconds{name=\"app.test\",source=\"acme\"}",
        )
        .await
        .expect("expiry metric");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(expiry > now, "expiry {expiry} is in the future");
    assert!(
        s.g.metric("gatehouse_acme_last_renewal_success_timestamp_seconds")
            .await
            .unwrap()
            > 0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_succeeds_when_the_ca_rejects_half_the_nonces() {
    let s = setup(
        None,
        50,
        "      - names: [app.test, www.app.test]\n",
        "app.test, www.app.test",
    )
    .await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    assert_eq!(https_get(&s, &root, "www.app.test").await.0, 200);
    assert_eq!(orders(&s.g, "error").await, 0.0, "log:\n{}", s.g.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_serves_the_stored_certificate_and_a_damaged_one_is_replaced() {
    let mut s = setup(None, 5, "      - names: [app.test]\n", "app.test").await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    let (_, _, first) = https_get(&s, &root, "app.test").await;

    s.g.restart().await;
    // Served from the first handshake after the restart, with no new order.
    let (status, _, again) = https_get(&s, &root, "app.test").await;
    assert_eq!(status, 200);
    assert_eq!(again, first, "the stored certificate is served");
    assert_eq!(orders(&s.g, "success").await, 0.0);
    assert!(s.g.log().contains("serving the stored certificate"));

    // A damaged file (half written) is reported, never served, and replaced by a new order.
    let folder = acme_folder(&s.g);
    let pem = folder.join("certificates/app.test.pem");
    let text = std::fs::read_to_string(&pem).unwrap();
    std::fs::write(&pem, &text[..text.len() / 2]).unwrap();
    s.g.restart().await;
    wait_orders(&s, "success", 1.0).await;
    assert!(s.g.log().contains("the stored certificate is damaged"));
    let (status, _, fresh) = https_get(&s, &root, "app.test").await;
    assert_eq!(status, 200);
    assert_ne!(fresh, first);
    // The account was reused, not created again.
    assert_eq!(s.g.log().matches("ACME account created").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn renews_on_schedule_without_failing_a_request() {
    // 30 s certificates: renewed with 10 s left.
    let s = setup(Some(30), 5, "      - names: [app.test]\n", "app.test").await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    let (_, _, first) = https_get(&s, &root, "app.test").await;

    // One client makes a new connection per request, another keeps one connection open.
    let fresh = client(&root, &["app.test"], s.g.tls_port);
    let kept = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .resolve(
            "app.test",
            std::net::SocketAddr::from(([127, 0, 0, 1], s.g.tls_port)),
        )
        .build()
        .unwrap();
    let url = format!("https://app.test:{}/hello", s.g.tls_port);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut requests = 0;
    let renewed = loop {
        let rsp = fresh
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {requests} failed: {e:?}"));
        assert_eq!(rsp.status(), 200);
        let served = peer_cert(&rsp);
        let k = kept
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("kept-alive request failed: {e:?}"));
        assert_eq!(k.status(), 200);
        requests += 1;
        if served != first {
            break served;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not renewed in time; log:\n{}",
            s.g.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        requests > 10,
        "requests kept flowing during the wait ({requests})"
    );
    assert_ne!(renewed, first);
    assert!(orders(&s.g, "success").await >= 2.0);
    assert_eq!(orders(&s.g, "error").await, 0.0);
    assert!(s.g.log().contains("renewing the certificate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_ca_is_down_the_old_certificate_serves_and_retries_back_off() {
    let mut s = setup(Some(30), 5, "      - names: [app.test]\n", "app.test").await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    let (_, _, first) = https_get(&s, &root, "app.test").await;
    s.pebble.stop_pebble();

    // Renewal comes due with 10 s left and fails: 500 ms, 1 s, 2 s between attempts.
    wait_orders(&s, "error", 3.0).await;
    let (status, _, served) = https_get(&s, &root, "app.test").await;
    assert_eq!(status, 200);
    assert_eq!(served, first, "the current certificate keeps serving");
    assert!(
        s.g.metric("gatehouse_acme_consecutive_failures{name=\"app.test\"}")
            .await
            .unwrap()
            >= 3.0
    );
    let waits: Vec<f64> =
        s.g.log()
            .lines()
            .filter(|l| l.contains("could not obtain a certificate"))
            .filter_map(|l| l.split("retry_in_seconds=").nth(1))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .collect();
    assert!(waits.len() >= 3, "{waits:?}");
    assert!(
        waits.windows(2).all(|w| w[1] >= w[0]),
        "waits grow: {waits:?}"
    );
    assert!(waits[2] >= 4.0 * waits[0] * 0.99, "waits double: {waits:?}");
    assert!(s.g.log().contains("the current certificate keeps serving"));

    // The CA comes back: the next attempt succeeds and the failure count resets.
    s.pebble.start_pebble().await;
    wait_orders(&s, "success", 2.0).await;
    wait_for("failures reset", Duration::from_secs(10), || async {
        s.g.metric("gatehouse_acme_consecutive_failures{name=\"app.test\"}")
            .await
            == Some(0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wildcard_is_issued_over_dns01_through_the_hook() {
    let pebble = Pebble::start(options(free_port())).await;
    // The operator's hook: sets and clears the TXT record in challtestsrv's DNS.
    let hook = pebble.dir.path().join("dns-hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nset -e\ncurl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" {}/$1-txt\necho \"$1 $2\" >> {}/hook-calls\n",
            pebble.chall_mgmt_url(""),
            pebble.dir.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let certs = format!(
        "      - names: [\"*.wild.test\"]\n        challenge: dns-01\n        dns_hook:\n          command: [\"{}\"]\n",
        hook.display()
    );
    let yaml = pebble.acme_yaml(&certs);
    let s = gatehouse_for(pebble, &yaml, "\"*.wild.test\"").await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    for host in ["a.wild.test", "b.wild.test"] {
        assert_eq!(https_get(&s, &root, host).await.0, 200, "{host}");
    }
    let calls = std::fs::read_to_string(s.pebble.dir.path().join("hook-calls")).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        vec![
            "set _acme-challenge.wild.test.",
            "clear _acme-challenge.wild.test."
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_that_requires_external_account_binding() {
    let pebble = Pebble::start(PebbleOptions {
        eab: true,
        ..options(free_port())
    })
    .await;
    let certs = "      - names: [app.test]\n";
    // Without the binding the CA refuses, and the log says what is missing.
    let yaml = pebble.acme_yaml(certs);
    let mut s = gatehouse_for(pebble, &yaml, "app.test").await;
    wait_orders(&s, "error", 1.0).await;
    assert!(
        s.g.log().contains("needs tls.acme.external_account"),
        "{}",
        s.g.log()
    );

    let eab = format!("    external_account: {{ key_id: kid-1, hmac_key: \"{EAB_HMAC}\" }}\n");
    let yaml = s.pebble.acme_yaml_with(certs, &eab);
    s.g.rewrite(&format!("{yaml}{}", app_routes(&s.app, "app.test")));
    s.g.restart().await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    assert_eq!(https_get(&s, &root, "app.test").await.0, 200);
}

/// The DNS hook as an HTTP endpoint: a small service of the operator's that receives
/// `{"action","name","value"}` and updates DNS (here: challtestsrv's).
async fn dns_hook_service(
    chall_mgmt: String,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (chall, seen) = (chall_mgmt.clone(), seen.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (chall, seen) = (chall.clone(), seen.clone());
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                            let action = v["action"].as_str().unwrap().to_string();
                            seen.lock()
                                .unwrap()
                                .push(format!("{action} {}", v["name"].as_str().unwrap()));
                            let r = reqwest::Client::new()
                                .post(format!("{chall}/{action}-txt"))
                                .json(&serde_json::json!({"host": v["name"], "value": v["value"]}))
                                .send()
                                .await
                                .unwrap();
                            let status = if r.status().is_success() { 204 } else { 500 };
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, calls)
}

#[tokio::test(flavor = "multi_thread")]
async fn dns01_through_an_http_hook() {
    let pebble = Pebble::start(options(free_port())).await;
    let (hook, calls) = dns_hook_service(pebble.chall_mgmt_url("")).await;
    let certs = format!(
        "      - names: [\"*.hooked.test\", hooked.test]\n        challenge: dns-01\n        dns_hook: {{ url: \"http://{hook}/txt\" }}\n"
    );
    let yaml = pebble.acme_yaml(&certs);
    let s = gatehouse_for(pebble, &yaml, "").await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    assert_eq!(https_get(&s, &root, "x.hooked.test").await.0, 200);
    assert_eq!(https_get(&s, &root, "hooked.test").await.0, 200);
    let mut calls = calls.lock().unwrap().clone();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            "clear _acme-challenge.hooked.test.",
            "clear _acme-challenge.hooked.test.",
            "set _acme-challenge.hooked.test.",
            "set _acme-challenge.hooked.test.",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_a_name_keeps_the_stored_certificate_serving_while_validation_fails() {
    let mut s = setup(None, 5, "      - names: [app.test]\n", "app.test, new.test").await;
    wait_orders(&s, "success", 1.0).await;
    let root = s.pebble.issuing_root().await;
    let (_, _, first) = https_get(&s, &root, "app.test").await;

    // DNS for the new name points where nothing answers: its HTTP-01 validation fails.
    let r = reqwest::Client::new()
        .post(s.pebble.chall_mgmt_url("/add-a"))
        .body(r#"{"host":"new.test","addresses":["127.0.0.2"]}"#)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let yaml = s.pebble.acme_yaml("      - names: [app.test, new.test]\n");
    s.g.rewrite(&format!(
        "{yaml}{}",
        app_routes(&s.app, "app.test, new.test")
    ));
    s.g.restart().await;
    wait_orders(&s, "error", 1.0).await;
    let log = s.g.log();
    assert!(
        log.contains("the CA could not validate new.test over http-01"),
        "{log}"
    );
    assert!(log.contains("port 80 must be reachable"), "{log}");
    // The names the stored certificate has keep working meanwhile.
    let (status, _, served) = https_get(&s, &root, "app.test").await;
    assert_eq!(status, 200);
    assert_eq!(served, first);
}
