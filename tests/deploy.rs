//! What ships for deployment, checked without Docker or a running systemd (neither exists on
//! the machines the tests run on): the systemd unit passes `systemd-analyze verify`; the
//! compose example parses, every file it mounts exists, and its gatehouse config is valid;
//! the Dockerfile builds with the script CI runs and copies only what that script makes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = read("deploy/systemd/gatehouse.service");
    for key in [
        "DynamicUser=yes",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "StateDirectory=gatehouse",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == key), "the unit lacks {key}");
    }
    let Ok(tool) = which("systemd-analyze") else {
        // CI installs it (.ci/run, scripts/setup.sh --test: Debian's `systemd`).
        println!("SKIPPED: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gatehouse.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/gatehouse", env!("CARGO_BIN_EXE_gatehouse")),
    )
    .expect("write");
    // --man=no: the man page is not installed here (`gatehouse man --dir` makes it).
    let out = Command::new(tool)
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown keys are only warnings to systemd ("ignoring"); here they fail.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("gatehouse.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{stderr}");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

#[test]
fn the_compose_example_parses_and_mounts_only_files_of_the_repo() {
    let dir = repo("deploy/compose");
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/compose/compose.yaml")).expect("compose.yaml is YAML");
    let services = compose["services"].as_mapping().expect("services");
    let named_volumes = compose["volumes"].as_mapping().expect("volumes");
    for name in ["app", "gatehouse", "prometheus", "grafana"] {
        assert!(services.contains_key(name), "no service {name}");
    }
    let mut mounted = Vec::new();
    for (name, service) in services {
        let name = name.as_str().expect("service name");
        for v in service["volumes"].as_sequence().into_iter().flatten() {
            let spec = v.as_str().expect("short volume syntax");
            let (source, target) = spec.split_once(':').expect("SOURCE:TARGET");
            if source.starts_with('.') || source.starts_with('/') {
                let on_disk = dir.join(source);
                assert!(
                    on_disk.exists(),
                    "{name} mounts {source}, which is not in the repo"
                );
                mounted.push((on_disk, target.to_string()));
            } else {
                assert!(
                    named_volumes.contains_key(source),
                    "{name}: volume {source} is not declared"
                );
            }
        }
        if let Some(context) = service["build"]["context"].as_str() {
            let file = service["build"]["dockerfile"]
                .as_str()
                .unwrap_or("Dockerfile");
            assert!(dir.join(context).join(file).is_file(), "{name}: no {file}");
        }
    }
    // Prometheus loads the shipped rules at the path its config names, Grafana the shipped
    // dashboards where the shipped provisioning file looks for them.
    let prometheus: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/compose/prometheus.yml")).expect("YAML");
    let rules = prometheus["rule_files"][0].as_str().expect("rule_files");
    assert!(
        mounted
            .iter()
            .any(|(src, t)| t.starts_with(rules) && src.ends_with("gatehouse-rules.yml")),
        "{rules} is not mounted"
    );
    let provider: serde_yaml::Value =
        serde_yaml::from_str(&read("dashboards/provisioning/dashboards/gatehouse.yaml"))
            .expect("YAML");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path");
    assert!(
        mounted
            .iter()
            .any(|(src, t)| t.starts_with(path) && src.ends_with("dashboards/grafana")),
        "the dashboards are not mounted at {path}"
    );

    // Its gatehouse config is valid: `app` resolves only on the compose network, so it is
    // checked with the app on loopback.
    let config = read("deploy/compose/gatehouse/gatehouse.yaml").replace("app:80", "127.0.0.1:80");
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("gatehouse.yaml");
    std::fs::write(&path, config).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config"])
        .arg(&path)
        .env("GATEHOUSE_ADMIN_TOKEN", "a-token-of-at-least-16-characters")
        .env("STATE_DIRECTORY", tmp.path().join("state"))
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dockerfile_builds_with_the_script_ci_runs() {
    let dockerfile = read("Dockerfile");
    let script = read("scripts/build-release.sh");
    let ci = read(".ci/run");
    let runs: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("RUN ") && l.contains("build-release"))
        .collect();
    assert_eq!(
        runs,
        ["RUN bash scripts/build-release.sh /dist"],
        "the image builds with the script only"
    );
    assert!(
        ci.lines()
            .any(|l| l.trim_start().starts_with("bash scripts/build-release.sh")),
        ".ci/run does not run scripts/build-release.sh"
    );
    assert!(script.contains("cargo build --locked --release --bin gatehouse"));
    // Everything the image copies from the build stage is something the script writes.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY --from=build "))
    {
        let source = line.split_whitespace().nth(2).expect("source");
        let relative = source.strip_prefix("/dist/").expect("from /dist");
        assert!(
            script.contains(&format!("$out/{relative}"))
                || script.contains(&format!("\"$out/{relative}\"")),
            "the script does not make {relative}"
        );
    }
    for needed in [
        "USER gatehouse",
        "VOLUME [\"/etc/gatehouse\", \"/var/lib/gatehouse\"]",
        "ENV STATE_DIRECTORY=/var/lib/gatehouse",
        "HEALTHCHECK ",
        "CMD [\"gatehouse\", \"health\"",
    ] {
        assert!(dockerfile.contains(needed), "Dockerfile lacks {needed}");
    }
    // The subcommands the image runs exist with those flags.
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["health", "--timeout", "4", "--help"])
        .output()
        .expect("help");
    assert!(out.status.success());
}
