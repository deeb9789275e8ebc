//! `gatehouse run`: load the config, start the control plane (admin listener, demo backend,
//! reloads, health checks) on its own runtime, then hand the listeners to Pingora.

use crate::load::{self, Loaded};
use crate::reload::{ReloadMetrics, Reloader};
use crate::shutdown::DrainOnSignal;
use crate::{demo, logging};
use anyhow::Context;
use arc_swap::ArcSwap;
use gatehouse_alerting::notify::{Notifiers, NotifyMetrics};
use gatehouse_alerting::{AlertMetrics, Alerting, Sources};
use gatehouse_probes::Probes;
use gatehouse_proxy::acme::{AcmeManager, AcmeMetrics, Http01Tokens};
use gatehouse_proxy::caps::{Capped, ConnectionCaps};
use gatehouse_proxy::handshake::TlsGate;
use gatehouse_proxy::tls::{CertResolver, TlsMetrics};
use gatehouse_proxy::{Gateway, ProxyMetrics, ProxyState, SharedState, Telemetry};
use gatehouse_web::admin::{self, AdminState};
use gatehouse_web::admin_auth::AdminGuard;
use gatehouse_web::listener::ListenerMetrics;
use gatehouse_web::status::{self, StatusPage};
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use prometheus::{IntGaugeVec, Opts, Registry};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes a proxy connection buffers before writing to the socket (see the listeners below).
const WRITE_BUFFER: usize = 4096;

pub(crate) fn run(path: &Path) -> anyhow::Result<()> {
    // Exactly one crypto provider, before anything touches rustls: ring, which Pingora's
    // rustls listeners and instant-acme (built without aws-lc-rs) both use.
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        anyhow::bail!("a rustls crypto provider was already installed");
    }
    let Loaded { config, file_certs } = load::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    logging::init(&config.log)?;
    load::log_warnings(&config);

    let registry = Registry::new();
    let proxy_metrics = ProxyMetrics::register(&registry)?;
    let reload_metrics = ReloadMetrics::register(&registry)?;
    let tls_metrics = TlsMetrics::register(&registry)?;
    let acme_metrics = AcmeMetrics::register(&registry)?;
    let listener_metrics = ListenerMetrics::register(&registry)?;
    let telemetry = Arc::new(Telemetry::start(&config.telemetry, &registry)?);
    let build_info = IntGaugeVec::new(
        Opts::new(
            "gatehouse_build_info",
            "Always 1; labels carry the running version.",
        ),
        &["version"],
    )?;
    registry.register(Box::new(build_info.clone()))?;
    build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);

    let probe_metrics = gatehouse_probes::ProbeMetrics::register(&registry)?;
    let mut cluster = crate::cluster::start(&config.probes.store, &registry)?;
    let probe_store = gatehouse_probes::open_store(
        &config.probes.store,
        &probe_metrics,
        cluster.as_ref().map(|c| &c.pg),
    );

    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gatehouse-control")
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;

    // Fail early and clearly when a listener's address is taken.
    for (i, l) in config.listeners.iter().enumerate() {
        std::net::TcpListener::bind(l.address)
            .with_context(|| format!("listeners[{i}] `{}`: cannot bind {}", l.name, l.address))?;
    }

    let ready = Arc::new(AtomicBool::new(false));
    let certs = CertResolver::new(tls_metrics.clone());
    certs.set_files(file_certs, config.tls.default_certificate.clone());
    let acme_tokens = match &cluster {
        Some(c) => Http01Tokens::shared(c.pg.clone()),
        None => Http01Tokens::default(),
    };
    let mut acme_manager = None;
    if let Some(acme) = &config.tls.acme {
        let manager = AcmeManager::new(
            acme,
            &config.state_dir,
            certs.clone(),
            acme_tokens.clone(),
            acme_metrics,
            cluster
                .as_ref()
                .map(|c| (c.pg.clone(), c.instance.as_str())),
        )?;
        // Stored certificates are served from the first handshake; orders run in the background.
        manager.start(control.handle(), ready.clone());
        acme_manager = Some(manager);
    }

    let probes = Arc::new(
        Probes::start(
            &config.probes,
            probe_store,
            probe_metrics,
            control.handle().clone(),
        )
        .context("cannot start the probes")?,
    );
    probes.set_maintenance(&config.alerting.maintenance);

    let config = Arc::new(config);
    let reload_error = crate::alerts::ReloadError::default();
    let notifiers = Notifiers::new(
        &config.alerting.notifiers,
        NotifyMetrics::register(&registry)?,
    )
    .map_err(|e| anyhow::anyhow!("alerting.notifiers: {e}"))?;
    let sources = Sources {
        signals: Some(Arc::new(proxy_metrics.traffic().clone())),
        facts: Arc::new(crate::alerts::GatehouseFacts {
            certs: certs.clone(),
            acme: acme_manager,
            reload_error: reload_error.clone(),
            probes: probes.clone(),
        }),
    };
    let alert_metrics = AlertMetrics::register(&registry)?;
    let alerting = match cluster.as_mut() {
        None => Alerting::start(
            config.clone(),
            sources,
            notifiers,
            alert_metrics,
            control.handle().clone(),
        ),
        Some(c) => Alerting::start_clustered(
            config.clone(),
            c.lead(control.handle()),
            sources,
            notifiers,
            alert_metrics,
            control.handle().clone(),
        ),
    };
    let alerting = Arc::new(alerting.context("cannot start alerting")?);
    control.spawn(crate::alerts::bridge(probes.clone(), alerting.clone()));
    let state = ProxyState::build(config.clone(), None, &proxy_metrics, control.handle())?;
    let shared: SharedState = Arc::new(ArcSwap::from_pointee(state));
    let draining = Arc::new(AtomicBool::new(false));

    let admin_listener = control
        .block_on(tokio::net::TcpListener::bind(config.admin.listen))
        .with_context(|| format!("admin.listen: cannot bind {}", config.admin.listen))?;
    tracing::info!(
        address = %admin_listener.local_addr()?,
        tokens = config.admin.tokens.len(),
        metrics_open = config.admin.metrics_open,
        "admin listener: /healthz /readyz /metrics /api/v1"
    );
    control.spawn(admin::serve(
        admin_listener,
        config.admin.connections,
        listener_metrics.clone(),
        AdminState {
            registry: registry.clone(),
            ready: ready.clone(),
            draining: draining.clone(),
            signals: Arc::new(proxy_metrics.traffic().clone()),
            probes: probes.clone(),
            alerting: alerting.clone(),
            shared: shared.clone(),
            guard: Arc::new(AdminGuard::new(&registry)?),
        },
    ));
    control.spawn(proxy_metrics.traffic().clone().run_ticker());
    control.spawn(logging::report_suppressed());
    if let Some(page) = &config.status_page {
        let listener = control
            .block_on(tokio::net::TcpListener::bind(page.listen))
            .with_context(|| format!("status_page.listen: cannot bind {}", page.listen))?;
        tracing::info!(address = %page.listen, path = %page.path, "status page listening");
        control.spawn(status::serve(
            listener,
            page.connections,
            listener_metrics.clone(),
            StatusPage::new(shared.clone(), probes.clone(), alerting.clone()),
        ));
    }

    if let Some(d) = &config.demo {
        let listener = control
            .block_on(tokio::net::TcpListener::bind(d.listen))
            .with_context(|| format!("demo.listen: cannot bind {}", d.listen))?;
        tracing::info!(address = %d.listen, "demo backend listening");
        control.spawn(demo::serve(
            listener,
            d.connections,
            listener_metrics.clone(),
        ));
    }

    let reloader = Arc::new(Reloader {
        path: path.to_path_buf(),
        state: shared.clone(),
        proxy_metrics: proxy_metrics.clone(),
        metrics: reload_metrics,
        rt: control.handle().clone(),
        certs: certs.clone(),
        probes: probes.clone(),
        alerting: alerting.clone(),
        reload_error,
        lock: Mutex::new(()),
    });
    let _watch = {
        let r = reloader.clone();
        match crate::watch::watch_file(path, Duration::from_millis(200), move || {
            r.reload("file change");
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, file = %path.display(), "cannot watch the config file; reload with SIGHUP instead");
                None
            }
        }
    };
    {
        let r = reloader.clone();
        control.spawn(async move {
            let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads happen on file change only");
                    return;
                }
            };
            while hup.recv().await.is_some() {
                let r = r.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload("SIGHUP")).await;
            }
        });
    }
    control.spawn(mark_ready_when_listening(
        config.listeners.iter().map(|l| l.address).collect(),
        ready.clone(),
    ));

    // Listeners are bound once; redirects go to the TLS port actually served.
    let https_port = config
        .listeners
        .iter()
        .find(|l| l.tls)
        .map(|l| l.address.port());
    let conf = ServerConf {
        threads: config.server.threads,
        // Draining is done before Pingora is told to stop (see shutdown.rs).
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        // Idle upstream connections kept, over all upstreams: Pingora's pool is one LRU of
        // this size times `threads` (per worker, as nginx's upstream keepalive).
        upstream_keepalive_pool_size: config.server.upstream_keepalive_pool,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy(
        &server.configuration,
        Gateway::new(shared.clone(), proxy_metrics.clone(), draining.clone())
            .with_tls(certs.clone(), acme_tokens, https_port)
            .with_telemetry(telemetry.clone())
            .with_heartbeats(Arc::new(crate::admin_heartbeat::ProbeBeats(probes.clone()))),
    );
    // A graceful close after this many requests on one connection (nginx:
    // keepalive_requests), and HTTP/2 connections closed when idle and held to a stream
    // limit. These are read at start.
    let mut options = pingora::apps::HttpServerOptions::default();
    // Pingora counts reuses: N requests are the first and N - 1 reuses.
    options.keepalive_request_limit = Some(config.server.keepalive_requests.saturating_sub(1));
    options.h2_idle_timeout = Some(config.server.keepalive_timeout);
    proxy.server_options = Some(options);
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_concurrent_streams(config.server.http2_max_concurrent_streams);
    proxy.h2_options = Some(h2);
    let proxy = Arc::new(proxy);
    // One service per listener, each with its own connection caps around the one proxy.
    for l in &config.listeners {
        let caps = ConnectionCaps::new(
            l.max_connections,
            l.max_connections_per_ip,
            listener_metrics.proxy_caps(&l.name, &proxy_metrics),
        );
        // TLS runs inside the capped application (after the caps, under gatehouse's own
        // handshake deadline); Pingora's listener only accepts.
        let tls = if l.tls {
            let mut tls = TlsSettings::with_callbacks(certs.handshake_callbacks())
                .map_err(|e| anyhow::anyhow!("listeners `{}`: {e}", l.name))?;
            tls.set_cert_resolver(certs.clone());
            if l.http2 {
                tls.enable_h2();
            }
            Some(TlsGate::new(
                tls.build(),
                listener_metrics.handshakes(&l.name, &tls_metrics),
            ))
        } else {
            None
        };
        let mut service = pingora::services::listening::Service::new(
            format!("gatehouse proxy {}", l.name),
            Capped::new(proxy.clone(), caps, shared.clone(), tls),
        );
        // No L4 read buffer: Pingora reads a request head into its own buffer and rustls
        // reads records into its own, so Pingora's default 64 KiB read buffer (zero-filled,
        // kept for the connection's life) only made each idle connection cost 64 KiB more.
        // The write buffer is 4 KiB, not Pingora's 1,460 bytes: a response head with the
        // security headers and a small body then goes out in one write instead of two (the
        // second send cost +18 % CPU per proxied 1 KiB response in an A/B under wrk), for
        // about 2.8 KB more RSS per idle keep-alive connection.
        service.add_listener(
            pingora::listeners::ListenerConfig::tcp(l.address.to_string()).l4_buffer(
                pingora::protocols::l4::stream::L4BufferSettings::default()
                    .read(0)
                    .write(WRITE_BUFFER),
            ),
        );
        let scheme = if l.tls { "https" } else { "http" };
        tracing::info!(listener = %l.name, address = %l.address, scheme, "proxy listening");
        server.add_service(service);
    }
    server.run(RunArgs {
        shutdown_signal: Box::new(DrainOnSignal {
            draining,
            metrics: proxy_metrics,
            state: shared,
        }),
    });
    probes.stop(Duration::from_secs(2));
    alerting.stop(Duration::from_secs(5));
    if let Some(c) = &cluster {
        c.release();
    }
    telemetry.flush(Duration::from_secs(2));
    control.shutdown_timeout(Duration::from_secs(1));
    tracing::info!("gatehouse stopped");
    Ok(())
}

/// `/readyz` turns ready once every listener accepts connections.
async fn mark_ready_when_listening(addrs: Vec<SocketAddr>, ready: Arc<AtomicBool>) {
    for addr in addrs {
        let target = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
            }
            _ => addr,
        };
        while tokio::net::TcpStream::connect(target).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ready.store(true, Ordering::SeqCst);
    tracing::info!("ready");
}
