//! The gates of a policy as written: API keys and basic-auth users (literal, or read from a
//! secrets file), and whether the credentials they consume are passed on to the upstream.

use super::raw::*;
use super::*;
use crate::compiler::Compiler;
use crate::headers::compile::{valid_token, valid_value};

impl Compiler {
    pub(crate) fn api_key(&mut self, a: RawApiKey, path: &str) -> Option<ApiKeyGate> {
        let header = a
            .header
            .unwrap_or_else(|| "x-api-key".into())
            .trim()
            .to_ascii_lowercase();
        if !valid_token(&header) {
            self.err(
                format!("{path}.header"),
                format!("`{header}` is not a header name"),
            );
        }
        let mut keys = Vec::new();
        for (i, k) in a.keys.iter().enumerate() {
            let k = k.trim();
            if k.is_empty() || !valid_value(k) {
                self.err(
                    format!("{path}.keys[{i}]"),
                    "is empty or has characters a header cannot carry",
                );
            } else {
                keys.push(Secret(k.to_string()));
            }
        }
        if let Some(file) = &a.keys_file {
            for (n, line) in self.secret_lines(file, &format!("{path}.keys_file")) {
                if valid_value(&line) {
                    keys.push(Secret(line));
                } else {
                    self.err(
                        format!("{path}.keys_file"),
                        format!("{file} line {n}: has characters a header cannot carry"),
                    );
                }
            }
        }
        if keys.is_empty() && !self.errors.iter().any(|e| e.path.starts_with(path)) {
            self.err(path, "no keys: set `keys` and/or `keys_file`");
        }
        Some(ApiKeyGate {
            bearer: header == "authorization",
            header,
            keys,
            forward_credentials: a.forward_credentials.unwrap_or(false),
        })
    }

    pub(crate) fn basic_auth(&mut self, b: RawBasicAuth, path: &str) -> Option<BasicAuth> {
        let realm = b.realm.unwrap_or_else(|| "gatehouse".into());
        if !valid_value(&realm) || realm.contains(['"', '\\']) {
            self.err(
                format!("{path}.realm"),
                "must be plain text without quotes or backslashes",
            );
        }
        let mut users: Vec<(String, Secret)> = Vec::new();
        let mut add = |c: &mut Compiler, user: &str, hash: &str, where_: String| {
            if user.is_empty() || user.contains(':') || !valid_value(user) {
                c.err(
                    where_,
                    format!("`{user}` is not a user name (no `:` or control characters)"),
                );
            } else if !is_password_hash(hash) {
                c.err(
                    where_,
                    format!("the password of `{user}` is not a bcrypt ($2b$...) or argon2 ($argon2id$...) hash; print one with `gatehouse hash-password`"),
                );
            } else if users.iter().any(|(u, _)| u == user) {
                c.err(where_, format!("user `{user}` is listed twice"));
            } else {
                users.push((user.to_string(), Secret(hash.to_string())));
            }
        };
        for (user, hash) in &b.users {
            add(self, user, hash.trim(), format!("{path}.users.{user}"));
        }
        if let Some(file) = &b.users_file {
            for (n, line) in self.secret_lines(file, &format!("{path}.users_file")) {
                let (u, h) = line.split_once(':').unwrap_or((&line, ""));
                add(self, u, h, format!("{path}.users_file ({file} line {n})"));
            }
        }
        if users.is_empty() && !self.errors.iter().any(|e| e.path.starts_with(path)) {
            self.err(path, "no users: set `users` and/or `users_file`");
        }
        Some(BasicAuth {
            realm,
            users,
            forward_credentials: b.forward_credentials.unwrap_or(false),
        })
    }

    /// The lines of a secrets file (API keys, `user:hash`) with their 1-based numbers, without
    /// blank lines and `#` comments. An unreadable file is an error at `path`.
    fn secret_lines(&mut self, file: &str, path: &str) -> Vec<(usize, String)> {
        match std::fs::read_to_string(file) {
            Ok(text) => text
                .lines()
                .enumerate()
                .map(|(n, l)| (n + 1, l.trim().to_string()))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                .collect(),
            Err(e) => {
                self.err(path, format!("cannot read {file}: {e}"));
                Vec::new()
            }
        }
    }
}

/// bcrypt (`$2a$`, `$2b$`, `$2y$`, 60 characters) or an argon2 PHC string.
fn is_password_hash(h: &str) -> bool {
    let bcrypt =
        (h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$")) && h.len() == 60;
    let argon2 = ["$argon2id$", "$argon2i$", "$argon2d$"]
        .iter()
        .any(|p| h.starts_with(p))
        && h.split('$').count() >= 5;
    bcrypt || argon2
}
