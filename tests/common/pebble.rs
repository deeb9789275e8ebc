//! Let's Encrypt's test CA, pebble, with pebble-challtestsrv as its DNS (every name resolves
//! to 127.0.0.1), on free loopback ports; both ended by pid on drop.

use super::{free_port, wait_for};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct PebbleOptions {
    /// Where pebble connects for HTTP-01: gatehouse's plain listener.
    pub http_port: u16,
    /// `certificateValidityPeriod` in seconds (pebble's default is 5 years).
    pub validity_secs: Option<u64>,
    /// `PEBBLE_WFE_NONCEREJECT` (percent of good nonces rejected).
    pub nonce_reject: u32,
    /// Require External Account Binding, with key id `kid-1` and [`EAB_HMAC`].
    pub eab: bool,
}

/// The HMAC key of pebble's `kid-1` (base64url, as CAs hand it out).
pub const EAB_HMAC: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

pub struct Pebble {
    child: Option<Child>,
    chall: Child,
    pub dir: tempfile::TempDir,
    pub listen: u16,
    pub mgmt: u16,
    pub chall_mgmt: u16,
    /// pebble's own HTTPS certificate: the directory's extra root for gatehouse.
    pub ca_file: PathBuf,
    ca_pem: String,
    options: PebbleOptions,
    dns_port: u16,
}

impl Pebble {
    pub async fn start(options: PebbleOptions) -> Pebble {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("params")
                .self_signed(&key)
                .expect("self-signed");
        let ca_file = dir.path().join("pebble.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write");
        std::fs::write(dir.path().join("pebble.key"), key.serialize_pem()).expect("write");

        let dns_port = free_port();
        let chall_mgmt = free_port();
        let chall_log = std::fs::File::create(dir.path().join("challtestsrv.log")).expect("log");
        let chall = Command::new("pebble-challtestsrv")
            .args([
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv6",
                "",
            ])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{chall_mgmt}")])
            .stdout(Stdio::from(chall_log.try_clone().expect("clone")))
            .stderr(Stdio::from(chall_log))
            .spawn()
            .expect("pebble-challtestsrv (Debian package `pebble`) must be installed");
        let mut p = Pebble {
            child: None,
            chall,
            listen: free_port(),
            mgmt: free_port(),
            chall_mgmt,
            ca_pem: cert.pem(),
            ca_file,
            dir,
            options,
            dns_port,
        };
        let url = format!("http://127.0.0.1:{chall_mgmt}/add-a");
        wait_for("pebble-challtestsrv", Duration::from_secs(20), || async {
            reqwest::Client::new()
                .post(&url)
                .body(r#"{"host":"ready.test","addresses":["127.0.0.1"]}"#)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        p.start_pebble().await;
        p
    }

    /// (Re)start pebble itself on the same ports and files.
    pub async fn start_pebble(&mut self) {
        let mut conf = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{}", self.listen),
                "managementListenAddress": format!("127.0.0.1:{}", self.mgmt),
                "certificate": self.ca_file,
                "privateKey": self.dir.path().join("pebble.key"),
                "httpPort": self.options.http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
            }
        });
        if self.options.eab {
            conf["pebble"]["externalAccountBindingRequired"] = true.into();
            conf["pebble"]["externalAccountMACKeys"] = serde_json::json!({ "kid-1": EAB_HMAC });
        }
        if let Some(v) = self.options.validity_secs {
            conf["pebble"]["certificateValidityPeriod"] = v.into();
        }
        let conf_path = self.dir.path().join("pebble.json");
        std::fs::write(&conf_path, conf.to_string()).expect("write");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pebble.log"))
            .expect("log");
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&conf_path)
            .arg("-strict")
            .args(["-dnsserver", &format!("127.0.0.1:{}", self.dns_port)])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env(
                "PEBBLE_WFE_NONCEREJECT",
                self.options.nonce_reject.to_string(),
            )
            .stdout(Stdio::from(log.try_clone().expect("clone")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("pebble (Debian package `pebble`) must be installed");
        self.child = Some(child);
        let client = self.client();
        let dir = self.directory();
        wait_for("pebble's directory", Duration::from_secs(20), || async {
            client
                .get(&dir)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
    }

    /// Stop pebble (by pid); the DNS stays up.
    pub fn stop_pebble(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The port pebble validates HTTP-01 against.
    pub fn http_port(&self) -> u16 {
        self.options.http_port
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.listen)
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("pem"),
            )
            .build()
            .expect("client")
    }

    /// The root that signs the certificates this pebble issues (new at every pebble start).
    pub async fn issuing_root(&self) -> String {
        self.client()
            .get(format!("https://127.0.0.1:{}/roots/0", self.mgmt))
            .send()
            .await
            .expect("roots")
            .text()
            .await
            .expect("text")
    }

    /// The tls.acme section for gatehouse, for `certificates` (YAML list items, indented 4).
    pub fn acme_yaml(&self, certificates: &str) -> String {
        self.acme_yaml_with(certificates, "")
    }

    /// [`Pebble::acme_yaml`] with more `tls.acme` settings (lines indented 4).
    pub fn acme_yaml_with(&self, certificates: &str, extra: &str) -> String {
        format!(
            "tls:\n  acme:\n    email: ops@example.test\n    directory: \"{}\"\n    directory_ca_file: \"{}\"\n    retry_min: 500ms\n    retry_max: 4s\n{extra}    certificates:\n{certificates}",
            self.directory(),
            self.ca_file.display()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    pub fn chall_mgmt_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.chall_mgmt)
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop_pebble();
        let _ = self.chall.kill();
        let _ = self.chall.wait();
    }
}
