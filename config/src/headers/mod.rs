//! `headers` of a policy: HSTS, CSP (with the built-in report collector), frame options and
//! the other security response headers, compiled into final `(name, value)` pairs.

pub(crate) mod compile;
pub(crate) mod raw;

/// Where the built-in CSP report collector listens on every route that uses it.
pub const CSP_REPORT_PATH: &str = "/.well-known/gatehouse/csp-report";

/// Security response headers, as final `(name, value)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHeaders {
    /// `Strict-Transport-Security` value; sent on HTTPS responses only.
    pub hsts: Option<String>,
    /// Sent on every response of the route, replacing what the upstream sent. Names lower-case.
    pub always: Vec<(String, String)>,
    /// Whether the built-in CSP report collector answers on this route.
    pub csp_collector: bool,
    /// Response headers removed (lower-case).
    pub remove: Vec<String>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        compile::default_security_headers()
    }
}
