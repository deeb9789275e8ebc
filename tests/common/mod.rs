//! Test support: start the real gatehouse binary with a small YAML on free loopback ports, and
//! real upstream HTTP servers bound to 127.0.0.1:0. Everything started is ended by pid on drop.
#![allow(dead_code, unreachable_pub)]

pub mod admin;
pub mod alerts;
pub mod browser;
pub mod cluster;
pub mod compare;
pub mod dashboards;
pub mod h2;
pub mod nginx;
pub mod pebble;
pub mod policy;
pub mod prometheus;
pub mod raw;
pub mod receiver;
pub mod redis;
pub mod targets;
pub mod tls;
pub mod upstream;

#[allow(unused_imports)] // not every test binary starts one
pub use upstream::Upstream;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago (gatehouse's own listeners are bound by Pingora, which
/// cannot report an ephemeral port back, so tests choose one).
/// Never the same port twice in one test process: the kernel may hand a port just released
/// to the next bind, and two listeners of one config on one port is a config error.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Wait until a started gatehouse answers `ready_url` with 200 (30 s at most); its log when it
/// exits first or never gets ready.
pub async fn until_ready(
    child: &mut Child,
    ready_url: &str,
    log_path: &std::path::Path,
) -> Result<(), String> {
    let client = reqwest::Client::new();
    let log = || std::fs::read_to_string(log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(ready_url).send().await {
            if r.status() == 200 {
                return Ok(());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}:\n{}", log()));
        }
        if Instant::now() > deadline {
            return Err(format!("not ready after 30 s:\n{}", log()));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Wait for `cond` with a deadline.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

pub struct Gatehouse {
    pub child: Child,
    pub port: u16,
    /// The HTTPS listener's port (0 when the config has none).
    pub tls_port: u16,
    pub admin_port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

impl Gatehouse {
    /// `body` is the YAML after the listeners/admin sections (upstreams, routes, ...).
    /// A port chosen by `free_port` can be taken by another test before gatehouse binds it;
    /// then it starts again on new ports (a few times).
    pub async fn start(body: &str) -> Gatehouse {
        let mut attempt = 0;
        loop {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let admin_port = free_port();
            let config_path = dir.path().join("gatehouse.yaml");
            let yaml = Self::yaml(port, admin_port, &dir.path().join("state"), body);
            std::fs::write(&config_path, yaml).expect("write config");
            match Self::try_launch(dir, port, 0, admin_port).await {
                Ok(g) => return g,
                Err(log) if attempt < 4 && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("gatehouse did not start; log:\n{log}"),
            }
        }
    }

    /// Like [`Gatehouse::start`] with a second, TLS listener (`tls_port`) and `state_dir`
    /// inside the test's directory; `body` holds the `tls` section.
    pub async fn start_tls(body: &str) -> Gatehouse {
        let mut attempt = 0;
        loop {
            let dir = tempfile::tempdir().expect("tempdir");
            let (port, tls_port, admin_port) = (free_port(), free_port(), free_port());
            let config_path = dir.path().join("gatehouse.yaml");
            let yaml = Self::yaml_tls(port, tls_port, admin_port, &dir.path().join("state"), body);
            std::fs::write(&config_path, yaml).expect("write config");
            match Self::try_launch(dir, port, tls_port, admin_port).await {
                Ok(g) => return g,
                Err(log) if attempt < 4 && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("gatehouse did not start; log:\n{log}"),
            }
        }
    }

    /// Start with a whole config of the caller's: `yaml(port, admin_port, state_dir)`, the
    /// proxy listener on `port` (free ports, tried again when taken meanwhile).
    pub async fn start_custom(yaml: impl Fn(u16, u16, &std::path::Path) -> String) -> Gatehouse {
        let mut attempt = 0;
        loop {
            let dir = tempfile::tempdir().expect("tempdir");
            let (port, admin_port) = (free_port(), free_port());
            let config_path = dir.path().join("gatehouse.yaml");
            let text = yaml(port, admin_port, &dir.path().join("state"));
            std::fs::write(&config_path, text).expect("write config");
            match Self::try_launch(dir, port, 0, admin_port).await {
                Ok(g) => return g,
                Err(log) if attempt < 4 && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("gatehouse did not start; log:\n{log}"),
            }
        }
    }

    /// [`Gatehouse::start_tls`] with chosen ports and directory.
    pub async fn start_tls_in(
        dir: tempfile::TempDir,
        port: u16,
        tls_port: u16,
        admin_port: u16,
        body: &str,
    ) -> Gatehouse {
        let config_path = dir.path().join("gatehouse.yaml");
        let yaml = Self::yaml_tls(port, tls_port, admin_port, &dir.path().join("state"), body);
        std::fs::write(&config_path, yaml).expect("write config");
        Self::launch(dir, port, tls_port, admin_port).await
    }

    pub fn yaml_tls(
        port: u16,
        tls_port: u16,
        admin_port: u16,
        state: &std::path::Path,
        body: &str,
    ) -> String {
        format!(
            "listeners:\n  - {{ name: http, address: \"127.0.0.1:{port}\" }}\n  - {{ name: https, address: \"127.0.0.1:{tls_port}\", tls: true }}\nadmin:\n  listen: \"127.0.0.1:{admin_port}\"\nstate_dir: \"{}\"\nserver:\n  threads: 2\n  grace_period: 5s\n{body}",
            state.display()
        )
    }

    async fn launch(
        dir: tempfile::TempDir,
        port: u16,
        tls_port: u16,
        admin_port: u16,
    ) -> Gatehouse {
        match Self::try_launch(dir, port, tls_port, admin_port).await {
            Ok(g) => g,
            Err(log) => panic!("gatehouse did not start; log:\n{log}"),
        }
    }

    /// Start and wait until ready; the log when it exits or never gets ready.
    async fn try_launch(
        dir: tempfile::TempDir,
        port: u16,
        tls_port: u16,
        admin_port: u16,
    ) -> Result<Gatehouse, String> {
        let config_path = dir.path().join("gatehouse.yaml");
        let log_path = dir.path().join("gatehouse.log");
        let child = Self::spawn(&config_path, &log_path);
        let mut g = Gatehouse {
            child,
            port,
            tls_port,
            admin_port,
            dir,
            config_path,
            log_path,
        };
        g.try_ready().await?;
        Ok(g)
    }

    fn spawn(config_path: &std::path::Path, log_path: &std::path::Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .expect("log file");
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["run", "--config"])
            .arg(config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("clone")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn gatehouse")
    }

    async fn wait_ready(&mut self) {
        if let Err(log) = self.try_ready().await {
            panic!("gatehouse did not become ready; log:\n{log}");
        }
    }

    async fn try_ready(&mut self) -> Result<(), String> {
        let url = self.admin("/readyz");
        until_ready(&mut self.child, &url, &self.log_path).await
    }

    /// Stop the process (by pid) and start it again on the same config, ports and state.
    pub async fn restart(&mut self) {
        self.kill();
        self.respawn().await;
    }

    /// Kill the process (SIGKILL, as a crash would), leaving its state behind.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the process again after [`Gatehouse::kill`], on the same config, ports and state.
    pub async fn respawn(&mut self) {
        self.child = Self::spawn(&self.config_path, &self.log_path);
        self.wait_ready().await;
    }

    /// `state` is the test's own state directory (ACME files, the probe store).
    pub fn yaml(port: u16, admin_port: u16, state: &std::path::Path, body: &str) -> String {
        format!(
            "listeners:\n  - {{ name: http, address: \"127.0.0.1:{port}\" }}\nadmin:\n  listen: \"127.0.0.1:{admin_port}\"\nstate_dir: \"{}\"\nserver:\n  threads: 2\n  grace_period: 5s\n{body}",
            state.display()
        )
    }

    /// Replace the config file (atomically, as editors and deploy tools do).
    pub fn rewrite(&self, body: &str) {
        let tmp = self.dir.path().join(".gatehouse.yaml.tmp");
        let state = self.dir.path().join("state");
        let yaml = if self.tls_port == 0 {
            Self::yaml(self.port, self.admin_port, &state, body)
        } else {
            Self::yaml_tls(self.port, self.tls_port, self.admin_port, &state, body)
        };
        std::fs::write(&tmp, yaml).expect("write");
        std::fs::rename(&tmp, &self.config_path).expect("rename");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn admin(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(self.admin("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Value of one sample line, e.g. `gatehouse_config_reloads_total{result="success"}`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .and_then(|v| v.trim().parse().ok())
    }

    /// Value of the first sample of `name` whose labels include all of `labels`, in any order
    /// (the exposition sorts labels by name), e.g.
    /// `metric_with("gatehouse_policy_decisions_total", &[("route", "app"), ("decision", "blocked")])`.
    pub async fn metric_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = self.metrics().await;
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (series, value) = l.trim_end().rsplit_once(' ')?;
            let (n, set) = match series.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}')?)?),
                None => (series, Vec::new()),
            };
            let all = labels
                .iter()
                .all(|(k, v)| set.iter().any(|(k2, v2)| k2 == k && v2 == v));
            if n == name && all {
                value.trim().parse().ok()
            } else {
                None
            }
        })
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }
}

/// `a="1",b="x\"y"` (the inside of a sample's braces) as pairs; `None` when malformed.
fn parse_labels(mut rest: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut end = None;
        let mut chars = after.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, e)) => value.push(e),
                    None => return None,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key.trim().to_string(), value));
        rest = after[end? + 1..].trim_start_matches(',').trim_start();
    }
    Some(out)
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET and parse the JSON echo of a test upstream.
pub async fn get_json(client: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let r = client.get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, v)
}
