//! Log output: text or JSON lines on stdout, access lines included, filtered by `log.level`
//! (`RUST_LOG` overrides it).
//!
//! Pingora logs some events once each at warn or error (a failed HTTP/2 handshake, a refused
//! stream), which an attacker can repeat at will. Its lines are therefore held to a bounded
//! rate: at most [`BURST`] per source line every [`WINDOW`]; the rest are counted, and
//! [`report_suppressed`] says once a window how many were left out.

use gatehouse_config::{LogConfig, LogFormat};
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

#[derive(Default)]
struct Site {
    since: Option<Instant>,
    shown: u32,
    suppressed: u64,
}

/// Pingora's log lines by source (target and line).
static SITES: LazyLock<Mutex<HashMap<(String, u32), Site>>> = LazyLock::new(Default::default);

/// Whether a line from `target:line` may be written now.
fn admit(target: &str, line: u32, now: Instant) -> bool {
    let Ok(mut sites) = SITES.lock() else {
        return true;
    };
    let site = match sites.get_mut(&(target.to_owned(), line)) {
        Some(s) => s,
        None => sites.entry((target.to_owned(), line)).or_default(),
    };
    if site.since.is_none_or(|t| now.duration_since(t) >= WINDOW) {
        site.since = Some(now);
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
                sites.retain(|_, s| s.since.is_some_and(|t| t.elapsed() < WINDOW * 6));
                sites
                    .iter_mut()
                    .filter(|(_, s)| s.suppressed > 0)
                    .map(|(k, s)| (k.clone(), std::mem::take(&mut s.suppressed)))
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
        let suppressed = SITES
            .lock()
            .map(|s| s[&("pingora_test".to_owned(), 7)].suppressed)
            .unwrap_or(0);
        assert_eq!(suppressed, 15);
        assert!(admit("pingora_test", 7, t0 + WINDOW), "a new window");
    }
}
