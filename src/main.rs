//! The gatehouse binary: CLI and the wiring of the proxy, the admin listener and reloads.

mod admin;
mod admin_probes;
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
        Command::Run { config } => match run::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::from(1)
            }
        },
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
