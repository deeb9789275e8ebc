//! The process lifecycle: `check`, hot reload under load, SIGHUP, and SIGTERM draining.

mod common;

use common::{get_json, wait_for, Gatehouse, Upstream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn check_reports_all_three_problems_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "listeners:\n  - { name: http, address: \"127.0.0.1:8080\" }\nupstreams:\n  app:\n    backends: [{ address: \"127.0.0.1:3000\" }]\nroutes:\n  - name: a\n    upstream: missing\n  - name: b\n    upstream: app\n    path_prefix: /b\n    timeouts: { read: forever }\n    max_body_size: ${GATEHOUSE_TEST_UNSET_VAR}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config"])
        .arg(&path)
        .env_remove("GATEHOUSE_TEST_UNSET_VAR")
        .output()
        .expect("run check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml: 3 problems"), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:8:5: routes[0].upstream: unknown upstream `missing`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.yaml:12:17: routes[1].timeouts.read: `forever` is not a duration"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.yaml:13:5: routes[1].max_body_size: environment variable `GATEHOUSE_TEST_UNSET_VAR` is not set"), "{stderr}");

    // The shipped examples that name no files of the machine pass the full check.
    for example in ["quickstart.yaml", "https.yaml"] {
        let path = format!("{}/config/examples/{example}", env!("CARGO_MANIFEST_DIR"));
        let good = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["check", "--config", &path])
            .output()
            .expect("run check");
        assert!(
            good.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&good.stderr)
        );
    }
}

fn routes(a: &Upstream, b: &Upstream, extra_route: &str) -> String {
    format!(
        "upstreams:\n  a: {{ backends: [{{ address: \"{}\" }}] }}\n  b: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: main, upstream: a }}\n{extra_route}",
        a.addr, b.addr
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_under_load_drops_nothing_and_applies_new_routes() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let g = Gatehouse::start(&routes(&a, &b, "")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failures, url) =
            (stop.clone(), ok.clone(), failures.clone(), g.url("/steady"));
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => failures
                        .lock()
                        .expect("lock")
                        .push(format!("status {}", r.status())),
                    Err(e) => failures.lock().expect("lock").push(e.to_string()),
                }
            }
        }));
    }
    let client = reqwest::Client::new();
    let new_status = || async {
        client
            .get(g.url("/new"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let reloads = |result: &'static str| {
        let series = format!("gatehouse_config_reloads_total{{result=\"{result}\"}}");
        let g = &g;
        async move { g.metric(&series).await.unwrap_or(-1.0) }
    };
    let with_new = routes(
        &a,
        &b,
        "  - { name: new, upstream: b, path_prefix: /new }\n",
    );

    // 1. valid: the new route appears
    g.rewrite(&with_new);
    wait_for("first reload", Duration::from_secs(10), || async {
        reloads("success").await == 1.0
    })
    .await;
    let (_, v) = get_json(&client, &g.url("/new")).await;
    assert_eq!(v["backend"], "b");
    // 2. invalid: rejected, the old config keeps serving
    g.rewrite(&with_new.replace("upstream: b", "upstream: nope"));
    wait_for("rejected reload", Duration::from_secs(10), || async {
        reloads("error").await == 1.0
    })
    .await;
    assert_eq!(
        new_status().await,
        200,
        "the last good config keeps serving"
    );
    assert!(
        g.log().contains("unknown upstream `nope`"),
        "the errors are logged"
    );
    // 3. valid again: the route goes away
    g.rewrite(&routes(
        &a,
        &b,
        "  - { name: other, upstream: b, path_prefix: /other }\n",
    ));
    wait_for("third reload", Duration::from_secs(10), || async {
        reloads("success").await == 2.0
    })
    .await;
    let (_, v) = get_json(&client, &g.url("/new")).await;
    assert_eq!(v["backend"], "a", "/new now falls to the main route");

    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.expect("worker");
    }
    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        ok.load(Ordering::SeqCst) > 50,
        "the load kept going: {}",
        ok.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_file() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let g = Gatehouse::start(&routes(&a, &b, "")).await;
    // The file watch debounces for 200 ms; the signal right after the write is handled first.
    g.rewrite(&routes(
        &a,
        &b,
        "  - { name: new, upstream: b, path_prefix: /new }\n",
    ));
    g.signal("HUP");
    let client = reqwest::Client::new();
    wait_for("the new route", Duration::from_secs(10), || async {
        let r = client.get(g.url("/new")).send().await;
        match r {
            Ok(r) => r
                .json::<serde_json::Value>()
                .await
                .map(|v| v["backend"] == "b")
                .unwrap_or(false),
            Err(_) => false,
        }
    })
    .await;
    // The line is written just after the new config is live: wait for it too.
    wait_for(
        "the SIGHUP reload logged",
        Duration::from_secs(5),
        || async {
            g.log()
                .lines()
                .any(|l| l.contains("config reloaded") && l.contains("SIGHUP"))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    drains_then_exits_zero("TERM").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_drains_in_flight_requests_then_exits_zero() {
    drains_then_exits_zero("INT").await;
}

async fn drains_then_exits_zero(signal: &str) {
    let a = Upstream::start("a").await;
    let mut g = Gatehouse::start(&format!(
        "upstreams:\n  a: {{ backends: [{{ address: \"{}\" }}] }}\nroutes:\n  - {{ name: main, upstream: a }}\n",
        a.addr
    ))
    .await;
    let url = g.url("/slow?ms=800");
    let slow = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
    wait_for(
        "the request to be in flight",
        Duration::from_secs(5),
        || async { g.metric("gatehouse_http_requests_in_flight").await == Some(1.0) },
    )
    .await;
    g.signal(signal);
    wait_for("readiness to turn off", Duration::from_secs(5), || async {
        reqwest::get(g.admin("/readyz"))
            .await
            .map(|r| r.status() == 503)
            .unwrap_or(true)
    })
    .await;
    assert_eq!(
        slow.await
            .expect("join")
            .expect("the in-flight request completes"),
        200
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = g.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gatehouse did not exit; log:\n{}",
            g.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        g.log()
    );
}
