//! `policies`, a route's `policy` block, `trusted_proxies` and `redis`: the edge policy of a
//! route (CORS, CSRF, rate limits, lockouts, IP gates, API keys, basic auth; its security
//! headers are in `crate::headers`), merged from named policies and the route's own block.

pub(crate) mod compile;
mod gates;
pub mod origin;
pub(crate) mod raw;
#[cfg(test)]
mod tests;

use crate::headers::SecurityHeaders;
use crate::secret::Secret;
use crate::units::Rate;
use ipnet::IpNet;
use origin::OriginPattern;
use std::time::Duration;

/// Keys a local rate limit or a lockout holds by default (`max_keys`).
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// The largest `max_keys` accepted.
pub const MAX_MAX_KEYS: usize = 10_000_000;

/// Everything a route enforces at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EdgePolicy {
    /// Names of the attached policies, in order (for logs).
    pub names: Vec<String>,
    /// Response headers.
    pub headers: SecurityHeaders,
    /// Cross-origin resource sharing; `None` leaves CORS to the upstream.
    pub cors: Option<Cors>,
    /// Origin check for unsafe methods.
    pub csrf: Option<Csrf>,
    /// Rate limits, all of which must admit a request.
    pub rate_limits: Vec<RateLimitRule>,
    /// Lockouts after repeated failures.
    pub lockouts: Vec<LockoutRule>,
    /// Client address allow/deny lists.
    pub ip: Option<IpGate>,
    /// API-key gate.
    pub api_key: Option<ApiKeyGate>,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
}

/// CORS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins.
    pub allow_origins: Vec<OriginPattern>,
    /// Methods a preflight may ask for, upper-case.
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for, lower-case.
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read.
    pub expose_headers: Vec<String>,
    /// Allow cookies and HTTP authentication.
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight.
    pub max_age: Duration,
}

/// CSRF origin check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csrf {
    /// Origins besides the route's own that may send unsafe requests.
    pub trusted_origins: Vec<OriginPattern>,
    /// Admit unsafe requests that carry no Origin, Referer or Sec-Fetch-Site.
    pub allow_without_origin: bool,
}

/// What identifies the client of a rate limit or lockout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPart {
    /// The client address (trusted-proxies aware).
    ClientIp,
    /// The route (one bucket for everyone).
    Route,
    /// A request header's value (lower-case name); a missing header is an empty value.
    Header(String),
}

/// Where a rate limit's counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitStore {
    /// In this process.
    Local,
    /// In Redis, shared by every instance.
    Redis {
        /// What to do when Redis cannot be asked.
        on_error: FailMode,
    },
}

/// Redis unreachable: admit or refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Admit the request (limits are off while Redis is away).
    Allow,
    /// Refuse with 503.
    Deny,
}

/// A GCRA rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitRule {
    /// Unique within the route.
    pub name: String,
    /// Sustained rate.
    pub rate: Rate,
    /// Requests admitted at once.
    pub burst: u32,
    /// What a bucket is per.
    pub key: Vec<KeyPart>,
    /// Local or shared.
    pub store: LimitStore,
    /// Most keys a local store holds; the least recently used go first.
    pub max_keys: usize,
}

impl RateLimitRule {
    /// Time between two admitted requests at the sustained rate.
    pub fn emission_interval(&self) -> Duration {
        self.rate.per / self.rate.count
    }
}

/// Block a client for a while after repeated failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutRule {
    /// Unique within the route.
    pub name: String,
    /// Response statuses that count as failures.
    pub statuses: Vec<u16>,
    /// Failures within `window` that trigger the block.
    pub max_failures: u32,
    /// Counting window, from the first failure.
    pub window: Duration,
    /// How long the client is refused.
    pub block_for: Duration,
    /// What identifies the client.
    pub key: Vec<KeyPart>,
    /// Most keys with counters held here (local counters are kept with a shared store too,
    /// for the requests in flight); the least recently used go first.
    pub max_keys: usize,
    /// Local, or failures and blocks shared by every instance through Redis.
    pub store: LimitStore,
}

/// Client address allow/deny lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpGate {
    /// When not empty, only these.
    pub allow: Vec<IpNet>,
    /// Never these.
    pub deny: Vec<IpNet>,
}

/// API-key gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGate {
    /// Lower-case header name.
    pub header: String,
    /// The header is `authorization` and holds `Bearer <key>`.
    pub bearer: bool,
    /// Accepted keys.
    pub keys: Vec<Secret>,
    /// Pass the header on to the upstream (by default it is removed).
    pub forward_credentials: bool,
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// Realm shown by browsers.
    pub realm: String,
    /// User name and password hash (bcrypt `$2b$...` or argon2 `$argon2id$...`).
    pub users: Vec<(String, Secret)>,
    /// Pass `Authorization` on to the upstream (by default it is removed).
    pub forward_credentials: bool,
}

/// Redis, for shared rate limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL.
    pub url: Secret,
    /// Longest wait for one command.
    pub timeout: Duration,
    /// Prefix of every key.
    pub key_prefix: String,
}
