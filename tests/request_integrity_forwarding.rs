//! Request integrity (issue 16), forwarding hygiene: from a peer outside `trusted_proxies`,
//! no client-supplied forwarding header reaches the upstream (gatehouse sets its own
//! X-Forwarded-For/-Proto/-Host/-Port and X-Real-IP), and header names with `_` are dropped
//! unless `server.underscores_in_headers` is on, as in nginx. nginx gets the same bytes: what
//! nginx drops, gatehouse must drop too. Last, every refusal is counted by reason.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::compare::*;
use common::raw::{send, Recorded, Recorder};
use common::Gatehouse;
use std::net::SocketAddr;
use std::time::Duration;

/// Every forwarding header the spec removes from an untrusted client, with a value that must
/// not reach the upstream (each contains `203.0.113.`, `evil` or `4444`).
const FORWARDING: &[(&str, &str)] = &[
    ("X-Forwarded-For", "203.0.113.66"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Port", "4444"),
    ("X-Forwarded-Proto", "https-evil"),
    ("X-Forwarded-Prefix", "/evil-prefix"),
    ("X-Forwarded-Ssl", "on-evil"),
    ("X-Forwarded-Scheme", "https-evil"),
    ("X-Forwarded-Server", "evil.example"),
    ("X-Original-URL", "/evil-admin"),
    ("X-Rewrite-URL", "/evil-admin"),
    ("X-Original-Host", "evil.example"),
    ("X-Forwarded-Uri", "/evil-admin"),
    ("True-Client-IP", "203.0.113.66"),
    ("X-Client-IP", "203.0.113.66"),
    ("X-Real-IP", "203.0.113.66"),
    ("X-Cluster-Client-IP", "203.0.113.66"),
    (
        "Forwarded",
        "for=203.0.113.66;host=evil.example;proto=https",
    ),
];

/// Names with `_`, dropped by default (WSGI/CGI backends read `X_Forwarded_For` as
/// `HTTP_X_FORWARDED_FOR`).
const UNDERSCORED: &[(&str, &str)] = &[
    ("X_Forwarded_For", "203.0.113.67"),
    ("X_Real_IP", "203.0.113.67"),
    ("X_Custom", "underscore-evil"),
];

const MARKERS: [&str; 3] = ["203.0.113.", "evil", "4444"];

fn routes(backend: SocketAddr, hash: &str) -> String {
    admin_and_site(backend, hash, "", "")
}

/// A request with `lines` (name, value) after its request line and Host (if any).
fn request(first: &str, host: Option<&str>, lines: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("{first}\r\n");
    if let Some(h) = host {
        r += &format!("Host: {h}\r\n");
    }
    for (k, v) in lines {
        r += &format!("{k}: {v}\r\n");
    }
    r += "X-Custom: kept-value\r\nConnection: close\r\n\r\n";
    r.into_bytes()
}

/// The request variants: canonical names, other spellings, HTTP/1.0 without Host, repeats.
fn variants() -> Vec<(&'static str, Vec<u8>)> {
    let all: Vec<(&str, &str)> = FORWARDING.iter().chain(UNDERSCORED).copied().collect();
    let lower: Vec<(String, &str)> = FORWARDING
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let k = if i % 2 == 0 {
                k.to_ascii_lowercase()
            } else {
                k.to_ascii_uppercase()
            };
            (k, *v)
        })
        .collect();
    let lower: Vec<(&str, &str)> = lower.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let repeated = [
        ("X-Forwarded-For", "203.0.113.66"),
        ("X-Forwarded-For", "203.0.113.68"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Host", "evil2.example"),
        ("X-Forwarded-Port", "4444"),
        ("X-Forwarded-Port", "4445"),
    ];
    let old = [
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "4444"),
        ("X-Forwarded-For", "203.0.113.66"),
        ("Forwarded", "host=evil.example"),
    ];
    vec![
        (
            "HTTP/1.1, every header",
            request("GET / HTTP/1.1", Some("a.test"), &all),
        ),
        (
            "other letter cases",
            request("GET /x HTTP/1.1", Some("a.test"), &lower),
        ),
        (
            "repeated lines",
            request("GET / HTTP/1.1", Some("a.test"), &repeated),
        ),
        (
            "HTTP/1.0 without Host",
            request("GET / HTTP/1.0", None, &old),
        ),
        (
            "absolute form",
            request("GET http://a.test/x HTTP/1.1", Some("a.test"), &old),
        ),
    ]
}

/// What an untrusted client's request may look like at the upstream.
fn untrusted_problems(r: &Recorded, has_host: bool) -> Vec<String> {
    let mut p = Vec::new();
    let head = r.head_text().to_ascii_lowercase();
    for m in MARKERS {
        if head.contains(m) {
            p.push(format!("contains the client's `{m}`"));
        }
    }
    let one = |name: &str, want: &str, p: &mut Vec<String>| {
        let got = r.header(name);
        if got != [want.to_string()] {
            p.push(format!("{name} is {got:?}, want [{want:?}]"));
        }
    };
    one("x-forwarded-for", "127.0.0.1", &mut p);
    one("x-real-ip", "127.0.0.1", &mut p);
    one("x-forwarded-proto", "http", &mut p);
    if has_host {
        let xfh = r.header("x-forwarded-host");
        if !(xfh.len() == 1 && (xfh[0] == "a.test" || xfh[0].starts_with("a.test:"))) {
            p.push(format!("x-forwarded-host is {xfh:?}, want [\"a.test\"]"));
        }
    }
    for port in r.header("x-forwarded-port") {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            p.push(format!("x-forwarded-port `{port}`"));
        }
    }
    let set_by_gatehouse = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-port"];
    let set_by_gatehouse = [&set_by_gatehouse[..], &["x-forwarded-proto", "x-real-ip"]].concat();
    for (name, _) in FORWARDING {
        let lower = name.to_ascii_lowercase();
        if !set_by_gatehouse.contains(&lower.as_str()) && !r.header(name).is_empty() {
            p.push(format!("{name} passed"));
        }
    }
    for name in r.header_names() {
        if name.contains('_') {
            p.push(format!("header name `{name}` with `_` passed"));
        }
    }
    if r.header("x-custom") != ["kept-value"] {
        p.push("an ordinary header (X-Custom) was not passed".into());
    }
    p
}

/// The client's forwarding and underscore header lines of `sent` that reached `r` (same name,
/// same value).
fn passed<'a>(sent: &'a [u8], r: Option<&Recorded>) -> Vec<&'a str> {
    let Some(r) = r else { return Vec::new() };
    let sent = std::str::from_utf8(sent).unwrap();
    sent.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (l, k, v.trim())))
        .filter(|(_, k, _)| {
            FORWARDING
                .iter()
                .chain(UNDERSCORED)
                .any(|(name, _)| name.eq_ignore_ascii_case(k))
        })
        .filter(|(_, k, v)| r.header(k).iter().any(|got| got == v))
        .map(|(l, _, _)| l)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_clients_forwarding_headers_never_reach_the_upstream() {
    let pair = Pair::start(routes, false).await;
    let mut table = String::new();
    let mut failures = 0;
    for (name, bytes) in variants() {
        let (g, g_got) = exchange(pair.gatehouse_addr(), &pair.g_backend, &bytes).await;
        let (n, n_got) = exchange(pair.nginx.addr, &pair.n_backend, &bytes).await;
        let mut problems = match g_got.as_slice() {
            [r] => untrusted_problems(r, !name.contains("without Host")),
            _ => vec![format!("backend got {} requests, want 1", g_got.len())],
        };
        if g.status != Some(200) {
            problems.push(format!("gatehouse answered {}", g.summary()));
        }
        // What nginx drops (its `underscores_in_headers off`), gatehouse drops too.
        let by_nginx = passed(&bytes, n_got.first());
        let by_gatehouse = passed(&bytes, g_got.first());
        for line in &by_gatehouse {
            if !by_nginx.contains(line) {
                problems.push(format!("`{line}` passed; nginx drops it"));
            }
        }
        failures += usize::from(!problems.is_empty());
        table += &format!(
            "{name:<26} nginx {} passed {:?}\n{:<26} gatehouse {} passed {:?}\n{:<26} {}\n",
            n.summary(),
            by_nginx,
            "",
            g.summary(),
            by_gatehouse,
            "",
            if problems.is_empty() {
                "ok".to_string()
            } else {
                format!("FAIL: {}", problems.join("; "))
            }
        );
    }
    eprintln!("{table}");
    assert_eq!(
        failures, 0,
        "forwarding headers from an untrusted client:\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_proxys_forwarded_for_is_extended() {
    let backend = Recorder::start().await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let yaml = format!(
        "trusted_proxies: [\"127.0.0.1/32\"]\n{}",
        routes(backend.addr, &hash)
    );
    let g = Gatehouse::start(&yaml).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], g.port));
    let lines = [
        ("X-Forwarded-For", "198.51.100.7, 203.0.113.66"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "4444"),
    ];
    let (r, got) = exchange(
        addr,
        &backend,
        &request("GET / HTTP/1.1", Some("a.test"), &lines),
    )
    .await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let [rec] = got.as_slice() else {
        panic!("backend got {} requests", got.len())
    };
    let head = rec.head_text();
    assert_eq!(
        rec.header("x-forwarded-for"),
        ["198.51.100.7, 203.0.113.66, 127.0.0.1"],
        "{head}"
    );
    assert_eq!(rec.header("x-real-ip"), ["203.0.113.66"], "{head}");
    // Host and port are gatehouse's validated values, also behind a trusted proxy.
    let xfh = rec.header("x-forwarded-host");
    assert!(xfh.len() == 1 && xfh[0].starts_with("a.test"), "{head}");
    assert!(
        !head.contains("evil.example") && !head.contains("4444"),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn underscores_in_headers_can_be_allowed() {
    let backend = Recorder::start().await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    // Continues gatehouse's `server:` section (the lines Gatehouse::start writes end with it).
    let yaml = format!(
        "  underscores_in_headers: true\n{}",
        routes(backend.addr, &hash)
    );
    let g = Gatehouse::start(&yaml).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], g.port));
    let bytes = request(
        "GET / HTTP/1.1",
        Some("a.test"),
        &[
            ("X_Custom", "underscore-kept"),
            ("X_Forwarded_For", "6.6.6.6"),
            ("X_Original_URL", "/admin"),
        ],
    );
    let (r, got) = exchange(addr, &backend, &bytes).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("x_custom"),
        ["underscore-kept"],
        "{}",
        got[0].head_text()
    );
    // Underscore spellings of forwarding headers are still removed from untrusted clients:
    // CGI-style frameworks read `X_Forwarded_For` as `X-Forwarded-For`.
    for name in ["x_forwarded_for", "x_original_url"] {
        assert!(
            got[0].header(name).is_empty(),
            "{name} forwarded: {}",
            got[0].head_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_is_counted_by_reason() {
    let backend = Recorder::start().await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let g = Gatehouse::start(&routes(backend.addr, &hash)).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], g.port));
    let get = |t: &str| format!("GET {t} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    let with = |h: &str| format!("GET / HTTP/1.1\r\n{h}\r\nConnection: close\r\n\r\n");
    let sent: Vec<(&str, String)> = vec![
        ("bad_path", get("/admin%2fx")),
        ("bad_path", get("/x/..;/admin")),
        ("bad_path", get("/admin%00")),
        ("bad_host", with("Host: a.test, b.test")),
        ("bad_host", with("Host: a.test:1:1")),
        (
            "bad_framing",
            "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
        ),
        (
            "unsupported_transfer_coding",
            "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".into(),
        ),
        ("uri_too_long", get(&format!("/{}", "a".repeat(9 * 1024)))),
        ("header_too_large", with(&format!("Host: a.test\r\nX-Big: {}", "a".repeat(17_000)))),
    ];
    let mut answers = Vec::new();
    for (reason, bytes) in &sent {
        let r = send(addr, bytes.as_bytes()).await;
        answers.push(format!("{reason:<28} {}", r.summary()));
    }
    let mut want: Vec<(&str, f64)> = Vec::new();
    for (reason, _) in &sent {
        match want.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1.0,
            None => want.push((reason, 1.0)),
        }
    }
    // Counters are recorded when a request ends, maybe just after its answer: wait a little.
    let total: f64 = want.iter().map(|(_, n)| n).sum();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let counted = rejected(&g).await;
        if counted.iter().map(|(_, n)| n).sum::<f64>() >= total
            || tokio::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counted = rejected(&g).await;
    let mut report = String::new();
    let mut ok = backend.count() == 0;
    for (reason, n) in &want {
        let got = counted
            .iter()
            .find(|(r, _)| r == reason)
            .map_or(0.0, |(_, n)| *n);
        ok &= got == *n;
        report += &format!("{reason:<28} counted {got} want {n}\n");
    }
    let metrics: Vec<String> = g
        .metrics()
        .await
        .lines()
        .filter(|l| l.contains("rejected"))
        .map(str::to_string)
        .collect();
    assert!(
        ok,
        "answers:\n{}\ncounters:\n{report}backend got {} requests\nexposition:\n{}",
        answers.join("\n"),
        backend.count(),
        metrics.join("\n")
    );
    // Low cardinality: no series names a path or a host.
    assert!(
        !metrics
            .iter()
            .any(|l| l.contains("/admin") || l.contains("a.test")),
        "{metrics:?}"
    );
}

/// `gatehouse_requests_rejected_total` by `reason`.
async fn rejected(g: &Gatehouse) -> Vec<(String, f64)> {
    let name = "gatehouse_requests_rejected_total{";
    g.metrics()
        .await
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once(' ')?;
            let reason = labels.split("reason=\"").nth(1)?.split('"').next()?;
            Some((reason.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}
