//! A route's policy end to end on the request path, without sockets: lockouts count final
//! responses only, a busy basic-auth gate is not a failed login, ambiguous credentials.

use super::*;
use gatehouse_config::Config;
use prometheus::Registry;

fn policy(route_policy: &str) -> RoutePolicy {
    let yaml = format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:8080\" }}]\nupstreams:\n  app: {{ backends: [{{ address: \"127.0.0.1:3000\" }}] }}\nroutes:\n  - name: app\n    upstream: app\n    policy: {route_policy}\n"
    );
    let config = Config::from_yaml_with_env(&yaml, &|_| None).expect("valid config");
    let metrics = PolicyMetrics::register(&Registry::new()).expect("metrics");
    let mut stores = PolicyStores::default();
    RoutePolicy::build(
        &config.routes[0],
        None,
        &mut stores,
        &metrics,
        &tokio::runtime::Handle::current(),
    )
}

fn req(headers: &[(&str, &str)]) -> RequestHeader {
    let mut r = RequestHeader::build("POST", b"/login", None).expect("req");
    for (n, v) in headers {
        r.append_header(n.to_string(), *v).expect("header");
    }
    r
}

fn code(a: &Answer) -> &'static str {
    match a {
        Answer::Pass => "pass",
        Answer::Preflight => "preflight",
        Answer::Refuse { refusal, .. } => refusal.code,
    }
}

const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));

/// One request through the policy, answered with `statuses` in order (as Pingora passes
/// every response header, interim ones included, to the response filter).
async fn exchange(p: &RoutePolicy, r: &RequestHeader, statuses: &[u16]) -> &'static str {
    let mut notes = Notes::default();
    let answer = p.check(r, CLIENT, None, &mut notes).await;
    match &answer {
        Answer::Pass => {
            for s in statuses {
                p.record_response(&notes, *s);
            }
        }
        Answer::Refuse { refusal, .. } => p.record_response(&notes, refusal.status),
        Answer::Preflight => p.record_response(&notes, 204),
    }
    code(&answer)
}

const LOCKOUT: &str =
    "{ lockouts: [{ name: l, statuses: [401], max_failures: 2, window: 1m, block_for: 1m }] }";

#[tokio::test]
async fn interim_responses_neither_count_nor_end_the_attempt() {
    let p = policy(LOCKOUT);
    let r = req(&[]);
    // 100 Continue then 401: the 401 counts, twice, and the third request is locked out.
    assert_eq!(exchange(&p, &r, &[100, 401]).await, "pass");
    assert_eq!(exchange(&p, &r, &[100, 103, 401]).await, "pass");
    assert_eq!(exchange(&p, &r, &[]).await, "locked_out");
}

#[tokio::test]
async fn interim_responses_alone_do_not_count() {
    let p = policy(LOCKOUT);
    let r = req(&[]);
    for _ in 0..5 {
        // A request that ended after a 100 (the client went away): its slot goes back when
        // the request's notes are dropped, uncounted.
        assert_eq!(exchange(&p, &r, &[100]).await, "pass");
    }
    assert_eq!(exchange(&p, &r, &[200]).await, "pass");
}

#[tokio::test]
async fn switching_protocols_is_a_final_success() {
    let p = policy(LOCKOUT);
    let r = req(&[]);
    // The 101 ends the attempt; nothing after it counts.
    for _ in 0..4 {
        assert_eq!(exchange(&p, &r, &[101, 401]).await, "pass");
    }
    assert_eq!(exchange(&p, &r, &[401]).await, "pass");
    assert_eq!(exchange(&p, &r, &[401]).await, "pass");
    assert_eq!(exchange(&p, &r, &[]).await, "locked_out");
}

fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

#[tokio::test]
async fn a_busy_password_check_is_503_and_not_a_failed_login() {
    let hash = bcrypt::hash("secret", 4).expect("bcrypt");
    // A lockout that would count 503s too: one failure blocks.
    let mut p = policy(&format!(
        "{{ lockouts: [{{ name: l, statuses: [401, 503], max_failures: 1, window: 1m, block_for: 1m }}], basic_auth: {{ users: {{ alice: \"{hash}\" }} }} }}"
    ));
    let cfg = gatehouse_config::policy::BasicAuth {
        realm: "r".into(),
        users: vec![("alice".into(), gatehouse_config::secret::Secret(hash))],
        forward_credentials: false,
    };
    let evicted = IntCounter::new("evicted", "evicted").expect("counter");
    let basic = basic::Basic::with_slot_wait(&cfg, Duration::from_millis(20), evicted);
    if let Some((b, _)) = p.basic.as_mut() {
        *b = basic.clone();
    }
    let wrong = req(&[("authorization", &basic_header("alice", "guess"))]);
    let held = basic.hold_slots().expect("slots");
    for _ in 0..3 {
        let mut notes = Notes::default();
        let answer = p.check(&wrong, CLIENT, None, &mut notes).await;
        assert_eq!(code(&answer), "auth_busy");
        let Answer::Refuse {
            refusal, headers, ..
        } = answer
        else {
            unreachable!()
        };
        assert_eq!(refusal.status, 503);
        assert!(headers.iter().any(|(n, _)| *n == "retry-after"));
        p.record_response(&notes, refusal.status);
    }
    drop(held);
    // Not locked out by the busy answers: the next guess is checked, refused and counted.
    assert_eq!(exchange(&p, &wrong, &[]).await, "unauthorized");
    assert_eq!(exchange(&p, &wrong, &[]).await, "locked_out");
}

#[tokio::test]
async fn a_credential_header_twice_is_refused_before_any_check() {
    let p = policy(
        "{ api_key: { keys: [k1] }, lockouts: [{ name: l, statuses: [400], max_failures: 1, window: 1m, block_for: 1m }] }",
    );
    let two = req(&[("x-api-key", "k1"), ("x-api-key", "k2")]);
    for _ in 0..3 {
        // Not even the lockout sees it.
        assert_eq!(exchange(&p, &two, &[]).await, "ambiguous_credentials");
    }
    assert_eq!(
        exchange(&p, &req(&[("x-api-key", "k1")]), &[200]).await,
        "pass"
    );
    assert_eq!(
        exchange(&p, &req(&[("x-api-key", "k3")]), &[]).await,
        "unauthorized"
    );
}
