#![allow(clippy::unwrap_used)]

use super::*;
use std::time::Duration;
use KindTag::{Dns, Heartbeat, Http, Redis, Tcp, Tls};

fn ok(text: &str, kind: KindTag) -> Condition {
    match parse_condition(text, kind) {
        Ok(c) => c,
        Err(e) => panic!("{}", e.render(text)),
    }
}

fn err(text: &str, kind: KindTag) -> ConditionError {
    match parse_condition(text, kind) {
        Ok(c) => panic!("`{text}` parsed as {c:?}"),
        Err(e) => e,
    }
}

/// The error's column, and that its message contains `part`.
fn err_at(text: &str, kind: KindTag, column: usize, part: &str) {
    let e = err(text, kind);
    assert!(
        e.message.contains(part),
        "`{text}`: {:?} does not contain {part:?}",
        e.message
    );
    assert_eq!(e.column, column, "`{text}`: {}", e.message);
}

fn parts(text: &str, kind: KindTag) -> (Subject, Op, Literal) {
    let c = ok(text, kind);
    (c.subject, c.op, c.value)
}

fn pointer(path: &str) -> String {
    match ok(&format!("{path} == 1"), Http).subject {
        Subject::BodyJson(p) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn number_subjects_take_every_order_op() {
    for (op_text, op) in [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
    ] {
        let text = format!("status {op_text} 200");
        assert_eq!(
            parts(&text, Http),
            (Subject::Status, op, Literal::Number(200.0))
        );
    }
    assert_eq!(
        parts("keyspace_hits > 10", Redis),
        (Subject::KeyspaceHits, Op::Gt, Literal::Number(10.0))
    );
    assert_eq!(
        parts("keyspace_misses <= 5.5", Redis),
        (Subject::KeyspaceMisses, Op::Le, Literal::Number(5.5))
    );
    assert_eq!(
        parts("record_count >= 2", Dns),
        (Subject::RecordCount, Op::Ge, Literal::Number(2.0))
    );
}

#[test]
fn hit_ratio_takes_a_fraction_or_a_percentage() {
    assert_eq!(parts("hit_ratio >= 0.7", Redis).2, Literal::Number(0.7));
    assert_eq!(parts("hit_ratio >= 70%", Redis).2, Literal::Number(0.7));
    assert_eq!(parts("hit_ratio > 0%", Redis).2, Literal::Number(0.0));
    assert_eq!(parts("hit_ratio < 100%", Redis).2, Literal::Number(1.0));
    err_at("hit_ratio >= 70", Redis, 14, "between 0 and 1");
    err_at("hit_ratio >= 150%", Redis, 14, "out of range");
    err_at("hit_ratio >= lots", Redis, 14, "`lots` is not a ratio");
    err_at("hit_ratio >= x%", Redis, 14, "not a ratio");
}

#[test]
fn durations() {
    let d = |text: &str, kind| match parts(text, kind).2 {
        Literal::Duration(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(d("latency < 300ms", Http), Duration::from_millis(300));
    assert_eq!(d("latency < 2s", Tcp), Duration::from_secs(2));
    assert_eq!(d("latency <= 1h30m", Dns), Duration::from_secs(5400));
    assert_eq!(d("latency < 1s", Redis), Duration::from_secs(1));
    assert_eq!(d("cert_expiry > 14d", Tls), Duration::from_secs(14 * 86400));
    assert_eq!(d("cert_expiry > 0s", Tls), Duration::ZERO);
    assert_eq!(
        d("cert_expiry > 14d", Http),
        Duration::from_secs(14 * 86400)
    );
    for (name, phase) in [
        ("dns", Phase::Dns),
        ("connect", Phase::Connect),
        ("tls", Phase::Tls),
        ("first_byte", Phase::FirstByte),
    ] {
        let text = format!("latency.{name} < 100ms");
        assert_eq!(parts(&text, Http).0, Subject::Phase(phase));
    }
    assert_eq!(parts("latency.tls < 1s", Tls).0, Subject::Phase(Phase::Tls));
    assert_eq!(
        parts("latency.connect < 1s", Tcp).0,
        Subject::Phase(Phase::Connect)
    );
}

#[test]
fn duration_errors() {
    let e = err("latency < 30x", Http);
    assert_eq!(e.column, 11);
    assert_eq!(
        e.render("latency < 30x"),
        "`latency < 30x`: at column 11: `30x` is not a duration; write e.g. `300ms` or `2s`"
    );
    err_at(
        "latency < 300",
        Http,
        11,
        "`300` has no unit; latency is a duration: write e.g. `300ms`",
    );
    err_at("cert_expiry > 14", Tls, 15, "write e.g. `14d`");
    err_at("cert_expiry > soon", Tls, 15, "write e.g. `14d` or `720h`");
    err_at("latency < \"1s\"", Http, 11, "without quotes");
    err_at(
        "latency contains 1s",
        Http,
        9,
        "`contains` does not apply to latency (a duration)",
    );
}

#[test]
fn booleans() {
    assert_eq!(
        parts("connected == true", Tcp),
        (Subject::Connected, Op::Eq, Literal::Bool(true))
    );
    assert_eq!(
        parts("cert_valid != false", Tls),
        (Subject::CertValid, Op::Ne, Literal::Bool(false))
    );
    assert_eq!(parts("connected == false", Redis).2, Literal::Bool(false));
    assert_eq!(parts("connected == true", Http).0, Subject::Connected);
    err_at("connected < true", Tcp, 11, "use == or !=");
    err_at("connected == yes", Tcp, 14, "`yes` is not true or false");
    err_at("connected == \"true\"", Tcp, 14, "without quotes");
    err_at("cert_valid == 1", Tls, 15, "not true or false");
}

#[test]
fn text_subjects() {
    assert_eq!(
        parts("body contains \"UP\"", Http),
        (Subject::Body, Op::Contains, Literal::Str("UP".into()))
    );
    assert_eq!(parts("body == \"\"", Http).2, Literal::Str(String::new()));
    assert_eq!(parts("body != \"x\"", Http).1, Op::Ne);
    assert_eq!(parts("body !contains \"error\"", Http).1, Op::NotContains);
    assert_eq!(
        parts("response contains \"+PONG\"", Tcp),
        (
            Subject::Response,
            Op::Contains,
            Literal::Str("+PONG".into())
        )
    );
    assert_eq!(
        parts("header.Content-Type contains \"json\"", Http).0,
        Subject::Header("content-type".into())
    );
    let (_, op, value) = parts("body matches \"^\\d+ ok$\"", Http);
    assert_eq!(op, Op::Matches);
    match value {
        Literal::Regex(r) => {
            assert_eq!(r.as_str(), "^\\d+ ok$");
            assert!(r.is_match("12 ok"));
        }
        other => panic!("{other:?}"),
    }
    err_at(
        "body contains UP",
        Http,
        15,
        "write it in double quotes, `\"UP\"`",
    );
    err_at(
        "body < \"a\"",
        Http,
        6,
        "use ==, !=, contains, !contains or matches",
    );
    err_at(
        "header.x-a > 3",
        Http,
        12,
        "does not apply to header.x-a (text)",
    );
    err_at("response == ok", Tcp, 13, "double quotes");
}

#[test]
fn bad_regex_is_reported_at_the_value() {
    let text = "body matches \"(ab\"";
    let e = err(text, Http);
    assert_eq!(e.column, 14);
    assert!(
        e.message
            .starts_with("`(ab` is not a valid regular expression: "),
        "{}",
        e.message
    );
    assert!(!e.render(text).contains('\n'), "{}", e.render(text));
    err_at(
        "response matches \"[z-a]\"",
        Tcp,
        18,
        "not a valid regular expression",
    );
}

#[test]
fn quoted_strings_with_escapes_and_spaces() {
    let s = |text: &str| match parts(text, Http).2 {
        Literal::Str(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(s(r#"body contains "all systems go""#), "all systems go");
    assert_eq!(s(r#"body contains "say \"hi\"""#), r#"say "hi""#);
    assert_eq!(s(r#"body contains "a\\b""#), r"a\b");
    assert_eq!(s(r#"body contains "a\nb""#), r"a\nb");
    assert_eq!(s("body contains \"héllo wörld\""), "héllo wörld");
    assert_eq!(s("  body   ==   \"x\"  "), "x");
    err_at(r#"body contains "open"#, Http, 15, "no closing");
    err_at(r#"body contains "a"b"#, Http, 18, "space after the closing");
    err_at(r#"body contains "a\""#, Http, 15, "no closing");
}

#[test]
fn columns_count_characters_not_bytes() {
    err_at("body contains \"é\" x", Http, 19, "unexpected `x`");
    err_at("body contains \"ü\" \"é", Http, 19, "no closing");
}

#[test]
fn records() {
    assert_eq!(
        parts("records contains \"192.0.2.1\"", Dns),
        (
            Subject::Records,
            Op::Contains,
            Literal::Str("192.0.2.1".into())
        )
    );
    assert_eq!(
        parts("records !contains \"10.0.0.1\"", Dns).1,
        Op::NotContains
    );
    err_at(
        "records == \"1.2.3.4\"",
        Dns,
        9,
        "use contains or !contains",
    );
    err_at("records contains 1.2.3.4", Dns, 18, "double quotes");
}

#[test]
fn json_paths_become_pointers() {
    assert_eq!(pointer("body.$"), "");
    assert_eq!(pointer("body.$.status"), "/status");
    assert_eq!(pointer("body.$.data[0].status"), "/data/0/status");
    assert_eq!(pointer("body.$.a.b[0].c"), "/a/b/0/c");
    assert_eq!(pointer("body.$[2]"), "/2");
    assert_eq!(pointer("body.$.m[10][3]"), "/m/10/3");
    assert_eq!(pointer("body.$.a/b.c~d"), "/a~1b/c~0d");
    assert_eq!(pointer("body.$[\"a.b\"].c"), "/a.b/c");
    assert_eq!(pointer("body.$['x/y~z']"), "/x~1y~0z");
    assert_eq!(pointer("body.$.Caps"), "/Caps");
}

#[test]
fn json_path_errors() {
    err_at("body.$..a == 1", Http, 8, "a key is missing");
    err_at("body.$.a. == 1", Http, 10, "a key is missing");
    err_at("body.$.* == 1", Http, 8, "wildcards");
    err_at("body.$.a[x] == 1", Http, 10, "`[x]` is not an index");
    err_at("body.$.a[-1] == 1", Http, 10, "not an index");
    err_at("body.$.a[0 == 1", Http, 9, "no closing `]`");
    err_at("body.$.a[\"k == 1", Http, 9, "no closing");
    err_at("body.$a == 1", Http, 7, "expected `.key` or `[index]`");
    err_at("body.$.a]b == 1", Http, 9, "expected `.key`");
    err_at("body.status == 1", Http, 6, "write `body.$.status`");
}

#[test]
fn json_values() {
    assert_eq!(
        parts("body.$.status == \"UP\"", Http),
        (
            Subject::BodyJson("/status".into()),
            Op::Eq,
            Literal::Str("UP".into())
        )
    );
    assert_eq!(parts("body.$.code != 500", Http).2, Literal::Number(500.0));
    assert_eq!(parts("body.$.ok == true", Http).2, Literal::Bool(true));
    assert_eq!(parts("body.$.ok != false", Http).2, Literal::Bool(false));
    assert_eq!(parts("body.$.n < 10", Http).1, Op::Lt);
    assert_eq!(parts("body.$.n >= 0.5", Http).2, Literal::Number(0.5));
    assert_eq!(parts("body.$.msg contains \"ok\"", Http).1, Op::Contains);
    assert_eq!(
        parts("body.$.msg !contains \"err\"", Http).1,
        Op::NotContains
    );
    assert!(matches!(
        parts("body.$.v matches \"^1\\.\"", Http).2,
        Literal::Regex(_)
    ));
    err_at("body.$.n < \"5\"", Http, 12, "compares numbers");
    err_at("body.$.n > true", Http, 12, "compares numbers");
    err_at(
        "body.$.s == UP",
        Http,
        13,
        "write text in double quotes, `\"UP\"`",
    );
    err_at("body.$.s == null", Http, 13, "null is not supported");
    err_at("body.$.s contains 5", Http, 19, "double quotes");
    err_at("body.$.n > abc", Http, 12, "`abc` is not a number");
}

#[test]
fn header_names() {
    assert_eq!(
        parts("header.X-Cache == \"HIT\"", Http).0,
        Subject::Header("x-cache".into())
    );
    err_at("header. == \"x\"", Http, 8, "header name is missing");
    err_at(
        "header.a:b == \"x\"",
        Http,
        9,
        "`:` cannot be part of a header name",
    );
}

#[test]
fn subjects_per_kind() {
    let allowed = [
        (Http, "status == 200"),
        (Http, "body == \"x\""),
        (Http, "body.$.a == 1"),
        (Http, "header.a == \"x\""),
        (Http, "cert_expiry > 1d"),
        (Http, "connected == true"),
        (Http, "latency.first_byte < 1s"),
        (Tcp, "connected == true"),
        (Tcp, "latency < 1s"),
        (Tcp, "latency.dns < 1s"),
        (Tcp, "latency.connect < 1s"),
        (Tcp, "response == \"x\""),
        (Tls, "cert_expiry > 1d"),
        (Tls, "cert_valid == true"),
        (Tls, "connected == true"),
        (Tls, "latency.dns < 1s"),
        (Tls, "latency.connect < 1s"),
        (Tls, "latency.tls < 1s"),
        (Dns, "records contains \"a\""),
        (Dns, "record_count > 0"),
        (Dns, "latency < 1s"),
        (Redis, "hit_ratio > 0.5"),
        (Redis, "keyspace_hits > 1"),
        (Redis, "keyspace_misses < 1"),
        (Redis, "connected == true"),
        (Redis, "latency < 1s"),
    ];
    for (kind, text) in allowed {
        ok(text, kind);
    }
    let refused = [
        (Http, "cert_valid == true"),
        (Http, "response == \"x\""),
        (Http, "records contains \"x\""),
        (Http, "hit_ratio > 0.5"),
        (Tcp, "status == 200"),
        (Tcp, "latency.tls < 1s"),
        (Tcp, "body == \"x\""),
        (Tls, "status == 200"),
        (Tls, "latency.first_byte < 1s"),
        (Tls, "header.a == \"x\""),
        (Dns, "connected == true"),
        (Dns, "latency.dns < 1s"),
        (Redis, "status == 200"),
        (Redis, "record_count > 1"),
        (Redis, "latency.connect < 1s"),
    ];
    for (kind, text) in refused {
        let e = err(text, kind);
        assert_eq!(e.column, 1, "{text}");
        assert!(
            e.message
                .starts_with(&format!("{} probes do not measure", kind.as_str())),
            "{}",
            e.message
        );
        assert!(e.message.contains(subjects_for(kind)), "{}", e.message);
    }
}

#[test]
fn unknown_subjects_list_what_the_kind_measures() {
    let e = err("uptime > 1", Tcp);
    assert_eq!(e.column, 1);
    assert_eq!(
        e.message,
        "`uptime` is not something a probe measures; tcp probes measure connected, latency, \
         latency.dns, latency.connect, response"
    );
    err_at("[STATUS] == 200", Http, 1, "(write `status`)");
    err_at("Status == 200", Http, 1, "(write `status`)");
    err_at(
        "status==200",
        Http,
        1,
        "put spaces around the comparison: `status == 200`",
    );
    err_at("latency.total < 1s", Http, 9, "`total` is not a phase");
    err_at("\"status\" == 200", Http, 1, "without quotes");
    err_at(
        "  bogus == 1",
        Dns,
        3,
        "dns probes measure records, record_count, latency",
    );
}

#[test]
fn heartbeats_have_no_conditions() {
    for text in ["status == 200", "", "connected == true"] {
        let e = err(text, Heartbeat);
        assert_eq!(e.column, 1);
        assert_eq!(e.message, HEARTBEAT);
        assert!(e.message.contains("`period` + `grace`"));
    }
}

#[test]
fn ops() {
    err_at(
        "status = 200",
        Http,
        8,
        "`=` is not a comparison; write `==`",
    );
    err_at("status <> 200", Http, 8, "write `!=`");
    err_at("status => 200", Http, 8, "write `>=`");
    err_at("body =~ \"x\"", Http, 6, "write `matches`");
    err_at(
        "status is 200",
        Http,
        8,
        "use one of ==, !=, <, <=, >, >=, contains, !contains, matches",
    );
    err_at("status \"==\" 200", Http, 8, "`\"==\"` is not a comparison");
    err_at(
        "status contains 200",
        Http,
        8,
        "use ==, !=, <, <=, > or >=, e.g. `status == 200`",
    );
    err_at(
        "status matches \"2..\"",
        Http,
        8,
        "does not apply to status (a number)",
    );
}

#[test]
fn number_errors() {
    err_at(
        "status == abc",
        Http,
        11,
        "`abc` is not a number; write e.g. `status == 200`",
    );
    err_at(
        "status == \"200\"",
        Http,
        11,
        "without quotes: `status == 200`",
    );
    err_at(
        "status == 2xx",
        Http,
        11,
        "`status >= 200` and `status < 300`",
    );
    err_at(
        "status == 5XX",
        Http,
        11,
        "`status >= 500` and `status < 600`",
    );
    err_at("status == NaN", Http, 11, "not a number");
    err_at("status == inf", Http, 11, "not a number");
    err_at(
        "record_count > true",
        Dns,
        16,
        "write e.g. `record_count > 0`",
    );
}

#[test]
fn structure_errors() {
    err_at(
        "",
        Http,
        1,
        "the condition is empty; write e.g. `status == 200`",
    );
    err_at("   ", Redis, 1, "write e.g. `hit_ratio >= 0.7`");
    err_at("status", Http, 7, "missing the comparison after `status`");
    err_at("status  ", Http, 7, "missing the comparison");
    err_at("status ==", Http, 10, "missing the value after `status ==`");
    err_at("latency <", Tcp, 10, "write e.g. `latency < 300ms`");
    err_at(
        "status == 200 300",
        Http,
        15,
        "unexpected `300` after the value",
    );
    err_at(
        "status == 200 && latency < 1s",
        Http,
        15,
        "one comparison per condition",
    );
    err_at("body == \"a\" \"b\"", Http, 13, "unexpected `b`");
}

#[test]
fn text_is_kept_trimmed() {
    assert_eq!(ok("  status == 200 ", Http).text, "status == 200");
}

#[test]
fn render_is_one_line() {
    assert_eq!(
        err("", Http).render(""),
        "the condition is empty; write e.g. `status == 200`"
    );
    let text = "status ==\n201 x";
    let e = err(text, Http);
    assert_eq!(e.column, 15);
    assert_eq!(
        e.render(text),
        "`status == 201 x`: at column 15: unexpected `x` after the value; a condition is \
         `SUBJECT OP VALUE`; put text with spaces in double quotes"
    );
    assert_eq!(e.to_string(), format!("at column 15: {}", e.message));
}

#[test]
fn default_conditions_of_each_kind_parse() {
    ok("status < 400", Http);
    ok("connected == true", Tcp);
    ok("cert_valid == true", Tls);
    ok("cert_expiry > 0s", Tls);
    ok("record_count > 0", Dns);
    ok("connected == true", Redis);
}

#[test]
fn op_names_round_trip() {
    for op in ALL {
        let tok = Token {
            col: 1,
            text: op.as_str().into(),
            quoted: false,
        };
        assert_eq!(parse_op(&tok).unwrap(), *op);
    }
}
