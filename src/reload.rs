//! Hot reload: on file change (debounced) and on SIGHUP, validate the file and swap the live
//! state only if it is valid; otherwise keep serving the old config and say why.

use gatehouse_config::Config;
use gatehouse_proxy::tls::CertResolver;
use gatehouse_proxy::{ProxyMetrics, ProxyState, SharedState};
use prometheus::{Gauge, IntCounterVec, Opts, Registry};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Metrics of config reloads.
#[derive(Clone)]
pub(crate) struct ReloadMetrics {
    reloads: IntCounterVec,
    last_success: Gauge,
}

impl ReloadMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let reloads = IntCounterVec::new(
            Opts::new(
                "gatehouse_config_reloads_total",
                "Config reload attempts, by result.",
            ),
            &["result"],
        )?;
        let last_success = Gauge::new(
            "gatehouse_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load (start-up included).",
        )?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        for result in ["success", "error"] {
            reloads.with_label_values(&[result]);
        }
        let m = ReloadMetrics {
            reloads,
            last_success,
        };
        m.mark_success_time();
        Ok(m)
    }

    fn mark_success_time(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_success.set(now);
    }
}

pub(crate) struct Reloader {
    pub path: PathBuf,
    pub state: SharedState,
    pub proxy_metrics: ProxyMetrics,
    pub metrics: ReloadMetrics,
    pub rt: tokio::runtime::Handle,
    /// Certificates from files are reloaded with the config.
    pub certs: Arc<CertResolver>,
    /// Probes are added, changed and removed with the config.
    pub probes: Arc<gatehouse_probes::Probes>,
    /// Alert rules and notifiers follow the config.
    pub alerting: Arc<gatehouse_alerting::Alerting>,
    /// The last reload's error, for the `reload_failed` rule.
    pub reload_error: crate::alerts::ReloadError,
    /// One reload at a time (the file watch and SIGHUP can fire together).
    pub lock: Mutex<()>,
}

impl Reloader {
    /// Reload from the file. Returns whether the new config is now live.
    pub(crate) fn reload(&self, trigger: &str) -> bool {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let (config, file_certs) = match crate::load::load(&self.path) {
            Ok(l) => (Arc::new(l.config), l.file_certs),
            Err(errors) => {
                self.metrics.reloads.with_label_values(&["error"]).inc();
                self.set_error(Some(errors.to_string()));
                tracing::error!(
                    trigger,
                    "config reload rejected; the previous config keeps serving. {errors}"
                );
                return false;
            }
        };
        let current = self.state.load_full();
        if *current.config().as_ref() == *config {
            self.set_error(None);
            // The certificate files may have changed under the same config.
            self.certs
                .set_files(file_certs, config.tls.default_certificate.clone());
            tracing::debug!(
                trigger,
                "config file changed but its content is the same; nothing to do"
            );
            return true;
        }
        warn_about_restart_only_changes(current.config(), &config);
        crate::load::log_warnings(&config);
        let config_probes = config.probes.clone();
        let maintenance = config.alerting.maintenance.clone();
        match ProxyState::build(config, Some(&current), &self.proxy_metrics, &self.rt) {
            Ok(next) => {
                let routes = next.config().routes.len();
                let next_config = next.config().clone();
                self.certs
                    .set_files(file_certs, next.config().tls.default_certificate.clone());
                self.state.store(Arc::new(next));
                self.probes.apply(&config_probes);
                self.probes.set_maintenance(&maintenance);
                self.alerting.apply(next_config);
                self.set_error(None);
                self.metrics.reloads.with_label_values(&["success"]).inc();
                self.metrics.mark_success_time();
                tracing::info!(trigger, routes, "config reloaded");
                true
            }
            Err(e) => {
                self.metrics.reloads.with_label_values(&["error"]).inc();
                self.set_error(Some(e.to_string()));
                tracing::error!(trigger, error = %e, "config reload rejected; the previous config keeps serving");
                false
            }
        }
    }
}

impl Reloader {
    fn set_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.reload_error.lock() {
            *e = error;
        }
    }
}

/// Settings bound at start-up cannot change in place; say so instead of ignoring them silently.
fn warn_about_restart_only_changes(old: &Config, new: &Config) {
    let mut changed = Vec::new();
    if old.listeners != new.listeners {
        changed.push("listeners");
    }
    // admin.tokens, admin.hosts and admin.metrics_open are read per request: they reload.
    if old.admin.listen != new.admin.listen {
        changed.push("admin.listen");
    }
    if old.admin.connections != new.admin.connections {
        changed.push("admin.connections");
    }
    // server.limits and server.underscores_in_headers are read per request: they reload.
    if (
        old.server.threads,
        old.server.grace_period,
        old.server.upstream_keepalive_pool,
    ) != (
        new.server.threads,
        new.server.grace_period,
        new.server.upstream_keepalive_pool,
    ) {
        changed.push("server");
    }
    if old.demo != new.demo {
        changed.push("demo");
    }
    if old.state_dir != new.state_dir {
        changed.push("state_dir");
    }
    if old.telemetry != new.telemetry {
        changed.push("telemetry");
    }
    if old.status_page.as_ref().map(|s| s.listen) != new.status_page.as_ref().map(|s| s.listen) {
        changed.push("status_page.listen");
    }
    if old.status_page.as_ref().map(|s| s.connections)
        != new.status_page.as_ref().map(|s| s.connections)
    {
        changed.push("status_page.connections");
    }
    if old.probes.store != new.probes.store {
        changed.push("store");
    }
    if old.tls.acme != new.tls.acme {
        changed.push("tls.acme");
    }
    if old.log.level != new.log.level || old.log.format != new.log.format {
        changed.push("log.level/log.format");
    }
    if !changed.is_empty() {
        tracing::warn!(
            sections = %changed.join(", "),
            "these settings changed but only take effect after a restart; routes and upstreams were reloaded"
        );
    }
}
