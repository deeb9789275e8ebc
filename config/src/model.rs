//! The validated configuration: every value parsed, every reference checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::compile::listener::ConnectionLimits;
pub use crate::raw::{LogFormat, UpstreamProtocol};

/// A complete, valid gatehouse configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from, if any.
    pub source: Option<PathBuf>,
    /// The private admin listener (health, readiness, metrics).
    pub admin: AdminConfig,
    /// Process-level settings.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// Traces (OTLP) and error events (Sentry).
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// The built-in demo backend, when enabled.
    pub demo: Option<DemoConfig>,
    /// Directory for state that outlives the process (ACME account and certificates).
    pub state_dir: PathBuf,
    /// Where the proxy accepts traffic.
    pub listeners: Vec<Listener>,
    /// Certificates for the TLS listeners, from files and from ACME.
    pub tls: TlsConfig,
    /// Peers whose X-Forwarded-For names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Redis for shared rate limits.
    pub redis: Option<crate::policy::RedisConfig>,
    /// Named pools of backends, by name.
    pub upstreams: BTreeMap<String, Upstream>,
    /// Routes, in file order.
    pub routes: Vec<Route>,
    /// Active probes, their scheduling and their result store.
    pub probes: crate::probes::ProbesConfig,
    /// Alert rules, incident handling and notifiers.
    pub alerting: crate::alerting::AlertingConfig,
    /// The public status page, when configured.
    pub status_page: Option<crate::status::StatusPageConfig>,
    /// Things that are allowed but probably not what the operator meant.
    pub warnings: Vec<crate::ConfigError>,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Address to bind; loopback by default.
    pub listen: SocketAddr,
    /// Bearer tokens; when any is set, every endpoint but `/healthz`, `/readyz`, the
    /// heartbeat pushes (and `/metrics` with `metrics_open`) needs one.
    pub tokens: Vec<AdminToken>,
    /// Lower-case names accepted in `Host` besides the listen address, `localhost`,
    /// `127.0.0.1` and `[::1]` (the DNS-rebinding guard).
    pub hosts: Vec<String>,
    /// `/metrics` needs no token.
    pub metrics_open: bool,
    /// Head deadline, idle timeout and connection cap of the listener.
    pub connections: ConnectionLimits,
}

/// An admin API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Names the token in logs (the value never is).
    pub name: String,
    /// The value the client sends as `Authorization: Bearer VALUE`.
    pub token: crate::policy::Secret,
    /// What the token may do.
    pub scope: AdminScope,
}

/// What an admin token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminScope {
    /// GET and HEAD only.
    #[default]
    Read,
    /// Everything, including posting announcements and creating silences.
    Write,
}

/// Process-level settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Worker threads for the proxy.
    pub threads: usize,
    /// How long SIGTERM/SIGINT waits for in-flight requests before exiting.
    pub grace_period: Duration,
    /// Size limits of a request head.
    pub limits: RequestLimits,
    /// Keep header names containing `_` (dropped by default, as nginx does).
    pub underscores_in_headers: bool,
    /// How long an idle keep-alive connection (HTTP/1.1) or HTTP/2 connection stays open.
    pub keepalive_timeout: Duration,
    /// How long a whole HTTP/1 request head may take to arrive (nginx: client_header_timeout).
    pub header_timeout: Duration,
    /// Longest wait between two reads of an HTTP/1 request body (nginx: client_body_timeout).
    pub client_body_timeout: Duration,
    /// Longest wait for a client to take the next part of a response (nginx: send_timeout).
    pub send_timeout: Duration,
    /// Requests served on one keep-alive connection before it is closed gracefully.
    pub keepalive_requests: u32,
    /// Streams one HTTP/2 connection may have open at once; also the most requests of one
    /// connection in progress at once (a stream the client reset counts until its request ends).
    pub http2_max_concurrent_streams: u32,
    /// Streams one HTTP/2 connection's client may reset per minute (a bucket of this size,
    /// refilled over a minute); one more and the connection gets GOAWAY ENHANCE_YOUR_CALM.
    pub http2_max_resets: u32,
    /// How long a TLS handshake may take, from the connection's accept (nginx 1.25:
    /// ssl_handshake_timeout).
    pub tls_handshake_timeout: Duration,
    /// TLS handshakes in progress at once on one listener; a connection arriving when this
    /// many are under way is closed at once (HAProxy: maxsslconn).
    pub max_tls_handshakes: usize,
}

/// Size limits of a request head (nginx: `large_client_header_buffers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request line, in bytes (414 beyond).
    pub request_line: usize,
    /// Longest header line (`name: value`), in bytes (431 beyond).
    pub header_line: usize,
    /// Largest request head, request line and headers together, in bytes (431 beyond).
    pub head: usize,
    /// Most header lines (431 beyond).
    pub headers: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            request_line: defaults::REQUEST_LINE,
            header_line: defaults::HEADER_LINE,
            head: defaults::HEAD_SIZE,
            headers: defaults::HEADERS,
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Text or JSON lines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `gatehouse=debug,info`.
    pub level: String,
    /// Whether one access-log line is written per request.
    pub access_log: bool,
}

/// The built-in demo backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Address the demo backend binds.
    pub listen: SocketAddr,
    /// Head deadline, idle timeout and connection cap of the listener.
    pub connections: ConnectionLimits,
}

/// A listener: plain HTTP, or HTTPS when `tls` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Name used in logs.
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
    /// Terminate TLS here (certificates from `tls`).
    pub tls: bool,
    /// Offer HTTP/2 by ALPN (TLS listeners only; HTTP/1.1 is always offered).
    pub http2: bool,
    /// Most connections open at once on this listener.
    pub max_connections: usize,
    /// Most connections open at once from one client address (IPv6: one /64); peers in
    /// `trusted_proxies` have no such cap.
    pub max_connections_per_ip: usize,
}

/// A pool of backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The pool's name (its key in `upstreams`).
    pub name: String,
    /// Backends with their weights.
    pub backends: Vec<Backend>,
    /// Protocol spoken to the backends.
    pub protocol: UpstreamProtocol,
    /// Active health checking, when configured.
    pub health_check: Option<HealthCheck>,
    /// Backends taken out after failing real requests.
    pub passive_health: PassiveHealth,
}

/// Passive health: a backend that fails `failures` requests in a row (connect errors,
/// timeouts, resets, and 5xx answers with `on_5xx`) is out of service for `cool_off`, doubled
/// at each ejection in a row up to `max_cool_off`. `failures: 0` turns it off; a pool of one
/// backend never ejects it (there is nothing to fail over to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveHealth {
    /// Failures in a row that eject a backend; 0: off.
    pub failures: u32,
    /// The first ejection's length.
    pub cool_off: Duration,
    /// The longest ejection.
    pub max_cool_off: Duration,
    /// Count 5xx answers as failures.
    pub on_5xx: bool,
}

impl Default for PassiveHealth {
    fn default() -> Self {
        PassiveHealth {
            failures: 5,
            cool_off: Duration::from_secs(10),
            max_cool_off: Duration::from_secs(300),
            on_5xx: false,
        }
    }
}

/// One backend of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// As written in the file (used in metric labels).
    pub address_text: String,
    /// Resolved socket address.
    pub address: SocketAddr,
    /// Relative share of requests (round robin, weighted).
    pub weight: usize,
}

/// Active health checking of a pool's backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// What a check does.
    pub kind: HealthCheckKind,
    /// Time between checks.
    pub interval: Duration,
    /// Connect and read timeout of one check.
    pub timeout: Duration,
    /// Consecutive successes that bring a backend back.
    pub healthy_threshold: usize,
    /// Consecutive failures that take a backend out.
    pub unhealthy_threshold: usize,
}

/// The kind of health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// `GET path` with the given Host header, expecting `expect_status`.
    Http {
        /// Request path.
        path: String,
        /// Host header.
        host: String,
        /// Status that counts as healthy.
        expect_status: u16,
    },
    /// A TCP connect.
    Tcp,
}

/// A route: which requests go to which upstream, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Unique name, used in metrics and logs.
    pub name: String,
    /// Hosts matched; empty means any host.
    pub hosts: Vec<HostPattern>,
    /// Path prefix, matched on segment boundaries.
    pub path_prefix: String,
    /// The upstream pool's name.
    pub upstream: String,
    /// Timeouts toward the upstream.
    pub timeouts: Timeouts,
    /// How many other backends to try when connecting fails.
    pub retries: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_size: u64,
    /// On a plain listener, redirect requests for TLS-served hosts to HTTPS.
    pub redirect_https: bool,
    /// Accept an encoded `/` (`%2F`) in the path; it stays encoded for routing and
    /// forwarding. Refused with 400 otherwise.
    pub allow_encoded_slashes: bool,
    /// Refuse any `;` (matrix parameters) in the path, for backends that strip them.
    pub refuse_matrix_params: bool,
    /// Match `path_prefix` ASCII-case-insensitively, for case-insensitive backends.
    pub case_insensitive: bool,
    /// Security headers, CORS, CSRF, rate limits, lockouts and gates.
    pub policy: crate::policy::EdgePolicy,
}

/// A host the route answers for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// An exact, lower-case host name.
    Exact(String),
    /// `*.example.com`: stored as the suffix `.example.com`; matches one or more labels.
    Wildcard(String),
}

/// Upstream timeouts of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect timeout.
    pub connect: Duration,
    /// Longest wait for any read from the upstream.
    pub read: Duration,
    /// Deadline for the whole exchange, from the request's arrival; `None` for no deadline.
    /// WebSocket connections are exempt once upgraded.
    pub total: Option<Duration>,
}

/// TLS certificates and how plain HTTP is treated once HTTPS exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificates read from PEM files (reloaded with the config).
    pub certificates: Vec<CertificateFiles>,
    /// A server name whose certificate answers handshakes without SNI or for unknown names;
    /// `None`: such handshakes fail.
    pub default_certificate: Option<String>,
    /// Redirect plain-HTTP requests for TLS-served hosts to HTTPS (308).
    pub redirect_http: bool,
    /// Port in the redirect's Location; `None`: the first TLS listener's port.
    pub https_port: Option<u16>,
    /// Certificates obtained and renewed over ACME.
    pub acme: Option<AcmeConfig>,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// Chain, leaf first.
    pub cert_file: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// ACME (RFC 8555) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// Contact address given to the CA (expiry notices).
    pub email: Option<String>,
    /// Directory URL.
    pub directory: String,
    /// A CA certificate (PEM) trusted for the directory's own HTTPS, besides the system roots.
    pub directory_ca_file: Option<PathBuf>,
    /// External Account Binding, for CAs that require one.
    pub external_account: Option<ExternalAccount>,
    /// Longest time between renewal checks.
    pub check_interval: Duration,
    /// First wait after a failed order; doubles per failure.
    pub retry_min: Duration,
    /// Longest wait between failed orders.
    pub retry_max: Duration,
    /// The certificates to obtain.
    pub certificates: Vec<AcmeCertificate>,
}

/// External Account Binding credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccount {
    /// Key identifier from the CA.
    pub key_id: String,
    /// The HMAC key, decoded from base64url.
    pub hmac_key: Vec<u8>,
}

/// One certificate to obtain over ACME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeCertificate {
    /// Lower-case DNS names; the first names the certificate in storage and logs.
    pub names: Vec<String>,
    /// How the CA checks that we control the names.
    pub challenge: Challenge,
}

/// ACME challenge kinds gatehouse answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP-01: the proxy answers `/.well-known/acme-challenge/` on its plain listener.
    Http01,
    /// DNS-01: an operator hook sets and clears the TXT record (needed for wildcards).
    Dns01(DnsHook),
}

/// The operator's hook that sets and clears `_acme-challenge` TXT records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsHook {
    /// What to call.
    pub target: DnsHookTarget,
    /// Wait after setting the record before asking the CA to validate.
    pub propagation_delay: Duration,
    /// Longest run of one hook call.
    pub timeout: Duration,
}

/// A command or an HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsHookTarget {
    /// Run `argv` plus `set|clear`, the record name and the value.
    Command(Vec<String>),
    /// POST `{"action","name","value"}` as JSON.
    Url(String),
}

/// Defaults applied where the file is silent.
pub mod defaults {
    use std::time::Duration;
    /// Admin listener address.
    pub const ADMIN_LISTEN: &str = "127.0.0.1:9901";
    /// Drain bound on shutdown.
    pub const GRACE_PERIOD: Duration = Duration::from_secs(10);
    /// Connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Read timeout.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
    /// Largest request body.
    pub const MAX_BODY_SIZE: u64 = 10 << 20;
    /// Longest request line (nginx's default buffer is 8 KiB).
    pub const REQUEST_LINE: usize = 8 << 10;
    /// Longest header line.
    pub const HEADER_LINE: usize = 16 << 10;
    /// Largest request head.
    pub const HEAD_SIZE: usize = 64 << 10;
    /// Most header lines.
    pub const HEADERS: usize = 100;
    /// Idle keep-alive connections are closed after this (nginx: 75 s).
    pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
    /// A whole request head (nginx: 60 s).
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
    /// Between two reads of a request body, and between two writes of a response (nginx).
    pub const BODY_AND_SEND_TIMEOUT: Duration = Duration::from_secs(60);
    /// Requests per keep-alive connection (nginx: 1000).
    pub const KEEPALIVE_REQUESTS: u32 = 1000;
    /// Concurrent streams per HTTP/2 connection (nginx: 128).
    pub const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 100;
    /// Client-reset HTTP/2 streams per connection and minute.
    pub const HTTP2_MAX_RESETS: u32 = 100;
    /// A TLS handshake (nginx: 60 s; a handshake takes milliseconds).
    pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// TLS handshakes in progress at once on one listener.
    pub const MAX_TLS_HANDSHAKES: usize = 1024;
    /// Connections from one client address.
    pub const MAX_CONNECTIONS_PER_IP: usize = 1000;
    /// Connections on one listener when the open-file limit cannot be read.
    pub const MAX_CONNECTIONS: usize = 10_000;

    /// Connections on one listener: three quarters of the process's open-file limit (the
    /// rest is for upstream connections, the store and logs), or [`MAX_CONNECTIONS`].
    pub fn max_connections() -> usize {
        std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .and_then(|v| v.parse::<usize>().ok())
            })
            .map_or(MAX_CONNECTIONS, |n| (n / 4 * 3).max(16))
    }
    /// Retries on connect failure.
    pub const RETRIES: u32 = 1;
    /// Health-check interval.
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
    /// Health-check timeout.
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
    /// State directory, relative to the working directory.
    pub const STATE_DIR: &str = "gatehouse-data";
    /// ACME directory when none is named.
    pub const ACME_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";
    /// Longest time between ACME renewal checks.
    pub const ACME_CHECK_INTERVAL: Duration = Duration::from_secs(3600);
    /// First wait after a failed ACME order.
    pub const ACME_RETRY_MIN: Duration = Duration::from_secs(60);
    /// Longest wait between failed ACME orders.
    pub const ACME_RETRY_MAX: Duration = Duration::from_secs(6 * 3600);
    /// DNS hook: wait after setting the TXT record.
    pub const DNS_PROPAGATION_DELAY: Duration = Duration::from_secs(0);
    /// DNS hook: longest run of one call.
    pub const DNS_HOOK_TIMEOUT: Duration = Duration::from_secs(60);
}

/// Named ACME directories.
pub const ACME_DIRECTORIES: &[(&str, &str)] = &[
    ("letsencrypt", defaults::ACME_DIRECTORY),
    (
        "letsencrypt-staging",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    ("zerossl", "https://acme.zerossl.com/v2/DV90"),
];
