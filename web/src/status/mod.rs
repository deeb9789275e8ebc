//! The public status page on its own listener: `/` (HTML), `/status.json`, `/feed.atom` and
//! `/badge/{component}/{status,uptime-30d,response-time}.svg` under the configured path. The
//! view is built from the probes, their history and the incidents, and cached for a few
//! seconds; every response carries cache headers, and the page its own strict CSP.

mod feed;
pub(crate) mod format;
pub(crate) mod html;
pub(crate) mod model;
pub(crate) mod svg;
#[cfg(test)]
mod tests;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use gatehouse_alerting::Alerting;
use gatehouse_config::alerting::rules::RuleKind;
use gatehouse_probes::{Probes, Range};
use gatehouse_proxy::SharedState;
use http::{header, HeaderValue, Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use model::{ProbeData, StatusView};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How long a built view is reused.
const FRESH: Duration = Duration::from_secs(5);

/// A view and its page and JSON, made once per rebuild and served to everyone until the next.
struct Rendered {
    view: StatusView,
    html: Bytes,
    json: Bytes,
    html_gz: Bytes,
    json_gz: Bytes,
}

fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Whether the client accepts gzip (`Accept-Encoding: gzip`, not refused with `q=0`).
fn accepts_gzip<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The status page app: the live config, the probes and alerting it reads, and its cache.
pub struct StatusPage {
    pub state: SharedState,
    pub probes: Arc<Probes>,
    pub alerting: Arc<Alerting>,
    cache: Mutex<Option<(Instant, Arc<Rendered>)>>,
    building: tokio::sync::Mutex<()>,
    csp: HeaderValue,
}

fn sha256_b64(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

impl StatusPage {
    pub fn new(state: SharedState, probes: Arc<Probes>, alerting: Arc<Alerting>) -> Arc<Self> {
        let csp = format!(
            "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            sha256_b64(html::CSS),
            sha256_b64(html::SCRIPT)
        );
        Arc::new(StatusPage {
            state,
            probes,
            alerting,
            cache: Mutex::new(None),
            building: tokio::sync::Mutex::new(()),
            csp: HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        })
    }

    /// The current view (built at most every few seconds).
    async fn view(&self) -> Option<Arc<Rendered>> {
        if let Some(v) = self.cached() {
            return Some(v);
        }
        // One rebuild at a time: a crowd arriving during an incident waits for it and shares
        // the result instead of each querying the store.
        let _building = self.building.lock().await;
        if let Some(v) = self.cached() {
            return Some(v);
        }
        self.build().await
    }

    fn cached(&self) -> Option<Arc<Rendered>> {
        let cache = self.cache.lock().ok()?;
        let (at, v) = cache.as_ref()?;
        (at.elapsed() < FRESH).then(|| v.clone())
    }

    async fn build(&self) -> Option<Arc<Rendered>> {
        let config = self.state.load().config().clone();
        let page = config.status_page.as_ref()?;
        let now = Timestamp::now();
        let names: Vec<String> = page
            .components
            .iter()
            .flat_map(|c| c.probes.iter().cloned())
            .collect();
        let states: BTreeMap<String, (Option<bool>, u64)> = self
            .probes
            .states()
            .into_iter()
            .map(|(p, s)| {
                let state = s.map_or((None, 0), |s| (Some(s.last.up), s.streak));
                (p.name, state)
            })
            .collect();
        let store = self.probes.store();
        let histories = tokio::task::spawn_blocking(move || {
            let at = std::time::SystemTime::now();
            names
                .into_iter()
                .map(|n| {
                    let h = |r| store.history(&n, r, at).ok();
                    let data = ProbeData {
                        day: h(Range::Day),
                        week: h(Range::Week),
                        month: h(Range::Month),
                        quarter: h(Range::Quarter),
                        ..ProbeData::default()
                    };
                    (n, data)
                })
                .collect::<BTreeMap<String, ProbeData>>()
        })
        .await
        .ok()?;
        let mut probes = histories;
        for (name, data) in probes.iter_mut() {
            (data.up, data.streak) = states.get(name).copied().unwrap_or_default();
            let Some(probe) = config.probes.probes.iter().find(|p| &p.name == name) else {
                continue;
            };
            data.watched = config.alerting.rules.iter().any(|r| match &r.kind {
                RuleKind::Probe { probes, groups, .. } => {
                    probes.covers(name) && (groups.is_empty() || groups.contains(&probe.group))
                }
                _ => false,
            });
            data.labels = probe.alert_labels();
        }
        let since = now
            .checked_sub(SignedDuration::from_hours(90 * 24))
            .unwrap_or(now);
        let incidents = self
            .alerting
            .incidents_between(since, now)
            .await
            .unwrap_or_default();
        let updates = self.alerting.updates_since(since).await.unwrap_or_default();
        let announcements = self.alerting.announcements().await.unwrap_or_default();
        let view = model::build(&model::Inputs {
            config: page,
            maintenance: &config.alerting.maintenance,
            rules: &config.alerting.rules,
            probes: &probes,
            incidents: &incidents,
            updates: &updates,
            announcements: &announcements,
            now,
        });
        let base = if page.path == "/" {
            "/".to_string()
        } else {
            format!("{}/", page.path)
        };
        let html = html::page(&view, &base);
        let json = serde_json::to_string(&view).unwrap_or_default();
        let rendered = Arc::new(Rendered {
            html_gz: gzip(html.as_bytes()),
            json_gz: gzip(json.as_bytes()),
            html: Bytes::from(html),
            json: Bytes::from(json),
            view,
        });
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((Instant::now(), rendered.clone()));
        }
        Some(rendered)
    }

    async fn handle(&self, req: Request) -> Response {
        let config = self.state.load().config().clone();
        let Some(page) = config.status_page.as_ref() else {
            return reply(
                StatusCode::NOT_FOUND,
                "no status page configured\n",
                "text/plain; charset=utf-8",
                "no-store",
            );
        };
        if let Some(host) = &page.host {
            let given = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| {
                    h.rsplit_once(':')
                        .map_or(h, |(n, _)| n)
                        .to_ascii_lowercase()
                });
            if given.as_deref() != Some(host.as_str()) {
                return reply(
                    StatusCode::NOT_FOUND,
                    "not found\n",
                    "text/plain; charset=utf-8",
                    "no-store",
                );
            }
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET\n",
                "text/plain; charset=utf-8",
                "no-store",
            );
        }
        let base = if page.path == "/" {
            String::new()
        } else {
            page.path.clone()
        };
        let Some(rest) = req.uri().path().strip_prefix(base.as_str()) else {
            return reply(
                StatusCode::NOT_FOUND,
                "not found\n",
                "text/plain; charset=utf-8",
                "no-store",
            );
        };
        let rest = rest.to_string();
        let Some(rendered) = self.view().await else {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "status unavailable\n",
                "text/plain; charset=utf-8",
                "no-store",
            );
        };
        const PAGE_CACHE: &str = "public, max-age=30";
        let gz = accepts_gzip(&req);
        let pick = |plain: &Bytes, packed: &Bytes| {
            if gz {
                packed.clone()
            } else {
                plain.clone()
            }
        };
        let encoded = |mut r: Response| {
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            if gz {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        };
        match rest.as_str() {
            "" | "/" => {
                let mut r = reply(
                    StatusCode::OK,
                    pick(&rendered.html, &rendered.html_gz),
                    "text/html; charset=utf-8",
                    PAGE_CACHE,
                );
                r.headers_mut()
                    .insert("content-security-policy", self.csp.clone());
                encoded(r)
            }
            "/status.json" => encoded(reply(
                StatusCode::OK,
                pick(&rendered.json, &rendered.json_gz),
                "application/json",
                PAGE_CACHE,
            )),
            "/feed.atom" => reply(
                StatusCode::OK,
                feed::feed(&rendered.view, page),
                "application/atom+xml; charset=utf-8",
                PAGE_CACHE,
            ),
            other => badge(&rendered.view, other).unwrap_or_else(|| {
                reply(
                    StatusCode::NOT_FOUND,
                    "not found\n",
                    "text/plain; charset=utf-8",
                    "no-store",
                )
            }),
        }
    }
}

fn badge(view: &StatusView, path: &str) -> Option<Response> {
    let (slug, file) = path.strip_prefix("/badge/")?.split_once('/')?;
    let c = view
        .groups
        .iter()
        .flat_map(|g| g.components.iter())
        .find(|c| c.slug == slug)?;
    let svg = match file {
        "status.svg" => svg::status_badge(c),
        "uptime-30d.svg" => svg::uptime_badge(c),
        "response-time.svg" => svg::response_badge(c),
        _ => return None,
    };
    Some(reply(
        StatusCode::OK,
        svg,
        "image/svg+xml",
        "public, max-age=60",
    ))
}

fn reply(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// Serve the status page on `listener` until the runtime ends (head deadline, idle timeout,
/// connection cap and accept backoff: `listener`).
pub async fn serve(
    listener: TcpListener,
    limits: gatehouse_config::server::ConnectionLimits,
    metrics: crate::listener::ListenerMetrics,
    page: Arc<StatusPage>,
) {
    crate::listener::serve("status", listener, limits, &metrics, router(page)).await
}

/// One handler for every path: the page's base path (`status_page.path`) and host are live
/// config, read per request, so they cannot be fixed in a route table at start.
pub fn router(page: Arc<StatusPage>) -> Router {
    Router::new()
        .fallback(|State(page): State<Arc<StatusPage>>, req: Request| async move {
            page.handle(req).await
        })
        .with_state(page)
}
