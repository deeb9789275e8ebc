//! The shipped Grafana dashboards and Prometheus rules (`dashboards/`) against the real thing:
//! promtool accepts the rule file; every dashboard can be provisioned as is (a data source
//! variable, an instance variable in every query, nothing hard-coded); and with a real
//! gatehouse in which every metric family has data (traffic with 5xx, refusals by every kind
//! of policy, probes up and down, TLS and a failing ACME CA, notifications delivered and
//! failing, a rejected reload) and a real Prometheus scraping it every second, every metric a
//! query or rule names is in gatehouse's `/metrics`, every dashboard query evaluates and shows
//! data, and each alert of the rule file agrees with the built-in rule it stands for.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::dashboards::{dashboards, panels, queries, variables, Query};
use common::policy::CSP_REPORT_PATH;
use common::prometheus::{self, selectors, substitute, Prometheus};
use common::receiver::{BlackHole, Receiver};
use common::redis::RedisServer;
use common::targets::redis_commands;
use common::tls::TestCa;
use common::{free_port, wait_for, Gatehouse, Upstream};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards");
const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/dashboards/prometheus/gatehouse-rules.yml"
);
const DEADLINE: Duration = Duration::from_secs(30);

/// Each alert of the rule file and the built-in gatehouse rule it is equivalent to.
const ALERTS: [(&str, &str); 8] = [
    ("GatehouseProbeDown", "probe-down"),
    ("GatehouseHighErrorRatio", "high-error-ratio"),
    ("GatehouseSlowResponses", "slow-responses"),
    ("GatehouseCertificateExpiry", "certificate-expiry"),
    ("GatehouseAcmeFailing", "acme-failing"),
    ("GatehouseReloadFailed", "reload-failed"),
    ("GatehouseStoreFailing", "store-failing"),
    ("GatehouseNotifierFailing", "notifier-failing"),
];

/// The alerts of the rule file with no built-in rule (group gatehouse.floods): floods at the
/// connection caps and deadlines, HTTP/2 abuse, ejected and missing backends.
const FLOOD_ALERTS: [&str; 7] = [
    "GatehouseListenerFull",
    "GatehouseConnectionsRefused",
    "GatehouseDeadlineFlood",
    "GatehouseSlowClientFlood",
    "GatehouseHttp2Flood",
    "GatehouseBackendEjectedRepeatedly",
    "GatehouseUpstreamDown",
];

#[test]
fn the_rule_file_passes_promtool() {
    let (ok, out) = prometheus::check_rules(Path::new(RULES));
    assert!(ok, "promtool check rules {RULES} failed:\n{out}");
}

#[test]
fn the_promql_reader_finds_metric_names() {
    let e = r#"sum by (route, le) (rate(a_bucket{instance=~"$instance", x="{y}"}[$__rate_interval])) / on (route) group_left(z) b offset 5m or vector(0) > bool 1e3 and c:rec"#;
    let got = selectors(e).unwrap();
    let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a_bucket", "b", "c:rec"]);
    assert_eq!(got[0].matchers, r#"instance=~"$instance", x="{y}""#);
    assert!(selectors("rate(x[5m]) + $oops").is_err());
    assert_eq!(
        substitute(r#"x{a=~"$instance",b=~"${route}"}[$__rate_interval]"#),
        r#"x{a=~".*",b=~".*"}[1m]"#
    );
}

#[test]
fn dashboards_can_be_provisioned_as_is() {
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut uids = BTreeSet::new();
    for (name, d) in dashboards() {
        let text = std::fs::read_to_string(Path::new(DIR).join("grafana").join(&name)).unwrap();
        assert!(
            !text.contains("${DS_"),
            "{name}: an exported __inputs data source"
        );
        assert!(
            d.get("__inputs").is_none() && d.get("__requires").is_none(),
            "{name}"
        );
        assert!(
            d["schemaVersion"].as_i64().unwrap() >= 39,
            "{name}: schemaVersion"
        );
        assert!(d["id"].is_null(), "{name}: id must be null");
        let uid = d["uid"].as_str().unwrap();
        assert_eq!(format!("{uid}.json"), name, "file named after the uid");
        assert!(uids.insert(uid.to_string()), "{name}: duplicate uid");
        let vars = d["templating"]["list"].as_array().unwrap();
        let var = |n: &str| vars.iter().find(|v| v["name"] == n).cloned();
        let source = var("datasource").unwrap_or_else(|| panic!("{name}: no datasource variable"));
        assert_eq!(source["type"], "datasource", "{name}");
        assert_eq!(source["query"], "prometheus", "{name}");
        let instance = var("instance").unwrap_or_else(|| panic!("{name}: no instance variable"));
        assert_eq!(
            instance["definition"],
            "label_values(gatehouse_build_info, instance)"
        );
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(v["datasource"], ds, "{name}: variable {}", v["name"]);
        }
        let mut ids = BTreeSet::new();
        let mut placed: Vec<(String, (i64, i64, i64, i64))> = Vec::new();
        for p in panels(&d) {
            let title = format!("{name} / {}", p["title"]);
            assert!(
                ids.insert(p["id"].as_i64().unwrap()),
                "{title}: duplicate id"
            );
            let g = &p["gridPos"];
            let n = |k: &str| g[k].as_i64().unwrap();
            let (x, y, w, h) = (n("x"), n("y"), n("w"), n("h"));
            assert!(w > 0 && h > 0 && x + w <= 24, "{title}: {g}");
            let overlap = placed.iter().find(|(_, (x2, y2, w2, h2))| {
                x < x2 + w2 && *x2 < x + w && y < y2 + h2 && *y2 < y + h
            });
            assert!(overlap.is_none(), "{title} overlaps {overlap:?}");
            placed.push((title.clone(), (x, y, w, h)));
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(p["datasource"], ds, "{title}: panel data source");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{title}: no query");
            for t in targets {
                assert_eq!(t["datasource"], ds, "{title}: query data source");
            }
        }
        for q in queries(&name, &d) {
            let sels = selectors(&q.expr).unwrap_or_else(|e| panic!("{}: {e}", q.place));
            assert!(!sels.is_empty(), "{}: no metric in `{}`", q.place, q.expr);
            for s in sels {
                assert!(!s.name.is_empty(), "{}: a selector without a name", q.place);
                assert!(
                    s.matchers.contains(r#"instance=~"$instance""#),
                    "{}: `{}` must select instance=~\"$instance\" in `{}`",
                    q.place,
                    s.name,
                    q.expr
                );
            }
        }
    }
    let read = |p: &str| std::fs::read_to_string(Path::new(DIR).join(p)).unwrap();
    let sources = read("provisioning/datasources/gatehouse.yaml");
    assert!(sources.contains("apiVersion: 1") && sources.contains("type: prometheus"));
    let providers = read("provisioning/dashboards/gatehouse.yaml");
    assert!(providers.contains("apiVersion: 1") && providers.contains("type: file"));
    assert!(
        providers.contains("path: "),
        "the file provider names a folder"
    );
}

/// The config: routes with traffic of every kind, policies that refuse, TLS from a file (a
/// certificate with 10 days left) and from an ACME CA that is down, probes up, down and
/// hanging, a redis probe, and notifiers that deliver and fail.
struct Setup {
    app: Upstream,
    hook: Receiver,
    broken: Receiver,
    hole: BlackHole,
    redis: RedisServer,
    ca: TestCa,
    certs: tempfile::TempDir,
}

fn config(s: &Setup, tls_port: u16, closed: u16) -> String {
    let (cert, key) = s.ca.issue_until(
        &["localhost"],
        s.certs.path(),
        "localhost",
        time::OffsetDateTime::now_utc() + time::Duration::days(10),
    );
    let ca_path = s.certs.path().join("ca.pem");
    std::fs::write(&ca_path, &s.ca.cert_pem).unwrap();
    format!(
        r#"tls:
  certificates:
    - {{ cert_file: "{cert}", key_file: "{key}" }}
  acme:
    email: ops@example.com
    directory: "https://127.0.0.1:{closed}/dir"
    retry_min: 100ms
    retry_max: 1s
    certificates:
      - names: [acme.test]
upstreams:
  app: {{ backends: [{{ address: "{app}" }}] }}
  dead: {{ backends: [{{ address: "127.0.0.1:{closed}" }}] }}
routes:
  - name: app
    upstream: app
    policy:
      cors: {{ allow_origins: ["https://app.example.com"] }}
      headers: {{ content_security_policy: {{ directives: {{ default-src: ["'self'"] }}, report_uri: gatehouse }} }}
  - {{ name: limited, upstream: app, path_prefix: /limited, policy: {{ rate_limits: [{{ name: burst, rate: 1/s, burst: 1 }}] }} }}
  - {{ name: form, upstream: app, path_prefix: /form, policy: {{ csrf: {{ allow_without_origin: false }} }} }}
  - {{ name: login, upstream: app, path_prefix: /status/401, policy: {{ lockouts: [{{ name: guess, statuses: [401], max_failures: 2, window: 1m, block_for: 1m }}] }} }}
  - {{ name: blocked, upstream: app, path_prefix: /blocked, policy: {{ ip: {{ deny: ["127.0.0.0/8"] }} }} }}
  - {{ name: dead, upstream: dead, path_prefix: /dead }}
  - {{ name: slow, upstream: app, path_prefix: /slow }}
store: {{ memory: true }}
probes:
  - {{ name: web, group: site, interval: 200ms, timeout: 200ms, http: {{ url: "http://{app}/health" }} }}
  - {{ name: edge-cert, group: site, interval: 200ms, timeout: 200ms, tls: {{ address: "127.0.0.1:{tls_port}", server_name: localhost, ca: "{ca}" }} }}
  - {{ name: db, group: backend, interval: 200ms, timeout: 200ms, tcp: {{ address: "127.0.0.1:{closed}" }} }}
  - {{ name: api, group: backend, interval: 200ms, timeout: 200ms, depends_on: [db], http: {{ url: "http://127.0.0.1:{closed}/" }} }}
  - {{ name: hung, group: backend, interval: 200ms, timeout: 200ms, http: {{ url: "http://{hole}/" }} }}
  - {{ name: cache, group: backend, interval: 200ms, timeout: 200ms, redis: {{ url: "{redis}" }} }}
alerting:
  evaluation_interval: 200ms
  group_wait: 200ms
  group_interval: 500ms
  repeat_interval: 2s
  notifiers:
    - {{ name: hook, type: webhook, url: "{hook}/hook" }}
    - {{ name: broken, type: webhook, url: "{broken}/hook", retries: 1, timeout: 2s }}
"#,
        cert = cert.display(),
        key = key.display(),
        ca = ca_path.display(),
        app = s.app.addr,
        hole = s.hole.addr,
        redis = s.redis.url(),
        hook = s.hook.url,
        broken = s.broken.url,
    )
}

/// Requests of every kind, over and over, until aborted: 2xx, 3xx, 4xx, 5xx and 502, cache hits and
/// misses, a rate limit, a lockout, CORS, CSRF and IP refusals, CSP reports, HTTPS.
async fn drive(plain: String, tls: reqwest::Client, tls_url: String) {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let report = r#"{"csp-report":{"document-uri":"http://x/","violated-directive":"img-src","blocked-uri":"http://evil/"}}"#;
    let evil = "https://evil.example";
    loop {
        let requests = [
            c.get(format!("{plain}/")),
            c.get(format!("{plain}/?h.x-cache=HIT")),
            c.get(format!("{plain}/?h.x-cache=MISS")),
            c.get(format!("{plain}/status/500")),
            c.get(format!("{plain}/status/404")),
            c.get(format!("{plain}/status/302?h.location=/")),
            c.get(format!("{plain}/limited")),
            c.request(reqwest::Method::OPTIONS, format!("{plain}/"))
                .header("origin", evil)
                .header("access-control-request-method", "POST"),
            c.post(format!("{plain}/form"))
                .header("origin", evil)
                .body("a=1"),
            c.get(format!("{plain}/status/401")),
            c.get(format!("{plain}/blocked")),
            // No canonical form (an encoded slash): refused before routing.
            c.get(format!("{plain}/a%2fb")),
            c.get(format!("{plain}/dead")),
            c.post(format!("{plain}{CSP_REPORT_PATH}"))
                .header("content-type", "application/csp-report")
                .body(report),
            tls.get(&tls_url),
        ];
        for r in requests {
            let _ = r.send().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sample names in gatehouse's `/metrics`, and the built-in rules with their severity (every
/// rule has a `gatehouse_alerts_firing` series, at 0 when quiet).
fn exposition(text: &str) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let mut rules = BTreeMap::new();
    for l in text
        .lines()
        .filter(|l| l.starts_with("gatehouse_alerts_firing{"))
    {
        let label = |k: &str| {
            l.split(&format!("{k}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        };
        if let (Some(rule), Some(severity)) = (label("rule"), label("severity")) {
            rules.insert(rule, severity);
        }
    }
    (prometheus::exposed_names(text), rules)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_query_and_rule_works_against_a_real_gatehouse_and_prometheus() {
    let started = Instant::now();
    let s = Setup {
        app: Upstream::start("app").await,
        hook: Receiver::answering(200).await,
        broken: Receiver::answering(500).await,
        hole: BlackHole::start().await,
        redis: RedisServer::start().await,
        ca: TestCa::new(),
        certs: tempfile::tempdir().unwrap(),
    };
    // Keyspace hits and a miss, so the redis probe has a hit ratio.
    redis_commands(s.redis.port, &["SET k v", "GET k", "GET k", "GET nothing"]).await;
    let (port, tls_port, admin_port, closed) = (free_port(), free_port(), free_port(), free_port());
    let body = config(&s, tls_port, closed);
    let dir = tempfile::tempdir().unwrap();
    let g = Gatehouse::start_tls_in(dir, port, tls_port, admin_port, &body).await;
    let prom = Prometheus::start(&format!("127.0.0.1:{admin_port}"), &[Path::new(RULES)]).await;
    wait_for("Prometheus to scrape gatehouse", DEADLINE, || async {
        !prom.series(r#"up{job="gatehouse"} == 1"#).await.is_empty()
    })
    .await;

    // Traffic starts after the first scrape, so that every counter rises under Prometheus's
    // eyes (a series born with its first increment shows no increase).
    let tls = common::tls::client(&s.ca.cert_pem, &["localhost"], tls_port);
    let traffic = tokio::spawn(drive(
        g.url(""),
        tls,
        format!("https://localhost:{tls_port}/"),
    ));
    // Twenty responses slower than 2 s on one route (one fast one first, so that its series
    // exist before they count).
    let c = reqwest::Client::new();
    c.get(g.url("/slow?ms=1")).send().await.unwrap();
    wait_for("the slow route in Prometheus", DEADLINE, || async {
        let q = r#"gatehouse_http_request_duration_seconds_count{route="slow"}"#;
        !prom.series(q).await.is_empty()
    })
    .await;
    let slow = futures_util::future::join_all(
        (0..20).map(|_| c.get(g.url("/slow?ms=2100")).timeout(DEADLINE).send()),
    );
    // A reload that fails (an unknown key): the old config keeps serving.
    g.rewrite(&format!("{body}no_such_setting: true\n"));
    for r in slow.await {
        assert_eq!(r.unwrap().status(), 200);
    }
    wait_for("the rejected reload", DEADLINE, || async {
        let n = g.metric(r#"gatehouse_config_reloads_total{result="error"}"#);
        n.await.unwrap_or(0.0) >= 1.0
    })
    .await;

    let boards = dashboards();
    let mut all: Vec<Query> = boards.iter().flat_map(|(n, d)| queries(n, d)).collect();
    let vars: Vec<_> = boards.iter().flat_map(|(n, d)| variables(n, d)).collect();
    let rules = prom.rules().await;
    let records: BTreeSet<String> = rules
        .iter()
        .filter(|r| r["type"] == "recording")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    for r in &rules {
        all.push(Query {
            place: format!("rule {}", r["name"].as_str().unwrap()),
            expr: r["query"].as_str().unwrap().to_string(),
        });
    }

    // Until everything holds, or the deadline: the answers change as scrapes and rule
    // evaluations come in.
    let deadline = Instant::now() + Duration::from_secs(40);
    let (checked, builtin) = loop {
        let (problems, builtin) = check(&g, &prom, &all, &vars, &records).await;
        if problems.is_empty() {
            break (all.len(), builtin);
        }
        if Instant::now() > deadline {
            panic!(
                "{} problems:\n{}\n\nPrometheus log (end):\n{}",
                problems.len(),
                problems.join("\n"),
                tail(&prom.log(), 20)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    traffic.abort();

    // The rule file has one alert per built-in rule, with the same severity, and the flood
    // alerts, which have none.
    let alerts: BTreeMap<&str, &Value> = rules
        .iter()
        .filter(|r| r["type"] == "alerting")
        .map(|r| (r["name"].as_str().unwrap(), r))
        .collect();
    let mapped: BTreeSet<&str> = ALERTS.iter().map(|(_, b)| *b).collect();
    let names: BTreeSet<&str> = builtin.keys().map(String::as_str).collect();
    assert_eq!(mapped, names, "one alert per built-in rule");
    assert_eq!(
        alerts.len(),
        ALERTS.len() + FLOOD_ALERTS.len(),
        "{:?}",
        alerts.keys()
    );
    for alert in FLOOD_ALERTS {
        let a = alerts
            .get(alert)
            .unwrap_or_else(|| panic!("no alert {alert}"));
        assert!(a["labels"]["severity"].is_string(), "{alert}: severity");
        for k in ["summary", "description", "runbook_url"] {
            assert!(a["annotations"][k].is_string(), "{alert}: annotation {k}");
        }
    }
    for (alert, rule) in ALERTS {
        let a = alerts
            .get(alert)
            .unwrap_or_else(|| panic!("no alert {alert}"));
        assert_eq!(a["labels"]["severity"], builtin[rule], "{alert}");
        for k in ["summary", "description", "runbook_url"] {
            assert!(a["annotations"][k].is_string(), "{alert}: annotation {k}");
        }
    }
    eprintln!(
        "{checked} dashboard and rule queries checked in {:?}",
        started.elapsed()
    );
}

/// What does not hold yet: a query that fails or shows no data, a metric that gatehouse does
/// not export, a rule that is unhealthy or disagrees with gatehouse's built-in rule. Also
/// returns the built-in rules by name with their severity.
async fn check(
    g: &Gatehouse,
    prom: &Prometheus,
    queries: &[Query],
    vars: &[(String, String, String)],
    records: &BTreeSet<String>,
) -> (Vec<String>, BTreeMap<String, String>) {
    let text = g.metrics().await;
    let (exposed, builtin) = exposition(&text);
    let mut problems = Vec::new();
    let names = queries
        .iter()
        .map(|q| (q.place.clone(), q.expr.clone()))
        .chain(vars.iter().map(|(p, s, _)| (p.clone(), s.clone())));
    for (place, expr) in names {
        for sel in selectors(&expr).unwrap_or_else(|e| panic!("{place}: {e}")) {
            if !exposed.contains(&sel.name) && !records.contains(&sel.name) {
                problems.push(format!("{place}: `{}` is not in /metrics", sel.name));
            }
        }
    }
    for q in queries.iter().filter(|q| !q.place.starts_with("rule ")) {
        let v = prom.query(&substitute(&q.expr)).await;
        if v["status"] != "success" {
            problems.push(format!("{}: `{}`: {}", q.place, q.expr, v["error"]));
        } else if v["data"]["result"].as_array().is_some_and(Vec::is_empty) {
            problems.push(format!("{}: no data from `{}`", q.place, q.expr));
        }
    }
    for (place, sel, label) in vars {
        let found = prom.series(&substitute(sel)).await;
        if !found
            .iter()
            .any(|s| s["metric"][label.as_str()].is_string())
        {
            problems.push(format!("{place}: no `{label}` values from `{sel}`"));
        }
    }
    for r in records {
        if prom.series(r).await.is_empty() {
            problems.push(format!("recording rule {r}: no series"));
        }
    }
    let rules = prom.rules().await;
    for r in &rules {
        if r["health"] != "ok" {
            problems.push(format!(
                "rule {}: {} {}",
                r["name"], r["health"], r["lastError"]
            ));
        }
    }
    for (alert, rule) in ALERTS {
        let Some(r) = rules.iter().find(|r| r["name"] == alert) else {
            problems.push(format!("no alert {alert} in the rule file"));
            continue;
        };
        let agrees = agreement(g, &text, rule, r).await;
        if let Err(e) = agrees {
            problems.push(format!("{alert} ({rule}): {e}"));
        }
    }
    (problems, builtin)
}

/// Whether the Prometheus alert `r` and gatehouse's built-in `rule` agree. The scenario makes
/// every rule's condition true except store-failing. gatehouse's route rules hold for 1m
/// before firing, so for those the condition is read from the route's live 5m window (the
/// error-ratio gauge; the p95, which is not exported, from `/api/v1/routes`); the Prometheus
/// alerts with a `for:` are pending for as long.
async fn agreement(
    g: &Gatehouse,
    metrics: &str,
    rule: &str,
    r: &Value,
) -> Result<(), Disagreement> {
    let active = rule != "store-failing";
    let state = r["state"].as_str().unwrap_or("?");
    let held = r["duration"].as_f64().unwrap_or(0.0) > 0.0;
    let want = match (active, held) {
        (false, _) => "inactive",
        (true, true) => "pending",
        (true, false) => "firing",
    };
    if state != want && !(want == "pending" && state == "firing") {
        return Err(Disagreement::Prometheus {
            state: state.to_string(),
            want,
        });
    }
    let gatehouse = match rule {
        "high-error-ratio" => {
            let labels = [("route", "app"), ("window", "5m")];
            let v = g.metric_with("gatehouse_route_error_ratio", &labels).await;
            v.is_some_and(|v| v > 0.05)
        }
        "slow-responses" => window_p95(g, "slow", "5m").await.is_some_and(|v| v > 2.0),
        _ => metrics
            .lines()
            .filter(|l| l.starts_with("gatehouse_alerts_firing{"))
            .filter(|l| l.contains(&format!("rule=\"{rule}\"")))
            .any(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) > Some(0.0)),
    };
    if gatehouse != active {
        return Err(Disagreement::Gatehouse {
            holds: gatehouse,
            want: active,
        });
    }
    Ok(())
}

/// How a Prometheus alert and its built-in rule disagree.
#[derive(Debug)]
enum Disagreement {
    /// The alert's state in Prometheus is not the one the scenario makes.
    Prometheus { state: String, want: &'static str },
    /// gatehouse's own condition does not hold as the scenario makes it.
    Gatehouse { holds: bool, want: bool },
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disagreement::Prometheus { state, want } => {
                write!(f, "Prometheus says {state}, expected {want}")
            }
            Disagreement::Gatehouse { holds, want } => {
                write!(f, "gatehouse's condition is {holds}, expected {want}")
            }
        }
    }
}

/// The p95 of `route`'s live `window` as gatehouse's route rules see it (`/api/v1/routes`).
async fn window_p95(g: &Gatehouse, route: &str, window: &str) -> Option<f64> {
    let v: Value = reqwest::get(g.admin("/api/v1/routes"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["routes"]
        .as_array()?
        .iter()
        .find(|r| r["route"] == route)?["windows"][window]["latency"]["p95"]
        .as_f64()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
