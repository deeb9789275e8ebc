//! The compile step's shared machinery: the [`Compiler`] that collects every problem with its
//! YAML path while the sections compile (each section adds its own `impl Compiler` block in its
//! `compile.rs`), typed readers of common values (durations, addresses, counts), and the one
//! helper every named list uses for its name checks.

use crate::error::ConfigError;
use crate::units::parse_duration;
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

/// Collects problems while the sections are compiled.
pub(crate) struct Compiler {
    pub errors: Vec<ConfigError>,
    /// Every upstream name in the file, including those that failed to compile (a route
    /// pointing at one of those is not also reported as pointing at an unknown upstream).
    pub defined_upstreams: HashSet<String>,
    /// Allowed but probably unintended.
    pub warnings: Vec<ConfigError>,
    /// `$STATE_DIRECTORY` (systemd's `StateDirectory=`), the default `state_dir` when set.
    pub state_directory: Option<String>,
}

impl Compiler {
    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl std::fmt::Display) {
        self.warnings
            .push(ConfigError::new(path, message.to_string()));
    }

    pub(crate) fn err(&mut self, path: impl Into<String>, message: impl std::fmt::Display) {
        self.errors
            .push(ConfigError::new(path, message.to_string()));
    }

    /// Deserialize `value` (found at `path`) into `T`, recording a path-precise error on failure.
    pub(crate) fn section<T: DeserializeOwned>(&mut self, value: Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let full = match (path.is_empty(), inner.as_str()) {
                    (_, ".") => path.to_string(),
                    (true, _) => inner,
                    (false, i) if i.starts_with('[') => format!("{path}{i}"),
                    (false, i) => format!("{path}.{i}"),
                };
                self.err(full, e.into_inner().to_string());
                None
            }
        }
    }

    pub(crate) fn duration(
        &mut self,
        value: Option<&str>,
        path: String,
        default: Duration,
    ) -> Duration {
        match value {
            None => default,
            Some(v) => parse_duration(v).unwrap_or_else(|e| {
                self.err(path, e);
                default
            }),
        }
    }

    pub(crate) fn socket_addr(&mut self, value: &str, path: String) -> Option<SocketAddr> {
        match value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    path,
                    format!("`{value}` is not an address; write IP:PORT, e.g. `127.0.0.1:8080` or `[::]:8080`"),
                );
                None
            }
        }
    }

    /// A count that must be at least 1 (`default` when absent, or after the error for 0).
    pub(crate) fn at_least_one<T: Copy + PartialEq + From<u8>>(
        &mut self,
        value: Option<T>,
        path: &str,
        default: T,
    ) -> T {
        match value {
            Some(n) if n == T::from(0) => {
                self.err(path, "must be at least 1");
                default
            }
            Some(n) => n,
            None => default,
        }
    }

    pub(crate) fn list(&mut self, value: Option<Value>, path: &str) -> Vec<Value> {
        match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(_) => {
                self.err(path, "must be a list (`- ...` items)");
                Vec::new()
            }
        }
    }
}

pub(crate) fn check_name(c: &mut Compiler, name: &str, path: &str) {
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        c.err(
            path,
            format!("`{name}` is not a valid name; use letters, digits, `-`, `_` and `.`"),
        );
    }
}

/// An item of a named list: `listeners`, `admin.tokens`, `routes`, `probes`, `alerting.rules`,
/// `alerting.maintenance`, `alerting.notifiers`.
pub(crate) trait Named {
    /// Whether the name must be a valid name (see [`check_name`]); listener names only appear
    /// in logs and may be anything, as long as they are unique.
    const CHECKED: bool = true;
    fn name(&self) -> &str;
}

/// Reads the items of one named list with the checks every such list makes, so that no list
/// forgets one: each item is deserialized on its own (a bad item is reported and skipped, the
/// others still compile), its name is checked, and a name used twice is reported at the
/// second use. The caller compiles each item in the same loop, so problems keep their order.
pub(crate) struct NamedList {
    path: &'static str,
    what: &'static str,
    names: HashSet<String>,
}

impl NamedList {
    /// The list at `path`; `what` names an item in the duplicate message (`route name`).
    pub(crate) fn new(path: &'static str, what: &'static str) -> Self {
        NamedList {
            path,
            what,
            names: HashSet::new(),
        }
    }

    /// Item `i`, deserialized, with its YAML path; `None` after reporting why it is unreadable.
    pub(crate) fn item<T: DeserializeOwned + Named>(
        &mut self,
        c: &mut Compiler,
        i: usize,
        value: Value,
    ) -> Option<(String, T)> {
        let path = format!("{}[{i}]", self.path);
        let raw = c.section::<T>(value, &path)?;
        if T::CHECKED {
            check_name(c, raw.name(), &format!("{path}.name"));
        }
        if !self.names.insert(raw.name().to_string()) {
            c.err(
                format!("{path}.name"),
                format!("duplicate {} `{}`", self.what, raw.name()),
            );
        }
        Some((path, raw))
    }

    /// Whether an item (readable, even if it failed to compile) has this name.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}
