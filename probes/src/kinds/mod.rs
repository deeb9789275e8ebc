//! The probe kinds. Each turns one attempt into an [`Observation`], or an error that says
//! where the attempt stopped.

pub(crate) mod dns;
pub(crate) mod http;
pub(crate) mod redis;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod tls_client;

use crate::observation::Observation;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpStream;

/// One attempt's outcome: what was measured (also on failure, as far as it got) and the
/// error that stopped it, if any.
#[derive(Debug, Default)]
pub(crate) struct Attempt {
    pub obs: Observation,
    pub error: Option<String>,
    pub cert_expiry: Option<SystemTime>,
    /// Why the chain did not verify (TLS probes).
    pub cert_error: Option<String>,
}

/// Complete an attempt that ran under `tokio::time::timeout`: its duration, the error that
/// stopped it (a timeout names the stage it was in), and `connected` when it never got there.
pub(crate) fn finish(
    attempt: &mut Attempt,
    result: Result<Result<(), String>, tokio::time::error::Elapsed>,
    start: Instant,
    timeout: Duration,
    stage: &str,
) {
    attempt.obs.latency = Some(start.elapsed());
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => attempt.error = Some(e),
        Err(_) => attempt.error = Some(timeout_error(timeout, stage)),
    }
    if attempt.obs.connected.is_none() {
        attempt.obs.connected = Some(false);
    }
}

/// Resolve `host` (timed, unless it is an IP literal), then connect (timed).
pub(crate) async fn connect(
    host: &str,
    port: u16,
    obs: &mut Observation,
    stage: &mut &'static str,
) -> Result<TcpStream, String> {
    *stage = "dns";
    let addr: SocketAddr = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => {
            let t = Instant::now();
            let mut addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("cannot resolve `{host}`: {e}"))?;
            obs.phases.dns = Some(t.elapsed());
            addrs
                .next()
                .ok_or_else(|| format!("`{host}` has no addresses"))?
        }
    };
    *stage = "connect";
    let t = Instant::now();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    obs.phases.connect = Some(t.elapsed());
    obs.connected = Some(true);
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// "timed out after 5s while connecting"
pub(crate) fn timeout_error(timeout: Duration, stage: &str) -> String {
    let doing = match stage {
        "dns" => "resolving the name",
        "connect" => "connecting",
        "tls" => "in the TLS handshake",
        "first_byte" => "waiting for the response",
        "body" => "reading the body",
        "read" => "reading",
        _ => stage,
    };
    format!(
        "timed out after {} {doing}",
        crate::format::duration(timeout)
    )
}

/// `host:port` → (host, port); IPv6 in brackets. Checked by the config already.
pub(crate) fn split_address(address: &str) -> (String, u16) {
    if let Ok(sa) = address.parse::<SocketAddr>() {
        return (sa.ip().to_string(), sa.port());
    }
    match address.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(0),
        ),
        None => (address.to_string(), 0),
    }
}
