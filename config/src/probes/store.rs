//! The `store` section: where probe results go and how long each kind of row is kept.

use super::compile::defaults;
use super::raw::RawStore;
use super::StoreConfig;
use crate::compiler::Compiler;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

impl Compiler {
    pub(super) fn store(&mut self, value: Option<Value>, state_dir: &Path) -> StoreConfig {
        let raw: RawStore = value
            .and_then(|v| self.section(v, "store"))
            .unwrap_or_default();
        let path = match (raw.memory, raw.path) {
            (Some(true), Some(_)) => {
                self.err(
                    "store.memory",
                    "`memory: true` and `path` exclude each other",
                );
                None
            }
            (Some(true), None) => None,
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
        }
    }
}
