//! Loading a config file the way every entry point needs it: the YAML, then what the YAML
//! names (certificate files), with every problem located in the file.

use gatehouse_config::{Config, ConfigErrors};
use gatehouse_proxy::tls::{self, LoadedCert};
use std::path::Path;

/// A config ready to run, with the certificate files it names already loaded.
pub(crate) struct Loaded {
    pub config: Config,
    pub file_certs: Vec<LoadedCert>,
}

pub(crate) fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    let mut config = Config::load(path)?;
    let mut check = tls::check(&config);
    config.locate(&mut check.errors);
    config.locate(&mut check.warnings);
    if !check.errors.is_empty() {
        check.errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        return Err(ConfigErrors {
            file: Some(path.to_path_buf()),
            errors: check.errors,
        });
    }
    config.warnings.extend(check.warnings);
    config
        .warnings
        .sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    Ok(Loaded {
        config,
        file_certs: check.certs,
    })
}

/// Log the warnings of a config that loaded.
pub(crate) fn log_warnings(config: &Config) {
    for w in &config.warnings {
        tracing::warn!(file = ?config.source, "{w}");
    }
}
