//! `status_page`: listener, host, path, and components pointing at existing probes and routes.

use super::raw::RawStatusPage;
use super::*;
use crate::compiler::Compiler;
use crate::probes::ProbesConfig;
use crate::routes::Route;
use serde_yaml::Value;
use std::collections::HashSet;

/// `API Gateway` → `api-gateway`.
pub(crate) fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

impl Compiler {
    pub(crate) fn status_page(
        &mut self,
        value: Option<Value>,
        probes: &ProbesConfig,
        routes: &[Route],
    ) -> Option<StatusPageConfig> {
        let raw: RawStatusPage = self.section(value?, "status_page")?;
        let listen = self.socket_addr(&raw.listen, "status_page.listen".into());
        let connections = self.connection_limits(
            raw.connections,
            "status_page",
            crate::server::ConnectionLimits::STATUS_PAGE,
        );
        let path = match raw.path.as_deref().map(str::trim) {
            None | Some("") | Some("/") => "/".to_string(),
            Some(p) if p.starts_with('/') && !p.contains(['?', '#', ' ']) => {
                p.trim_end_matches('/').to_string()
            }
            Some(p) => {
                self.err(
                    "status_page.path",
                    format!("`{p}` is not a path; write e.g. `/` or `/status`"),
                );
                "/".to_string()
            }
        };
        let probe_names: HashSet<&str> = probes.probes.iter().map(|p| p.name.as_str()).collect();
        let route_names: HashSet<&str> = routes.iter().map(|r| r.name.as_str()).collect();
        let mut slugs = HashSet::new();
        let mut components = Vec::new();
        for (i, c) in raw.components.into_iter().enumerate() {
            let path = format!("status_page.components[{i}]");
            if c.name.trim().is_empty() {
                self.err(format!("{path}.name"), "must not be empty");
            }
            let slug = c.slug.unwrap_or_else(|| slugify(&c.name));
            if slug.is_empty() || slug != slugify(&slug) {
                self.err(
                    format!("{path}.slug"),
                    format!("`{slug}` is not a slug; use lower-case letters, digits and `-`"),
                );
            }
            if !slugs.insert(slug.clone()) {
                self.err(
                    format!("{path}.name"),
                    format!("two components share the slug `{slug}`; give one a `slug`"),
                );
            }
            if c.probes.is_empty() && c.routes.is_empty() {
                self.err(
                    path.clone(),
                    "a component needs `probes`, `routes` or both to have a status",
                );
            }
            for (j, p) in c.probes.iter().enumerate() {
                if !probe_names.contains(p.as_str()) {
                    self.err(
                        format!("{path}.probes[{j}]"),
                        format!("unknown probe `{p}`"),
                    );
                }
            }
            for (j, r) in c.routes.iter().enumerate() {
                if !route_names.contains(r.as_str()) {
                    self.err(
                        format!("{path}.routes[{j}]"),
                        format!("unknown route `{r}`"),
                    );
                }
            }
            components.push(Component {
                name: c.name,
                slug,
                group: c.group.unwrap_or_else(|| "Services".into()),
                description: c.description,
                probes: c.probes,
                routes: c.routes,
            });
        }
        Some(StatusPageConfig {
            listen: listen?,
            host: raw.host.map(|h| h.to_ascii_lowercase()),
            path,
            title: raw.title.unwrap_or_else(|| "Status".into()),
            description: raw.description,
            show_errors: raw.show_errors,
            components,
            connections,
        })
    }
}
