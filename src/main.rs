//! The gatehouse binary: CLI and the wiring of the proxy, the admin listener and reloads.

mod admin;
mod demo;
mod load;
mod logging;
mod reload;
mod run;
mod shutdown;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

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
        Command::Run { config } => match run::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
