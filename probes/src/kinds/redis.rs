//! Redis probes: `PING`, then `INFO stats` for the keyspace hit ratio. The ratio is taken over
//! the lookups since the previous check when there were any (the cache's current behaviour),
//! else over the counters since Redis started.

use super::Attempt;
use gatehouse_config::probes::RedisProbe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The counters seen by the previous check.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    client: Option<redis::Client>,
    error: Option<String>,
    previous: Mutex<Option<(u64, u64)>>,
}

pub(crate) fn prepare(p: &RedisProbe) -> Prepared {
    match redis::Client::open(p.url.0.as_str()) {
        Ok(c) => Prepared {
            client: Some(c),
            ..Prepared::default()
        },
        Err(e) => Prepared {
            error: Some(format!("the Redis URL is not valid: {e}")),
            ..Prepared::default()
        },
    }
}

pub(crate) async fn check(prep: &Prepared, timeout: Duration) -> Attempt {
    let mut attempt = Attempt::default();
    let start = Instant::now();
    let result = match &prep.client {
        Some(client) => tokio::time::timeout(timeout, run(client, &mut attempt)).await,
        None => Ok(Err(prep.error.clone().unwrap_or_default())),
    };
    attempt.obs.latency = Some(start.elapsed());
    match result {
        Ok(Ok((hits, misses))) => {
            attempt.obs.keyspace_hits = Some(hits);
            attempt.obs.keyspace_misses = Some(misses);
            let mut prev = prep.previous.lock().unwrap_or_else(|p| p.into_inner());
            attempt.obs.hit_ratio = hit_ratio(*prev, (hits, misses));
            *prev = Some((hits, misses));
        }
        Ok(Err(e)) => attempt.error = Some(e),
        Err(_) => {
            let stage = if attempt.obs.connected == Some(true) {
                "read"
            } else {
                "connect"
            };
            attempt.error = Some(super::timeout_error(timeout, stage));
        }
    }
    if attempt.obs.connected.is_none() {
        attempt.obs.connected = Some(false);
    }
    attempt
}

async fn run(client: &redis::Client, attempt: &mut Attempt) -> Result<(u64, u64), String> {
    let t = Instant::now();
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("cannot connect to Redis: {e}"))?;
    attempt.obs.phases.connect = Some(t.elapsed());
    attempt.obs.connected = Some(true);
    let pong: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("PING failed: {e}"))?;
    if pong != "PONG" {
        return Err(format!("PING answered `{pong}`"));
    }
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("INFO stats failed: {e}"))?;
    let field = |name: &str| -> Result<u64, String> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("INFO stats has no `{name}`"))
    };
    Ok((field("keyspace_hits")?, field("keyspace_misses")?))
}

/// Hits / lookups since `prev` when there were lookups since, else since Redis started.
fn hit_ratio(prev: Option<(u64, u64)>, now: (u64, u64)) -> Option<f64> {
    if let Some((h0, m0)) = prev {
        if now.0 >= h0 && now.1 >= m0 {
            let (dh, dm) = (now.0 - h0, now.1 - m0);
            if dh + dm > 0 {
                return Some(dh as f64 / (dh + dm) as f64);
            }
        }
    }
    let total = now.0 + now.1;
    (total > 0).then(|| now.0 as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::hit_ratio;

    #[test]
    fn ratio_over_the_interval_then_since_start() {
        assert_eq!(hit_ratio(None, (7, 3)), Some(0.7));
        assert_eq!(hit_ratio(None, (0, 0)), None);
        // 10 lookups since the previous check, 9 hits.
        assert_eq!(hit_ratio(Some((7, 3)), (16, 4)), Some(0.9));
        // No lookups since: the lifetime ratio.
        assert_eq!(hit_ratio(Some((16, 4)), (16, 4)), Some(0.8));
        // Redis restarted (counters went down): the lifetime ratio.
        assert_eq!(hit_ratio(Some((16, 4)), (1, 1)), Some(0.5));
    }
}
