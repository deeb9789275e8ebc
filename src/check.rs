//! `gatehouse check`: every problem of a config file, as `FILE:LINE:COL: path: message` lines
//! (the form editors and CI problem matchers read) or as JSON, one object per line. Besides
//! the file itself it checks what the file names on this machine: certificate files, and
//! that the state directory can be written.

use crate::load;
use gatehouse_config::{Config, ConfigError};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// How `check` prints what it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `FILE:LINE:COL: path: message`, one problem a line; errors on stderr, warnings on stdout.
    Text,
    /// One JSON object a line on stdout: `{"severity", "file", "line", "column", "path", "message"}`.
    Json,
}

pub(crate) fn check(path: &Path, format: Format) -> ExitCode {
    let file = path.display().to_string();
    let (errors, warnings, summary) = match load::load(path) {
        Ok(loaded) => {
            let c = loaded.config;
            let mut errors = state_dir_problems(&c);
            let (cluster_errors, cluster_warnings) = crate::cluster::check(&c);
            errors.extend(cluster_errors);
            let summary = format!(
                "{file}: valid ({} listeners, {} upstreams, {} routes)",
                c.listeners.len(),
                c.upstreams.len(),
                c.routes.len()
            );
            let mut warnings = c.warnings;
            warnings.extend(cluster_warnings);
            (errors, warnings, summary)
        }
        Err(e) => (e.errors, Vec::new(), String::new()),
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    match format {
        Format::Json => {
            for (severity, p) in errors
                .iter()
                .map(|e| ("error", e))
                .chain(warnings.iter().map(|w| ("warning", w)))
            {
                let _ = writeln!(stdout, "{}", json_line(&file, severity, p));
            }
        }
        Format::Text => {
            for w in &warnings {
                let _ = writeln!(stdout, "{}", text_line(&file, Some("warning"), w));
            }
            for e in &errors {
                let _ = writeln!(stderr, "{}", text_line(&file, None, e));
            }
            if errors.is_empty() {
                let _ = writeln!(stdout, "{summary}");
            } else {
                let n = errors.len();
                let noun = if n == 1 { "problem" } else { "problems" };
                let _ = writeln!(stderr, "{file}: {n} {noun}");
            }
        }
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// `FILE:LINE:COL: [warning: ]path: message`, leaving out what is not known.
fn text_line(file: &str, severity: Option<&str>, p: &ConfigError) -> String {
    let mut s = file.to_string();
    if let Some(line) = p.line {
        s.push_str(&format!(":{line}"));
        if let Some(column) = p.column {
            s.push_str(&format!(":{column}"));
        }
    }
    s.push_str(": ");
    if let Some(severity) = severity {
        s.push_str(&format!("{severity}: "));
    }
    if !p.path.is_empty() {
        s.push_str(&format!("{}: ", p.path));
    }
    s.push_str(&p.message);
    s
}

fn json_line(file: &str, severity: &str, p: &ConfigError) -> serde_json::Value {
    serde_json::json!({
        "severity": severity,
        "file": file,
        "line": p.line,
        "column": p.column,
        "path": p.path,
        "message": p.message,
    })
}

/// The state directory must be a directory this user can write, or be creatable by it:
/// certificates and the probe and incident history are kept there, and a service that cannot
/// write them loses them on restart.
fn state_dir_problems(config: &Config) -> Vec<ConfigError> {
    let dir = &config.state_dir;
    let Err(problem) = writable(dir) else {
        return Vec::new();
    };
    let mut error = ConfigError::new("state_dir", format!("`{}` {problem}", dir.display()));
    config.locate(std::slice::from_mut(&mut error));
    if error.line.is_none() {
        error.message.push_str(
            " (the default when the file names no `state_dir`: `$STATE_DIRECTORY`, which \
             systemd sets, else `gatehouse-data` in the working directory)",
        );
    }
    vec![error]
}

/// Whether `dir` (or, when it does not exist yet, the directory it would be created in) takes
/// a new file: tried for real with a file removed at once, as permissions alone do not say
/// (read-only mounts, ACLs, root).
fn writable(dir: &Path) -> Result<(), String> {
    let mut at = dir;
    let mut missing = false;
    loop {
        let probe = if at.as_os_str().is_empty() {
            Path::new(".")
        } else {
            at
        };
        match std::fs::metadata(probe) {
            Ok(m) if m.is_dir() => break,
            Ok(_) if missing => {
                return Err(format!(
                    "cannot be created: `{}` is not a directory",
                    probe.display()
                ))
            }
            Ok(_) => return Err("is not a directory".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing = true;
                match at.parent() {
                    Some(parent) => at = parent,
                    None => return Err("does not exist".to_string()),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err("cannot be created: a parent on its path is not a directory".to_string())
            }
            Err(e) => return Err(format!("cannot be read: {e}")),
        }
    }
    let base = if at.as_os_str().is_empty() {
        Path::new(".")
    } else {
        at
    };
    let test = base.join(format!(".gatehouse-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&test)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&test);
            Ok(())
        }
        Err(e) if missing => Err(format!(
            "does not exist and cannot be created in `{}` by this user: {e}",
            base.display()
        )),
        Err(e) => Err(format!("is not writable by this user: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_leave_out_what_is_not_known() {
        let mut e = ConfigError::new("routes[0].upstream", "unknown upstream `x`");
        assert_eq!(
            text_line("g.yaml", None, &e),
            "g.yaml: routes[0].upstream: unknown upstream `x`"
        );
        e.line = Some(8);
        e.column = Some(15);
        assert_eq!(
            text_line("g.yaml", None, &e),
            "g.yaml:8:15: routes[0].upstream: unknown upstream `x`"
        );
        assert_eq!(
            text_line("g.yaml", Some("warning"), &ConfigError::new("", "empty")),
            "g.yaml: warning: empty"
        );
    }

    #[test]
    fn a_state_dir_under_a_file_or_missing_is_reported_and_a_new_one_is_fine() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(writable(dir.path()), Ok(()));
        assert_eq!(writable(&dir.path().join("a/b")), Ok(()));
        let file = dir.path().join("f");
        std::fs::write(&file, "").expect("write");
        assert_eq!(writable(&file), Err("is not a directory".to_string()));
        let under = writable(&file.join("sub")).expect_err("under a file");
        assert!(under.contains("is not a directory"), "{under}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
