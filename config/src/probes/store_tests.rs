//! `store.postgres` (cluster mode): what is taken and what is refused, with path and line.
#![allow(clippy::unwrap_used)]

use crate::{Config, ConfigErrors};
use std::time::Duration;

const BASE: &str = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes:\n  - { name: app, upstream: app }\n";

fn parse(extra: &str) -> Result<Config, ConfigErrors> {
    let env = |name: &str| (name == "PG_PASSWORD").then(|| "s3cret".to_string());
    Config::from_yaml_with_env(&format!("{BASE}{extra}"), &env)
}

fn problems(extra: &str) -> Vec<(String, Option<usize>, String)> {
    parse(extra)
        .unwrap_err()
        .errors
        .into_iter()
        .map(|e| (e.path, e.line, e.message))
        .collect()
}

#[test]
fn a_postgres_store_with_env_credentials_and_an_instance_name() {
    let c = parse(
        "store:\n  postgres: postgres://gh:${PG_PASSWORD}@db.internal:5432/gatehouse?sslmode=require\n  instance: gw-a\n  lease_ttl: 6s\n",
    )
    .unwrap();
    let pg = c.probes.store.postgres.as_ref().unwrap();
    assert_eq!(
        pg.url.0,
        "postgres://gh:s3cret@db.internal:5432/gatehouse?sslmode=require"
    );
    assert_eq!(pg.instance, "gw-a");
    assert_eq!(pg.lease_ttl, Duration::from_secs(6));
    assert_eq!(c.probes.store.buffer, 10_000);
    // The password never shows in debug output.
    assert!(!format!("{:?}", c.probes.store).contains("s3cret"));
}

#[test]
fn the_instance_defaults_to_the_hostname_and_the_ttl_to_15s() {
    let c = parse("store: { postgres: \"postgresql://gh@db/gatehouse\" }\n").unwrap();
    let pg = c.probes.store.postgres.unwrap();
    assert!(!pg.instance.is_empty());
    assert_eq!(pg.lease_ttl, Duration::from_secs(15));
}

#[test]
fn cluster_mistakes_are_reported_with_path_and_line() {
    let p = problems(
        "store:\n  postgres: mysql://gh:${PG_PASSWORD}@db/x\n  memory: true\n  instance: \"gw a\"\n  lease_ttl: 1s\n",
    );
    let has = |path: &str, what: &str, line: usize| {
        assert!(
            p.iter()
                .any(|(p, l, m)| p == path && m.contains(what) && *l == Some(line)),
            "{path} ({what}, line {line}) not in {p:?}"
        );
    };
    has("store.postgres", "postgres://", 7);
    has("store.memory", "exclude", 8);
    has("store.instance", "letters", 9);
    has("store.lease_ttl", "between 3s and 5m", 10);
    // The password is never repeated.
    assert!(!format!("{p:?}").contains("s3cret"));

    let p = problems("store: { postgres: \"postgres://gh@db/x\", path: /var/x.db }\n");
    assert!(
        p.iter()
            .any(|(p, _, m)| p == "store.path" && m.contains("exclude")),
        "{p:?}"
    );
    let p = problems("store: { postgres: \"postgres:///x\" }\n");
    assert!(
        p.iter()
            .any(|(p, _, m)| p == "store.postgres" && m.contains("no server")),
        "{p:?}"
    );
    let p = problems("store: { instance: gw-a, lease_ttl: 10s }\n");
    assert!(
        p.iter()
            .any(|(p, _, m)| p == "store.instance" && m.contains("only to a cluster")),
        "{p:?}"
    );
    assert!(p.iter().any(|(p, _, _)| p == "store.lease_ttl"), "{p:?}");
    let p = problems("store: { postgres: \"postgres://gh@db/x\", bogus: 1 }\n");
    assert!(
        p.iter()
            .any(|(p, _, m)| p.starts_with("store") && m.contains("bogus")),
        "{p:?}"
    );
}

#[test]
fn a_missing_password_variable_is_an_error_naming_it() {
    let p = problems("store: { postgres: \"postgres://gh:${NO_SUCH_PW}@db/x\" }\n");
    assert!(
        p.iter()
            .any(|(p, _, m)| p == "store.postgres" && m.contains("NO_SUCH_PW")),
        "{p:?}"
    );
}

#[test]
fn a_probe_s_quorum_is_a_name_or_a_count() {
    use crate::probes::Quorum;
    let probe =
        |q: &str| format!("probes:\n  - {{ name: web, tcp: {{ address: \"127.0.0.1:1\" }}{q} }}\n");
    let c = parse(&probe("")).unwrap();
    assert_eq!(c.probes.probes[0].quorum, Quorum::Majority);
    for (text, want) in [
        ("any", Quorum::Any),
        ("all", Quorum::All),
        ("majority", Quorum::Majority),
        ("2", Quorum::AtLeast(2)),
    ] {
        let c = parse(&probe(&format!(", quorum: {text}"))).unwrap();
        assert_eq!(c.probes.probes[0].quorum, want, "{text}");
    }
    for bad in ["most", "0"] {
        let p = problems(&probe(&format!(", quorum: {bad}")));
        assert!(
            p.iter()
                .any(|(p, l, m)| p == "probes[0].quorum" && l.is_some() && m.contains("majority")),
            "{bad}: {p:?}"
        );
    }
    assert_eq!(Quorum::Majority.needed(2), 2);
    assert_eq!(Quorum::Majority.needed(3), 2);
    assert_eq!(Quorum::AtLeast(5).needed(3), 3);
}
