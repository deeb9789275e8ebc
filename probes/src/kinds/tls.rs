//! TLS certificate probes: handshake, then report the leaf's expiry and whether the chain is
//! valid for the name (an invalid chain is measured, not an error, so `cert_expiry` still
//! shows for a self-signed certificate).

use super::tls_client::{Tls, Verify};
use super::{connect, split_address, Attempt};
use gatehouse_config::probes::TlsProbe;
use std::time::{Duration, Instant};

pub(crate) fn prepare(p: &TlsProbe) -> Result<Tls, String> {
    Tls::new(Verify::Record, p.ca.as_deref(), false)
}

pub(crate) async fn check(p: &TlsProbe, tls: &Tls, timeout: Duration) -> Attempt {
    let mut attempt = Attempt::default();
    let mut stage: &'static str = "dns";
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, run(p, tls, &mut attempt, &mut stage)).await;
    super::finish(&mut attempt, result, start, timeout, stage);
    attempt
}

async fn run(
    p: &TlsProbe,
    tls: &Tls,
    attempt: &mut Attempt,
    stage: &mut &'static str,
) -> Result<(), String> {
    let (host, port) = split_address(&p.address);
    let tcp = connect(&host, port, &mut attempt.obs, stage).await?;
    *stage = "tls";
    let t = Instant::now();
    let (_stream, expiry, verdict) = tls.handshake(tcp, &p.server_name).await?;
    attempt.obs.phases.tls = Some(t.elapsed());
    if let Some(e) = expiry {
        attempt.cert_expiry = Some(e);
        attempt.obs.cert_expiry_secs = Some(super::http::seconds_until(e));
    }
    match verdict {
        Some(Ok(())) => attempt.obs.cert_valid = Some(true),
        Some(Err(why)) => {
            attempt.obs.cert_valid = Some(false);
            attempt.cert_error = Some(why);
        }
        None => {}
    }
    Ok(())
}
