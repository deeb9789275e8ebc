//! Debian's nginx as a reference: started on a free loopback port with a config equivalent to
//! the gatehouse one under test, so that a test can send the same bytes to both and assert that
//! gatehouse refuses at least what nginx refuses. Ended by pid on drop.
//!
//! The side-by-side harness that uses it is in `compare.rs`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// What the nginx config mirrors of the gatehouse config under test.
pub struct NginxSite<'a> {
    /// Where both locations proxy to (a [`super::raw::Recorder`] of nginx's own).
    pub backend: SocketAddr,
    /// One `user:hash` line for `auth_basic_user_file` (nginx reads bcrypt `$2b$` hashes
    /// through libxcrypt, so the same hash as gatehouse's can be used).
    pub htpasswd: &'a str,
    /// The admin route matches its prefix ASCII-case-insensitively (`case_insensitive: true`).
    pub admin_case_insensitive: bool,
    /// More directives at the `server` level.
    pub extra: &'a str,
}

pub struct Nginx {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// The config. Each setting below is chosen to be equivalent to gatehouse's behaviour (or
/// its spec), so that a difference in refusals is a difference of the proxies, not of configs.
pub fn config(dir: &std::path::Path, port: u16, site: &NginxSite<'_>) -> String {
    let d = dir.display();
    let backend = site.backend;
    // gatehouse matches a route prefix on a segment boundary (`/admin` covers `/admin`,
    // `/admin/...` and, since `;` ends a segment, `/admin;x`, but not `/adminx`); nginx's
    // plain `location /admin` is a string prefix that would also take `/adminx`, so the
    // equivalent is a regex on nginx's normalized URI (`~*` for `case_insensitive: true`),
    // quoted because of its `;`.
    let admin_match = if site.admin_case_insensitive {
        "~*"
    } else {
        "~"
    };
    let extra = site.extra;
    format!(
        r#"# Single process in the foreground, so that one pid is the whole server.
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    # gatehouse's limits: one header line (and the request line) of at most 16 KiB, a head of
    # at most 64 KiB (4 x 16k buffers). gatehouse's spec is stricter on the request line
    # (8 KiB -> 414) and on the header count (100 -> 431); nginx has no count limit.
    large_client_header_buffers 4 16k;
    # gatehouse drops header names containing `_` by default (`server.underscores_in_headers`).
    underscores_in_headers off;
    # nginx's default: header lines with invalid names are dropped, not refused.
    ignore_invalid_headers on;
    # gatehouse collapses repeated slashes before routing (nginx's default too).
    merge_slashes on;

    server {{
        listen 127.0.0.1:{port};
        # The upstream sees the Host the client sent (as gatehouse forwards it).
        proxy_set_header Host $host;
        location = /__nginx_ready {{ return 204; }}
        # Route `admin`: basic auth, then the same backend. `proxy_pass` without a URI part:
        # nginx matches on its normalized URI but forwards the target as the client sent it
        # (the tests compare refusals with nginx, not what reached its backend).
        location {admin_match} "^/admin(?:[/;]|$)" {{
            auth_basic "admin";
            auth_basic_user_file {d}/htpasswd;
            proxy_pass http://{backend};
        }}
        # Route `site`: the open catch-all.
        location / {{
            proxy_pass http://{backend};
        }}
        {extra}
    }}
}}
"#
    )
}

impl Nginx {
    /// Start on a free port and wait until it answers; again on a new port (a few times) when
    /// the chosen one was taken in between.
    pub async fn start(site: &NginxSite<'_>) -> Nginx {
        let mut attempt = 0;
        loop {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = super::free_port();
            std::fs::write(dir.path().join("htpasswd"), format!("{}\n", site.htpasswd))
                .expect("htpasswd");
            let text = config(dir.path(), port, site);
            match Self::try_start(dir, port, &text, true).await {
                Ok(n) => return n,
                Err(log) if attempt < 4 && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("nginx did not start; log:\n{log}"),
            }
        }
    }

    /// Start nginx on a whole config of the caller's, `conf(dir, port)` (it must run in the
    /// foreground as one process, as [`config`]'s does); ready once its port accepts.
    #[allow(dead_code)] // not every test binary uses it
    pub async fn start_with(conf: impl Fn(&std::path::Path, u16) -> String) -> Nginx {
        let mut attempt = 0;
        loop {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = super::free_port();
            let text = conf(dir.path(), port);
            match Self::try_start(dir, port, &text, false).await {
                Ok(n) => return n,
                Err(log) if attempt < 4 && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("nginx did not start; log:\n{log}"),
            }
        }
    }

    /// `http_ready`: ready when `/__nginx_ready` answers 204; otherwise when the port accepts.
    async fn try_start(
        dir: tempfile::TempDir,
        port: u16,
        text: &str,
        http_ready: bool,
    ) -> Result<Nginx, String> {
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, text).expect("nginx.conf");
        let out = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
        let child = Command::new(binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("clone")))
            .stderr(Stdio::from(out))
            .spawn()
            .map_err(|e| {
                format!(
                    "spawn {}: {e} (is nginx installed? scripts/setup.sh --test)",
                    binary()
                )
            })?;
        let mut n = Nginx {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = if http_ready {
                let r = super::raw::send(n.addr, b"GET /__nginx_ready HTTP/1.0\r\n\r\n").await;
                r.status == Some(204)
            } else {
                tokio::net::TcpStream::connect(n.addr).await.is_ok()
            };
            if ready {
                return Ok(n);
            }
            if let Ok(Some(status)) = n.child.try_wait() {
                return Err(format!("nginx exited with {status}:\n{}", n.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("nginx not ready after 10 s:\n{}", n.log()));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Its stderr and error log (info level: it says why it refused a request).
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}
