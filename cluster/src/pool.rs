//! The pool of connections to PostgreSQL, on a small runtime of its own.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A failure talking to PostgreSQL, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL or the TLS setup is wrong (an operator's mistake: not retried).
    #[error("postgres store: {0}")]
    Setup(String),
    /// The server is away or answered with an error (retried later).
    #[error("postgres store ({doing}): {error}")]
    Failed {
        /// What was being done.
        doing: String,
        /// The driver's or pool's message.
        error: String,
    },
}

impl PgError {
    /// A failure while `doing`.
    pub fn failed(doing: &str, error: impl std::fmt::Display) -> PgError {
        PgError::Failed {
            doing: doing.to_owned(),
            error: error.to_string(),
        }
    }

    /// The driver's failure while `doing`, with the server's message when it sent one
    /// (the driver's own text is only "db error").
    pub fn db(doing: &str, error: &tokio_postgres::Error) -> PgError {
        let error = match error.as_db_error() {
            Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
            None => match std::error::Error::source(error) {
                Some(source) => format!("{error}: {source}"),
                None => error.to_string(),
            },
        };
        PgError::Failed {
            doing: doing.to_owned(),
            error,
        }
    }
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/db?sslmode=...` (env already expanded).
    pub url: String,
    /// An extra root CA for the server's certificate, besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Connections at most.
    pub max_connections: usize,
}

/// The shared connection pool. Cheap to clone.
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
    rt: Arc<OwnRuntime>,
    migrated: Arc<AtomicBool>,
    /// `gatehouse_store_errors_total{store}`, when registered.
    errors: Option<prometheus::IntCounterVec>,
}

/// The runtime the pool's connections live on; shut down without waiting when dropped (it may
/// be dropped on an async thread, where a blocking shutdown would panic).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// How long a connection attempt, a wait for a pooled connection and a statement may take:
/// a store that is away must not hold probes or the leader for long.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A problem `gatehouse check` reports: the config path it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `store.postgres` or `store.ca_file`.
    pub path: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

fn parse(url: &str) -> Result<tokio_postgres::Config, Finding> {
    tokio_postgres::Config::from_str(url).map_err(|e| Finding {
        path: "store.postgres",
        message: format!("not a valid PostgreSQL connection URL: {e}"),
    })
}

/// What `gatehouse check` can tell of the options without connecting: errors (a URL the
/// driver refuses, an unreadable CA file) and warnings (a server off this host reached
/// without `sslmode=require`).
pub fn inspect(options: &PgOptions) -> (Vec<Finding>, Vec<Finding>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    match parse(&options.url) {
        Err(f) => errors.push(f),
        Ok(config) => {
            let remote = config.get_hosts().iter().any(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => {
                    !(name == "localhost"
                        || name
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback()))
                }
                #[allow(unreachable_patterns)]
                _ => false,
            });
            if remote && config.get_ssl_mode() != tokio_postgres::config::SslMode::Require {
                warnings.push(Finding {
                    path: "store.postgres",
                    message: "the server is on another host and the URL does not say \
                              `sslmode=require`: without it the connection falls back to \
                              plain text when the server offers no TLS (credentials and alert \
                              state would cross the network unencrypted)"
                        .into(),
                });
            }
        }
    }
    if let Err(e) = gatehouse_outbound::roots_with_ca_file(options.ca_file.as_deref()) {
        errors.push(Finding {
            path: "store.ca_file",
            message: e.to_string(),
        });
    }
    (errors, warnings)
}

impl Pg {
    /// Set the pool up (no connection is made yet: the server may be away at start).
    pub fn new(options: &PgOptions) -> Result<Pg, PgError> {
        let mut config = parse(&options.url).map_err(|f| PgError::Setup(f.message))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(TIMEOUT);
        }
        config.options("-c statement_timeout=5000");
        if config.get_application_name().is_none() {
            config.application_name("gatehouse");
        }
        let roots = gatehouse_outbound::roots_with_ca_file(options.ca_file.as_deref())
            .map_err(|e| PgError::Setup(format!("store.ca_file: {e}")))?;
        let tls = gatehouse_outbound::client_config(roots)
            .map_err(|e| PgError::Setup(format!("TLS to the server: {e}")))?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gatehouse-pg")
            .enable_all()
            .build()
            .map_err(|e| PgError::Setup(format!("cannot start the store's runtime: {e}")))?;
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(TIMEOUT))
            .create_timeout(Some(TIMEOUT))
            .recycle_timeout(Some(TIMEOUT))
            .build()
            .map_err(|e| PgError::Setup(format!("cannot build the pool: {e}")))?;
        Ok(Pg {
            pool,
            rt: Arc::new(OwnRuntime(Some(rt))),
            migrated: Arc::new(AtomicBool::new(false)),
            errors: None,
        })
    }

    /// Count failures in `errors` (`gatehouse_store_errors_total{store}`); set before the
    /// pool is cloned to its users.
    pub fn count_errors_in(&mut self, errors: prometheus::IntCounterVec) {
        self.errors = Some(errors);
    }

    /// Count a failed operation of `store` (`probes`, `alerting`, `lease`).
    pub fn count_error(&self, store: &str) {
        if let Some(e) = &self.errors {
            e.with_label_values(&[store]).inc();
        }
    }

    /// A pooled connection, the schema brought up to date first (once per process).
    pub async fn client(&self) -> Result<deadpool_postgres::Client, PgError> {
        let mut client = self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => PgError::db("connecting", &e),
            e => PgError::failed("connecting", e),
        })?;
        if !self.migrated.load(Ordering::Acquire) {
            crate::migrate::apply(&mut client).await?;
            self.migrated.store(true, Ordering::Release);
        }
        Ok(client)
    }

    /// Run `fut` on the store's runtime and wait for it, from any thread (blocking it).
    pub fn block_on<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, PgError>> + Send + 'static,
    ) -> Result<T, PgError> {
        let Some(rt) = self.rt.0.as_ref() else {
            return Err(PgError::failed("running", "the store's runtime is stopped"));
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(PgError::failed("running", "the store's runtime stopped")))
    }

    /// Run `fut` on the store's runtime and await it from another runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, PgError>> + Send + 'static,
    ) -> Result<T, PgError> {
        let Some(rt) = self.rt.0.as_ref() else {
            return Err(PgError::failed("running", "the store's runtime is stopped"));
        };
        rt.spawn(fut)
            .await
            .unwrap_or_else(|e| Err(PgError::failed("running", e)))
    }
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("pool", &self.pool.status())
            .finish()
    }
}
