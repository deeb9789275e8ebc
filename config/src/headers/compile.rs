//! `policies.*.headers`: security response headers, built into final header values once.

use super::raw::{RawCsp, RawHeaders, RawHsts};
use super::{SecurityHeaders, CSP_REPORT_PATH};
use crate::compiler::Compiler;
use serde_yaml::Value;

/// A Content-Security-Policy as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CspOut {
    name: &'static str,
    value: String,
    /// `Reporting-Endpoints` value, when reports go somewhere.
    endpoints: Option<String>,
    collector: bool,
}

/// Header settings of one policy; `None` = not set here (an earlier policy or the default
/// applies), `Some(None)` = turned off.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderParts {
    hsts: Option<Option<String>>,
    csp: Option<Option<CspOut>>,
    nosniff: Option<bool>,
    frame: Option<Option<String>>,
    referrer: Option<Option<String>>,
    permissions: Option<Option<String>>,
    coop: Option<Option<String>>,
    corp: Option<Option<String>>,
    remove: Option<Vec<String>>,
}

const DEFAULT_HSTS: &str = "max-age=31536000; includeSubDomains";
const YEAR_SECS: u64 = 31_536_000;

/// The headers every route gets when no policy says otherwise.
pub(crate) fn default_security_headers() -> SecurityHeaders {
    HeaderParts::default().finish()
}

/// A setting written in a later policy replaces the earlier one; an unset one keeps it.
pub(crate) fn over<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
    if b.is_some() {
        a.clone_from(b);
    }
}

impl HeaderParts {
    /// Later settings win, field by field.
    pub(crate) fn overlay(&mut self, top: &HeaderParts) {
        over(&mut self.hsts, &top.hsts);
        over(&mut self.csp, &top.csp);
        over(&mut self.nosniff, &top.nosniff);
        over(&mut self.frame, &top.frame);
        over(&mut self.referrer, &top.referrer);
        over(&mut self.permissions, &top.permissions);
        over(&mut self.coop, &top.coop);
        over(&mut self.corp, &top.corp);
        over(&mut self.remove, &top.remove);
    }

    pub(crate) fn finish(&self) -> SecurityHeaders {
        let pick = |v: &Option<Option<String>>, default: &str| match v {
            None => Some(default.to_string()),
            Some(v) => v.clone(),
        };
        let mut always = Vec::new();
        let mut push = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                always.push((name.to_string(), v));
            }
        };
        if self.nosniff.unwrap_or(true) {
            push("x-content-type-options", Some("nosniff".into()));
        }
        push("x-frame-options", pick(&self.frame, "SAMEORIGIN"));
        push(
            "referrer-policy",
            pick(&self.referrer, "strict-origin-when-cross-origin"),
        );
        push(
            "cross-origin-opener-policy",
            pick(&self.coop, "same-origin"),
        );
        push(
            "cross-origin-resource-policy",
            pick(&self.corp, "same-origin"),
        );
        push("permissions-policy", self.permissions.clone().flatten());
        let csp = self.csp.clone().flatten();
        if let Some(csp) = &csp {
            push(csp.name, Some(csp.value.clone()));
            push("reporting-endpoints", csp.endpoints.clone());
        }
        SecurityHeaders {
            hsts: pick(&self.hsts, DEFAULT_HSTS),
            always,
            csp_collector: csp.is_some_and(|c| c.collector),
            remove: self
                .remove
                .clone()
                .unwrap_or_else(|| vec!["server".into(), "x-powered-by".into()]),
        }
    }
}

/// A header value must be visible ASCII (and inner spaces); anything else is refused by clients
/// or splits the response.
pub(crate) fn valid_value(v: &str) -> bool {
    !v.is_empty() && v.trim() == v && v.bytes().all(|b| (0x20..0x7f).contains(&b))
}

pub(crate) fn valid_token(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

const CSP_DIRECTIVES: &[&str] = &[
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "fenced-frame-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "sandbox",
    "upgrade-insecure-requests",
    "block-all-mixed-content",
    "require-trusted-types-for",
    "trusted-types",
    "webrtc",
];

const CSP_KEYWORDS: &[&str] = &[
    "self",
    "none",
    "unsafe-inline",
    "unsafe-eval",
    "unsafe-hashes",
    "strict-dynamic",
    "report-sample",
    "wasm-unsafe-eval",
    "inline-speculation-rules",
];

impl Compiler {
    pub(crate) fn headers(&mut self, raw: RawHeaders, path: &str) -> HeaderParts {
        let mut out = HeaderParts {
            nosniff: raw.content_type_options,
            ..Default::default()
        };
        if let Some(v) = raw.hsts {
            let p = format!("{path}.hsts");
            out.hsts = match v {
                Value::Bool(false) => Some(None),
                Value::Bool(true) => Some(Some(DEFAULT_HSTS.into())),
                other => self.section::<RawHsts>(other, &p).map(|h| self.hsts(h, &p)),
            };
        }
        if let Some(v) = raw.content_security_policy {
            let p = format!("{path}.content_security_policy");
            out.csp = match v {
                Value::Bool(false) => Some(None),
                other => self
                    .section::<RawCsp>(other, &p)
                    .and_then(|c| self.csp(c, &p))
                    .map(Some),
            };
        }
        out.frame = self.choice(
            raw.frame_options,
            &format!("{path}.frame_options"),
            &[("deny", "DENY"), ("sameorigin", "SAMEORIGIN")],
        );
        out.referrer = self.choice(
            raw.referrer_policy,
            &format!("{path}.referrer_policy"),
            &[
                "no-referrer",
                "no-referrer-when-downgrade",
                "origin",
                "origin-when-cross-origin",
                "same-origin",
                "strict-origin",
                "strict-origin-when-cross-origin",
                "unsafe-url",
            ]
            .map(|v| (v, v)),
        );
        out.coop = self.choice(
            raw.cross_origin_opener_policy,
            &format!("{path}.cross_origin_opener_policy"),
            &["same-origin", "same-origin-allow-popups", "unsafe-none"].map(|v| (v, v)),
        );
        out.corp = self.choice(
            raw.cross_origin_resource_policy,
            &format!("{path}.cross_origin_resource_policy"),
            &["same-origin", "same-site", "cross-origin"].map(|v| (v, v)),
        );
        if let Some(v) = raw.permissions_policy {
            let p = format!("{path}.permissions_policy");
            out.permissions = match v {
                Value::Bool(false) => Some(None),
                other => self.permissions(other, &p).map(Some),
            };
        }
        if let Some(list) = raw.remove {
            let mut names = Vec::new();
            for (i, n) in list.iter().enumerate() {
                if valid_token(n) {
                    names.push(n.to_ascii_lowercase());
                } else {
                    self.err(
                        format!("{path}.remove[{i}]"),
                        format!("`{n}` is not a header name"),
                    );
                }
            }
            out.remove = Some(names);
        }
        out
    }

    /// A setting that is one of `choices` (as written → as sent) or `false`.
    fn choice(
        &mut self,
        v: Option<Value>,
        path: &str,
        choices: &[(&str, &str)],
    ) -> Option<Option<String>> {
        let listed = || choices.iter().map(|c| c.0).collect::<Vec<_>>().join(", ");
        match v? {
            Value::Bool(false) => Some(None),
            Value::String(s) => {
                let found = choices
                    .iter()
                    .find(|c| c.0.eq_ignore_ascii_case(s.trim()))
                    .map(|c| c.1.to_string());
                if found.is_none() {
                    self.err(path, format!("`{s}` is not one of: {}, or false", listed()));
                }
                found.map(Some)
            }
            _ => {
                self.err(path, format!("must be one of: {}, or false", listed()));
                None
            }
        }
    }

    fn hsts(&mut self, h: RawHsts, path: &str) -> Option<String> {
        let max_age = self
            .duration(
                h.max_age.as_deref(),
                format!("{path}.max_age"),
                std::time::Duration::from_secs(YEAR_SECS),
            )
            .as_secs();
        let subdomains = h.include_subdomains.unwrap_or(true);
        let preload = h.preload.unwrap_or(false);
        if preload && (max_age < YEAR_SECS || !subdomains) {
            self.err(
                format!("{path}.preload"),
                "the HSTS preload list needs max_age of at least 365d and include_subdomains: true",
            );
        }
        let mut v = format!("max-age={max_age}");
        if subdomains {
            v.push_str("; includeSubDomains");
        }
        if preload {
            v.push_str("; preload");
        }
        Some(v)
    }

    fn csp(&mut self, c: RawCsp, path: &str) -> Option<CspOut> {
        let before = self.errors.len();
        let mut parts = Vec::new();
        for (k, v) in &c.directives {
            let name = k.as_str().unwrap_or_default().to_ascii_lowercase();
            let dpath = format!("{path}.directives.{name}");
            if name == "report-uri" || name == "report-to" {
                self.err(&dpath, "set reports with `report_uri` beside `directives`");
                continue;
            }
            if !CSP_DIRECTIVES.contains(&name.as_str()) {
                self.err(
                    &dpath,
                    format!(
                        "`{name}` is not a CSP directive; known: {}",
                        CSP_DIRECTIVES.join(", ")
                    ),
                );
                continue;
            }
            let sources: Vec<String> = match v {
                Value::Null => Vec::new(),
                Value::Sequence(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    })
                    .collect(),
                _ => {
                    self.err(
                        &dpath,
                        "must be a list of sources, e.g. [\"'self'\", \"https://cdn.example.com\"]",
                    );
                    continue;
                }
            };
            let mut d = name.clone();
            for (i, s) in sources.iter().enumerate() {
                let spath = format!("{dpath}[{i}]");
                let bare = s.to_ascii_lowercase();
                if CSP_KEYWORDS.contains(&bare.as_str())
                    || bare.starts_with("nonce-")
                    || bare.starts_with("sha256-")
                    || bare.starts_with("sha384-")
                    || bare.starts_with("sha512-")
                {
                    self.err(
                        spath,
                        format!("`{s}` is a keyword; write it in single quotes: \"'{s}'\""),
                    );
                } else if s.is_empty() || !valid_value(s) || s.contains([' ', ';', ',']) {
                    self.err(
                        spath,
                        format!("`{s}` is not a CSP source (no spaces, `;` or `,`)"),
                    );
                } else {
                    d.push(' ');
                    d.push_str(s);
                }
            }
            parts.push(d);
        }
        if parts.is_empty() && self.errors.len() == before {
            self.err(
                format!("{path}.directives"),
                "needs at least one directive, e.g. `default-src: [\"'self'\"]`",
            );
        }
        let mut collector = false;
        let mut endpoints = None;
        if let Some(uri) = c.report_uri.as_deref().map(str::trim) {
            let target = if uri == "gatehouse" {
                collector = true;
                CSP_REPORT_PATH.to_string()
            } else if (uri.starts_with("https://") || uri.starts_with("http://"))
                && valid_value(uri)
                && !uri.contains([' ', ';', ',', '"'])
            {
                uri.to_string()
            } else {
                self.err(
                    format!("{path}.report_uri"),
                    format!("`{uri}` is neither `gatehouse` (the built-in collector) nor an http(s) URL"),
                );
                String::new()
            };
            parts.push(format!("report-uri {target}"));
            parts.push("report-to csp".into());
            endpoints = Some(format!("csp=\"{target}\""));
        }
        if self.errors.len() > before {
            return None;
        }
        Some(CspOut {
            name: if c.report_only.unwrap_or(false) {
                "content-security-policy-report-only"
            } else {
                "content-security-policy"
            },
            value: parts.join("; "),
            endpoints,
            collector,
        })
    }

    fn permissions(&mut self, v: Value, path: &str) -> Option<String> {
        let Value::Mapping(map) = v else {
            self.err(path, "must map features to allowlists, e.g. `{ camera: [], geolocation: [self] }`, or be false");
            return None;
        };
        let before = self.errors.len();
        let mut parts = Vec::new();
        for (k, v) in &map {
            let feature = k.as_str().unwrap_or_default();
            let fpath = format!("{path}.{feature}");
            if feature.is_empty()
                || !feature
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                self.err(&fpath, format!("`{feature}` is not a feature name"));
                continue;
            }
            let items: Vec<String> = match v {
                Value::Null => Vec::new(),
                Value::Sequence(s) => s
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    self.err(
                        &fpath,
                        "must be a list: [] (nobody), [self], [\"*\"] or origins",
                    );
                    continue;
                }
            };
            if items.iter().any(|i| i == "*") {
                parts.push(format!("{feature}=*"));
                continue;
            }
            let mut list = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if item == "self" || item == "src" {
                    list.push(item.clone());
                } else if crate::policy::origin::Origin::parse(item).is_some() {
                    list.push(format!("\"{item}\""));
                } else {
                    self.err(
                        format!("{fpath}[{i}]"),
                        format!(
                            "`{item}` is not `self`, `*` or an origin like https://example.com"
                        ),
                    );
                }
            }
            parts.push(format!("{feature}=({})", list.join(" ")));
        }
        (self.errors.len() == before && !parts.is_empty()).then(|| parts.join(", "))
    }
}
