//! Configuration errors: every problem names where it is (YAML path and line).

use std::fmt;
use std::path::PathBuf;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// YAML path of the offending value, e.g. `routes[2].upstream` (empty for the whole file).
    pub path: String,
    /// 1-based line in the file, where known.
    pub line: Option<usize>,
    /// 1-based column of that line (in characters), where known.
    pub column: Option<usize>,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Where in the file it is, from the index of the file's paths (unless already known).
    pub(crate) fn place(&mut self, index: &crate::yaml_lines::LineIndex) {
        if self.line.is_none() {
            if let Some((line, column)) = index.position_of(&self.path) {
                self.line = Some(line);
                self.column = Some(column);
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (true, Some(line)) => write!(f, "line {line}: {}", self.message),
            (true, None) => write!(f, "{}", self.message),
            (false, Some(line)) => write!(f, "{} (line {line}): {}", self.path, self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Every problem found in one configuration file, reported together.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    /// The file the problems are in, when the config came from a file.
    pub file: Option<PathBuf>,
    /// The problems, in file order where lines are known.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub(crate) fn single(file: Option<PathBuf>, error: ConfigError) -> Self {
        ConfigErrors {
            file,
            errors: vec![error],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        let noun = if n == 1 { "problem" } else { "problems" };
        match &self.file {
            Some(file) => write!(f, "{} has {n} {noun}:", file.display())?,
            None => write!(f, "configuration has {n} {noun}:")?,
        }
        for e in &self.errors {
            match &self.file {
                Some(file) => write!(f, "\n  {}: {e}", file.display())?,
                None => write!(f, "\n  {e}")?,
            }
        }
        Ok(())
    }
}
