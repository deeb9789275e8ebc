//! Alerting at scale: P probes (default 10,000) in groups of 100, their results fed through
//! the public `Alerting` API with a real SQLite store and a webhook notifier pointed at a local
//! receiver. Measures how many results per second the engine takes while all is well, how long
//! it takes to open P incidents when everything fails at once, that they go out as one
//! notification per group, and the memory used.
//!
//!     cargo run --release -p gatehouse-alerting --example scale -- 10000 20

#![allow(clippy::unwrap_used)]

use gatehouse_alerting::notify::{Notifiers, NotifyMetrics};
use gatehouse_alerting::{AlertMetrics, Alerting, NoFacts, ProbeEvent, Sources};
use gatehouse_config::Config;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A webhook receiver that counts notifications and the alerts in them.
async fn receiver(notifications: Arc<AtomicUsize>, alerts: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (n, a) = (notifications.clone(), alerts.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (n, a) = (n.clone(), a.clone());
                        async move {
                            use http_body_util::BodyExt;
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                            a.fetch_add(
                                v["alerts"].as_array().map_or(0, Vec::len),
                                Ordering::SeqCst,
                            );
                            n.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::new()),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}/")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let probes: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let notifications = Arc::new(AtomicUsize::new(0));
    let alerts = Arc::new(AtomicUsize::new(0));
    let url = rt.block_on(receiver(notifications.clone(), alerts.clone()));
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:0\" }}]
upstreams:
  app: {{ backends: [{{ address: \"127.0.0.1:9\" }}] }}
routes:
  - {{ name: app, upstream: app }}
store: {{ path: \"{}\" }}
alerting:
  default_rules: false
  group_wait: 1s
  group_interval: 1m
  notifiers: [{{ name: hook, type: webhook, url: \"{url}\" }}]
  rules:
    - {{ name: down, probe: \"*\", failure_threshold: 3 }}
probes:
",
        dir.path().join("gatehouse.db").display()
    );
    for i in 0..probes {
        yaml.push_str(&format!(
            "  - {{ name: p{i}, group: g{}, tcp: {{ address: \"127.0.0.1:9\" }} }}\n",
            i / 100
        ));
    }
    let config = Arc::new(Config::from_yaml(&yaml).unwrap());
    let registry = prometheus::Registry::new();
    let notifiers = Notifiers::new(
        &config.alerting.notifiers,
        NotifyMetrics::register(&registry).unwrap(),
    )
    .unwrap();
    let alerting = Alerting::start(
        config,
        Sources {
            signals: None,
            facts: Arc::new(NoFacts),
        },
        notifiers,
        AlertMetrics::register(&registry).unwrap(),
        rt.handle().clone(),
    )
    .unwrap();
    let names: Vec<String> = (0..probes).map(|i| format!("p{i}")).collect();
    let feed = |up: bool| {
        for n in &names {
            alerting.observe(ProbeEvent {
                probe: n.clone(),
                up,
                reason: if up {
                    String::new()
                } else {
                    "connection refused".into()
                },
                at: jiff::Timestamp::now(),
            });
        }
    };
    // Everything well: the steady state.
    let start = Instant::now();
    for _ in 0..rounds {
        feed(true);
        rt.block_on(alerting.incidents()).unwrap();
    }
    let healthy = start.elapsed();
    let n = probes * rounds;
    println!(
        "healthy: {n} results in {:.2} s = {:.0} results/s",
        healthy.as_secs_f64(),
        n as f64 / healthy.as_secs_f64()
    );
    // Everything fails at once: three failing rounds open every incident.
    let start = Instant::now();
    for _ in 0..3 {
        feed(false);
    }
    let open = rt.block_on(alerting.incidents()).unwrap().open.len();
    let opened = start.elapsed();
    println!(
        "outage: {open} incidents opened (stored in SQLite) in {:.2} s",
        opened.as_secs_f64()
    );
    let groups = probes.div_ceil(100);
    let deadline = Instant::now() + Duration::from_secs(60);
    while alerts.load(Ordering::SeqCst) < probes && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "notified: {} alerts in {} notifications ({} groups), {:.2} s after the last result (group_wait 1 s)",
        alerts.load(Ordering::SeqCst),
        notifications.load(Ordering::SeqCst),
        groups,
        start.elapsed().as_secs_f64() - opened.as_secs_f64()
    );
    println!(
        "dropped results: {}",
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "gatehouse_alerting_events_dropped_total")
            .map_or(0.0, |f| f.get_metric()[0].get_counter().get_value())
    );
    println!("memory: {:.0} MiB RSS", rss_mib());
    alerting.stop(Duration::from_secs(5));
}
