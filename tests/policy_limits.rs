//! Rate limits (local GCRA, spoofed X-Forwarded-For, trusted proxies, idle-key eviction, limits
//! shared through a real redis-server and what happens when it is away) and lockouts.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::policy::*;
use common::redis::RedisServer;
use common::{wait_for, Gatehouse, Upstream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn local_rate_limit_admits_the_burst_plus_the_rate_and_ignores_spoofed_clients() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"routes:
  - { name: app, upstream: app, policy: { rate_limits: [{ name: per-client, rate: 10/s, burst: 20, key: [client_ip], store: local }] } }
  - { name: bykey, upstream: app, path_prefix: /bykey, policy: { rate_limits: [{ name: per-key, rate: 1/m, burst: 2, key: ["header:x-api-key"] }] } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();

    // 100 requests at once, each claiming another client in X-Forwarded-For: with no trusted
    // proxies that claim is ignored, so they all share one bucket.
    let start = Instant::now();
    let requests = (0..100).map(|i| {
        let (c, url) = (c.clone(), g.url("/"));
        async move {
            c.get(url)
                .header("x-forwarded-for", format!("198.51.100.{}", i + 1))
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures_util::future::join_all(requests).await;
    let elapsed = start.elapsed().as_secs_f64();
    let mut admitted = 0usize;
    for r in responses {
        match r.status().as_u16() {
            200 => {
                admitted += 1;
                let h = r.headers().clone();
                assert_eq!(once(&h, "ratelimit-policy"), "\"per-client\";q=10;w=1");
                let (remaining, _) = ratelimit(&h, "per-client");
                assert!(remaining < 20, "remaining {remaining}");
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(
                    v["headers"]["x-forwarded-for"], "127.0.0.1",
                    "a spoofed X-Forwarded-For is replaced: {v}"
                );
            }
            429 => {
                let h = refusal(r, 429, "rate_limited").await;
                retry_after(&h);
                assert_eq!(once(&h, "ratelimit-policy"), "\"per-client\";q=10;w=1");
                assert_eq!(ratelimit(&h, "per-client").0, 0);
                assert_default_headers(&h, false);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let most = 20.0 + 10.0 * elapsed + 3.0;
    assert!(
        admitted >= 20 && admitted as f64 <= most,
        "admitted {admitted} of 100 in {elapsed:.3}s (expected 20..={most:.1})"
    );
    wait_rule_decision(&g, "app", "rate_limit", "per-client", "limited").await;
    wait_rule_decision(&g, "app", "rate_limit", "per-client", "allowed").await;

    // Keyed by a header: each key has its own bucket.
    let get = |key: &'static str| c.get(g.url("/bykey")).header("x-api-key", key).send();
    assert_eq!(get("key-a").await.unwrap().status(), 200);
    assert_eq!(get("key-a").await.unwrap().status(), 200);
    refusal(get("key-a").await.unwrap(), 429, "rate_limited").await;
    assert_eq!(get("key-b").await.unwrap().status(), 200);
    assert_eq!(get("key-b").await.unwrap().status(), 200);
    refusal(get("key-b").await.unwrap(), 429, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn trusted_proxies_name_the_client_for_limits_and_ip_gates() {
    let app = Upstream::start("app").await;
    let body = r#"trusted_proxies: ["127.0.0.1/32"]
"#
    .to_string()
        + &upstreams(&app)
        + r#"routes:
  - { name: app, upstream: app, policy: { rate_limits: [{ name: per-client, rate: 1/m, burst: 5, key: [client_ip] }] } }
  - { name: ten, upstream: app, path_prefix: /ten, policy: { ip: { allow: ["10.0.0.0/8"] } } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();
    let from = |path: &str, xff: &str| c.get(g.url(path)).header("x-forwarded-for", xff).send();

    // Each client named by the trusted peer has its own full burst.
    for client in ["203.0.113.7", "203.0.113.8"] {
        for i in 0..5 {
            let r = from("/", client).await.unwrap();
            assert_eq!(r.status(), 200, "{client} request {i}");
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(
                v["headers"]["x-forwarded-for"],
                format!("{client}, 127.0.0.1").as_str()
            );
        }
        refusal(from("/", client).await.unwrap(), 429, "rate_limited").await;
    }
    // The right-most address is the client, whatever is claimed to its left.
    refusal(
        from("/", "198.51.100.1, 203.0.113.7").await.unwrap(),
        429,
        "rate_limited",
    )
    .await;
    assert_eq!(
        from("/", "203.0.113.7, 203.0.113.9")
            .await
            .unwrap()
            .status(),
        200
    );

    // The IP gate checks the named client too.
    assert_eq!(from("/ten", "10.1.2.3").await.unwrap().status(), 200);
    refusal(from("/ten", "192.0.2.1").await.unwrap(), 403, "forbidden").await;
    refusal(c.get(g.url("/ten")).send().await.unwrap(), 403, "forbidden").await;
    // A proxy that adds its own X-Forwarded-For line: the lines are one list, and the client's
    // line on the left cannot name the client.
    let two_lines = c
        .get(g.url("/ten"))
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-forwarded-for", "192.0.2.1")
        .send()
        .await
        .unwrap();
    refusal(two_lines, 403, "forbidden").await;
    // Bytes that are not text in the trusted part of the chain: the client is unknown.
    let garbage = reqwest::header::HeaderValue::from_bytes(b"10.1.2.3\xff").unwrap();
    let r = c
        .get(g.url("/ten"))
        .header("x-forwarded-for", garbage)
        .send()
        .await
        .unwrap();
    refusal(r, 403, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_rate_limit_keys_are_evicted() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"routes:
  - { name: app, upstream: app, policy: { rate_limits: [{ name: per-client, rate: 10/s, burst: 1, key: ["header:x-api-key"] }] } }
"#;
    let g = Gatehouse::start(&body).await;
    let gauge = || async {
        g.metric_with(
            "gatehouse_rate_limit_keys",
            &[("route", "app"), ("rule", "per-client")],
        )
        .await
        .unwrap_or(0.0)
    };

    // One request per distinct key (each admitted: a new key has a full bucket), going on
    // until the gauge, refreshed by a sweep every second, has seen the keys.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (stop, sent, url) = (stop.clone(), sent.clone(), g.url("/"));
        tokio::spawn(async move {
            let c = http();
            let mut refused = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) && i < 20_000 {
                let r = c
                    .get(&url)
                    .header("x-api-key", format!("key-{i}"))
                    .send()
                    .await
                    .unwrap();
                if r.status() != 200 {
                    refused.push((i, r.status().as_u16()));
                }
                i += 1;
                sent.store(i, Ordering::SeqCst);
            }
            refused
        })
    };
    wait_for("300 distinct keys sent", Duration::from_secs(30), || {
        let n = sent.load(Ordering::SeqCst);
        async move { n >= 300 }
    })
    .await;
    wait_for(
        "gatehouse_rate_limit_keys > 0",
        Duration::from_secs(10),
        || async { gauge().await > 0.0 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let refused = sender.await.unwrap();
    assert!(
        refused.is_empty(),
        "distinct keys share no bucket: {refused:?}"
    );
    // Idle keys go.
    wait_for(
        "gatehouse_rate_limit_keys to fall to 0",
        Duration::from_secs(15),
        || async { gauge().await == 0.0 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_limits_through_redis_and_what_happens_when_it_is_away() {
    let mut redis = RedisServer::start().await;
    let app = Upstream::start("app").await;
    let body = format!(
        "redis: {{ url: \"{}\", timeout: 250ms, key_prefix: \"gatehouse:\" }}\n",
        redis.url()
    ) + &upstreams(&app)
        + r#"routes:
  - { name: open, upstream: app, path_prefix: /open, policy: { rate_limits: [{ name: shared, rate: 5/m, key: [route], store: redis, on_store_error: allow }] } }
  - { name: closed, upstream: app, path_prefix: /closed, policy: { rate_limits: [{ name: shared, rate: 5/m, key: [route], store: redis, on_store_error: deny }] } }
"#;
    let g1 = Gatehouse::start(&body).await;
    let g2 = Gatehouse::start(&body).await;
    let c = http();
    let status = |g: &Gatehouse, path: &str| {
        let rb = c.get(g.url(path));
        async move { rb.send().await.unwrap().status().as_u16() }
    };

    // Two instances admit the quota once between them.
    let mut ok = 0;
    for i in 0..12 {
        let g = if i % 2 == 0 { &g1 } else { &g2 };
        match status(g, "/open").await {
            200 => ok += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 5, "5/m shared by two instances");
    assert_eq!(status(&g2, "/closed").await, 200);

    // Redis away: `allow` lets traffic through (the quota is spent, so only the store error
    // explains a 200), `deny` refuses with 503.
    redis.kill();
    for g in [&g1, &g2, &g1] {
        assert_eq!(status(g, "/open").await, 200);
    }
    wait_rule_decision(&g1, "open", "rate_limit", "shared", "store_error_allowed").await;
    let h = refusal(
        c.get(g1.url("/closed")).send().await.unwrap(),
        503,
        "rate_limit_unavailable",
    )
    .await;
    retry_after(&h);
    assert_default_headers(&h, false);
    wait_rule_decision(&g1, "closed", "rate_limit", "shared", "store_error_denied").await;

    // Redis back (empty): limiting works again.
    redis.restart().await;
    wait_for(
        "a 429 from /open again",
        Duration::from_secs(15),
        || async { status(&g1, "/open").await == 429 },
    )
    .await;
    wait_for(
        "a 200 from /closed again",
        Duration::from_secs(15),
        || async { status(&g2, "/closed").await == 200 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reloads_keep_spent_buckets_and_a_bad_policy_keeps_the_old_config() {
    let app = Upstream::start("app").await;
    let limited = r#"  - { name: app, upstream: app, policy: { rate_limits: [{ name: per-client, rate: 1/m, burst: 2 }] } }
"#;
    let g = Gatehouse::start(&format!("{}routes:\n{limited}", upstreams(&app))).await;
    let c = http();
    let status = |path: &str| {
        let rb = c.get(g.url(path));
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/").await, 200);
    assert_eq!(status("/").await, 200);
    assert_eq!(status("/").await, 429);
    let reloads = |result: &'static str| {
        let g = &g;
        async move {
            g.metric_with("gatehouse_config_reloads_total", &[("result", result)])
                .await
                .unwrap_or(0.0)
        }
    };

    // Another route appears; the unchanged rule keeps its spent bucket.
    let other = "  - { name: other, upstream: app, path_prefix: /other }\n";
    g.rewrite(&format!("{}routes:\n{limited}{other}", upstreams(&app)));
    wait_for("the reload", Duration::from_secs(10), || async {
        reloads("success").await >= 1.0
    })
    .await;
    assert_eq!(status("/other").await, 200);
    assert_eq!(
        status("/").await,
        429,
        "a reload must not hand out a fresh quota"
    );

    // A policy mistake is refused; the old config (and its buckets) keeps serving.
    let bad = "  - { name: app, upstream: app, policies: [nope] }\n";
    g.rewrite(&format!("{}routes:\n{bad}{other}", upstreams(&app)));
    wait_for("the refused reload", Duration::from_secs(10), || async {
        reloads("error").await >= 1.0
    })
    .await;
    assert!(g.log().contains("unknown policy `nope`"), "{}", g.log());
    assert_eq!(status("/").await, 429);

    // A changed rule starts with full buckets.
    let roomier = limited.replace("burst: 2", "burst: 5");
    g.rewrite(&format!("{}routes:\n{roomier}{other}", upstreams(&app)));
    wait_for("the second reload", Duration::from_secs(10), || async {
        reloads("success").await >= 2.0
    })
    .await;
    assert_eq!(status("/").await, 200);
}

// ---------------------------------------------------------------------------------------------
// Lockouts, API keys, basic auth, IP gates

#[tokio::test(flavor = "multi_thread")]
async fn lockout_after_repeated_failures_then_release() {
    let app = Upstream::start("app").await;
    let body = upstreams(&app)
        + r#"routes:
  - { name: app, upstream: app, policy: { lockouts: [{ name: failed-logins, statuses: [401], max_failures: 3, window: 1m, block_for: 2s, key: [client_ip] }] } }
"#;
    let g = Gatehouse::start(&body).await;
    let c = http();
    assert_eq!(c.get(g.url("/")).send().await.unwrap().status(), 200);
    for i in 0..3 {
        let r = c.get(g.url("/status/401")).send().await.unwrap();
        assert_eq!(r.status(), 401, "failure {i}");
    }
    let before = hits(&app);
    let h = refusal(c.get(g.url("/")).send().await.unwrap(), 429, "locked_out").await;
    retry_after(&h);
    assert_default_headers(&h, false);
    refusal(
        c.get(g.url("/status/401")).send().await.unwrap(),
        429,
        "locked_out",
    )
    .await;
    assert_eq!(
        hits(&app),
        before,
        "a locked-out client must not reach the upstream"
    );
    wait_rule_decision(&g, "app", "lockout", "failed-logins", "locked").await;
    wait_for("the lockout to end", Duration::from_secs(10), || async {
        c.get(g.url("/")).send().await.unwrap().status() == 200
    })
    .await;
}

/// A lockout with `store: redis`: failures through two instances add up, the block holds on
/// both (with per-instance counters neither would have reached the limit), and when Redis is
/// away `on_store_error` decides as for rate limits.
#[tokio::test(flavor = "multi_thread")]
async fn a_shared_lockout_counts_failures_on_every_instance_and_blocks_on_all() {
    let mut redis = RedisServer::start().await;
    let app = Upstream::start("app").await;
    let body = format!(
        "redis: {{ url: \"{}\", timeout: 250ms, key_prefix: \"gatehouse:\" }}\n",
        redis.url()
    ) + &upstreams(&app)
        + r#"routes:
  - { name: login, upstream: app, path_prefix: /status, policy: { lockouts: [{ name: guess, statuses: [401], max_failures: 4, window: 1m, block_for: 1m, key: [client_ip], store: redis }] } }
  - { name: strict, upstream: app, path_prefix: /status/403, policy: { lockouts: [{ name: guess, statuses: [403], max_failures: 4, window: 1m, block_for: 1m, store: redis, on_store_error: deny }] } }
"#;
    let g1 = Gatehouse::start(&body).await;
    let g2 = Gatehouse::start(&body).await;
    let c = http();
    let status = |g: &Gatehouse, path: &str| {
        let rb = c.get(g.url(path));
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    // Two failures through each instance: each has seen only two of the four.
    for g in [&g1, &g2, &g1, &g2] {
        assert_eq!(status(g, "/status/401").await, 401);
    }
    // Failures are counted beside the response; then both refuse even a good request.
    for g in [&g1, &g2] {
        wait_for(
            "the block on every instance",
            Duration::from_secs(10),
            || async { status(g, "/status/200").await == 429 },
        )
        .await;
    }
    let h = refusal(
        c.get(g1.url("/status/401")).send().await.unwrap(),
        429,
        "locked_out",
    )
    .await;
    retry_after(&h);
    wait_rule_decision(&g2, "login", "lockout", "guess", "locked").await;
    assert_eq!(
        status(&g1, "/status/403").await,
        403,
        "another rule keeps its own count"
    );

    // Redis away: the default (`allow`) lets requests through, `deny` refuses with 503.
    redis.kill();
    wait_for(
        "the strict route refusing without redis",
        Duration::from_secs(10),
        || async { status(&g1, "/status/403").await == 503 },
    )
    .await;
    let h = refusal(
        c.get(g1.url("/status/403")).send().await.unwrap(),
        503,
        "lockout_unavailable",
    )
    .await;
    retry_after(&h);
    wait_rule_decision(&g1, "strict", "lockout", "guess", "store_error_denied").await;
    wait_for(
        "the login route passing without redis",
        Duration::from_secs(10),
        || async { status(&g2, "/status/200").await == 200 },
    )
    .await;
    wait_rule_decision(&g2, "login", "lockout", "guess", "store_error_allowed").await;
}
