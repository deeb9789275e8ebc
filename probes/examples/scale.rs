//! Scale benchmark: N HTTP probes (default 10,000) at a 10 s interval against a local target
//! server running in a child process, results written to a real SQLite store. Reports how
//! late checks start against their schedule (from the results stream), checks completed
//! against checks due, CPU time and memory of the probing process, and the store's size.
//!
//! `cargo run --release -p gatehouse-probes --example scale -- [PROBES] [SECONDS]`
#![allow(clippy::unwrap_used)]

use gatehouse_probes::{CheckResult, ProbeMetrics, Probes, SqliteStore, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve();
        return;
    }
    let probes: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(60);
    let interval = 10u64;

    // The target: this binary in `serve` mode, in its own process so its CPU is not counted.
    let mut target = Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(target.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("probes.db");
    let mut yaml = format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:1\" }}]\nupstreams:\n  app: {{ backends: [{{ address: \"127.0.0.1:1\" }}] }}\nroutes: [{{ name: app, upstream: app }}]\nstore: {{ path: \"{}\" }}\nprobing: {{ interval: {interval}s, timeout: 5s }}\nprobes:\n",
        db.display()
    );
    for i in 0..probes {
        yaml.push_str(&format!(
            "  - {{ name: p{i}, http: {{ url: \"http://127.0.0.1:{port}/p/{i}\" }}, conditions: [\"status == 200\"] }}\n"
        ));
    }
    let config = gatehouse_config::Config::from_yaml(&yaml).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registry = prometheus::Registry::new();
    let metrics = ProbeMetrics::register(&registry).unwrap();
    let retention = gatehouse_probes::Retention {
        raw: config.probes.store.raw_retention,
        hourly: config.probes.store.hourly_retention,
        daily: config.probes.store.daily_retention,
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db, retention).unwrap());
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let p = Probes::start(&config.probes, store, metrics, rt.handle().clone()).unwrap();
    let mut rx = p.subscribe();
    let run = Duration::from_secs(seconds);
    // The first interval spreads the probes' first checks; measure the ones after it.
    let warmup = Duration::from_secs(interval);
    let (lags, up, down, cpu_warm) = rt.block_on(async {
        let mut lags: Vec<f64> = Vec::new();
        let (mut up, mut down) = (0u64, 0u64);
        let mut cpu_warm = None;
        let deadline = tokio::time::Instant::now() + run;
        loop {
            let r: Arc<CheckResult> = tokio::select! {
                r = rx.recv() => match r {
                    Ok(r) => r,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        eprintln!("the benchmark's subscriber lagged by {n}");
                        continue;
                    }
                    Err(_) => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            };
            if started.elapsed() < warmup {
                continue;
            }
            if cpu_warm.is_none() {
                cpu_warm = Some((cpu_seconds(), Instant::now()));
            }
            lags.push(r.lag.as_secs_f64() * 1000.0);
            if r.up {
                up += 1
            } else {
                down += 1
            }
        }
        (lags, up, down, cpu_warm)
    });
    let (cpu_w, t_w) = cpu_warm.unwrap_or((cpu0, started));
    let cpu = cpu_seconds() - cpu_w;
    let wall = t_w.elapsed().as_secs_f64();
    p.stop(Duration::from_secs(10));
    let _ = target.kill();
    let _ = target.wait();

    let mut sorted = lags.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f64| {
        sorted
            .get(((sorted.len() as f64 - 1.0) * f) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let due = probes as f64 * wall / interval as f64;
    let db_size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
        .map(|m| m.len())
        .sum();
    let mut out = std::io::stdout();
    writeln!(
        out,
        "probes: {probes} HTTP at {interval}s, measured for {wall:.0}s after a {interval}s warm-up"
    )
    .unwrap();
    writeln!(
        out,
        "checks: {} completed ({up} up, {down} down), {due:.0} due ({:.1}%)",
        up + down,
        100.0 * (up + down) as f64 / due
    )
    .unwrap();
    writeln!(
        out,
        "schedule lag ms: p50 {:.2}  p99 {:.2}  max {:.2}",
        q(0.5),
        q(0.99),
        q(1.0)
    )
    .unwrap();
    writeln!(
        out,
        "cpu: {cpu:.1}s in {wall:.0}s = {:.0}% of one core ({:.0} checks/s)",
        100.0 * cpu / wall,
        (up + down) as f64 / wall
    )
    .unwrap();
    writeln!(
        out,
        "memory: rss {} MiB, peak {} MiB",
        status_kib("VmRSS") / 1024,
        status_kib("VmHWM") / 1024
    )
    .unwrap();
    writeln!(out, "store: {:.1} MiB", db_size as f64 / 1048576.0).unwrap();
}

/// user + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The target: answers every request with 200 `ok` and closes the connection.
fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
}
