//! TCP probes: connect, optionally send bytes and read until the expected text arrives.

use super::{connect, split_address, Attempt};
use gatehouse_config::probes::TcpProbe;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAX_READ: usize = 64 * 1024;

pub(crate) async fn check(p: &TcpProbe, timeout: Duration) -> Attempt {
    let mut attempt = Attempt::default();
    let mut stage: &'static str = "dns";
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, run(p, &mut attempt, &mut stage)).await;
    attempt.obs.latency = Some(start.elapsed());
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => attempt.error = Some(e),
        Err(_) => {
            attempt.error = Some(match (&p.expect, &attempt.obs.response) {
                (Some(want), Some(got)) if stage == "read" => format!(
                    "timed out after {} waiting for `{want}`; read `{}`",
                    crate::format::duration(timeout),
                    crate::format::truncate(got, 100)
                ),
                _ => super::timeout_error(timeout, stage),
            })
        }
    }
    if attempt.obs.connected.is_none() {
        attempt.obs.connected = Some(false);
    }
    attempt
}

async fn run(p: &TcpProbe, attempt: &mut Attempt, stage: &mut &'static str) -> Result<(), String> {
    let (host, port) = split_address(&p.address);
    let mut tcp = connect(&host, port, &mut attempt.obs, stage).await?;
    if let Some(send) = &p.send {
        *stage = "send";
        tcp.write_all(send.as_bytes())
            .await
            .map_err(|e| format!("sending failed: {e}"))?;
    }
    let Some(expect) = &p.expect else {
        return Ok(());
    };
    *stage = "read";
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading failed: {e}"))?;
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let found = text.contains(expect.as_str());
        attempt.obs.response = Some(text);
        if found {
            return Ok(());
        }
        if n == 0 || buf.len() >= MAX_READ {
            return Err(format!(
                "expected `{expect}`, read `{}`",
                crate::format::truncate(attempt.obs.response.as_deref().unwrap_or(""), 100)
            ));
        }
    }
}
