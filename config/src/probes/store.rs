//! The `store` section: where probe results go and how long each kind of row is kept; with
//! `postgres`, the state several instances share (cluster mode).

use super::compile::defaults;
use super::raw::RawStore;
use super::{PostgresStore, StoreConfig};
use crate::compiler::Compiler;
use crate::secret::Secret;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Results kept in memory while the store fails.
const BUFFER: usize = 10_000;
/// The leader lease's default time to live.
const LEASE_TTL: Duration = Duration::from_secs(15);

impl Compiler {
    pub(super) fn store(&mut self, value: Option<Value>, state_dir: &Path) -> StoreConfig {
        let raw: RawStore = value
            .and_then(|v| self.section(v, "store"))
            .unwrap_or_default();
        let postgres = self.postgres(&raw);
        let path = match (raw.memory, raw.path) {
            (Some(true), Some(_)) => {
                self.err(
                    "store.memory",
                    "`memory: true` and `path` exclude each other",
                );
                None
            }
            (Some(true), None) if postgres.is_some() => {
                self.err(
                    "store.memory",
                    "`memory: true` and `postgres` exclude each other: in a cluster the \
                     state lives in PostgreSQL; remove `memory`",
                );
                None
            }
            (Some(true), None) => None,
            (_, Some(_)) if postgres.is_some() => {
                self.err(
                    "store.path",
                    "`path` and `postgres` exclude each other: in a cluster the state lives \
                     in PostgreSQL; remove `path`",
                );
                None
            }
            (_, Some(p)) if p.trim().is_empty() => {
                self.err("store.path", "must name a file");
                None
            }
            (_, Some(p)) => Some(PathBuf::from(p)),
            (_, None) => Some(state_dir.join("gatehouse.db")),
        };
        let raw_retention = self.duration(
            raw.raw_retention.as_deref(),
            "store.raw_retention".into(),
            defaults::RAW_RETENTION,
        );
        let hourly_retention = self.duration(
            raw.hourly_retention.as_deref(),
            "store.hourly_retention".into(),
            defaults::HOURLY_RETENTION,
        );
        let daily_retention = self.duration(
            raw.daily_retention.as_deref(),
            "store.daily_retention".into(),
            defaults::DAILY_RETENTION,
        );
        for (d, name) in [
            (raw_retention, "raw_retention"),
            (hourly_retention, "hourly_retention"),
            (daily_retention, "daily_retention"),
        ] {
            if d < Duration::from_secs(3600) {
                self.err(format!("store.{name}"), "must be at least 1h");
            }
        }
        StoreConfig {
            path,
            raw_retention,
            hourly_retention,
            daily_retention,
            buffer: raw.buffer.unwrap_or(BUFFER),
            postgres,
        }
    }

    fn postgres(&mut self, raw: &RawStore) -> Option<PostgresStore> {
        let Some(url) = raw.postgres.as_deref() else {
            for (set, name) in [
                (raw.instance.is_some(), "instance"),
                (raw.ca_file.is_some(), "ca_file"),
                (raw.lease_ttl.is_some(), "lease_ttl"),
            ] {
                if set {
                    self.err(
                        format!("store.{name}"),
                        "applies only to a cluster: set `store.postgres` too, or remove it",
                    );
                }
            }
            return None;
        };
        let url = url.trim();
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"));
        // The URL may hold a password: never repeated in a message.
        match rest {
            None => self.err(
                "store.postgres",
                "must be a `postgres://` or `postgresql://` URL \
                 (postgres://USER:${PASSWORD}@HOST:5432/DATABASE)",
            ),
            Some(rest)
                if rest
                    .rsplit('@')
                    .next()
                    .is_none_or(|h| h.is_empty() || h.starts_with('/')) =>
            {
                self.err(
                    "store.postgres",
                    "names no server: postgres://USER:${PASSWORD}@HOST:5432/DATABASE",
                )
            }
            Some(_) => {}
        }
        let instance = match raw.instance.as_deref().map(str::trim) {
            Some(name) => {
                if name.is_empty()
                    || name.len() > 63
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    self.err(
                        "store.instance",
                        "must be 1 to 63 letters, digits, `-`, `_` or `.`, unique in the cluster",
                    );
                }
                name.to_owned()
            }
            None => crate::telemetry::compile::host_name().unwrap_or_else(|| {
                self.err(
                    "store.instance",
                    "the hostname cannot be read: name this instance (unique in the cluster)",
                );
                String::new()
            }),
        };
        let lease_ttl = self.duration(
            raw.lease_ttl.as_deref(),
            "store.lease_ttl".into(),
            LEASE_TTL,
        );
        if lease_ttl < Duration::from_secs(3) || lease_ttl > Duration::from_secs(300) {
            self.err(
                "store.lease_ttl",
                "must be between 3s and 5m (renewed every third of it; a dead leader is \
                 replaced within it)",
            );
        }
        let ca_file = raw.ca_file.as_deref().map(|f| {
            if f.trim().is_empty() {
                self.err("store.ca_file", "must name a PEM file of CA certificates");
            }
            PathBuf::from(f.trim())
        });
        Some(PostgresStore {
            url: Secret(url.to_owned()),
            instance,
            ca_file,
            lease_ttl,
        })
    }
}
