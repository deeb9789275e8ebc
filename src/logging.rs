//! Log output: text or JSON lines on stdout, access lines included, filtered by `log.level`
//! (`RUST_LOG` overrides it).
//!
//! Pingora logs some events once each at warn or error (a failed HTTP/2 handshake, a refused
//! stream), which an attacker can repeat at will. Its lines are therefore held to a bounded
//! rate: at most [`BURST`] per source line every [`WINDOW`]; the rest are counted, and
//! [`report_suppressed`] says once a window how many were left out.

use gatehouse_config::server::{LogConfig, LogFormat};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Lines shown per source line and window.
const BURST: u32 = 10;
const WINDOW: Duration = Duration::from_secs(10);

struct Site {
    target: String,
    line: u32,
    since: Instant,
    shown: u32,
    suppressed: u64,
}

/// Pingora's log lines by source (a hash of target and line: no allocation per line).
static SITES: LazyLock<Mutex<HashMap<u64, Site>>> = LazyLock::new(Default::default);

/// Whether a line from `target:line` may be written now.
fn admit(target: &str, line: u32, now: Instant) -> bool {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (target, line).hash(&mut h);
    let Ok(mut sites) = SITES.lock() else {
        return true;
    };
    let site = sites.entry(h.finish()).or_insert_with(|| Site {
        target: target.to_owned(),
        line,
        since: now,
        shown: 0,
        suppressed: 0,
    });
    if now.duration_since(site.since) >= WINDOW {
        site.since = now;
        site.shown = 0;
    }
    if site.shown < BURST {
        site.shown += 1;
        true
    } else {
        site.suppressed += 1;
        false
    }
}

/// Holds Pingora's lines to a bounded rate.
struct FloodGate;

impl<S: Subscriber> Layer<S> for FloodGate {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if !meta.target().starts_with("pingora") {
            return true;
        }
        admit(meta.target(), meta.line().unwrap_or(0), Instant::now())
    }
}

/// Once a window, say how many of Pingora's lines were left out, per source.
pub(crate) async fn report_suppressed() {
    loop {
        tokio::time::sleep(WINDOW).await;
        let counts: Vec<((String, u32), u64)> = match SITES.lock() {
            Ok(mut sites) => {
                sites.retain(|_, s| s.since.elapsed() < WINDOW * 6 || s.suppressed > 0);
                sites
                    .values_mut()
                    .filter(|s| s.suppressed > 0)
                    .map(|s| {
                        let n = std::mem::take(&mut s.suppressed);
                        ((s.target.clone(), s.line), n)
                    })
                    .collect()
            }
            Err(_) => return,
        };
        for ((source, line), n) in counts {
            tracing::warn!(
                source,
                line,
                suppressed = n,
                "log lines left out: more than {BURST} alike in {}s",
                WINDOW.as_secs()
            );
        }
    }
}

pub(crate) fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v)?,
        _ => EnvFilter::try_new(&config.level).map_err(|e| {
            anyhow::anyhow!("log.level `{}` is not a valid filter: {e}", config.level)
        })?,
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let registry = tracing_subscriber::registry().with(filter).with(FloodGate);
    // The access line is written directly in the logger's form (not through it) when the
    // form is plain: JSON, or text without colours.
    match config.format {
        LogFormat::Json => {
            gatehouse_proxy::access_log::install(gatehouse_proxy::access_log::Format::Json)
        }
        LogFormat::Text if !ansi => {
            gatehouse_proxy::access_log::install(gatehouse_proxy::access_log::Format::Text)
        }
        LogFormat::Text => {}
    }
    let result = match config.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stdout)
                    .with_ansi(ansi),
            )
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_window_then_counted() {
        let t0 = Instant::now();
        let shown = (0..25).filter(|_| admit("pingora_test", 7, t0)).count();
        assert_eq!(shown, BURST as usize);
        assert!(
            admit("pingora_test", 8, t0),
            "another source line has its own budget"
        );
        let suppressed = SITES.lock().map_or(0, |s| {
            s.values()
                .filter(|s| s.target == "pingora_test" && s.line == 7)
                .map(|s| s.suppressed)
                .sum()
        });
        assert_eq!(suppressed, 15);
        assert!(admit("pingora_test", 7, t0 + WINDOW), "a new window");
    }
}
