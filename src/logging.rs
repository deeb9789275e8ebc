//! Log output: text or JSON lines on stdout, access lines included, filtered by `log.level`
//! (`RUST_LOG` overrides it).

use gatehouse_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

pub(crate) fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v)?,
        _ => EnvFilter::try_new(&config.level).map_err(|e| {
            anyhow::anyhow!("log.level `{}` is not a valid filter: {e}", config.level)
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let result = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}
