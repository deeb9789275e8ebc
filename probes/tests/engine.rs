//! The probe engine in process, against real sockets: the results stream, the global
//! concurrency bound, drift-free schedules, and a failing store that does not stop probing.
#![allow(clippy::unwrap_used)]

use gatehouse_probes::store::{History, Range, Retention, Store, StoreError};
use gatehouse_probes::{CheckResult, MemoryStore, ProbeMetrics, Probes};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DAY: Duration = Duration::from_secs(86400);

fn retention() -> Retention {
    Retention {
        raw: DAY,
        hourly: DAY,
        daily: DAY,
    }
}

fn config(probes: &str) -> gatehouse_config::probes::ProbesConfig {
    let yaml = format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:1\" }}]\nupstreams:\n  app: {{ backends: [{{ address: \"127.0.0.1:1\" }}] }}\nroutes: [{{ name: app, upstream: app }}]\nstore: {{ memory: true }}\n{probes}"
    );
    gatehouse_config::Config::from_yaml(&yaml).unwrap().probes
}

/// An HTTP server that holds each request `hold` and records the most requests in flight.
async fn server(hold: Duration) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let p = peak.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let (now, peak) = (now.clone(), p.clone());
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(hold).await;
                now.fetch_sub(1, Ordering::SeqCst);
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (port, peak)
}

async fn next(rx: &mut tokio::sync::broadcast::Receiver<Arc<CheckResult>>) -> Arc<CheckResult> {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

fn start(probes: &str, store: Arc<dyn Store>, registry: &prometheus::Registry) -> Probes {
    Probes::start(
        &config(probes),
        store,
        ProbeMetrics::register(registry).unwrap(),
        tokio::runtime::Handle::current(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_is_bounded_and_every_check_reaches_subscribers() {
    let (port, peak) = server(Duration::from_millis(200)).await;
    let mut probes = String::from("probing: { concurrency: 5, interval: 1s }\nprobes:\n");
    for i in 0..40 {
        probes.push_str(&format!(
            "  - {{ name: p{i}, http: {{ url: \"http://127.0.0.1:{port}/\" }} }}\n"
        ));
    }
    let registry = prometheus::Registry::new();
    let p = start(&probes, Arc::new(MemoryStore::new(retention())), &registry);
    let mut rx = p.subscribe();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 40 {
        let r = next(&mut rx).await;
        assert!(r.up, "{r:?}");
        seen.insert(r.probe.to_string());
    }
    // 40 checks of 200 ms each in one second need 8 at once; only 5 slots exist.
    assert_eq!(peak.load(Ordering::SeqCst), 5);
    let lag = registry
        .gather()
        .into_iter()
        .find(|f| f.name() == "gatehouse_probe_schedule_lag_seconds")
        .unwrap();
    let h = lag.get_metric()[0].get_histogram();
    assert!(h.get_sample_count() >= 40);
    // Waiting for a slot shows as lag.
    assert!(h.get_sample_sum() > 0.2, "lag sum {}", h.get_sample_sum());
    p.stop(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_keep_to_their_slots_without_drift() {
    let (port, _) = server(Duration::from_millis(30)).await;
    let probes = format!(
        "probes:\n  - {{ name: tick, http: {{ url: \"http://127.0.0.1:{port}/\" }}, interval: 100ms }}\n"
    );
    let p = start(
        &probes,
        Arc::new(MemoryStore::new(retention())),
        &prometheus::Registry::new(),
    );
    let mut rx = p.subscribe();
    let first = next(&mut rx).await.at;
    let mut last = first;
    for _ in 0..20 {
        last = next(&mut rx).await.at;
    }
    // 20 checks of 30 ms each: "previous end + interval" would end 600 ms later.
    let elapsed = last.duration_since(first).unwrap().as_millis() as i64;
    assert!(
        (elapsed - 2000).abs() < 60,
        "20 intervals took {elapsed} ms"
    );
    p.stop(Duration::from_secs(5));
}

/// A store whose every write fails.
struct Broken(AtomicUsize);

fn io_error() -> StoreError {
    StoreError("disk I/O error".into())
}

impl Store for Broken {
    fn write(&self, _: &[Arc<CheckResult>]) -> Result<(), StoreError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(io_error())
    }
    fn prune(&self, _: SystemTime) -> Result<u64, StoreError> {
        Err(io_error())
    }
    fn history(&self, _: &str, _: Range, _: SystemTime) -> Result<History, StoreError> {
        Err(io_error())
    }
    fn latest(&self) -> Result<Vec<CheckResult>, StoreError> {
        Err(io_error())
    }
    fn get_state(&self, _: &str) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    fn put_state(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_store_is_counted_and_probing_goes_on() {
    let (port, _) = server(Duration::ZERO).await;
    let probes = format!(
        "probes:\n  - {{ name: a, http: {{ url: \"http://127.0.0.1:{port}/\" }}, interval: 50ms }}\n"
    );
    let registry = prometheus::Registry::new();
    let store = Arc::new(Broken(AtomicUsize::new(0)));
    let p = start(&probes, store.clone(), &registry);
    let mut rx = p.subscribe();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Results keep coming across several failed batch writes, and after them.
    while store.0.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "the writer stopped trying");
        assert!(next(&mut rx).await.up);
    }
    for _ in 0..5 {
        assert!(next(&mut rx).await.up);
    }
    let errors = registry
        .gather()
        .into_iter()
        .find(|f| f.name() == "gatehouse_probe_store_errors_total")
        .unwrap();
    let write = errors
        .get_metric()
        .iter()
        .find(|m| m.get_label().iter().any(|l| l.value() == "write"))
        .unwrap()
        .get_counter()
        .get_value();
    assert!(write >= 3.0, "write errors counted: {write}");
    p.stop(Duration::from_secs(5));
}
