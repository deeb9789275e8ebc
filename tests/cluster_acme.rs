//! Cluster mode, certificates: two instances share one PostgreSQL store and one ACME account
//! against a real CA (pebble). One instance orders under the store's lock, both serve the same
//! certificate, and the CA's HTTP-01 validation reaches the instance that did NOT place the
//! order (a forwarder on the CA's validation port plays a load balancer that always picks the
//! other instance). Renewals go the same way.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::cluster::{count, store};
use common::pebble::{Pebble, PebbleOptions};
use common::tls::{client, peer_cert};
use common::{free_port, Gatehouse, Upstream};
use gatehouse_testkit::postgres::PgCluster;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(90);

/// One connection the CA made for validation: who held the order lock, who was reached.
#[derive(Debug, Clone)]
struct Routed {
    holder: String,
    reached: &'static str,
}

/// Listen on `port` (the CA's HTTP-01 port); send every connection to the plain listener of
/// the instance that does not hold the order lock, as the store says at that moment.
async fn wrong_instance_balancer(
    port: u16,
    pg: Arc<PgCluster>,
    a_port: u16,
    b_port: u16,
) -> Arc<Mutex<Vec<Routed>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let seen = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let pg = pg.clone();
            let holder = tokio::task::spawn_blocking(move || {
                pg.psql("SELECT holder FROM acme_locks WHERE expires_at > now()")
            })
            .await
            .unwrap();
            let (reached, to) = if holder.starts_with("gw-a/") {
                ("gw-b", b_port)
            } else {
                ("gw-a", a_port)
            };
            seen.lock().unwrap().push(Routed { holder, reached });
            tokio::spawn(async move {
                // The other instance may still be starting: wait for it, as a load balancer
                // waits for a backend's health check.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    match tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                        Ok(mut out) => {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            return;
                        }
                        Err(_) if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    });
    log
}

async fn instance(
    pg: &PgCluster,
    name: &str,
    port: u16,
    pebble: &Pebble,
    app: &Upstream,
) -> Gatehouse {
    let body = format!(
        "{}{}upstreams:\n  app: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: app, upstream: app, hosts: [app.test] }}\n",
        store(pg, name, ""),
        pebble.acme_yaml("      - names: [app.test]\n"),
        app.addr
    );
    let dir = tempfile::tempdir().unwrap();
    Gatehouse::start_tls_in(dir, port, free_port(), free_port(), &body).await
}

async fn successes(g: &Gatehouse) -> f64 {
    g.metric("gatehouse_acme_orders_total{result=\"success\"}")
        .await
        .unwrap_or(0.0)
}

/// The leaf each instance serves for app.test (None while it serves none from this CA).
async fn served(g: &Gatehouse, root: &str) -> Option<Vec<u8>> {
    let rsp = client(root, &["app.test"], g.tls_port)
        .get(format!("https://app.test:{}/hello", g.tls_port))
        .send()
        .await
        .ok()?;
    (rsp.status() == 200).then(|| peer_cert(&rsp))
}

/// Wait until both instances serve one and the same leaf, other than `not`.
async fn both_serve(a: &Gatehouse, b: &Gatehouse, pebble: &Pebble, not: &[u8]) -> Vec<u8> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let root = pebble.issuing_root().await;
        let (x, y) = (served(a, &root).await, served(b, &root).await);
        if let (Some(x), Some(y)) = (&x, &y) {
            if x == y && x != not {
                return x.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the instances do not serve one certificate\na:\n{}\nb:\n{}\npebble:\n{}",
            a.log(),
            b.log(),
            pebble.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_instance_orders_the_other_answers_the_ca_and_both_serve_it() {
    let pg = Arc::new(PgCluster::new());
    let ca_port = free_port();
    // 30 s certificates: renewed with about 10 s left, so the renewal is seen here too.
    let pebble = Pebble::start(PebbleOptions {
        http_port: ca_port,
        validity_secs: Some(30),
        nonce_reject: 0,
        eab: false,
    })
    .await;
    let app = Upstream::start("app").await;
    let (a_port, b_port) = (free_port(), free_port());
    let routed = wrong_instance_balancer(ca_port, pg.clone(), a_port, b_port).await;
    let a = instance(&pg, "gw-a", a_port, &pebble, &app).await;
    let b = instance(&pg, "gw-b", b_port, &pebble, &app).await;

    let first = both_serve(&a, &b, &pebble, &[]).await;
    let (sa, sb) = (successes(&a).await, successes(&b).await);
    assert_eq!(sa + sb, 1.0, "one order for both instances ({sa} + {sb})");
    let orderer = if sa == 1.0 { "gw-a" } else { "gw-b" };
    let seen = routed.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|r| r.holder.starts_with(&format!("{orderer}/")) && r.reached != orderer),
        "the CA validated through the instance that did not order: {seen:?}"
    );
    assert_eq!(
        count(&pg, "SELECT COUNT(*) FROM acme_certificates"),
        1,
        "one certificate in the store"
    );
    assert_eq!(count(&pg, "SELECT COUNT(*) FROM acme_accounts"), 1);
    let other = if orderer == "gw-a" { &b } else { &a };
    assert!(
        other
            .log()
            .contains("serving the certificate another instance obtained"),
        "{}",
        other.log()
    );

    // The renewal: one instance again, the other picks it up.
    let renewed = both_serve(&a, &b, &pebble, &first).await;
    assert_ne!(renewed, first);
    let (sa, sb) = (successes(&a).await, successes(&b).await);
    assert_eq!(sa + sb, 2.0, "one renewal for both instances ({sa} + {sb})");
    for g in [&a, &b] {
        let failed = g
            .metric("gatehouse_acme_orders_total{result=\"error\"}")
            .await;
        assert_eq!(failed, Some(0.0), "no order failed:\n{}", g.log());
    }
    assert_eq!(
        count(
            &pg,
            "SELECT COUNT(*) FROM acme_tokens WHERE expires_at > now()"
        ),
        0,
        "answers are withdrawn after the orders"
    );
}
