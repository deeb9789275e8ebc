//! Shared GCRA buckets and lockouts in Redis. A rate-limit decision is made inside Redis by one
//! Lua script that reads the server's own clock (`TIME`), so instances with skewed clocks still
//! agree and two instances admit a quota once between them; a lockout's failures and block are
//! two keys that expire on Redis's clock (the window from the first failure, the block).
//!
//! When Redis cannot be asked (refused, timed out), the caller decides per rule whether to
//! admit; to keep latency low while Redis is away, calls within a second of a failure do not
//! try again.

use prometheus::IntCounter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// `KEYS[1]` = bucket; `ARGV` = emission interval (µs), burst.
/// Returns `{admitted, remaining, reset_us, retry_us}`.
const GCRA: &str = r"
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local limit = burst * emission
local new_tat = tat + emission
if new_tat - now > limit then
  return {0, 0, tat - now, new_tat - now - limit}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((limit - (new_tat - now)) / emission), new_tat - now, 0}
";

/// A shared lockout's state: `KEYS[1]` = block, `KEYS[2]` = failures in the window.
/// Returns `{block_ms_left (negative: none), failures}`.
const LOCKOUT_STATE: &str = r"
local left = redis.call('PTTL', KEYS[1])
local failures = tonumber(redis.call('GET', KEYS[2]) or '0')
return {left, failures}
";

/// A failure counted toward a shared lockout: `KEYS` as above; `ARGV` = max failures, window
/// (ms, from the first failure), block (ms). Returns 1 when this failure started the block.
const LOCKOUT_FAILED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
";

/// How long calls skip Redis after it failed.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// One GCRA decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub admitted: bool,
    /// Requests still admitted right now.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// Until a refused request would be admitted.
    pub retry_after: Duration,
}

/// Why Redis gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis failed less than a second ago; not asking again yet")]
    Paused,
    #[error("redis answered with an unexpected reply")]
    Reply,
}

/// A Redis server holding the shared buckets.
pub(crate) struct RedisStore {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    script: redis::Script,
    lockout_state: redis::Script,
    lockout_failed: redis::Script,
    timeout: Duration,
    prefix: String,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not asked.
    paused_until: AtomicU64,
    down: AtomicBool,
    errors: IntCounter,
}

impl RedisStore {
    /// A store for `url`; nothing is connected until the first request needs it.
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        prefix: &str,
        errors: IntCounter,
    ) -> Result<RedisStore, StoreError> {
        Ok(RedisStore {
            client: redis::Client::open(url)?,
            conn: OnceCell::new(),
            script: redis::Script::new(GCRA),
            lockout_state: redis::Script::new(LOCKOUT_STATE),
            lockout_failed: redis::Script::new(LOCKOUT_FAILED),
            timeout,
            prefix: prefix.to_string(),
            epoch: Instant::now(),
            paused_until: AtomicU64::new(0),
            down: AtomicBool::new(false),
            errors,
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout)
                    .set_number_of_retries(1)
                    .set_max_delay(1000);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(conn.clone())
    }

    /// Take one request from bucket `name` (a rule's name and the hashed key).
    pub(crate) async fn take(
        &self,
        name: &str,
        emission: Duration,
        burst: u32,
    ) -> Result<Outcome, StoreError> {
        self.ask(self.call(name, emission, burst)).await
    }

    /// A shared lockout `name`: how long its block still runs (if it is blocked) and the
    /// failures counted in its window.
    pub(crate) async fn lockout_state(
        &self,
        name: &str,
    ) -> Result<(Option<Duration>, u32), StoreError> {
        self.ask(async {
            let mut conn = self.connection().await?;
            let reply: Vec<i64> = self
                .lockout_state
                .key(format!("{}{name}:block", self.prefix))
                .key(format!("{}{name}:failures", self.prefix))
                .invoke_async(&mut conn)
                .await?;
            let [left, failures] = reply[..] else {
                return Err(StoreError::Reply);
            };
            let left = (left > 0).then(|| Duration::from_millis(left as u64));
            Ok((left, failures.clamp(0, i64::from(u32::MAX)) as u32))
        })
        .await
    }

    /// Count a failure toward the shared lockout `name`; true when it started the block.
    pub(crate) async fn lockout_failed(
        &self,
        name: &str,
        max_failures: u32,
        window: Duration,
        block_for: Duration,
    ) -> Result<bool, StoreError> {
        let ms = |d: Duration| d.as_millis().max(1) as u64;
        self.ask(async {
            let mut conn = self.connection().await?;
            let started: i64 = self
                .lockout_failed
                .key(format!("{}{name}:block", self.prefix))
                .key(format!("{}{name}:failures", self.prefix))
                .arg(max_failures)
                .arg(ms(window))
                .arg(ms(block_for))
                .invoke_async(&mut conn)
                .await?;
            Ok(started == 1)
        })
        .await
    }

    /// Run one exchange with Redis under the timeout; after a failure, calls within a
    /// second fail at once.
    async fn ask<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.now_ms() < self.paused_until.load(Ordering::Relaxed) {
            return Err(StoreError::Paused);
        }
        let result = tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.timeout)));
        match &result {
            Ok(_) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        "redis answers again; shared rate limits and lockouts are enforced again"
                    );
                }
            }
            Err(e) => {
                self.errors.inc();
                self.paused_until.store(
                    self.now_ms() + PAUSE_AFTER_FAILURE.as_millis() as u64,
                    Ordering::Relaxed,
                );
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis cannot be asked; rules with `store: redis` follow their `on_store_error` until it answers (see gatehouse_redis_errors_total)");
                }
            }
        }
        result
    }

    async fn call(
        &self,
        name: &str,
        emission: Duration,
        burst: u32,
    ) -> Result<Outcome, StoreError> {
        let mut conn = self.connection().await?;
        let emission_us = emission.as_micros().max(1) as u64;
        let reply: Vec<i64> = self
            .script
            .key(format!("{}{name}", self.prefix))
            .arg(emission_us)
            .arg(burst)
            .invoke_async(&mut conn)
            .await?;
        let [admitted, remaining, reset_us, retry_us] = reply[..] else {
            return Err(StoreError::Reply);
        };
        let us = |v: i64| Duration::from_micros(v.max(0) as u64);
        Ok(Outcome {
            admitted: admitted == 1,
            remaining: remaining.clamp(0, i64::from(u32::MAX)) as u32,
            reset: us(reset_us),
            retry_after: us(retry_us),
        })
    }
}
