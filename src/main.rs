//! The gatehouse binary: CLI and the wiring of the proxy, the control-plane web apps
//! (`gatehouse-web`: admin API, status page) and reloads.

mod admin_heartbeat;
mod alerts;
mod demo;
mod load;
mod logging;
mod reload;
mod run;
mod shutdown;
mod watch;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc, not glibc malloc: it returns the memory of closed connections to the system
/// after `dirty_decay_ms` (options built in by `.cargo/config.toml`; `_RJEM_MALLOC_CONF`
/// overrides them at run time).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Reverse proxy with automatic HTTPS, edge security and a watchtower"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the proxy and the admin listener.
    Run {
        /// The YAML configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Validate a configuration file without starting anything (exit 0 when valid).
    Check {
        /// The YAML configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Send a test notification through one notifier of the config, and say whether it
    /// was delivered.
    NotifyTest {
        /// The YAML configuration file.
        #[arg(short, long)]
        config: PathBuf,
        /// The notifier's name (`alerting.notifiers[].name`).
        #[arg(short, long)]
        notifier: String,
    },
    /// Read a password from standard input (one line) and print an argon2id hash for
    /// `basic_auth.users`.
    HashPassword,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match load::load(&config) {
            Ok(loaded) => {
                let c = loaded.config;
                for w in &c.warnings {
                    println!("{}: warning: {w}", config.display());
                }
                println!(
                    "{}: valid ({} listeners, {} upstreams, {} routes)",
                    config.display(),
                    c.listeners.len(),
                    c.upstreams.len(),
                    c.routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::HashPassword => hash_password(),
        Command::NotifyTest { config, notifier } => notify_test(&config, &notifier),
        Command::Run { config } => match run::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

fn notify_test(path: &std::path::Path, name: &str) -> ExitCode {
    use gatehouse_alerting::notify::{Notifiers, NotifyMetrics};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = match load::load(path) {
        Ok(l) => l.config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let names: Vec<&str> = config
        .alerting
        .notifiers
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    if !names.contains(&name) {
        let known = if names.is_empty() {
            "none is configured (alerting.notifiers)".to_string()
        } else {
            format!("configured: {}", names.join(", "))
        };
        eprintln!(
            "gatehouse: no notifier `{name}` in {}; {known}",
            path.display()
        );
        return ExitCode::from(2);
    }
    let run = || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let metrics = NotifyMetrics::register(&prometheus::Registry::new())?;
        let notifiers = Notifiers::new(&config.alerting.notifiers, metrics)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let message =
            gatehouse_alerting::Notification::test_message(&gatehouse_alerting::instance_name());
        rt.block_on(notifiers.send(name, &message))
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    match run() {
        Ok(()) => {
            println!("gatehouse: test notification delivered to `{name}`");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gatehouse: test notification to `{name}` failed: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("gatehouse: cannot read the password from standard input: {e}");
        return ExitCode::from(1);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("gatehouse: the password is empty; type it on standard input, e.g. `printf '%s\\n' \"$PW\" | gatehouse hash-password`");
        return ExitCode::from(2);
    }
    match gatehouse_proxy::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gatehouse: hashing failed: {e}");
            ExitCode::from(1)
        }
    }
}
