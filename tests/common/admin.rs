//! gatehouse with an `admin` section of the test's choosing (tokens, hosts, metrics_open);
//! [`super::Gatehouse`] writes its own. The write token [`WRITE`] is in
//! `$GATEHOUSE_TEST_ADMIN_TOKEN`, the read token [`READ`] in `{dir}/read.token`.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const WRITE: &str = "write-token-0123456789abcdef";
pub const READ: &str = "read-token-fedcba9876543210";
/// An `admin.tokens` list with both (`@DIR@` stands for the test's directory).
pub const TOKENS: &str = "  tokens:\n    - { name: ops, token: \"${GATEHOUSE_TEST_ADMIN_TOKEN}\", scope: write }\n    - { name: prometheus, token_file: \"@DIR@/read.token\", scope: read }\n";

pub struct AdminGatehouse {
    pub child: Child,
    pub port: u16,
    pub admin_port: u16,
    pub dir: tempfile::TempDir,
    pub log_path: PathBuf,
}

impl Drop for AdminGatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config: one plain listener, `admin` lines (indented by two spaces) after `listen`.
pub fn yaml(port: u16, admin_port: u16, dir: &Path, admin: &str, body: &str) -> String {
    let admin = admin.replace("@DIR@", &dir.display().to_string());
    format!(
        "listeners:\n  - {{ name: http, address: \"127.0.0.1:{port}\" }}\nadmin:\n  listen: \"127.0.0.1:{admin_port}\"\n{admin}state_dir: \"{}\"\nserver:\n  threads: 2\n  grace_period: 5s\n{body}",
        dir.join("state").display()
    )
}

impl AdminGatehouse {
    /// Start on free ports (again on new ones when a port was taken meanwhile).
    pub async fn start(admin: &str, body: &str) -> AdminGatehouse {
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("read.token"), format!("{READ}\n")).expect("token");
            let (port, admin_port) = (free_port(), free_port());
            let config = dir.path().join("gatehouse.yaml");
            std::fs::write(&config, yaml(port, admin_port, dir.path(), admin, body))
                .expect("config");
            let log_path = dir.path().join("gatehouse.log");
            let log = std::fs::File::create(&log_path).expect("log");
            let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .args(["run", "--config"])
                .arg(&config)
                .env("RUST_LOG", "info")
                .env("GATEHOUSE_TEST_ADMIN_TOKEN", WRITE)
                .stdout(Stdio::from(log.try_clone().expect("log")))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn gatehouse");
            let mut g = AdminGatehouse {
                child,
                port,
                admin_port,
                dir,
                log_path,
            };
            match g.ready().await {
                Ok(()) => return g,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("gatehouse did not start:\n{log}"),
            }
        }
        panic!("no free ports after 5 attempts");
    }

    async fn ready(&mut self) -> Result<(), String> {
        let url = self.admin("/readyz");
        super::until_ready(&mut self.child, &url, &self.log_path).await
    }

    /// Replace the config file atomically (a reload follows), same ports and directory.
    pub fn rewrite(&self, admin: &str, body: &str) {
        let tmp = self.dir.path().join(".gatehouse.yaml.tmp");
        let text = yaml(self.port, self.admin_port, self.dir.path(), admin, body);
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, self.dir.path().join("gatehouse.yaml")).expect("rename");
    }

    pub fn admin(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}
