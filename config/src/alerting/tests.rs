//! The `alerting` section: defaults, every rule kind, maintenance windows, routes, and the
//! mistakes with their paths and lines.

use crate::alerting::maintenance::*;
use crate::alerting::rules::*;
use crate::alerting::*;
use crate::Config;
use std::time::Duration;

const BASE: &str = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]
upstreams:
  app: { backends: [{ address: \"127.0.0.1:3000\" }] }
routes:
  - { name: app, upstream: app }
probes:
  - { name: db, tcp: { address: \"127.0.0.1:5432\" } }
  - { name: api, depends_on: [db], http: { url: \"http://127.0.0.1:3000/\" } }
";

fn load(alerting: &str) -> Result<Config, String> {
    Config::from_yaml(&format!("{BASE}alerting:\n{alerting}")).map_err(|e| e.to_string())
}

fn error(alerting: &str) -> String {
    match load(alerting) {
        Ok(_) => panic!("expected an error for:\n{alerting}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_cover_the_checklist_without_config() {
    let c = Config::from_yaml(BASE).unwrap_or_else(|e| panic!("{e}"));
    let a = &c.alerting;
    let names: Vec<&str> = a.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "probe-down",
            "high-error-ratio",
            "slow-responses",
            "certificate-expiry",
            "acme-failing",
            "reload-failed",
            "store-failing",
            "notifier-failing"
        ]
    );
    let errors = &a.rules[1];
    assert_eq!(
        errors.kind,
        RuleKind::Route {
            routes: Target::All,
            signal: Signal::ErrorRatio,
            op: Cmp::Gt,
            threshold: 0.05,
            window: SignalWindow::FiveMinutes,
            hold: Duration::from_secs(60),
            min_requests: 20,
        }
    );
    assert!(
        matches!(a.rules[2].kind, RuleKind::Route { signal: Signal::P95, threshold, .. } if threshold == 2.0)
    );
    assert!(
        matches!(a.rules[3].kind, RuleKind::CertificateExpiry { within, .. } if within == Duration::from_secs(14 * 86400))
    );
    assert_eq!(a.group_by, ["rule", "group"]);
    assert_eq!(a.group_wait, Duration::from_secs(30));
    assert_eq!(a.repeat_interval, Duration::from_secs(4 * 3600));
    assert!(a.send_resolved);
    assert_eq!(c.probes.probes[1].depends_on, ["db"]);
}

#[test]
fn rules_of_every_kind_and_a_replaced_default() {
    let c = load(
        "  rules:
    - { name: probe-down, probe: [api], failure_threshold: 5, success_threshold: 1, severity: info }
    - { name: slow-login, route: app, when: \"p99 >= 1500ms\", window: 1m, for: 2m, min_requests: 50, labels: { team: auth }, runbook: \"https://wiki/slow\" }
    - { name: cache, route: \"*\", when: \"cache_hit_ratio < 80%\" }
    - { name: certs, certificate: \"*\", expires_within: 7d, severity: critical }
    - { name: acme, certificate: [example.com], acme_failures: 2 }
    - { name: self, gatehouse: store_failing }
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rules = &c.alerting.rules;
    assert_eq!(rules.iter().filter(|r| r.name == "probe-down").count(), 1);
    let down = rules
        .iter()
        .find(|r| r.name == "probe-down")
        .unwrap_or_else(|| panic!());
    assert!(!down.builtin);
    assert_eq!(down.severity, Severity::Info);
    assert_eq!(
        down.kind,
        RuleKind::Probe {
            probes: Target::Names(vec!["api".into()]),
            groups: vec![],
            failure_threshold: Threshold::consecutive(5),
            success_threshold: Threshold::consecutive(1)
        }
    );
    let slow = rules
        .iter()
        .find(|r| r.name == "slow-login")
        .unwrap_or_else(|| panic!());
    assert_eq!(
        slow.kind,
        RuleKind::Route {
            routes: Target::Names(vec!["app".into()]),
            signal: Signal::P99,
            op: Cmp::Ge,
            threshold: 1.5,
            window: SignalWindow::OneMinute,
            hold: Duration::from_secs(120),
            min_requests: 50,
        }
    );
    assert_eq!(slow.labels.get("team").map(String::as_str), Some("auth"));
    let cache = rules
        .iter()
        .find(|r| r.name == "cache")
        .unwrap_or_else(|| panic!());
    assert!(
        matches!(cache.kind, RuleKind::Route { op: Cmp::Lt, threshold, .. } if (threshold - 0.8).abs() < 1e-9)
    );
}

#[test]
fn maintenance_windows_one_off_and_recurring() {
    let c = load(
        "  maintenance:
    - { name: upgrade, subjects: [api], start: \"2026-12-01T02:00:00+01:00\", duration: 90m }
    - { name: weekly, every: [sat, sun], at: \"03:30\", duration: 2h, timezone: Europe/Berlin, labels: { team: core } }
    - { name: nightly, every: day, at: \"00:00\", duration: 15m }
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let m = &c.alerting.maintenance;
    assert_eq!(
        m[0].schedule,
        Schedule::Once {
            start: 1_796_086_800,
            end: 1_796_086_800 + 5400
        }
    );
    assert_eq!(
        m[1].schedule,
        Schedule::Recurring {
            days: vec![6, 7],
            start: (3, 30),
            duration: Duration::from_secs(7200),
            timezone: jiff::tz::TimeZone::get("Europe/Berlin").expect("tzdb")
        }
    );
    assert!(
        matches!(&m[2].schedule, Schedule::Recurring { days, timezone, .. } if days.is_empty() && timezone.iana_name() == Some("UTC"))
    );
}

#[test]
fn mistakes_name_their_path_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "  rules:\n    - { name: x, route: app, when: \"error_rate > 5%\" }\n",
            "alerting.rules[0].when (line 11): `error_rate > 5%`: unknown signal `error_rate`",
        ),
        (
            "  rules:\n    - { name: x, route: app, when: \"p95 > 2\" }\n",
            "`2` has no unit",
        ),
        (
            "  rules:\n    - { name: x, route: app, when: \"error_ratio > 150%\" }\n",
            "not between 0 and 100%",
        ),
        (
            "  rules:\n    - { name: x, route: app, when: \"p95 > 2s\", window: 10m }\n",
            "alerting.rules[0].window (line 11): `10m` is not a window gatehouse keeps; use 1m, 5m or 1h",
        ),
        (
            "  rules:\n    - { name: x, probe: nope }\n",
            "alerting.rules[0].probe (line 11): unknown probe `nope`",
        ),
        (
            "  rules:\n    - { name: x, route: [app, apii], when: \"p95 > 1s\" }\n",
            "alerting.rules[0].route (line 11): unknown route `apii`",
        ),
        (
            "  rules:\n    - { name: x, group: corr }\n",
            "alerting.rules[0].group (line 11): no probe is in group `corr`",
        ),
        (
            "  rules:\n    - { name: x, probe: db, route: app }\n",
            "a rule watches exactly one of",
        ),
        (
            "  rules:\n    - { name: x, probe: db, severity: urgent }\n",
            "unknown severity `urgent`; expected critical, warning or info",
        ),
        (
            "  rules:\n    - { name: x, probe: db, impact: broken }\n",
            "alerting.rules[0].impact (line 11): `broken` is not an impact; expected outage or degraded",
        ),
        (
            "  rules:\n    - { name: x, gatehouse: disk_full }\n",
            "unknown check `disk_full`",
        ),
        (
            "  rules:\n    - { name: x, certificate: \"*\" }\n",
            "needs exactly one of `expires_within`",
        ),
        (
            "  rules:\n    - { name: x, probe: db, treshold: 3 }\n",
            "alerting.rules[0].treshold",
        ),
        (
            "  maintenance:\n    - { name: m, every: sun, at: \"02:00\", duration: 1h, timezone: Mars/Olympus }\n",
            "alerting.maintenance[0].timezone (line 11): unknown time zone `Mars/Olympus`",
        ),
        (
            "  maintenance:\n    - { name: m, every: funday, at: \"02:00\", duration: 1h }\n",
            "`funday` is not a day",
        ),
        (
            "  maintenance:\n    - { name: m, start: \"tomorrow\", duration: 1h }\n",
            "`tomorrow` is not a time with an offset",
        ),
        (
            "  maintenance:\n    - { name: m, start: \"2026-12-01T02:00:00Z\", end: \"2026-12-01T01:00:00Z\" }\n",
            "the window ends before it starts",
        ),
        (
            "  routes:\n    - { notifiers: [pager] }\n",
            "alerting.routes[0].notifiers[0] (line 11): unknown notifier `pager`",
        ),
        ("  group_wait: soon\n", "alerting.group_wait"),
    ];
    for (yaml, want) in cases {
        let e = error(yaml);
        assert!(e.contains(want), "for\n{yaml}\nexpected `{want}` in:\n{e}");
    }
}

#[test]
fn probe_dependencies_are_checked() {
    let yaml = |deps: &str| {
        format!(
            "listeners: [{{ name: http, address: \"127.0.0.1:8080\" }}]
upstreams:
  app: {{ backends: [{{ address: \"127.0.0.1:3000\" }}] }}
routes:
  - {{ name: app, upstream: app }}
probes:
  - {{ name: a, depends_on: [{deps}], tcp: {{ address: \"127.0.0.1:1\" }} }}
  - {{ name: b, depends_on: [a], tcp: {{ address: \"127.0.0.1:1\" }} }}
"
        )
    };
    let e = |deps: &str| match Config::from_yaml(&yaml(deps)) {
        Ok(_) => panic!("expected an error for depends_on [{deps}]"),
        Err(e) => e.to_string(),
    };
    assert!(e("zz").contains("probes[0].depends_on[0] (line 7): unknown probe or route `zz`"));
    assert!(e("a").contains("a probe cannot depend on itself"));
    assert!(e("b").contains("`a` depends on itself through its parents"));
}

#[test]
fn status_page_components_point_at_probes_and_routes() {
    let ok = Config::from_yaml(&format!(
        "{BASE}status_page:\n  listen: \"127.0.0.1:8090\"\n  path: /status/\n  components:\n    - {{ name: Public API, probes: [api], routes: [app] }}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let page = ok.status_page.unwrap_or_else(|| panic!("configured"));
    assert_eq!(page.path, "/status");
    assert_eq!(page.components[0].slug, "public-api");
    assert_eq!(page.components[0].group, "Services");
    let cases: &[(&str, &str)] = &[
        (
            "  components:\n    - { name: API, probes: [nope] }\n",
            "status_page.components[0].probes[0] (line 12): unknown probe `nope`",
        ),
        (
            "  components:\n    - { name: API, routes: [nope] }\n",
            "unknown route `nope`",
        ),
        (
            "  components:\n    - { name: API }\n",
            "needs `probes`, `routes` or both",
        ),
        (
            "  components:\n    - { name: API, probes: [db] }\n    - { name: api, probes: [db] }\n",
            "two components share the slug `api`",
        ),
        ("  path: status\n", "`status` is not a path"),
        (
            "  listen: \"127.0.0.1:8080\"\n",
            "is also the address of listeners[0]",
        ),
    ];
    for (extra, want) in cases {
        let listen = if extra.contains("listen") {
            ""
        } else {
            "  listen: \"127.0.0.1:8090\"\n"
        };
        let yaml = format!("{BASE}status_page:\n{listen}{extra}");
        match Config::from_yaml(&yaml) {
            Ok(_) => panic!("expected `{want}` for\n{extra}"),
            Err(e) => assert!(e.to_string().contains(want), "expected `{want}` in {e}"),
        }
    }
}

#[test]
fn delivery_defaults_and_mistakes() {
    let c = Config::from_yaml(BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.alerting.delivery,
        DeliveryPolicy {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            expiry: Duration::from_secs(86_400),
        }
    );
    let c = load("  delivery: { backoff: 200ms, max_backoff: 1s, expiry: 1h }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.alerting.delivery.backoff, Duration::from_millis(200));
    let e = error("  delivery: { backoff: 10m }\n");
    assert!(
        e.contains("alerting.delivery.max_backoff") && e.contains("shorter than `backoff`"),
        "{e}"
    );
    let e = error("  delivery:\n    expiry: 1m\n");
    assert!(e.contains("alerting.delivery.expiry"), "{e}");
    assert!(e.contains("line "), "names the line: {e}");
    let e = error("  delivery: { backof: 1s }\n");
    assert!(e.contains("backof"), "{e}");
}

#[test]
fn flap_control_defaults_old_keys_and_new_ones() {
    let c = Config::from_yaml(BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.alerting.flapping,
        Flapping {
            threshold: 4,
            period: Duration::from_secs(1800),
            window: 20,
            high: 20,
            low: 5,
            settle: Duration::ZERO,
        }
    );
    // The old keys alone still work, and leave the rate at its defaults.
    let c = load("  flapping: { threshold: 0, period: 10m }\n").unwrap_or_else(|e| panic!("{e}"));
    let f = c.alerting.flapping;
    assert_eq!((f.threshold, f.period), (0, Duration::from_secs(600)));
    assert_eq!((f.window, f.high, f.low), (20, 20, 5));
    let c = load("  flapping: { window: 30, high: 40, low: 10, settle: 5s }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let f = c.alerting.flapping;
    assert_eq!((f.window, f.high, f.low), (30, 40, 10));
    assert_eq!(f.settle, Duration::from_secs(5));
    assert_eq!(f.threshold, 4);
    let c = load("  flapping: { window: 0 }\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.alerting.flapping.window, 0, "the rate can be turned off");
}

#[test]
fn flap_control_mistakes_name_their_path_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "  flapping: { window: 500 }\n",
            "alerting.flapping.window (line 10): 500 checks: give 2 to 100 (or 0 to turn the rate off)",
        ),
        ("  flapping: { window: 1 }\n", "alerting.flapping.window (line 10)"),
        (
            "  flapping: { high: 150 }\n",
            "alerting.flapping.high (line 10): 150 is a percentage: at most 100",
        ),
        (
            "  flapping: { high: 10, low: 30 }\n",
            "alerting.flapping.low (line 10): 30% is above `high` (10%)",
        ),
        ("  flapping: { high: 0 }\n", "alerting.flapping.high (line 10): must be above 0"),
        ("  flapping: { settle: soon }\n", "alerting.flapping.settle"),
        ("  flapping: { hi: 3 }\n", "alerting.flapping.hi"),
    ];
    for (yaml, want) in cases {
        let e = error(yaml);
        assert!(e.contains(want), "for\n{yaml}\nexpected `{want}` in:\n{e}");
    }
}

#[test]
fn thresholds_in_a_row_or_k_of_the_last_n() {
    let c = load(
        "  rules:
    - { name: a, probe: api, failure_threshold: { count: 3, of: 5 }, success_threshold: { count: 2, of: 2 } }
    - { name: b, probe: api }
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kind = |name: &str| {
        c.alerting
            .rules
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.kind.clone())
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert!(matches!(
        kind("a"),
        RuleKind::Probe {
            failure_threshold: Threshold {
                count: 3,
                of: Some(5)
            },
            success_threshold: Threshold {
                count: 2,
                of: Some(2)
            },
            ..
        }
    ));
    assert!(matches!(
        kind("b"),
        RuleKind::Probe {
            failure_threshold: Threshold { count: 3, of: None },
            success_threshold: Threshold { count: 2, of: None },
            ..
        }
    ));
}

#[test]
fn threshold_mistakes_name_their_path_and_line() {
    let rule = |t: &str| format!("  rules:\n    - {{ name: x, probe: api, {t} }}\n");
    let cases: &[(String, &str)] = &[
        (
            rule("failure_threshold: { count: 5, of: 3 }"),
            "alerting.rules[0].failure_threshold (line 11): 5 of the last 3 can never happen: `of` must be at least `count`",
        ),
        (
            rule("success_threshold: { count: 3, of: 500 }"),
            "alerting.rules[0].success_threshold (line 11): `of: 500`: at most 100 checks are kept",
        ),
        (
            rule("failure_threshold: { count: 0, of: 5 }"),
            "alerting.rules[0].failure_threshold (line 11): must be at least 1",
        ),
        (
            rule("failure_threshold: 0"),
            "alerting.rules[0].failure_threshold (line 11): must be at least 1",
        ),
        (
            rule("failure_threshold: \"3 of 5\""),
            "alerting.rules[0].failure_threshold (line 11): give checks in a row (`3`) or some of the last checks (`{ count: 3, of: 5 }`)",
        ),
        (
            rule("failure_threshold: { count: 3 }"),
            "alerting.rules[0].failure_threshold (line 11): missing field `of`",
        ),
        (
            rule("failure_threshold: { count: 3, out_of: 5 }"),
            "alerting.rules[0].failure_threshold.out_of",
        ),
        (rule("failure_threshold: -2"), "alerting.rules[0].failure_threshold (line 11): `-2` is not a number of checks"),
    ];
    for (yaml, want) in cases {
        let e = error(yaml);
        assert!(e.contains(want), "for\n{yaml}\nexpected `{want}` in:\n{e}");
    }
}

#[test]
fn inhibit_rules_and_their_mistakes() {
    let c = load(
        "  inhibit:\n    - { source: { severity: critical }, target: { severity: warning }, equal: [group] }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.alerting.inhibit.len(), 1);
    let i = &c.alerting.inhibit[0];
    let l = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let src = l(&[("severity", "critical"), ("group", "core")]);
    assert!(i.inhibits(&src, &l(&[("severity", "warning"), ("group", "core")])));
    assert!(!i.inhibits(&src, &l(&[("severity", "warning"), ("group", "edge")])));
    assert!(!i.inhibits(&src, &l(&[("severity", "critical"), ("group", "core")])));
    let e = error("  inhibit:\n    - { source: {}, target: { severity: warning } }\n");
    assert!(
        e.contains("alerting.inhibit[0].source") && e.contains("line "),
        "{e}"
    );
    let e = error("  inhibit:\n    - { source: { a: b }, target: { c: d }, equals: [x] }\n");
    assert!(e.contains("equals"), "{e}");
}
