//! The side-by-side harness: [`Pair`] (gatehouse and nginx, each in front of its own
//! recording backend), [`Case`] (raw bytes and what gatehouse's spec says: [`Want`]), the
//! [`Guard`] that catches any request reaching the backend under the protected prefix, and a
//! table of every case on both sides for the failure message. The same bytes go to both.

use super::nginx::{Nginx, NginxSite};
use super::raw::{send, RawResponse, Recorded, Recorder};
use super::Gatehouse;
use std::net::SocketAddr;

/// The password of user `alice` on both proxies' protected route.
pub const PASSWORD: &str = "s3cret";
/// `Authorization` value with alice's right credentials (base64 of `alice:s3cret`).
pub const ALICE: &str = "Basic YWxpY2U6czNjcmV0";

/// gatehouse's side of the equivalent configs: route `admin` (`/admin`, basic auth for alice;
/// `admin_options` are more keys of it, e.g. `case_insensitive: true, `), then `more` routes
/// (YAML list items), then the open catch-all `site`, all to `backend`.
pub fn admin_and_site(backend: SocketAddr, hash: &str, admin_options: &str, more: &str) -> String {
    format!(
        r#"upstreams:
  app: {{ backends: [{{ address: "{backend}" }}] }}
routes:
  - {{ name: admin, upstream: app, path_prefix: /admin, {admin_options}policy: {{ basic_auth: {{ realm: admin, users: {{ alice: "{hash}" }} }} }} }}
{more}  - {{ name: site, upstream: app }}
"#
    )
}

/// gatehouse and nginx with equivalent configs, each in front of its own [`Recorder`].
pub struct Pair {
    pub gatehouse: Gatehouse,
    pub g_backend: Recorder,
    pub nginx: Nginx,
    pub n_backend: Recorder,
}

impl Pair {
    /// `yaml(backend, bcrypt_hash)` is gatehouse's body after the listeners (it may continue
    /// the `server:` section with lines indented by two spaces); nginx gets the same hash.
    pub async fn start<F>(yaml: F, admin_case_insensitive: bool) -> Pair
    where
        F: FnOnce(SocketAddr, &str) -> String,
    {
        let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
        let (g_backend, n_backend) = (Recorder::start().await, Recorder::start().await);
        let gatehouse = Gatehouse::start(&yaml(g_backend.addr, &hash)).await;
        let htpasswd = format!("alice:{hash}");
        let nginx = Nginx::start(&NginxSite {
            backend: n_backend.addr,
            htpasswd: &htpasswd,
            admin_case_insensitive,
            extra: "",
        })
        .await;
        Pair {
            gatehouse,
            g_backend,
            nginx,
            n_backend,
        }
    }

    pub fn gatehouse_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.gatehouse.port))
    }

    /// Send every case to both, one after the other, and judge each.
    pub async fn run(&self, guard: &Guard, cases: &[Case]) -> Vec<Row> {
        let mut rows = Vec::new();
        for case in cases {
            let (g, g_got) = exchange(self.gatehouse_addr(), &self.g_backend, &case.bytes).await;
            let (n, n_got) = exchange(self.nginx.addr, &self.n_backend, &case.bytes).await;
            let verdict = judge(case, guard, &g, &g_got, Some((&n, &n_got)));
            rows.push(Row {
                case: case.name.clone(),
                nginx: Some(n),
                nginx_backend: n_got,
                gatehouse: g,
                backend: g_got,
                verdict,
            });
        }
        rows
    }
}

/// The cases against gatehouse alone (where nginx has no equivalent config).
pub async fn run_alone(
    addr: SocketAddr,
    backend: &Recorder,
    guard: &Guard,
    cases: &[Case],
) -> Vec<Row> {
    let mut rows = Vec::new();
    for case in cases {
        let (g, got) = exchange(addr, backend, &case.bytes).await;
        let verdict = judge(case, guard, &g, &got, None);
        rows.push(Row {
            case: case.name.clone(),
            nginx: None,
            nginx_backend: Vec::new(),
            gatehouse: g,
            backend: got,
            verdict,
        });
    }
    rows
}

/// One exchange and what the backend received meanwhile.
pub async fn exchange(
    addr: SocketAddr,
    backend: &Recorder,
    bytes: &[u8],
) -> (RawResponse, Vec<Recorded>) {
    backend.take();
    let r = send(addr, bytes).await;
    (r, backend.take())
}

/// What gatehouse must do with one case (its spec); nginx's answer is compared on top.
#[derive(Debug, Clone)]
pub enum Want {
    /// 401 from the protected route; nothing forwarded.
    Auth,
    /// Refused, nothing forwarded. When gatehouse answers with its JSON body, the (status,
    /// code) is one of these (`""`: any code); a bare refusal (Pingora's own 400 before
    /// gatehouse's code runs, or a close without an answer) counts as refused too.
    Refused(&'static [(u16, &'static str)]),
    /// Forwarded once with exactly this request target; the backend's 200 reaches the client.
    Forward(String),
    /// Refused while the body arrives: the backend may have the head, never a complete body.
    BodyRefused,
    /// The spec leaves it open: refused or forwarded; the safety checks still apply.
    Either,
}

pub const BAD_PATH: Want = Want::Refused(&[(400, "bad_path")]);
pub const BAD_HOST: Want = Want::Refused(&[(400, "bad_host")]);
pub const BAD_FRAMING: Want = Want::Refused(&[(400, "bad_framing")]);
/// Any refusal (the spec names no code for it).
pub const REFUSED: Want = Want::Refused(&[]);

pub fn forward(target: &str) -> Want {
    Want::Forward(target.to_string())
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    pub want: Want,
    /// Why gatehouse deliberately answers what nginx refuses (the spec says so); `None`: if
    /// nginx refuses, gatehouse must refuse.
    pub differs: Option<&'static str>,
    /// The request carries the right credentials: the guard does not apply.
    pub authorized: bool,
    /// gatehouse must close the connection after answering.
    pub must_close: bool,
    /// More about what the backend received (every request it got).
    pub checks: Vec<Check>,
}

/// A check of one request as gatehouse's backend received it.
#[derive(Debug, Clone)]
pub enum Check {
    /// Exactly one header `name` and it is `value`.
    Header(&'static str, &'static str),
    /// `X-Forwarded-Host` is exactly one value: this host, or this host with a `:port`.
    ForwardedHost(&'static str),
    /// The head does not contain this text (case-insensitively).
    Lacks(&'static str),
}

impl Check {
    fn apply(&self, r: &Recorded) -> Result<(), String> {
        match self {
            Check::Header(name, value) => {
                let got = r.header(name);
                if got != [value.to_string()] {
                    return Err(format!("backend's `{name}` is {got:?}, want [{value:?}]"));
                }
            }
            Check::ForwardedHost(host) => {
                let got = r.header("x-forwarded-host");
                let ok = got.len() == 1
                    && (got[0] == *host
                        || got[0]
                            .strip_prefix(host)
                            .and_then(|p| p.strip_prefix(':'))
                            .is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0)));
                if !ok {
                    return Err(format!(
                        "backend's X-Forwarded-Host is {got:?}, want {host:?}"
                    ));
                }
            }
            Check::Lacks(text) => {
                let head = r.head_text().to_ascii_lowercase();
                if head.contains(&text.to_ascii_lowercase()) {
                    return Err(format!("backend's head contains `{text}`"));
                }
            }
        }
        Ok(())
    }
}

impl Case {
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>, want: Want) -> Case {
        Case {
            name: name.into(),
            bytes: bytes.into(),
            want,
            differs: None,
            authorized: false,
            must_close: false,
            checks: Vec::new(),
        }
    }

    pub fn must_close(mut self) -> Case {
        self.must_close = true;
        self
    }

    pub fn check(mut self, c: Check) -> Case {
        self.checks.push(c);
        self
    }

    pub fn differs(mut self, why: &'static str) -> Case {
        self.differs = Some(why);
        self
    }

    pub fn authorized(mut self) -> Case {
        self.authorized = true;
        self
    }
}

/// The protected prefix: no request without credentials may reach the backend with a path
/// that a lenient backend would serve from under it.
pub struct Guard {
    pub prefix: &'static str,
    pub case_insensitive: bool,
}

impl Guard {
    pub const ADMIN: Guard = Guard {
        prefix: "/admin",
        case_insensitive: false,
    };

    /// Whether a backend that strips `;` parameters (Tomcat), decodes percent-encodings once
    /// (also `%2F`, `%5C`), takes `\` for `/` and resolves dot segments and repeated slashes
    /// would serve `target` from under the prefix.
    /// A raw `#` counts both ways: as the start of a fragment and as part of the path.
    pub fn covers(&self, target: &str) -> bool {
        let path = target.split('?').next().unwrap_or_default();
        let before_fragment = path.split('#').next().unwrap_or_default();
        self.covers_path(path) || self.covers_path(before_fragment)
    }

    fn covers_path(&self, path: &str) -> bool {
        let path = match path.find("://") {
            Some(i) => path[i + 3..].find('/').map_or("/", |j| &path[i + 3 + j..]),
            None => path,
        };
        let stripped: Vec<&str> = path
            .split('/')
            .map(|s| s.split(';').next().unwrap_or_default())
            .collect();
        let decoded = percent_decode(&stripped.join("/")).replace('\\', "/");
        let mut out: Vec<&str> = Vec::new();
        for seg in decoded.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                s => out.push(s),
            }
        }
        let mut norm = format!("/{}", out.join("/"));
        let mut prefix = self.prefix.to_string();
        if self.case_insensitive {
            norm.make_ascii_lowercase();
            prefix.make_ascii_lowercase();
        }
        norm == prefix || norm.starts_with(&format!("{prefix}/"))
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One case's outcome on both sides.
pub struct Row {
    pub case: String,
    /// `None` when the case was not sent to nginx.
    pub nginx: Option<RawResponse>,
    pub nginx_backend: Vec<Recorded>,
    pub gatehouse: RawResponse,
    pub backend: Vec<Recorded>,
    /// `Ok(note)` or `Err(why it fails)`.
    pub verdict: Result<String, String>,
}

fn judge(
    case: &Case,
    guard: &Guard,
    g: &RawResponse,
    got: &[Recorded],
    nginx: Option<(&RawResponse, &[Recorded])>,
) -> Result<String, String> {
    if !case.authorized {
        if let Some(r) = got.iter().find(|r| guard.covers(&r.target())) {
            return Err(format!(
                "BYPASS: backend got `{}` (under {}) without credentials",
                r.target(),
                guard.prefix
            ));
        }
    }
    let mut note = String::new();
    match &case.want {
        Want::Auth => {
            if g.status != Some(401) || !got.is_empty() {
                return Err("want 401 from the protected route, nothing forwarded".into());
            }
        }
        Want::Refused(allowed) => {
            if !got.is_empty() {
                return Err("want refused; it was forwarded".into());
            }
            if g.timed_out {
                return Err("want refused; no answer within the deadline".into());
            }
            if !g.refused() {
                return Err("want refused; answered 2xx".into());
            }
            match (g.status, g.error_code()) {
                (Some(s), Some(code)) => {
                    let ok = allowed.is_empty()
                        || allowed
                            .iter()
                            .any(|(ws, wc)| *ws == s && (wc.is_empty() || *wc == code));
                    if !ok {
                        return Err(format!("want one of {allowed:?}, got {s} {code}"));
                    }
                }
                (Some(s), None) => note = format!("bare {s}, not gatehouse's JSON"),
                (None, _) => note = "closed without an answer".into(),
            }
        }
        Want::Forward(target) => {
            let targets: Vec<String> = got.iter().map(Recorded::target).collect();
            if g.status != Some(200) || targets != [target.clone()] {
                return Err(format!(
                    "want 200 and the backend to get exactly `{target}`"
                ));
            }
        }
        Want::BodyRefused => {
            if g.timed_out || !g.refused() || got.iter().any(|r| r.body_complete) {
                return Err("want refused and no complete body at the backend".into());
            }
        }
        Want::Either => {
            if g.timed_out {
                return Err("no answer within the deadline".into());
            }
        }
    }
    if case.must_close && !g.closed {
        return Err("the connection stayed open".into());
    }
    for r in got {
        for c in &case.checks {
            c.apply(r)?;
        }
    }
    if let Some((n, n_got)) = nginx {
        // Refused: no 2xx, no timeout, and nothing at its backend (HTTP/0.9 answers have no
        // status line, yet nginx forwarded them).
        let nginx_refused = n.refused() && !n.timed_out && n_got.is_empty();
        if nginx_refused && !g.refused() {
            match case.differs {
                Some(why) => note = format!("deliberate difference: {why}"),
                None => {
                    return Err(format!(
                        "nginx refuses ({}), gatehouse does not",
                        n.summary()
                    ))
                }
            }
        }
    }
    Ok(note)
}

fn targets(got: &[Recorded]) -> String {
    if got.is_empty() {
        return "-".into();
    }
    got.iter()
        .map(|r| {
            let t = r.target();
            if t.len() > 40 {
                let start: String = t.chars().take(30).collect();
                format!("{start}...({} bytes)", t.len())
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Control characters as `\xNN`, everything else as it is.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_control() => format!("\\x{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// The rows as a table: case, nginx (and its backend), gatehouse, gatehouse's backend, verdict.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<44} {:<12} {:<26} {:<24} {:<32} verdict\n",
        "case", "nginx", "nginx backend", "gatehouse", "gatehouse backend"
    );
    for r in rows {
        let mut case = printable(&r.case);
        if case.chars().count() > 44 {
            case = format!("{}...", case.chars().take(41).collect::<String>());
        }
        let verdict = match &r.verdict {
            Ok(n) if n.is_empty() => "ok".to_string(),
            Ok(n) => format!("ok ({n})"),
            Err(e) => format!("FAIL: {e}"),
        };
        out += &format!(
            "{:<44} {:<12} {:<26} {:<24} {:<32} {}\n",
            case,
            r.nginx.as_ref().map_or("n/a".into(), RawResponse::summary),
            targets(&r.nginx_backend),
            r.gatehouse.summary(),
            targets(&r.backend),
            verdict
        );
    }
    out
}

/// Print the table; panic with it (and the failures) when any case failed.
pub fn assert_rows(title: &str, rows: &[Row]) {
    let t = table(rows);
    eprintln!("== {title}\n{t}");
    let failed = rows.iter().filter(|r| r.verdict.is_err()).count();
    assert!(
        failed == 0,
        "{title}: {failed} of {} cases fail\n{t}",
        rows.len()
    );
}
