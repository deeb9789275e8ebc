//! Defaults applied where the file is silent, shared by the sections that use them.

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
/// Idle upstream keep-alive connections kept per worker thread (Pingora's default).
pub const UPSTREAM_KEEPALIVE_POOL: usize = 128;
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
/// State directory, relative to the working directory, when neither the file nor the
/// environment names one (a foreground run from a checkout).
pub const STATE_DIR: &str = "gatehouse-data";
/// Set by systemd for a unit with `StateDirectory=` (e.g. `/var/lib/gatehouse`), and by the
/// container image: the state directory when the file names none.
pub const STATE_DIRECTORY_ENV: &str = "STATE_DIRECTORY";

/// The `state_dir` when the file names none: the first directory of `$STATE_DIRECTORY`
/// (systemd lists several separated by `:`), else [`STATE_DIR`] in the working directory.
pub fn state_dir(state_directory: Option<&str>) -> std::path::PathBuf {
    state_directory
        .and_then(|v| v.split(':').find(|d| !d.trim().is_empty()))
        .unwrap_or(STATE_DIR)
        .into()
}
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
