//! gatehouse configuration: one YAML file, parsed strictly, validated in one pass that reports
//! every problem with its YAML path and line, compiled into a [`Config`] the proxy can use.
//!
//! ```
//! let yaml = r#"
//! listeners: [{ name: http, address: "127.0.0.1:8080" }]
//! upstreams:
//!   app: { backends: [{ address: "127.0.0.1:3000" }] }
//! routes:
//!   - { name: app, upstream: app }
//! "#;
//! let config = gatehouse_config::Config::from_yaml(yaml).unwrap();
//! assert_eq!(config.routes[0].name, "app");
//! ```

// Shared machinery: the problem collector and its typed readers, YAML path -> line, `${VAR}`
// expansion, units (durations, sizes, rates), secrets, defaults; and a bounded queue the
// other crates share.
mod compiler;
pub mod defaults;
mod document;
mod env;
mod error;
pub mod queue;
pub mod schema;
pub mod secret;
pub mod units;
mod yaml_lines;

// One module per section: `mod.rs` holds the validated types, `raw.rs` the YAML as written,
// `compile.rs` the checks from one to the other (and `tests.rs` their tests).
pub mod admin;
pub mod alerting;
pub mod headers;
pub mod policy;
pub mod probes;
pub mod routes;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod tls;
pub mod upstreams;

pub use document::Config;
pub use error::{ConfigError, ConfigErrors};

use routes::Route;
use std::path::Path;
use upstreams::Upstream;

impl Config {
    /// Parse and validate YAML text, taking `${VAR}` values from the process environment.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigErrors> {
        Self::from_yaml_with_env(text, &|name| std::env::var(name).ok())
    }

    /// Parse and validate YAML text with a custom environment lookup.
    pub fn from_yaml_with_env(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        parse(text, lookup).map_err(|errors| ConfigErrors { file: None, errors })
    }

    /// Read, parse and validate a file. Errors name the file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(
                Some(path.to_path_buf()),
                ConfigError::new("", format!("cannot read the file: {e}")),
            )
        })?;
        let mut config = Self::from_yaml(&text).map_err(|mut e| {
            e.file = Some(path.to_path_buf());
            e
        })?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Fill in the line of each problem from the file the config came from (for problems found
    /// after parsing, e.g. by reading the certificate files it names).
    pub fn locate(&self, problems: &mut [ConfigError]) {
        let Some(text) = self
            .source
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return;
        };
        let index = yaml_lines::LineIndex::build(&text);
        for p in problems.iter_mut() {
            p.place(&index);
        }
    }

    /// The upstream a route points at. Every route's upstream exists in a valid config.
    pub fn upstream_of(&self, route: &Route) -> Option<&Upstream> {
        self.upstreams.get(&route.upstream)
    }
}

fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigError>> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        vec![ConfigError {
            path: String::new(),
            line: e.location().map(|l| l.line()),
            column: e.location().map(|l| l.column()),
            message: format!("not valid YAML: {e}"),
        }]
    })?;
    let index = yaml_lines::LineIndex::build(text);
    let mut errors = Vec::new();
    env::substitute(&mut doc, "", lookup, &mut errors);
    let mut compiler = compiler::Compiler {
        errors,
        defined_upstreams: Default::default(),
        warnings: Vec::new(),
        state_directory: lookup(defaults::STATE_DIRECTORY_ENV).filter(|d| !d.trim().is_empty()),
    };
    let config = compiler.compile(doc);
    let mut errors = compiler.errors;
    if errors.is_empty() {
        if let Some(mut config) = config {
            for w in &mut config.warnings {
                w.place(&index);
            }
            return Ok(config);
        }
    }
    for e in &mut errors {
        e.place(&index);
    }
    // One problem per value: a failed `${VAR}` makes later checks of the same value noise.
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| e.path.is_empty() || seen.insert(e.path.clone()));
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    Err(errors)
}

#[cfg(test)]
mod tests;
