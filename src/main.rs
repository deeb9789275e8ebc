//! The gatehouse binary: CLI and the wiring of the proxy, the control-plane web apps
//! (`gatehouse-web`: admin API, status page) and reloads.

mod admin_heartbeat;
mod alerts;
mod check;
mod cluster;
mod demo;
mod health;
mod init;
mod load;
mod logging;
mod reload;
mod run;
mod shutdown;
mod watch;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Validate a configuration file without starting anything.
    ///
    /// Exit 0 when valid, 2 with every problem listed. Also checks that the certificate files
    /// it names can be read and that the state directory can be written, as the user running
    /// the check.
    Check {
        /// The YAML configuration file.
        #[arg(short, long)]
        config: PathBuf,
        /// `text`: `FILE:LINE:COL: path: message` lines; `json`: one JSON object a line with
        /// severity, file, line, column, path and message.
        #[arg(long, value_enum, default_value = "text")]
        format: check::Format,
    },
    /// Ask a running gatehouse whether it is ready.
    ///
    /// `GET /readyz` on the admin listener: exit 0 when it answers 200, 1 otherwise (2 for a
    /// URL it cannot ask). For container health checks: no curl needed.
    Health {
        /// The readiness URL (plain HTTP).
        #[arg(long, default_value = health::DEFAULT_URL)]
        url: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Write a commented starter config for a site behind automatic HTTPS.
    ///
    /// The file passes `check` as written; it is never overwritten without --force.
    Init {
        /// The site's domain name (repeat for more names on the same certificate).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// The application's address, HOST:PORT.
        #[arg(long)]
        upstream: String,
        /// A contact address for the ACME account (optional).
        #[arg(long)]
        email: Option<String>,
        /// Where to write it (`-`: standard output).
        #[arg(short, long, default_value = "gatehouse.yaml")]
        output: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the JSON Schema of the configuration file.
    ///
    /// For editors: save it and name it in the config's first line,
    /// `# yaml-language-server: $schema=FILE`.
    Schema,
    /// Print a shell completion script.
    ///
    /// E.g. `gatehouse completions bash > /usr/share/bash-completion/completions/gatehouse`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one per command into a directory.
    Man {
        /// Write gatehouse.1 and gatehouse-COMMAND.1 here instead.
        #[arg(long)]
        dir: Option<PathBuf>,
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
        Command::Check { config, format } => check::check(&config, format),
        Command::Health { url, timeout } => health::health(&url, Duration::from_secs(timeout)),
        Command::Init {
            domains,
            upstream,
            email,
            output,
            force,
        } => init::init(
            &init::Starter {
                domains: &domains,
                upstream: &upstream,
                email: email.as_deref(),
            },
            &output,
            force,
        ),
        Command::Schema => {
            println!("{}", gatehouse_config::schema::json_pretty());
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "gatehouse",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man { dir } => man(dir),
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

fn man(dir: Option<PathBuf>) -> ExitCode {
    let written = match &dir {
        Some(dir) => clap_mangen::generate_to(Cli::command(), dir),
        None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse man: {e}");
            ExitCode::from(1)
        }
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
