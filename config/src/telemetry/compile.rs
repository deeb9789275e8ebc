//! `telemetry`: OTLP endpoint, sampler and queue bounds; Sentry DSN, sampling and rate limit.

use super::raw::*;
use super::*;
use crate::compiler::Compiler;
use crate::secret::Secret;
use crate::units::{parse_rate, Rate};
use serde_yaml::Value;
use std::time::Duration;

impl Compiler {
    pub(crate) fn telemetry(&mut self, value: Option<Value>) -> TelemetryConfig {
        let raw: RawTelemetry = value
            .and_then(|v| self.section(v, "telemetry"))
            .unwrap_or_default();
        let service_name = raw.service_name.unwrap_or_else(|| "gatehouse".into());
        if service_name.trim().is_empty() {
            self.err("telemetry.service_name", "must not be empty");
        }
        let instance = raw
            .instance
            .or_else(host_name)
            .unwrap_or_else(|| "gatehouse".into());
        for key in raw.resource.keys() {
            if key.trim().is_empty() {
                self.err("telemetry.resource", "attribute names must not be empty");
            }
        }
        TelemetryConfig {
            service_name,
            instance,
            resource: raw.resource,
            signals: raw.signals.unwrap_or(true),
            tracing: raw.tracing.map(|t| self.tracing(t)),
            sentry: raw.sentry.map(|s| self.sentry(s)),
        }
    }

    fn tracing(&mut self, raw: RawTracing) -> TracingConfig {
        const P: &str = "telemetry.tracing";
        let endpoint = otlp_endpoint(&raw.endpoint).unwrap_or_else(|e| {
            self.err(format!("{P}.endpoint"), e);
            String::new()
        });
        let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            self.err(
                format!("{P}.sample_ratio"),
                format!("{sample_ratio} is not between 0.0 and 1.0"),
            );
        }
        let mut headers = Vec::new();
        for (name, value) in raw.headers {
            let ok_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !ok_name {
                self.err(
                    format!("{P}.headers"),
                    format!("`{name}` is not a header name"),
                );
            }
            if value.bytes().any(|b| b < 0x20 && b != b'\t') {
                self.err(
                    format!("{P}.headers.{name}"),
                    "the value contains a control character",
                );
            }
            headers.push((name.to_ascii_lowercase(), Secret(value)));
        }
        let queue_size = raw.queue_size.unwrap_or(2048);
        let batch_size = raw.batch_size.unwrap_or(512);
        if queue_size == 0 {
            self.err(format!("{P}.queue_size"), "must be at least 1");
        }
        if batch_size == 0 || batch_size > queue_size.max(1) {
            self.err(
                format!("{P}.batch_size"),
                format!("must be between 1 and queue_size ({queue_size})"),
            );
        }
        let batch_delay = self.duration(
            raw.batch_delay.as_deref(),
            format!("{P}.batch_delay"),
            Duration::from_secs(2),
        );
        let export_timeout = self.duration(
            raw.export_timeout.as_deref(),
            format!("{P}.export_timeout"),
            Duration::from_secs(10),
        );
        for (d, name) in [
            (batch_delay, "batch_delay"),
            (export_timeout, "export_timeout"),
        ] {
            if d.is_zero() {
                self.err(format!("{P}.{name}"), "must be longer than zero");
            }
        }
        TracingConfig {
            endpoint,
            headers,
            sample_ratio,
            parent_based: raw.parent_based.unwrap_or(true),
            queue_size,
            batch_size,
            batch_delay,
            export_timeout,
        }
    }

    fn sentry(&mut self, raw: RawSentry) -> SentryConfig {
        const P: &str = "telemetry.sentry";
        let dsn = raw.dsn.trim().to_string();
        if let Err(e) = check_dsn(&dsn) {
            self.err(format!("{P}.dsn"), e);
        }
        let sample_rate = raw.sample_rate.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_rate) {
            self.err(
                format!("{P}.sample_rate"),
                format!("{sample_rate} is not between 0.0 and 1.0"),
            );
        }
        let default_rate = Rate {
            count: 30,
            per: Duration::from_secs(60),
        };
        let max_events = match raw.max_events.as_deref() {
            None => default_rate,
            Some(s) => parse_rate(s).unwrap_or_else(|e| {
                self.err(format!("{P}.max_events"), e);
                default_rate
            }),
        };
        let mut sensitive: Vec<String> = DEFAULT_SENSITIVE_QUERY_PARAMS
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (i, p) in raw.sensitive_query_params.iter().enumerate() {
            let p = p.trim().to_ascii_lowercase();
            if p.is_empty() {
                self.err(
                    format!("{P}.sensitive_query_params[{i}]"),
                    "must not be empty",
                );
            } else if !sensitive.contains(&p) {
                sensitive.push(p);
            }
        }
        let environment = raw.environment.unwrap_or_else(|| "production".into());
        if environment.trim().is_empty() {
            self.err(format!("{P}.environment"), "must not be empty");
        }
        SentryConfig {
            dsn: Secret(dsn),
            environment,
            release: raw.release.filter(|r| !r.trim().is_empty()),
            sample_rate,
            max_events,
            upstream_5xx: raw.upstream_5xx.unwrap_or(true),
            sensitive_query_params: sensitive,
        }
    }
}

/// The URL spans are sent to: `/v1/traces` is added to a base URL (as the
/// `OTEL_EXPORTER_OTLP_ENDPOINT` convention does); a URL with another path is kept.
fn otlp_endpoint(url: &str) -> Result<String, String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("`{url}` must start with http:// or https://, e.g. `http://127.0.0.1:4318`")
        })?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(format!("`{url}` has no host"));
    }
    if path.is_empty() || path == "/" {
        Ok(format!("{}/v1/traces", url.trim_end_matches('/')))
    } else {
        Ok(url.to_string())
    }
}

/// A DSN looks like `https://PUBLIC_KEY@HOST[:PORT]/[PATH/]PROJECT_ID`.
fn check_dsn(dsn: &str) -> Result<(), String> {
    const SHAPE: &str =
        "write it as https://PUBLIC_KEY@HOST/PROJECT_ID (Sentry shows it under Client Keys)";
    let rest = dsn
        .strip_prefix("https://")
        .or_else(|| dsn.strip_prefix("http://"))
        .ok_or_else(|| format!("the DSN must start with https:// or http://; {SHAPE}"))?;
    let (key, rest) = rest
        .split_once('@')
        .ok_or_else(|| format!("the DSN has no public key before `@`; {SHAPE}"))?;
    if key.is_empty() {
        return Err(format!("the DSN's public key is empty; {SHAPE}"));
    }
    let project = rest.rsplit('/').next().unwrap_or("");
    if !rest.contains('/') || project.is_empty() {
        return Err(format!("the DSN has no project id; {SHAPE}"));
    }
    Ok(())
}

pub(crate) fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_endpoint_adds_the_signal_path_to_a_base_url() {
        assert_eq!(
            otlp_endpoint("http://127.0.0.1:4318").as_deref(),
            Ok("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            otlp_endpoint("https://otel.example/").as_deref(),
            Ok("https://otel.example/v1/traces")
        );
        assert_eq!(
            otlp_endpoint("https://otel.example/custom/traces").as_deref(),
            Ok("https://otel.example/custom/traces")
        );
        assert!(otlp_endpoint("127.0.0.1:4318").is_err());
        assert!(otlp_endpoint("http:///v1/traces").is_err());
    }

    #[test]
    fn dsn_shape_is_checked() {
        assert!(check_dsn("https://abc@o1.ingest.sentry.io/42").is_ok());
        assert!(check_dsn("http://abc@127.0.0.1:9000/1").is_ok());
        assert!(check_dsn("abc@127.0.0.1/1").is_err());
        assert!(check_dsn("https://127.0.0.1/1").is_err());
        assert!(check_dsn("https://abc@127.0.0.1").is_err());
        assert!(check_dsn("https://abc@127.0.0.1/").is_err());
    }

    fn config(rest: &str) -> Result<crate::Config, crate::ConfigErrors> {
        let base = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes: [{ name: app, upstream: app }]\n";
        crate::Config::from_yaml_with_env(&format!("{base}{rest}"), &|v| {
            (v == "SENTRY_DSN").then(|| "https://key@sentry.example/7".to_string())
        })
    }

    #[test]
    fn defaults_and_a_full_section() {
        let c = config("").expect("valid");
        assert!(c.telemetry.signals);
        assert!(c.telemetry.tracing.is_none() && c.telemetry.sentry.is_none());
        assert_eq!(c.telemetry.service_name, "gatehouse");
        let c = config(
            r#"
telemetry:
  service_name: edge
  instance: web-1
  resource: { deployment.environment: prod }
  tracing:
    endpoint: http://otel:4318
    headers: { x-api-key: abc }
    sample_ratio: 0.25
    parent_based: false
    queue_size: 100
    batch_size: 10
    batch_delay: 1s
    export_timeout: 3s
  sentry:
    dsn: ${SENTRY_DSN}
    max_events: 10/m
    sensitive_query_params: [Order_Token]
"#,
        )
        .expect("valid");
        let t = c.telemetry.tracing.expect("tracing");
        assert_eq!(t.endpoint, "http://otel:4318/v1/traces");
        assert_eq!(
            t.headers,
            vec![("x-api-key".to_string(), Secret("abc".into()))]
        );
        assert_eq!((t.sample_ratio, t.parent_based), (0.25, false));
        assert_eq!((t.queue_size, t.batch_size), (100, 10));
        assert_eq!(t.export_timeout, Duration::from_secs(3));
        let s = c.telemetry.sentry.expect("sentry");
        assert_eq!(s.dsn.0, "https://key@sentry.example/7");
        assert_eq!(s.environment, "production");
        assert_eq!(s.max_events.count, 10);
        assert!(s
            .sensitive_query_params
            .contains(&"order_token".to_string()));
        assert!(s.sensitive_query_params.contains(&"token".to_string()));
    }

    #[test]
    fn mistakes_are_reported_with_their_paths() {
        let e = config(
            r#"
telemetry:
  tracing:
    endpoint: otel:4318
    sample_ratio: 1.5
    queue_size: 4
    batch_size: 8
    batch_delay: 0s
  sentry:
    dsn: https://sentry.example/1
    sample_rate: -1
    max_events: lots
"#,
        )
        .expect_err("invalid");
        let text = e.to_string();
        for (path, words) in [
            ("telemetry.tracing.endpoint", "http://"),
            ("telemetry.tracing.sample_ratio", "between 0.0 and 1.0"),
            ("telemetry.tracing.batch_size", "between 1 and queue_size"),
            ("telemetry.tracing.batch_delay", "longer than zero"),
            ("telemetry.sentry.dsn", "public key"),
            ("telemetry.sentry.sample_rate", "between 0.0 and 1.0"),
            ("telemetry.sentry.max_events", "not a rate"),
        ] {
            assert!(
                e.errors
                    .iter()
                    .any(|err| err.path == path && err.message.contains(words)),
                "no error at {path} mentioning {words:?} in:\n{text}"
            );
        }
        // An unknown key is its own error (reported alone: the section did not parse).
        let e = config("telemetry: { metrics: true }\n").expect_err("unknown key");
        assert!(e.to_string().contains("metrics"), "{e}");
    }
}
