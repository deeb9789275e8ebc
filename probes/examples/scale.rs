//! Scale benchmark: N HTTP probes (default 10,000) at a 10 s interval against a local target
//! server running in a child process, results written to a real SQLite store. Reports how
//! late checks start against their schedule (from the results stream), checks completed
//! against checks due, CPU time and memory of the probing process, and the store's size.
//!
//! With `postgres`, two instances (`gw-a`, `gw-b`, in this process) probe the same N targets
//! into one private PostgreSQL cluster (made with initdb, as the tests do), and `gw-a` judges
//! every result by the quorum as a leader does; also reported: rows written per second, how
//! far the store trails the checks at the end, the verdict's latency, and the tables' size.
//!
//! `cargo run --release -p gatehouse-probes --example scale -- [PROBES] [SECONDS] [postgres]`
#![allow(clippy::unwrap_used)]

use gatehouse_probes::{CheckResult, PostgresStore, ProbeMetrics, Probes, SqliteStore, Store};
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
    let postgres = args.get(3).map(String::as_str) == Some("postgres");
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
    let pg_cluster = postgres.then(gatehouse_testkit::postgres::PgCluster::new);
    let stores: Vec<Arc<dyn Store>> = match &pg_cluster {
        None => vec![Arc::new(SqliteStore::open(&db, retention).unwrap())],
        Some(c) => {
            let pg = gatehouse_cluster::Pg::new(&gatehouse_cluster::PgOptions {
                url: c.url(),
                ca_file: None,
                max_connections: 8,
            })
            .unwrap();
            ["gw-a", "gw-b"]
                .iter()
                .map(|i| Arc::new(PostgresStore::new(pg.clone(), i, retention)) as Arc<dyn Store>)
                .collect()
        }
    };
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let instances: Vec<Probes> = stores
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            let m = if i == 0 {
                metrics.clone()
            } else {
                ProbeMetrics::register(&prometheus::Registry::new()).unwrap()
            };
            Probes::start(&config.probes, store, m, rt.handle().clone()).unwrap()
        })
        .collect();
    let p = &instances[0];
    let mut rx = p.subscribe();
    // The other instance's results: counted, not judged.
    let others = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for other in &instances[1..] {
        let (mut orx, n) = (other.subscribe(), others.clone());
        rt.spawn(async move {
            while let Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) =
                orx.recv().await
            {
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    let mut verdict_ms: Vec<f64> = Vec::new();
    let (mut others_warm, mut pg_cpu_warm) = (0, 0.0);
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
                others_warm = others.load(std::sync::atomic::Ordering::Relaxed);
                pg_cpu_warm = postgres_cpu_seconds();
            }
            lags.push(r.lag.as_secs_f64() * 1000.0);
            if postgres {
                // As the leader's bridge to alerting does: one verdict per result, in order.
                let t = Instant::now();
                let _ = p.judge(&r).await;
                verdict_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
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
    let behind = pg_cluster.as_ref().map(|c| {
        // How far the newest stored result trails now, per instance (the write path's lag).
        c.psql(
            "SELECT string_agg(instance || ' ' || round((extract(epoch from now()) * 1000 - m)::numeric / 1000, 2) || ' s', ', ')
             FROM (SELECT instance, MAX(at) AS m FROM probe_results GROUP BY instance) t",
        )
    });
    for i in &instances {
        i.stop(Duration::from_secs(10));
    }
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
    let Some(c) = &pg_cluster else {
        writeln!(out, "store: {:.1} MiB", db_size as f64 / 1048576.0).unwrap();
        return;
    };
    let other = others.load(std::sync::atomic::Ordering::Relaxed) - others_warm;
    let pg_cpu = postgres_cpu_seconds() - pg_cpu_warm;
    writeln!(
        out,
        "gw-b: {other} checks in the same time ({:.0} checks/s)",
        other as f64 / wall
    )
    .unwrap();
    let rows: f64 = c
        .psql("SELECT COUNT(*) FROM probe_results")
        .parse()
        .unwrap_or(0.0);
    let bytes: f64 = c
        .psql(
            "SELECT pg_total_relation_size('probe_results') + pg_total_relation_size('probe_rollups')",
        )
        .parse()
        .unwrap_or(0.0);
    let elapsed = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "postgres: {rows:.0} results stored in {elapsed:.0}s ({:.0} rows/s); {:.1} MiB of results and rollups ({:.0} bytes a result); newest stored result behind at the end: {}",
        rows / elapsed,
        bytes / 1048576.0,
        bytes / rows.max(1.0),
        behind.unwrap_or_default()
    )
    .unwrap();
    verdict_ms.sort_by(|a, b| a.total_cmp(b));
    let v = |f: f64| {
        verdict_ms
            .get(((verdict_ms.len() as f64 - 1.0) * f) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    writeln!(
        out,
        "quorum verdicts: {} on gw-a, ms p50 {:.2}  p99 {:.2}  max {:.2}",
        verdict_ms.len(),
        v(0.5),
        v(0.99),
        v(1.0)
    )
    .unwrap();
    writeln!(
        out,
        "postgres cpu: {pg_cpu:.1}s = {:.0}% of one core",
        100.0 * pg_cpu / wall
    )
    .unwrap();
}

/// user + system CPU seconds of every PostgreSQL process on the machine (the benchmark's
/// own cluster is the only one running while it runs).
fn postgres_cpu_seconds() -> f64 {
    let mut total = 0.0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.contains("(postgres") {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        total += f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    }
    total / 100.0
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
