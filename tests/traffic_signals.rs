//! Live per-route signals from real traffic: after a scripted mix of fast and slow, 2xx, 4xx
//! and 5xx responses, some of them cache hits or misses by their upstream's headers, the
//! admin API's JSON reports the ratios, rate and quantiles, the Prometheus gauges the ratios,
//! and the request counters and latency histogram the rest for Prometheus to compute.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::{http, upstreams};
use common::{wait_for, Gatehouse, Upstream};
use std::time::Duration;

/// Quantiles come from a sketch whose buckets are within 5 % of their samples; the slow
/// requests take 300 ms at the upstream plus the proxy's own time.
const SLOW: f64 = 0.300;

#[tokio::test(flavor = "multi_thread")]
async fn windows_report_ratios_quantiles_and_cache_hits() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + "routes:\n  - { name: shop, upstream: app }\n  - { name: idle, upstream: app, path_prefix: /idle }\n";
    let g = Gatehouse::start(&body).await;
    let c = http();
    let get = |path: String| {
        let c = c.clone();
        let url = g.url(&path);
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    // 100 requests: 60 fast 200s (30 cache hits by Cache-Status, 10 misses by X-Cache, 20
    // without cache headers), 10 slow 200s, 25 × 500 and 5 × 404.
    let mut paths = Vec::new();
    for i in 0..60 {
        paths.push(match i {
            0..=29 => "/fast?h.cache-status=edge;+hit".to_string(),
            30..=39 => "/fast?h.x-cache=MISS+from+squid".to_string(),
            _ => "/fast".to_string(),
        });
    }
    paths.extend((0..25).map(|_| "/status/500".to_string()));
    paths.extend((0..5).map(|_| "/status/404".to_string()));
    for p in paths {
        get(p).await;
    }
    let slow = (0..10).map(|_| get(format!("/slow?ms={}", (SLOW * 1000.0) as u64)));
    assert!(futures_util::future::join_all(slow)
        .await
        .iter()
        .all(|s| *s == 200));

    // A request is counted when its access line is logged, just after the response left.
    wait_for(
        "all 100 requests counted",
        Duration::from_secs(10),
        || async {
            let v = routes_json(&g).await;
            let routes = v["routes"].as_array().cloned().unwrap_or_default();
            routes.iter().filter(|r| r["route"] == "shop").all(|r| {
                r["windows"]
                    .as_object()
                    .is_some_and(|w| w.values().all(|s| s["requests"] == 100))
            }) && !routes.is_empty()
        },
    )
    .await;
    let v = routes_json(&g).await;
    let routes = v["routes"].as_array().unwrap();
    let shop = routes.iter().find(|r| r["route"] == "shop").expect("shop");
    let idle = routes.iter().find(|r| r["route"] == "idle").expect("idle");
    for w in ["1m", "5m", "1h"] {
        let s = &shop["windows"][w];
        assert_eq!(s["requests"], 100, "{w}: {s}");
        assert_eq!(s["server_errors"], 25);
        assert_eq!(s["client_errors"], 5);
        assert_eq!(s["error_ratio"], 0.25);
        assert_eq!(s["client_error_ratio"], 0.05);
        assert_eq!(s["cache_hits"], 30);
        assert_eq!(s["cache_misses"], 10);
        assert_eq!(s["cache_hit_ratio"], 0.75);
        let p50 = s["latency"]["p50"].as_f64().unwrap();
        let p95 = s["latency"]["p95"].as_f64().unwrap();
        let p99 = s["latency"]["p99"].as_f64().unwrap();
        assert!(p50 < 0.1, "{w}: p50 {p50} should be a fast request");
        for (q, v) in [("p95", p95), ("p99", p99)] {
            assert!(
                (SLOW * 0.95..SLOW * 1.5).contains(&v),
                "{w}: {q} {v} should be a slow request (~{SLOW} s)"
            );
        }
        let covered = s["covered_seconds"].as_f64().unwrap();
        let rate = s["rate"].as_f64().unwrap();
        assert!(covered > 0.0 && covered <= 60.0, "{w}: covered {covered}");
        assert!(
            (rate - 100.0 / covered).abs() < 100.0 / covered * 0.2,
            "{w}: rate {rate}"
        );
        let i = &idle["windows"][w];
        assert_eq!(i["requests"], 0);
        assert!(
            i["error_ratio"].is_null() && i["latency"]["p95"].is_null(),
            "{i}"
        );
    }

    let m = |name: &'static str, labels: Vec<(&'static str, &'static str)>| {
        let g = &g;
        async move { g.metric_with(name, &labels).await }
    };
    assert_eq!(
        m(
            "gatehouse_route_error_ratio",
            vec![("route", "shop"), ("window", "5m")]
        )
        .await,
        Some(0.25)
    );
    assert_eq!(
        m(
            "gatehouse_route_client_error_ratio",
            vec![("route", "shop"), ("window", "1m")]
        )
        .await,
        Some(0.05)
    );
    assert_eq!(
        m(
            "gatehouse_route_cache_hit_ratio",
            vec![("route", "shop"), ("window", "1h")]
        )
        .await,
        Some(0.75)
    );
    // Latency and rate are for Prometheus to compute (histogram_quantile, rate) from the
    // histogram and the counters; no gauge passes for a summary or a precomputed rate.
    let text = g.metrics().await;
    for gone in [
        "gatehouse_route_latency_seconds",
        "gatehouse_route_requests_per_second",
    ] {
        assert!(!text.contains(gone), "{gone} is still exported");
    }
    let bucket = |le: &'static str| {
        m(
            "gatehouse_http_request_duration_seconds_bucket",
            vec![("route", "shop"), ("le", le)],
        )
    };
    assert_eq!(
        m(
            "gatehouse_http_request_duration_seconds_count",
            vec![("route", "shop")]
        )
        .await,
        Some(100.0)
    );
    // At least half are fast (p50 < 0.1 above); the 10 slow ones lie above 250 ms.
    let fast = bucket("0.1").await.unwrap();
    let under_slow = bucket("0.25").await.unwrap();
    assert!(fast >= 50.0, "le=0.1: {fast}");
    assert!(under_slow <= 90.0, "le=0.25: {under_slow}");
    assert_eq!(bucket("+Inf").await, Some(100.0));
    for (status, n) in [("200", 70.0), ("500", 25.0), ("404", 5.0)] {
        assert_eq!(
            m(
                "gatehouse_http_requests_total",
                vec![("route", "shop"), ("method", "GET"), ("status", status)]
            )
            .await,
            Some(n),
            "{status}"
        );
    }
    for (result, n) in [("hit", 30.0), ("miss", 10.0)] {
        assert_eq!(
            m(
                "gatehouse_http_cache_lookups_total",
                vec![("route", "shop"), ("result", result)]
            )
            .await,
            Some(n),
            "{result}"
        );
    }
    // An idle route has no ratio to report rather than a made-up zero.
    assert_eq!(
        m(
            "gatehouse_route_error_ratio",
            vec![("route", "idle"), ("window", "1m")]
        )
        .await,
        None
    );

    // A reload that removes `idle` and adds `new` keeps `shop`'s windows.
    g.rewrite(&(upstreams(&app) + "routes:\n  - { name: shop, upstream: app }\n  - { name: new, upstream: app, path_prefix: /new }\n"));
    wait_for("the reload", Duration::from_secs(10), || async {
        g.metric_with("gatehouse_config_reloads_total", &[("result", "success")])
            .await
            .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    let v = routes_json(&g).await;
    let names: Vec<&str> = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["new", "shop"]);
    let shop = &v["routes"][1]["windows"]["5m"];
    assert_eq!(shop["requests"], 100, "{shop}");
}

async fn routes_json(g: &Gatehouse) -> serde_json::Value {
    reqwest::get(g.admin("/api/v1/routes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
