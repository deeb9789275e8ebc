//! The public status page end to end: a real gatehouse with one probe up and one down, its own
//! listener under a path and a host, the HTML page, status.json, the Atom feed, the badges,
//! operator updates and announcements through the admin API (kept across a restart), and a
//! headless Chromium that renders the page under its CSP without a console error.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::browser::Browser;
use common::{free_port, wait_for, Gatehouse, Upstream};
use serde_json::{json, Value};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

fn config(app: &Upstream, status_port: u16) -> String {
    let closed = free_port();
    format!(
        "upstreams:
  app: {{ backends: [{{ address: \"{app}\" }}] }}
routes:
  - {{ name: app, upstream: app }}
probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{app}/health\" }} }}
  - {{ name: db, interval: 200ms, timeout: 200ms, tcp: {{ address: \"127.0.0.1:{closed}\" }} }}
alerting:
  group_wait: 200ms
  rules:
    - {{ name: probe-down, probe: \"*\", failure_threshold: 2 }}
status_page:
  listen: \"127.0.0.1:{status_port}\"
  host: 127.0.0.1
  path: /status
  title: \"Acme status\"
  description: \"How Acme's services are doing\"
  components:
    - {{ name: Website, group: Public, probes: [web], routes: [app] }}
    - {{ name: Database, group: Internal, probes: [db] }}
",
        app = app.addr
    )
}

async fn status_json(base: &str) -> Value {
    reqwest::get(format!("{base}/status.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_with_a_probe_up_and_one_down() {
    let app = Upstream::start("app").await;
    let port = free_port();
    let mut g = Gatehouse::start(&config(&app, port)).await;
    let base = format!("http://127.0.0.1:{port}/status");
    wait_for("the database incident on the page", DEADLINE, || async {
        let v = status_json(&base).await;
        v["status"] == "major_outage" && v["incidents"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    let v = status_json(&base).await;
    assert_eq!(v["status_text"], "Major outage");
    assert_eq!(v["groups"][0]["name"], "Public");
    assert_eq!(v["groups"][0]["components"][0]["status"], "operational");
    assert_eq!(v["groups"][1]["components"][0]["status"], "major_outage");
    assert_eq!(
        v["groups"][1]["components"][0]["days"]
            .as_array()
            .unwrap()
            .len(),
        90
    );
    assert_eq!(v["incidents"][0]["title"], "Database: major outage");
    assert!(
        v["incidents"][0].get("details").is_none(),
        "error texts stay private"
    );
    let incident_id = v["incidents"][0]["id"].as_i64().unwrap();

    // The page: cache headers, its own CSP, no internal addresses.
    let r = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'sha256-"));
    assert_eq!(h["cache-control"], "public, max-age=30");
    let html = r.text().await.unwrap();
    // The CSP names the hashes of exactly the inline style and script the page carries.
    for (tag, directive) in [("style", "style-src"), ("script", "script-src")] {
        let open = format!("<{tag}>");
        let start = html.find(&open).unwrap_or_else(|| panic!("no <{tag}>")) + open.len();
        let end = start + html[start..].find(&format!("</{tag}>")).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &html.as_bytes()[start..end]);
        let hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest);
        assert!(
            csp.contains(&format!("{directive} 'sha256-{hash}'")),
            "{csp} lacks the hash of the page's {tag}"
        );
    }
    assert!(html.contains(">Major outage</div>"));
    assert!(
        !html.contains(&app.addr.to_string()),
        "no internal address on the page"
    );
    assert!(!html.contains("refused"), "no error text on the page");

    // Compressed for clients that accept gzip: the same page, a fraction of the bytes.
    let packed = reqwest::Client::new()
        .get(format!("{base}/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    assert_eq!(packed.headers()["vary"], "accept-encoding");
    let packed = packed.bytes().await.unwrap();
    let mut unpacked = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut unpacked,
    )
    .unwrap();
    // (The view may have been rebuilt between the two requests: compare what matters.)
    assert!(unpacked.starts_with("<!doctype html>") && unpacked.contains(">Major outage</div>"));
    assert!(
        packed.len() * 4 < html.len(),
        "{} of {} bytes",
        packed.len(),
        html.len()
    );

    // Machine-readable forms.
    let feed = reqwest::get(format!("{base}/feed.atom")).await.unwrap();
    assert_eq!(
        feed.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let feed = feed.text().await.unwrap();
    assert!(
        feed.contains("<title>Database: major outage (ongoing)</title>"),
        "{feed}"
    );
    let badge = reqwest::get(format!("{base}/badge/database/status.svg"))
        .await
        .unwrap();
    assert_eq!(badge.headers()["content-type"], "image/svg+xml");
    assert!(badge
        .text()
        .await
        .unwrap()
        .contains("Database: major outage"));
    let badge = reqwest::get(format!("{base}/badge/website/uptime-30d.svg"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(badge.contains("uptime 30d: "), "{badge}");
    assert!(
        reqwest::get(format!("{base}/badge/website/response-time.svg"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("response time: ")
    );
    assert_eq!(
        reqwest::get(format!("{base}/badge/nope/status.svg"))
            .await
            .unwrap()
            .status(),
        404
    );
    // Only under its path, only for its host.
    assert_eq!(
        reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap()
            .status(),
        404
    );
    let other_host = reqwest::Client::new()
        .get(format!("{base}/"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other_host.status(), 404);

    // Operators post an update and an announcement through the admin API.
    let client = reqwest::Client::new();
    let r = client
        .post(g.admin(&format!("/api/v1/incidents/{incident_id}/updates")))
        .json(&json!({ "status": "identified", "message": "The database host lost power; failing over." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .post(g.admin("/api/v1/announcements"))
        .json(&json!({ "title": "Planned upgrade", "body": "Sunday 02:00 UTC, 30 minutes.", "level": "maintenance" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let bad = client
        .post(g.admin("/api/v1/incidents/999999/updates"))
        .json(&json!({ "message": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
    let bad = client
        .post(g.admin("/api/v1/announcements"))
        .json(&json!({ "title": "x", "level": "panic" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // They persist: after a restart the page still shows them.
    g.restart().await;
    wait_for(
        "the update and announcement after a restart",
        DEADLINE,
        || async {
            let html = reqwest::get(format!("{base}/"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            html.contains("The database host lost power; failing over.")
                && html.contains("Planned upgrade")
        },
    )
    .await;

    // A real browser renders it under its CSP.
    let mut browser = Browser::start().await;
    browser.load(&format!("{base}/")).await;
    let banner = browser
        .eval("document.getElementById('banner').textContent")
        .await;
    assert_eq!(banner, "Major outage");
    let states = browser
        .eval("Array.from(document.querySelectorAll('section.card')).map(s => s.querySelector('h3').textContent + '=' + s.querySelector('.state').textContent).join('|')")
        .await;
    assert_eq!(states, "Website=Operational|Database=Major outage");
    let landmarks = browser
        .eval("['header','main','footer'].every(t => document.querySelector(t)) && document.querySelectorAll('svg[role=img][aria-label]').length >= 2")
        .await;
    assert_eq!(landmarks, true);
    // The inline script ran (its hash is allowed): times are shown in the visitor's zone.
    let script_ran = browser
        .eval("!document.querySelector('footer time').textContent.includes('UTC')")
        .await;
    assert_eq!(script_ran, true, "the inline script did not run");
    // Dark when the visitor prefers it.
    browser
        .call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
        )
        .await;
    let dark = browser
        .eval("getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(dark, "rgb(13, 17, 23)");
    browser
        .call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": "light" }] }),
        )
        .await;
    let light = browser
        .eval("getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(light, "rgb(255, 255, 255)");
    // A phone's width: nothing wider than the screen.
    browser
        .call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
    let fits = browser
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, true, "the page overflows a 390 px screen");
    browser
        .call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    let png = browser.screenshot().await;
    assert_eq!(&png[1..4], b"PNG");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&shot, &png).unwrap();
    assert!(
        png.len() > 10_000,
        "a real rendering, not a blank page ({} bytes)",
        png.len()
    );
    assert!(
        browser.errors.is_empty(),
        "browser console errors: {:?}",
        browser.errors
    );
}

/// A component's state follows its alert, not its last check: failed checks below the
/// rule's threshold leave it operational; once the rule fires it is the outage.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_check_is_not_an_outage_until_the_alert_fires() {
    let app = Upstream::start("app").await;
    let port = free_port();
    let body = format!(
        "upstreams:
  app: {{ backends: [{{ address: \"{app}\" }}] }}
routes:
  - {{ name: app, upstream: app }}
probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, http: {{ url: \"http://{app}/health\" }} }}
alerting:
  group_wait: 200ms
  rules:
    - {{ name: probe-down, probe: web, failure_threshold: 30 }}
status_page:
  listen: \"127.0.0.1:{port}\"
  components:
    - {{ name: Website, probes: [web] }}
",
        app = app.addr
    );
    let _g = Gatehouse::start(&body).await;
    let base = format!("http://127.0.0.1:{port}");
    let website = |v: &Value| v["groups"][0]["components"][0]["status"].clone();
    wait_for("a first view", DEADLINE, || async {
        website(&status_json(&base).await) == "operational"
    })
    .await;
    app.healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let failing_since = jiff::Timestamp::now();
    // A view built a second into the failures (about 5 failed checks of the 30 the rule
    // needs): the page must not say outage yet.
    wait_for(
        "a view built after a few failed checks",
        DEADLINE,
        || async {
            let v = status_json(&base).await;
            let built: jiff::Timestamp = v["generated_at"].as_str().unwrap().parse().unwrap();
            built.duration_since(failing_since).as_secs_f64() >= 1.0
        },
    )
    .await;
    let v = status_json(&base).await;
    assert_eq!(website(&v), "operational", "failed checks, no alert: {v}");
    assert_eq!(v["status"], "operational");
    wait_for("the outage once the rule fires", DEADLINE, || async {
        website(&status_json(&base).await) == "major_outage"
    })
    .await;
    let v = status_json(&base).await;
    assert_eq!(v["incidents"][0]["title"], "Website: major outage");
}

/// A maintenance window scoped by labels: the probe it covers shows "maintenance", its failed
/// checks are kept but left out of its uptime (the day is blue in the bar), its incident is
/// not a public incident; a probe failing outside the window is the outage. The JSON, the
/// HTML bar, the badges and the operator's history agree.
#[tokio::test(flavor = "multi_thread")]
async fn a_label_scoped_maintenance_window_is_shown_where_it_applies_and_left_out_of_uptime() {
    let app = Upstream::start("app").await;
    let port = free_port();
    let closed = free_port();
    let start = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1))
        .round(jiff::Unit::Second)
        .unwrap();
    let body = format!(
        "upstreams:
  app: {{ backends: [{{ address: \"{app}\" }}] }}
routes:
  - {{ name: app, upstream: app }}
probes:
  - {{ name: web, interval: 200ms, timeout: 200ms, labels: {{ team: web }}, http: {{ url: \"http://{app}/health\" }} }}
  - {{ name: db, interval: 200ms, timeout: 200ms, labels: {{ team: data }}, tcp: {{ address: \"127.0.0.1:{closed}\" }} }}
  - {{ name: cache, interval: 200ms, timeout: 200ms, labels: {{ team: cache }}, tcp: {{ address: \"127.0.0.1:{closed}\" }} }}
alerting:
  group_wait: 200ms
  rules:
    - {{ name: probe-down, probe: \"*\", failure_threshold: 2 }}
  maintenance:
    - {{ name: db-upgrade, description: \"Upgrading the database\", labels: {{ team: data }}, start: \"{start}\", duration: 1h }}
status_page:
  listen: \"127.0.0.1:{port}\"
  components:
    - {{ name: Website, probes: [web] }}
    - {{ name: Database, probes: [db] }}
    - {{ name: Cache, probes: [cache] }}
",
        app = app.addr
    );
    let g = Gatehouse::start(&body).await;
    let base = format!("http://127.0.0.1:{port}");
    let component = |v: &Value, i: usize| v["groups"][0]["components"][i].clone();
    wait_for(
        "the cache outage, the database in maintenance",
        DEADLINE,
        || async {
            let v = status_json(&base).await;
            component(&v, 2)["status"] == "major_outage"
                && component(&v, 1)["status"] == "maintenance"
                && component(&v, 1)["days"][89]["maintenance"]
                    .as_u64()
                    .unwrap_or(0)
                    >= 3
        },
    )
    .await;
    let v = status_json(&base).await;
    assert_eq!(component(&v, 0)["status"], "operational");
    let titles: Vec<&str> = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["title"].as_str())
        .collect();
    assert_eq!(titles, ["Cache: major outage"], "{v}");
    // The database's checks all fell in the window: no uptime to count, a maintenance day.
    let db = component(&v, 1);
    assert_eq!(db["uptime"]["24h"], Value::Null, "{db}");
    assert_eq!(db["days"][89]["uptime"], Value::Null, "{db}");
    let cache = component(&v, 2);
    assert_eq!(cache["uptime"]["24h"], 0.0, "{cache}");
    assert_eq!(cache["days"][89]["maintenance"], 0);
    assert_eq!(component(&v, 0)["days"][89]["maintenance"], 0);
    assert_eq!(v["maintenance"][0]["components"], json!(["Database"]));
    // The page's bars: only the database has a maintenance day.
    let page = text(format!("{base}/")).await;
    assert_eq!(page.matches("rect class=\"maint\"").count(), 1, "{page}");
    // The badges say the same.
    let status = text(format!("{base}/badge/database/status.svg")).await;
    assert!(status.contains("maintenance"), "{status}");
    let status = text(format!("{base}/badge/cache/status.svg")).await;
    assert!(status.contains("major outage"), "{status}");
    // The operator's history keeps every check, marked.
    let h: Value = reqwest::get(g.admin("/api/v1/probes/db/history?range=24h"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["checks"], 0, "{h}");
    assert!(h["maintenance"].as_u64().unwrap() >= 3, "{h}");
    assert!(!h["recent_failures"].as_array().unwrap().is_empty(), "{h}");
}

async fn text(url: String) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}
