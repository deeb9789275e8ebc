//! ACME state shared by the instances of a cluster, in PostgreSQL (`store.postgres`): the
//! account, the certificates, one lock per certificate so that one instance orders at a time,
//! and the HTTP-01 answers, so that whichever instance the CA reaches can answer.
//!
//! The lock is a row with a holder and an expiry set by the server's clock; the holder renews
//! it while its order runs, and an instance that dies mid-order leaves a lock that lapses after
//! [`LOCK_TTL`]. Whoever takes the lock reads the store again before ordering: another
//! instance may have just finished.

use gatehouse_cluster::{Pg, PgError};
use std::sync::Arc;
use std::time::Duration;

/// How long an order lock lasts without renewal (an instance that died mid-order holds the
/// certificate back this long at most).
pub(super) const LOCK_TTL: Duration = Duration::from_secs(60);

/// How long an HTTP-01 answer stays in the store if the order never clears it.
const TOKEN_TTL: Duration = Duration::from_secs(600);

/// Lookups of HTTP-01 answers in the store at once: requests for unknown tokens must not
/// turn into unbounded load on the database.
const LOOKUPS: usize = 8;

/// A certificate as stored: its serial and the PEM bundle (chain, then key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SharedCert {
    /// Serial number, hex.
    pub(super) serial: String,
    /// Chain followed by the private key.
    pub(super) bundle: String,
}

/// The cluster's ACME store for one directory.
#[derive(Clone)]
pub(super) struct SharedAcme {
    pg: Pg,
    directory: String,
    holder: String,
}

fn db(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |e| PgError::db(doing, &e)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl SharedAcme {
    /// The store of `directory` (a folder name, [`super::directory_key`]) for the process
    /// `holder` (instance name and pid).
    pub(super) fn new(pg: Pg, directory: String, holder: String) -> SharedAcme {
        SharedAcme {
            pg,
            directory,
            holder,
        }
    }

    /// Count a failure under `gatehouse_store_errors_total{store="acme"}`.
    pub(super) fn count_error(&self) {
        self.pg.count_error("acme");
    }

    /// The stored account credentials (JSON).
    pub(super) async fn account(&self) -> Result<Option<String>, PgError> {
        let (pg, dir) = (self.pg.clone(), self.directory.clone());
        self.pg
            .run(async move {
                let c = pg.client().await?;
                let row = c
                    .query_opt(
                        "SELECT credentials FROM acme_accounts WHERE directory = $1",
                        &[&dir],
                    )
                    .await
                    .map_err(db("reading the ACME account"))?;
                Ok(row.map(|r| r.get(0)))
            })
            .await
    }

    /// Store `credentials` as the account. Unless `replace`, an account another instance
    /// stored first wins; returns the credentials now stored (use those).
    pub(super) async fn save_account(
        &self,
        credentials: String,
        replace: bool,
    ) -> Result<String, PgError> {
        let (pg, dir) = (self.pg.clone(), self.directory.clone());
        self.pg
            .run(async move {
                let c = pg.client().await?;
                let sql = if replace {
                    "INSERT INTO acme_accounts (directory, credentials) VALUES ($1, $2)
                     ON CONFLICT (directory) DO UPDATE SET credentials = excluded.credentials, updated_at = now()
                     RETURNING credentials"
                } else {
                    "WITH ins AS (INSERT INTO acme_accounts (directory, credentials) VALUES ($1, $2)
                                  ON CONFLICT (directory) DO NOTHING RETURNING credentials)
                     SELECT credentials FROM ins
                     UNION ALL SELECT credentials FROM acme_accounts WHERE directory = $1
                     LIMIT 1"
                };
                let row = c
                    .query_one(sql, &[&dir, &credentials])
                    .await
                    .map_err(db("saving the ACME account"))?;
                Ok(row.get(0))
            })
            .await
    }

    /// The serial of the stored certificate `name`, without its bundle (the cheap check every
    /// instance makes every few seconds).
    pub(super) async fn serial(&self, name: &str) -> Result<Option<String>, PgError> {
        let (pg, dir, name) = (self.pg.clone(), self.directory.clone(), name.to_owned());
        self.pg
            .run(async move {
                let c = pg.client().await?;
                let row = c
                    .query_opt(
                        "SELECT serial FROM acme_certificates WHERE directory = $1 AND name = $2",
                        &[&dir, &name],
                    )
                    .await
                    .map_err(db("reading a certificate's serial"))?;
                Ok(row.map(|r| r.get(0)))
            })
            .await
    }

    /// The stored certificate `name`.
    pub(super) async fn certificate(&self, name: &str) -> Result<Option<SharedCert>, PgError> {
        let (pg, dir, name) = (self.pg.clone(), self.directory.clone(), name.to_owned());
        self.pg
            .run(async move {
                let c = pg.client().await?;
                let row = c
                    .query_opt(
                        "SELECT serial, bundle FROM acme_certificates WHERE directory = $1 AND name = $2",
                        &[&dir, &name],
                    )
                    .await
                    .map_err(db("reading a certificate"))?;
                Ok(row.map(|r| SharedCert {
                    serial: r.get(0),
                    bundle: r.get(1),
                }))
            })
            .await
    }

    /// Store a certificate, unless the stored one lasts longer (a slow instance never
    /// replaces a renewal with an older certificate). Whether it was stored.
    pub(super) async fn save_certificate(
        &self,
        name: &str,
        cert: SharedCert,
        not_after_unix: i64,
    ) -> Result<bool, PgError> {
        let (pg, dir, name) = (self.pg.clone(), self.directory.clone(), name.to_owned());
        self.pg
            .run(async move {
                let c = pg.client().await?;
                let n = c
                    .execute(
                        "INSERT INTO acme_certificates (directory, name, serial, not_after, bundle)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (directory, name) DO UPDATE SET
                             serial = excluded.serial, not_after = excluded.not_after,
                             bundle = excluded.bundle, updated_at = now()
                         WHERE acme_certificates.not_after <= excluded.not_after",
                        &[&dir, &name, &cert.serial, &not_after_unix, &cert.bundle],
                    )
                    .await
                    .map_err(db("saving a certificate"))?;
                Ok(n == 1)
            })
            .await
    }

    /// Take (or renew, when this process has it) the order lock of certificate `name`.
    /// Whether this process holds it now.
    pub(super) async fn lock(&self, name: &str) -> Result<bool, PgError> {
        let (pg, dir, name, holder) = (
            self.pg.clone(),
            self.directory.clone(),
            name.to_owned(),
            self.holder.clone(),
        );
        let ttl = millis(LOCK_TTL);
        self.pg
            .run(async move {
                let c = pg.client().await?;
                let n = c
                    .execute(
                        "INSERT INTO acme_locks (directory, name, holder, expires_at)
                         VALUES ($1, $2, $3, now() + $4::float8 * interval '1 millisecond')
                         ON CONFLICT (directory, name) DO UPDATE SET
                             holder = excluded.holder, expires_at = excluded.expires_at
                         WHERE acme_locks.holder = excluded.holder OR acme_locks.expires_at <= now()",
                        &[&dir, &name, &holder, &ttl],
                    )
                    .await
                    .map_err(db("taking the ACME order lock"))?;
                Ok(n == 1)
            })
            .await
    }

    /// Set the expiry of this process's order lock of `name` to `d` from now.
    pub(super) async fn hold(&self, name: &str, d: Duration) -> Result<(), PgError> {
        let (pg, dir, name, holder) = (
            self.pg.clone(),
            self.directory.clone(),
            name.to_owned(),
            self.holder.clone(),
        );
        let ms = millis(d);
        self.pg
            .run(async move {
                let c = pg.client().await?;
                c.execute(
                    "UPDATE acme_locks SET expires_at = now() + $4::float8 * interval '1 millisecond'
                     WHERE directory = $1 AND name = $2 AND holder = $3",
                    &[&dir, &name, &holder, &ms],
                )
                .await
                .map_err(db("keeping the ACME order lock"))?;
                Ok(())
            })
            .await
    }

    /// Who holds the order lock of `name` (for the log), if anyone.
    pub(super) async fn lock_holder(&self, name: &str) -> Result<Option<String>, PgError> {
        let (pg, dir, name) = (self.pg.clone(), self.directory.clone(), name.to_owned());
        self.pg
            .run(async move {
                let c = pg.client().await?;
                let row = c
                    .query_opt(
                        "SELECT holder FROM acme_locks
                         WHERE directory = $1 AND name = $2 AND expires_at > now()",
                        &[&dir, &name],
                    )
                    .await
                    .map_err(db("reading the ACME order lock"))?;
                Ok(row.map(|r| r.get(0)))
            })
            .await
    }

    /// Give the order lock of `name` up (only when this process holds it).
    pub(super) async fn unlock(&self, name: &str) -> Result<(), PgError> {
        let (pg, dir, name, holder) = (
            self.pg.clone(),
            self.directory.clone(),
            name.to_owned(),
            self.holder.clone(),
        );
        self.pg
            .run(async move {
                let c = pg.client().await?;
                c.execute(
                    "DELETE FROM acme_locks WHERE directory = $1 AND name = $2 AND holder = $3",
                    &[&dir, &name, &holder],
                )
                .await
                .map_err(db("releasing the ACME order lock"))?;
                Ok(())
            })
            .await
    }
}

/// HTTP-01 answers in the store, for every instance to serve.
#[derive(Clone)]
pub(super) struct SharedTokens {
    pg: Pg,
    lookups: Arc<tokio::sync::Semaphore>,
}

impl SharedTokens {
    /// Answers kept in `pg`.
    pub(super) fn new(pg: Pg) -> SharedTokens {
        SharedTokens {
            pg,
            lookups: Arc::new(tokio::sync::Semaphore::new(LOOKUPS)),
        }
    }

    /// Publish an answer (and forget answers long expired).
    pub(super) async fn insert(&self, token: &str, key_authorization: &str) -> Result<(), PgError> {
        let (pg, token, key_auth) = (
            self.pg.clone(),
            token.to_owned(),
            key_authorization.to_owned(),
        );
        let ttl = millis(TOKEN_TTL);
        self.pg
            .run(async move {
                let c = pg.client().await?;
                c.execute(
                    "INSERT INTO acme_tokens (token, key_authorization, expires_at)
                     VALUES ($1, $2, now() + $3::float8 * interval '1 millisecond')
                     ON CONFLICT (token) DO UPDATE SET
                         key_authorization = excluded.key_authorization,
                         expires_at = excluded.expires_at",
                    &[&token, &key_auth, &ttl],
                )
                .await
                .map_err(db("publishing an HTTP-01 answer"))?;
                c.execute("DELETE FROM acme_tokens WHERE expires_at < now()", &[])
                    .await
                    .map_err(db("forgetting expired HTTP-01 answers"))?;
                Ok(())
            })
            .await
    }

    /// Withdraw an answer.
    pub(super) async fn remove(&self, token: &str) -> Result<(), PgError> {
        let (pg, token) = (self.pg.clone(), token.to_owned());
        self.pg
            .run(async move {
                let c = pg.client().await?;
                c.execute("DELETE FROM acme_tokens WHERE token = $1", &[&token])
                    .await
                    .map_err(db("withdrawing an HTTP-01 answer"))?;
                Ok(())
            })
            .await
    }

    /// The answer for `token`, when some instance published it. `None` also when the store
    /// cannot be asked, or [`LOOKUPS`] lookups are already under way (counted as an error).
    pub(super) async fn answer(&self, token: &str) -> Option<String> {
        let Ok(_permit) = self.lookups.clone().try_acquire_owned() else {
            tracing::debug!("HTTP-01 answer lookups are all busy; answering 404");
            return None;
        };
        let (pg, token) = (self.pg.clone(), token.to_owned());
        let found = self
            .pg
            .run(async move {
                let c = pg.client().await?;
                let row = c
                    .query_opt(
                        "SELECT key_authorization FROM acme_tokens
                         WHERE token = $1 AND expires_at > now()",
                        &[&token],
                    )
                    .await
                    .map_err(db("looking up an HTTP-01 answer"))?;
                Ok(row.map(|r| r.get::<_, String>(0)))
            })
            .await;
        match found {
            Ok(a) => a,
            Err(e) => {
                self.pg.count_error("acme");
                tracing::warn!(error = %e, "cannot look up an HTTP-01 answer in the store");
                None
            }
        }
    }
}

/// Whether `token` can be an ACME token (RFC 8555 §8.3: base64url, at least 128 bits of
/// entropy): anything else is not looked up in the store.
pub(super) fn plausible_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_shaped_paths_reach_the_store() {
        assert!(plausible_token(
            "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
        ));
        assert!(!plausible_token("short"));
        assert!(!plausible_token("../../etc/passwd-xxxxxxxxxxxxxxxx"));
        assert!(!plausible_token("abc%2Fdefghijklmnopqrstuvwxyz"));
        assert!(!plausible_token(&"a".repeat(129)));
    }
}
