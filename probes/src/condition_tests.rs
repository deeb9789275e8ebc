#![allow(clippy::unwrap_used)]

use super::*;
use crate::result::Phases;
use gatehouse_config::probes::condition::parse_condition;
use gatehouse_config::probes::KindTag;
use http::{HeaderMap, HeaderValue};

/// `text` parsed for the first kind that measures its subject.
fn cond(text: &str) -> Condition {
    let kinds = [
        KindTag::Http,
        KindTag::Tcp,
        KindTag::Tls,
        KindTag::Dns,
        KindTag::Redis,
    ];
    kinds
        .iter()
        .find_map(|k| parse_condition(text, *k).ok())
        .unwrap_or_else(|| panic!("`{text}` does not parse"))
}

fn up(text: &str, obs: &Observation) {
    if let Err(e) = check(&cond(text), obs) {
        panic!("expected `{text}` to hold: {e}");
    }
}

fn down(text: &str, obs: &Observation) -> String {
    match check(&cond(text), obs) {
        Ok(()) => panic!("expected `{text}` to fail"),
        Err(e) => e.0,
    }
}

fn with_body(body: &str) -> Observation {
    Observation {
        body: Some(bytes::Bytes::from(body.to_string())),
        ..Default::default()
    }
}

#[test]
fn status() {
    let obs = Observation {
        status: Some(500),
        ..Default::default()
    };
    assert_eq!(
        down("status == 200", &obs),
        "`status == 200`: status was 500"
    );
    assert_eq!(down("status < 400", &obs), "`status < 400`: status was 500");
    up("status != 200", &obs);
    up("status >= 500", &obs);
    up("status <= 500", &obs);
    up("status > 499", &obs);
    down("status > 500", &obs);
    down("status < 500", &obs);
    assert_eq!(
        down("status == 200", &Observation::default()),
        "`status == 200`: status was not measured"
    );
}

#[test]
fn latency_and_phases() {
    let obs = Observation {
        latency: Some(Duration::from_millis(512)),
        phases: Phases {
            dns: Some(Duration::from_millis(3)),
            connect: Some(Duration::from_millis(20)),
            tls: None,
            first_byte: Some(Duration::from_secs(15)),
        },
        ..Default::default()
    };
    assert_eq!(
        down("latency < 300ms", &obs),
        "`latency < 300ms`: latency was 512ms"
    );
    up("latency < 1s", &obs);
    up("latency <= 512ms", &obs);
    up("latency == 512ms", &obs);
    up("latency != 511ms", &obs);
    up("latency >= 500ms", &obs);
    up("latency.dns < 10ms", &obs);
    assert_eq!(
        down("latency.connect > 1s", &obs),
        "`latency.connect > 1s`: latency.connect was 20ms"
    );
    assert_eq!(
        down("latency.tls < 1s", &obs),
        "`latency.tls < 1s`: latency.tls was not measured"
    );
    assert_eq!(
        down("latency.first_byte < 10s", &obs),
        "`latency.first_byte < 10s`: latency.first_byte was 15.0s"
    );
    assert_eq!(
        down("latency < 300ms", &Observation::default()),
        "`latency < 300ms`: latency was not measured"
    );
}

#[test]
fn body_text() {
    let obs = with_body("status: DOWN, disk full");
    up("body contains \"DOWN\"", &obs);
    up("body !contains \"UP\"", &obs);
    up("body matches \"disk (full|low)\"", &obs);
    up("body == \"status: DOWN, disk full\"", &obs);
    up("body != \"ok\"", &obs);
    assert_eq!(
        down("body contains \"UP\"", &obs),
        "`body contains \"UP\"`: body was \"status: DOWN, disk full\""
    );
    down("body == \"status\"", &obs);
    down("body matches \"^UP\"", &obs);
    assert_eq!(
        down("body contains \"x\"", &Observation::default()),
        "`body contains \"x\"`: body was not measured"
    );
    assert_eq!(
        down("body == \"x\"", &with_body("")),
        "`body == \"x\"`: body was \"\""
    );
}

#[test]
fn long_and_odd_bodies_are_shortened_to_one_line() {
    let long = format!("{}\nERROR here\n{}", "a".repeat(500), "b".repeat(500));
    let obs = with_body(&long);
    let why = down("body contains \"OK\"", &obs);
    assert!(why.len() < 200, "{why}");
    assert!(!why.contains('\n'), "{why}");
    assert!(why.ends_with("aaa…\""), "{why}");
    // `!contains` shows where the unwanted text is.
    let why = down("body !contains \"ERROR\"", &obs);
    assert!(why.contains("ERROR here"), "{why}");
    assert!(why.contains("…a"), "{why}");
    assert!(why.contains("\\n"), "{why}");
    // Not UTF-8: compared lossily.
    let obs = Observation {
        body: Some(bytes::Bytes::from_static(b"ok \xff\xfe done")),
        ..Default::default()
    };
    up("body contains \"done\"", &obs);
}

#[test]
fn json_body() {
    let obs = with_body(
        r#"{"status":"DOWN","code":200,"ok":true,"ratio":0.25,"id":"200",
            "data":[{"status":"UP"}],"tags":["a","b",3],"a/b":{"c~d":1},"none":null}"#,
    );
    assert_eq!(
        down("body.$.status == \"UP\"", &obs),
        "`body.$.status == \"UP\"`: body.$.status was \"DOWN\""
    );
    up("body.$.status != \"UP\"", &obs);
    up("body.$.data[0].status == \"UP\"", &obs);
    up("body.$.code == 200", &obs);
    up("body.$.code == \"200\"", &obs);
    up("body.$.code >= 200", &obs);
    up("body.$.code < 201", &obs);
    up("body.$.ratio < 0.5", &obs);
    up("body.$.ok == true", &obs);
    up("body.$.ok != false", &obs);
    up("body.$.ok == \"true\"", &obs);
    up("body.$.tags contains \"b\"", &obs);
    up("body.$.tags contains \"3\"", &obs);
    up("body.$.tags !contains \"c\"", &obs);
    up("body.$.status contains \"OW\"", &obs);
    up("body.$ contains \"status\"", &obs);
    up("body.$.status matches \"^D.*N$\"", &obs);
    up("body.$.code matches \"^2\\d\\d$\"", &obs);
    up("body.$[\"a/b\"][\"c~d\"] == 1", &obs);
    up("body.$.none != \"x\"", &obs);
    assert_eq!(
        down("body.$.code == 500", &obs),
        "`body.$.code == 500`: body.$.code was 200"
    );
    assert_eq!(
        down("body.$.id > 100", &obs),
        "`body.$.id > 100`: body.$.id was \"200\", not a number"
    );
    down("body.$.id == 200", &obs);
    down("body.$.ok == false", &obs);
    assert_eq!(
        down("body.$.tags contains \"z\"", &obs),
        "`body.$.tags contains \"z\"`: body.$.tags was [\"a\",\"b\",3]"
    );
    assert_eq!(
        down("body.$.data[1].status == \"UP\"", &obs),
        "`body.$.data[1].status == \"UP\"`: body.$.data[1].status is missing"
    );
    assert_eq!(
        down("body.$.nope != \"UP\"", &obs),
        "`body.$.nope != \"UP\"`: body.$.nope is missing"
    );
}

#[test]
fn json_body_that_is_not_json() {
    let why = down(
        "body.$.status == \"UP\"",
        &with_body("<html>502 Bad Gateway</html>"),
    );
    assert!(
        why.starts_with("`body.$.status == \"UP\"`: body is not JSON ("),
        "{why}"
    );
    assert!(why.ends_with(": \"<html>502 Bad Gateway</html>\""), "{why}");
    assert_eq!(
        down("body.$.status == \"UP\"", &with_body("")),
        "`body.$.status == \"UP\"`: body is not JSON (it is empty)"
    );
    assert_eq!(
        down("body.$.status == \"UP\"", &Observation::default()),
        "`body.$.status == \"UP\"`: body.$.status was not measured"
    );
}

#[test]
fn long_json_values_are_shortened() {
    let obs = with_body(&format!("{{\"s\":\"{}\"}}", "x".repeat(300)));
    let why = down("body.$.s == \"y\"", &obs);
    assert!(why.ends_with("xxx…"), "{why}");
    assert!(why.len() < 150, "{why}");
}

#[test]
fn headers() {
    let mut map = HeaderMap::new();
    map.insert("content-type", HeaderValue::from_static("application/json"));
    map.append("x-cache", HeaderValue::from_static("MISS"));
    map.append("x-cache", HeaderValue::from_static("HIT"));
    let obs = Observation {
        headers: Some(map),
        ..Default::default()
    };
    up("header.Content-Type contains \"json\"", &obs);
    up("header.content-type == \"application/json\"", &obs);
    up("header.content-type matches \"^application/\"", &obs);
    up("header.x-cache == \"MISS, HIT\"", &obs);
    up("header.x-cache contains \"HIT\"", &obs);
    assert_eq!(
        down("header.X-Cache !contains \"MISS\"", &obs),
        "`header.X-Cache !contains \"MISS\"`: header.X-Cache was \"MISS, HIT\""
    );
    assert_eq!(
        down("header.server == \"nginx\"", &obs),
        "`header.server == \"nginx\"`: header.server is missing"
    );
    assert_eq!(
        down("header.server == \"nginx\"", &Observation::default()),
        "`header.server == \"nginx\"`: header.server was not measured"
    );
}

#[test]
fn cert_expiry() {
    let at = |secs: f64| Observation {
        cert_expiry_secs: Some(secs),
        ..Default::default()
    };
    let soon = at(3.0 * 86400.0 + 4.0 * 3600.0 + 50.0);
    assert_eq!(
        down("cert_expiry > 14d", &soon),
        "`cert_expiry > 14d`: certificate expires in 3d 4h"
    );
    up("cert_expiry > 3d", &soon);
    up("cert_expiry < 14d", &soon);
    up("cert_expiry > 0s", &soon);
    let expired = at(-2.0 * 86400.0);
    assert_eq!(
        down("cert_expiry > 0s", &expired),
        "`cert_expiry > 0s`: certificate expired 2d ago"
    );
    assert_eq!(
        down("cert_expiry > 1h", &at(1800.0)),
        "`cert_expiry > 1h`: certificate expires in 30m"
    );
    assert_eq!(
        down("cert_expiry > 14d", &Observation::default()),
        "`cert_expiry > 14d`: cert_expiry was not measured"
    );
}

#[test]
fn booleans() {
    let obs = Observation {
        connected: Some(false),
        cert_valid: Some(true),
        ..Default::default()
    };
    assert_eq!(
        down("connected == true", &obs),
        "`connected == true`: connected was false"
    );
    up("connected == false", &obs);
    up("connected != true", &obs);
    up("cert_valid == true", &obs);
    assert_eq!(
        down("cert_valid != true", &obs),
        "`cert_valid != true`: cert_valid was true"
    );
    assert_eq!(
        down("connected == true", &Observation::default()),
        "`connected == true`: connected was not measured"
    );
}

#[test]
fn redis_numbers() {
    let obs = Observation {
        hit_ratio: Some(0.52),
        keyspace_hits: Some(52),
        keyspace_misses: Some(48),
        ..Default::default()
    };
    assert_eq!(
        down("hit_ratio >= 0.7", &obs),
        "`hit_ratio >= 0.7`: hit_ratio was 0.52"
    );
    down("hit_ratio >= 70%", &obs);
    up("hit_ratio >= 50%", &obs);
    up("hit_ratio < 0.6", &obs);
    up("keyspace_hits > 10", &obs);
    assert_eq!(
        down("keyspace_misses < 10", &obs),
        "`keyspace_misses < 10`: keyspace_misses was 48"
    );
    assert_eq!(
        down("hit_ratio > 0.5", &Observation::default()),
        "`hit_ratio > 0.5`: hit_ratio was not measured"
    );
}

#[test]
fn dns_records() {
    let obs = Observation {
        records: Some(vec!["192.0.2.1".into(), "Mail.Example.COM.".into()]),
        ..Default::default()
    };
    up("records contains \"192.0.2.1\"", &obs);
    up("records contains \"mail.example.com\"", &obs);
    up("records contains \"MAIL.example.com.\"", &obs);
    up("records !contains \"192.0.2.2\"", &obs);
    up("record_count == 2", &obs);
    assert_eq!(
        down("records contains \"192.0.2.9\"", &obs),
        "`records contains \"192.0.2.9\"`: records were [\"192.0.2.1\", \"Mail.Example.COM.\"]"
    );
    down("records !contains \"mail.example.com\"", &obs);
    assert_eq!(
        down("record_count > 2", &obs),
        "`record_count > 2`: record_count was 2"
    );
    let none = Observation {
        records: Some(Vec::new()),
        ..Default::default()
    };
    assert_eq!(
        down("records contains \"192.0.2.1\"", &none),
        "`records contains \"192.0.2.1\"`: there were no records"
    );
    up("records !contains \"192.0.2.1\"", &none);
    assert_eq!(
        down("record_count > 0", &none),
        "`record_count > 0`: record_count was 0"
    );
    assert_eq!(
        down("record_count > 0", &Observation::default()),
        "`record_count > 0`: record_count was not measured"
    );
    let many = Observation {
        records: Some((0..50).map(|i| format!("10.0.0.{i}")).collect()),
        ..Default::default()
    };
    let why = down("records contains \"1.1.1.1\"", &many);
    assert!(why.ends_with(", … (50 in all)]"), "{why}");
}

#[test]
fn tcp_response() {
    let obs = Observation {
        response: Some("+PONG\r\n".into()),
        ..Default::default()
    };
    up("response contains \"PONG\"", &obs);
    up("response matches \"^\\+PONG\"", &obs);
    assert_eq!(
        down("response == \"+OK\"", &obs),
        "`response == \"+OK\"`: response was \"+PONG\\r\\n\""
    );
    assert_eq!(
        down("response contains \"x\"", &Observation::default()),
        "`response contains \"x\"`: response was not measured"
    );
}

#[test]
fn evaluate_lists_each_failure_in_order() {
    let conditions: Vec<Condition> = ["status == 200", "latency < 1s", "body contains \"ok\""]
        .iter()
        .map(|t| cond(t))
        .collect();
    let obs = Observation {
        status: Some(503),
        latency: Some(Duration::from_millis(20)),
        body: Some(bytes::Bytes::from_static(b"unavailable")),
        ..Default::default()
    };
    assert_eq!(
        evaluate(&conditions, &obs),
        vec![
            "`status == 200`: status was 503".to_string(),
            "`body contains \"ok\"`: body was \"unavailable\"".to_string(),
        ]
    );
    let fine = Observation {
        status: Some(200),
        latency: Some(Duration::from_millis(20)),
        body: Some(bytes::Bytes::from_static(b"ok")),
        ..Default::default()
    };
    assert!(evaluate(&conditions, &fine).is_empty());
    assert!(evaluate(&[], &obs).is_empty());
}

#[test]
fn a_condition_the_parser_never_builds_fails_without_panicking() {
    let odd = Condition {
        text: "status contains \"x\"".into(),
        subject: Subject::Status,
        op: Op::Contains,
        value: Literal::Str("x".into()),
    };
    let obs = Observation {
        status: Some(200),
        ..Default::default()
    };
    let why = check(&odd, &obs).unwrap_err().0;
    assert!(why.contains("cannot be applied"), "{why}");
}

#[test]
fn formatting() {
    assert_eq!(fmt_duration(Duration::from_micros(450)), "0.45ms");
    assert_eq!(fmt_duration(Duration::from_millis(2500)), "2500ms");
    assert_eq!(fmt_duration(Duration::from_millis(12_340)), "12.3s");
    assert_eq!(fmt_duration(Duration::from_secs(303)), "5m 3s");
    assert_eq!(human_secs(42.9), "42s");
    assert_eq!(human_secs(3600.0), "1h");
    assert_eq!(human_secs(3.0 * 3600.0 + 120.0), "3h 2m");
    assert_eq!(human_secs(86400.0 * 30.0), "30d");
    assert_eq!(fmt_number(200.0), "200");
    assert_eq!(fmt_number(0.52), "0.52");
    assert_eq!(fmt_number(1.0 / 3.0), "0.3333");
    assert_eq!(excerpt("héllo \"x\"", 0), "\"héllo \\\"x\\\"\"");
}
