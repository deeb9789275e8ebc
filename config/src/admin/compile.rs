//! `admin`: the listen address, bearer tokens with read and write scopes (inline, usually
//! `${ENV}`, or `token_file`), extra `Host` names for the DNS-rebinding guard, and whether
//! `/metrics` is open. A listener reachable from other machines must have a token.

use super::raw::{RawAdmin, RawAdminToken};
use super::{AdminConfig, AdminToken};
use crate::compiler::{Compiler, NamedList};
use crate::defaults;
use crate::secret::Secret;

/// Shortest accepted token: long enough that guessing is hopeless.
const MIN_TOKEN_LEN: usize = 16;

impl Compiler {
    pub(crate) fn admin(&mut self, raw: RawAdmin) -> Option<AdminConfig> {
        let listen = raw.listen.as_deref().unwrap_or(defaults::ADMIN_LISTEN);
        let listen = self.socket_addr(listen, "admin.listen".into());
        let mut tokens: Vec<AdminToken> = Vec::new();
        let mut names = NamedList::new("admin.tokens", "token name");
        for (i, item) in raw.tokens.into_iter().enumerate() {
            let Some((path, t)) = names.item::<RawAdminToken>(self, i, item) else {
                continue;
            };
            let Some(value) = self.admin_token_value(&t, &path) else {
                continue;
            };
            if tokens.iter().any(|o| o.token.0 == value) {
                self.err(
                    &path,
                    "has the same value as another token; give each client its own",
                );
                continue;
            }
            tokens.push(AdminToken {
                name: t.name,
                token: Secret(value),
                scope: t.scope.unwrap_or_default(),
            });
        }
        let mut hosts = Vec::new();
        for (i, h) in raw.hosts.iter().enumerate() {
            if let Some(host) = host_name(h) {
                hosts.push(host);
            } else {
                self.err(
                    format!("admin.hosts[{i}]"),
                    format!("`{h}` is not a host name; write a name such as `admin.internal`, without scheme or path"),
                );
            }
        }
        let connections = self.connection_limits(
            raw.connections,
            "admin",
            crate::server::ConnectionLimits::ADMIN,
        );
        let listen = listen?;
        if !listen.ip().is_loopback() && tokens.is_empty() {
            self.err(
                "admin.listen",
                format!(
                    "{listen} is reachable from other machines, but `admin.tokens` is empty: anyone could read probe targets, post announcements and silence alerts; add a token (`tokens: [{{ name: ops, token: \"${{GATEHOUSE_ADMIN_TOKEN}}\", scope: write }}]`) or listen on 127.0.0.1"
                ),
            );
        }
        Some(AdminConfig {
            listen,
            tokens,
            hosts,
            metrics_open: raw.metrics_open.unwrap_or(false),
            connections,
        })
    }

    /// The token's value from `token` or `token_file` (exactly one), checked.
    fn admin_token_value(&mut self, t: &RawAdminToken, path: &str) -> Option<String> {
        let (value, at) = match (&t.token, &t.token_file) {
            (Some(v), None) => (v.trim().to_string(), format!("{path}.token")),
            (None, Some(file)) => {
                let at = format!("{path}.token_file");
                match std::fs::read_to_string(file) {
                    Ok(text) => (text.trim().to_string(), at),
                    Err(e) => {
                        self.err(at, format!("cannot read {file}: {e}"));
                        return None;
                    }
                }
            }
            (Some(_), Some(_)) => {
                self.err(path, "set `token` or `token_file`, not both");
                return None;
            }
            (None, None) => {
                self.err(
                    path,
                    "no token: set `token: \"${ENV_VAR}\"` or `token_file: /path`",
                );
                return None;
            }
        };
        if value.chars().count() < MIN_TOKEN_LEN {
            self.err(
                at,
                format!("must be at least {MIN_TOKEN_LEN} characters; generate one with `openssl rand -hex 32`"),
            );
            return None;
        }
        if !value.chars().all(|c| c.is_ascii_graphic()) {
            self.err(
                at,
                "must be one line of visible ASCII characters without spaces (it is sent in a header)",
            );
            return None;
        }
        Some(value)
    }
}

/// A name or IP address as `Host` carries it, lower case, without a trailing dot; IPv6 in
/// brackets. `None` for anything else (a port, a scheme, a path).
fn host_name(h: &str) -> Option<String> {
    let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    if let Ok(std::net::IpAddr::V6(ip)) = bare.parse::<std::net::IpAddr>() {
        return Some(format!("[{ip}]"));
    }
    let name = !h.is_empty()
        && !h.starts_with(['-', '.'])
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    name.then_some(h)
}

#[cfg(test)]
mod tests {
    use crate::admin::AdminScope;
    use crate::Config;

    const BASE: &str = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes: [{ name: app, upstream: app }]\n";

    fn env(name: &str) -> Option<String> {
        (name == "ADMIN_TOKEN").then(|| "0123456789abcdef-write".to_string())
    }

    fn parse(extra: &str) -> Result<Config, Vec<(String, Option<usize>, String)>> {
        Config::from_yaml_with_env(&format!("{BASE}{extra}"), &env).map_err(|e| {
            e.errors
                .into_iter()
                .map(|e| (e.path, e.line, e.message))
                .collect()
        })
    }

    /// A path in the temporary directory unique to this process and `name`.
    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("gatehouse-admin-{}-{name}", std::process::id()))
    }

    #[test]
    fn defaults_are_loopback_without_tokens() {
        let c = parse("").unwrap();
        assert_eq!(c.admin.listen.to_string(), "127.0.0.1:9901");
        assert!(c.admin.tokens.is_empty());
        assert!(c.admin.hosts.is_empty());
        assert!(!c.admin.metrics_open);
        assert_eq!(c.probes.public_heartbeat_path, None);
    }

    #[test]
    fn tokens_from_env_and_file_with_scopes() {
        let file = temp_path("read.token");
        std::fs::write(&file, "  fedcba9876543210-read\n").unwrap();
        let c = parse(&format!(
            "admin:\n  listen: 0.0.0.0:9901\n  tokens:\n    - {{ name: ops, token: \"${{ADMIN_TOKEN}}\", scope: write }}\n    - {{ name: prom, token_file: {} }}\n  hosts: [Admin.Internal., \"::1\"]\n  metrics_open: true\nprobing: {{ public_heartbeat_path: /.well-known/gatehouse/heartbeat/ }}\n",
            file.display()
        ))
        .unwrap();
        let t = &c.admin.tokens;
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].name.as_str(), t[0].token.0.as_str(), t[0].scope),
            ("ops", "0123456789abcdef-write", AdminScope::Write)
        );
        assert_eq!(
            (t[1].name.as_str(), t[1].token.0.as_str(), t[1].scope),
            ("prom", "fedcba9876543210-read", AdminScope::Read)
        );
        assert_eq!(c.admin.hosts, vec!["admin.internal", "[::1]"]);
        assert!(c.admin.metrics_open);
        assert_eq!(
            c.probes.public_heartbeat_path.as_deref(),
            Some("/.well-known/gatehouse/heartbeat")
        );
        // Debug output never shows a token.
        assert!(!format!("{:?}", c.admin).contains("0123456789abcdef"));
    }

    #[test]
    fn open_listener_without_token_is_refused_with_its_line() {
        let errors = parse("admin:\n  listen: \"0.0.0.0:9901\"\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (path, line, message) = &errors[0];
        assert_eq!(path, "admin.listen");
        assert_eq!(*line, Some(6));
        assert!(message.contains("admin.tokens"), "{message}");
        // Loopback (v4 or v6) without tokens stays as it was.
        parse("admin: { listen: \"[::1]:9901\" }\n").unwrap();
    }

    #[test]
    fn token_mistakes_name_their_path() {
        let missing = temp_path("missing.token");
        let errors = parse(&format!(
            "admin:\n  tokens:\n    - {{ name: a, token: short }}\n    - {{ name: b }}\n    - {{ name: c, token: \"0123456789abcdef-c\", token_file: /x }}\n    - {{ name: d, token_file: {} }}\n    - {{ name: e, token: \"0123456789abcdef e\" }}\n    - {{ name: f, token: \"0123456789abcdef-f\", scope: admin }}\n    - {{ name: g, token: \"${{ADMIN_TOKEN}}\" }}\n    - {{ name: g, token: \"${{ADMIN_TOKEN}}\" }}\n    - {{ name: h, token: \"${{NOT_SET}}\" }}\n  hosts: [\"https://admin.internal/\", \"admin.internal:9901\"]\n",
            missing.display()
        ))
        .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "admin.tokens[0].token",
                "admin.tokens[1]",
                "admin.tokens[2]",
                "admin.tokens[3].token_file",
                "admin.tokens[4].token",
                "admin.tokens[5].scope",
                "admin.tokens[7].name",
                "admin.tokens[7]",
                "admin.tokens[8].token",
                "admin.hosts[0]",
                "admin.hosts[1]",
            ],
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| e.1.is_some()), "{errors:?}");
        for e in &errors {
            assert!(!e.2.contains("0123456789abcdef"), "a token in {e:?}");
        }
        assert!(errors[0].2.contains("at least 16"));
        assert!(errors[3].2.contains("cannot read"));
    }

    #[test]
    fn public_heartbeat_path_must_be_a_clean_absolute_path() {
        for bad in ["heartbeat", "/", "/a/../b", "/a//b", "/a?b", "\"/a b\""] {
            let errors =
                parse(&format!("probing: {{ public_heartbeat_path: {bad} }}\n")).unwrap_err();
            assert_eq!(errors[0].0, "probing.public_heartbeat_path", "{bad}");
        }
    }
}
