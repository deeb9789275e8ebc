//! A real SMTP server on loopback: Debian's aiosmtpd (`python3-aiosmtpd`) with a handler that
//! parses each message with Python's `email` package and stores it as JSON (plus the raw
//! bytes) in a directory.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";

const HANDLER: &str = r#"
import email, email.policy, json, os

class Sink:
    def __init__(self):
        self.count = 0
        self.dir = os.environ["GATEHOUSE_MAIL_DIR"]

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = getattr(envelope, "original_content", None) or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "references": str(msg["references"]),
            "content_type": msg.get_content_type(),
            "body": body.get_content() if body is not None else None,
        }
        base = os.path.join(self.dir, "%04d" % self.count)
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(base + ".tmp", base + ".json")
        return "250 Message accepted"
"#;

pub struct Smtp {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Smtp {
    /// Start aiosmtpd on a free port and wait until it accepts connections. Fails (never
    /// skips) when aiosmtpd is missing: CI installs `python3-aiosmtpd`.
    pub fn start() -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gatehouse_sink.py"), HANDLER).unwrap();
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "gatehouse_sink.Sink"])
            .env("PYTHONPATH", dir.path())
            .env("GATEHOUSE_MAIL_DIR", &mail)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {PYTHON} ({e}); install python3-aiosmtpd"));
        let mut smtp = Smtp { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = smtp.child.try_wait().unwrap() {
                let err =
                    std::fs::read_to_string(smtp.dir.path().join("stderr.log")).unwrap_or_default();
                panic!("aiosmtpd exited ({status}) before accepting connections; is python3-aiosmtpd installed (apt-get install python3-aiosmtpd)?\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {port} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        smtp
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Wait (up to 10 s) for `count` messages; each as parsed by Python's `email`.
    pub async fn wait_for(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            if files.len() >= count {
                files.sort();
                return files
                    .iter()
                    .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} messages, got {}",
                files.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
