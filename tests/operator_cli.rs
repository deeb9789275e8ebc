//! The operator's commands besides `run`: `check --format json`, `init`, `schema` (and the
//! schema against every shipped example), `completions`, `man` and `health`.

mod common;

use common::Gatehouse;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .output()
        .expect("run gatehouse")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The schema `gatehouse schema` prints, compiled by a validator.
fn validator() -> (serde_json::Value, jsonschema::Validator) {
    let out = gatehouse(&["schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    let validator = jsonschema::draft7::new(&schema).expect("a valid draft 7 schema");
    (schema, validator)
}

fn yaml_file(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn problems(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_schema_validates_every_example_and_refuses_unknown_keys() {
    let (schema, v) = validator();
    // The committed copy the examples' modelines point at is the one the binary prints.
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("config/gatehouse.schema.json")).expect("committed schema"),
    )
    .expect("JSON");
    assert!(
        committed == schema,
        "config/gatehouse.schema.json is stale: `cargo run -- schema > config/gatehouse.schema.json`"
    );

    let mut seen = 0;
    for entry in std::fs::read_dir(repo("config/examples")).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.lines()
                .any(|l| l == "# yaml-language-server: $schema=../gatehouse.schema.json"),
            "{}: no yaml-language-server modeline",
            path.display()
        );
        let doc = yaml_file(&path);
        let found = problems(&v, &doc);
        assert!(found.is_empty(), "{}: {found:#?}", path.display());
    }
    assert!(seen >= 3, "only {seen} examples");

    // An unknown key anywhere is refused: at the top, in a route, in a notifier.
    let mut doc = yaml_file(&repo("config/examples/quickstart.yaml"));
    doc["listners"] = serde_json::json!([]);
    let found = problems(&v, &doc);
    assert!(found.iter().any(|p| p.contains("listners")), "{found:#?}");
    let mut doc = yaml_file(&repo("config/examples/quickstart.yaml"));
    doc["routes"][0]["upstreem"] = "demo".into();
    assert!(!v.is_valid(&doc), "an unknown route key passed");
    let mut doc = yaml_file(&repo("config/examples/reference.yaml"));
    let notifiers = doc["alerting"]["notifiers"]
        .as_array_mut()
        .expect("reference.yaml lists notifiers");
    notifiers[0]["webhook_urll"] = "https://example.com".into();
    assert!(!v.is_valid(&doc), "an unknown notifier key passed");
    // A wrong type is refused too.
    let mut doc = yaml_file(&repo("config/examples/quickstart.yaml"));
    doc["routes"][0]["retries"] = "three".into();
    assert!(!v.is_valid(&doc), "a string for a count passed");
}

#[test]
fn check_json_gives_one_object_per_problem_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "listeners:\n  - { name: http, address: \"127.0.0.1:8080\" }\nupstreams:\n  app:\n    backends: [{ address: \"127.0.0.1:3000\" }]\nroutes:\n  - name: a\n    upstream: missing\n  - name: b\n    upstream: app\n    path_prefix: /b\n    timeouts: { read: forever }\n    max_body_size: 10 parsecs\n",
    )
    .expect("write");
    let file = path.to_str().expect("utf-8 path");
    let out = gatehouse(&["check", "--format", "json", "--config", file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let objects: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(objects.len(), 3, "{objects:#?}");
    let expect = [
        (8, 5, "routes[0].upstream", "unknown upstream `missing`"),
        (
            12,
            17,
            "routes[1].timeouts.read",
            "`forever` is not a duration",
        ),
        (13, 5, "routes[1].max_body_size", "10 parsecs"),
    ];
    for (o, (line, column, yaml_path, message)) in objects.iter().zip(expect) {
        assert_eq!(o["severity"], "error", "{o}");
        assert_eq!(o["file"], file, "{o}");
        assert_eq!(o["line"], line, "{o}");
        assert_eq!(o["column"], column, "{o}");
        assert_eq!(o["path"], yaml_path, "{o}");
        let text = o["message"].as_str().expect("message");
        assert!(text.contains(message), "{o}");
    }

    // The same problems for people: FILE:LINE:COL: path: message.
    let out = gatehouse(&["check", "--config", file]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{file}:8:5: routes[0].upstream: unknown upstream `missing`"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{file}: 3 problems")), "{err}");

    // A valid file: nothing in JSON, exit 0.
    let good = repo("config/examples/quickstart.yaml");
    let out = gatehouse(&[
        "check",
        "--format",
        "json",
        "--config",
        good.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn check_reports_a_state_dir_that_cannot_be_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").expect("write");
    let path = dir.path().join("g.yaml");
    std::fs::write(
        &path,
        format!(
            "listeners: [{{ name: http, address: \"127.0.0.1:8080\" }}]\nupstreams: {{ app: {{ backends: [{{ address: \"127.0.0.1:3000\" }}] }} }}\nroutes: [{{ name: app, upstream: app }}]\nstate_dir: \"{}\"\n",
            blocker.join("state").display()
        ),
    )
    .expect("write");
    let out = gatehouse(&[
        "check",
        "--format",
        "json",
        "--config",
        path.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let o: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one object");
    assert_eq!(
        (o["path"].as_str(), o["line"].as_u64()),
        (Some("state_dir"), Some(4)),
        "{o}"
    );
    assert!(
        o["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a directory")),
        "{o}"
    );
}

#[test]
fn init_writes_a_starter_that_passes_check_and_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "init",
            "--domain",
            "example.com",
            "--domain",
            "www.example.com",
        ])
        .args(["--upstream", "127.0.0.1:3000"])
        .current_dir(dir.path())
        .output()
        .expect("init");
    assert!(out.status.success(), "{}", stderr(&out));
    let written = dir.path().join("gatehouse.yaml");
    let check = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config"])
        .arg(&written)
        .current_dir(dir.path())
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    let (_, v) = validator();
    let found = problems(&v, &yaml_file(&written));
    assert!(found.is_empty(), "{found:#?}");
    // It does not overwrite, and refuses a name it cannot get a certificate for.
    let again = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "init",
            "--domain",
            "example.com",
            "--upstream",
            "127.0.0.1:3000",
        ])
        .current_dir(dir.path())
        .output()
        .expect("init");
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let wild = gatehouse(&[
        "init",
        "--domain",
        "*.example.com",
        "--upstream",
        "127.0.0.1:3000",
        "-o",
        "-",
    ]);
    assert_eq!(wild.status.code(), Some(2));
}

#[test]
fn completions_and_man_pages_generate() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef gatehouse"),
        ("fish", "complete -c gatehouse"),
    ] {
        let out = gatehouse(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("health") && script.contains("check"),
            "{shell}"
        );
    }
    let out = gatehouse(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH gatehouse"),
        "{page}"
    );
    assert!(page.contains("completions"), "{page}");

    let dir = tempfile::tempdir().expect("tempdir");
    let out = gatehouse(&["man", "--dir", dir.path().to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    for page in ["gatehouse.1", "gatehouse-check.1", "gatehouse-health.1"] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_0_against_a_running_instance_and_not_after_it_stops() {
    let mut g = Gatehouse::start(
        "upstreams:\n  app: { backends: [{ address: \"127.0.0.1:9\" }] }\nroutes: [{ name: app, upstream: app }]\n",
    )
    .await;
    let url = g.admin("/readyz");
    let health = |url: String| {
        tokio::task::spawn_blocking(move || gatehouse(&["health", "--url", &url, "--timeout", "5"]))
    };
    let out = health(url.clone()).await.expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("200 ready"), "{}", stdout(&out));
    g.kill();
    let out = health(url).await.expect("join");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
    // Not a URL it can ask: a usage error.
    let out = gatehouse(&["health", "--url", "https://127.0.0.1:1/readyz"]);
    assert_eq!(out.status.code(), Some(2));
}
