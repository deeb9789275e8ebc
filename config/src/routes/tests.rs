//! The `routes` section: names, hosts and upstream references checked with their paths.

use crate::tests::no_env;
use crate::Config;

#[test]
fn duplicate_routes_and_bad_hosts() {
    let text = r#"listeners: [{ name: http, address: "127.0.0.1:8080" }]
upstreams: { app: { backends: [{ address: "127.0.0.1:3000" }] } }
routes:
  - { name: a, upstream: app, hosts: [x.com], path_prefix: /p }
  - { name: a, upstream: app, hosts: [X.com], path_prefix: /p }
  - { name: c, upstream: app, hosts: ["https://x.com/"] }
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let msgs: Vec<String> = errs.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("duplicate route name `a`"));
    assert!(msgs[1].contains("same hosts and path_prefix"));
    assert!(msgs[2].contains("routes[2].hosts[0]"));
}

#[test]
fn a_broken_upstream_is_not_also_unknown_but_a_similar_name_is() {
    let text = r#"listeners: [{ name: http, address: "127.0.0.1:8080" }]
upstreams:
  app: { backends: [{ address: "127.0.0.1:3000", colour: red }] }
routes:
  - { name: a, upstream: app }
  - { name: b, upstream: ap, path_prefix: /b }
"#;
    let errs = Config::from_yaml_with_env(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errs.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["upstreams.app.backends[0].colour", "routes[1].upstream"],
        "{errs}"
    );
}
