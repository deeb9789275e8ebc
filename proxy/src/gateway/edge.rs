//! The edge policies on the request path: who the client is, then the route's checks (see
//! `crate::policy`), answering preflights, refusals and CSP reports.

use super::ctx::{header_list, is_tls, RequestCtx};
use crate::policy::{self, Answer};
use crate::respond::{self, respond, Refusal};
use crate::state::CompiledRoute;
use bytes::Bytes;
use gatehouse_config::headers::CSP_REPORT_PATH;
use gatehouse_config::policy::origin::Origin;
use pingora::prelude::*;
use pingora::proxy::Session;

/// Find the client's address (trusted-proxies aware) and whether it reached us over HTTPS.
pub(super) fn identify_client(session: &Session, ctx: &mut RequestCtx) {
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    let xff = header_list(session.req_header(), "x-forwarded-for");
    (ctx.client_ip, ctx.trusted_peer) =
        policy::client_ip(peer, xff.as_deref(), &ctx.state.config.trusted_proxies);
    // The last hop's word counts: the value nearest to us.
    ctx.https = is_tls(session)
        || (ctx.trusted_peer
            && header_list(session.req_header(), "x-forwarded-proto").is_some_and(|p| {
                p.rsplit(',')
                    .next()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
            }));
}

/// Run the route's policy; true when the request was answered here.
pub(super) async fn enforce(
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: &CompiledRoute,
) -> Result<bool> {
    if route.policy.headers.csp_collector && session.req_header().uri.path() == CSP_REPORT_PATH {
        return csp_report(session, ctx, route).await;
    }
    let own = if route.policy.needs_own_origin() {
        let scheme = if ctx.https { "https" } else { "http" };
        ctx.host
            .as_ref()
            .and_then(|h| Origin::parse(&format!("{scheme}://{}", h.with_port())))
    } else {
        None
    };
    let answer = route
        .policy
        .check(
            session.req_header(),
            ctx.client_ip,
            own.as_ref(),
            &mut ctx.notes,
        )
        .await;
    match answer {
        Answer::Pass => {}
        Answer::Preflight => {
            ctx.status = Some(204);
            let extra = route.policy.preflight_headers();
            let mut headers: Vec<(&'static str, &str)> = extra
                .iter()
                .filter_map(|(n, v)| v.to_str().ok().map(|v| (*n, v)))
                .collect();
            headers.push((
                "vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ));
            respond::send(session, 204, &headers, Bytes::new(), ctx).await?;
            return Ok(true);
        }
        Answer::Refuse {
            refusal,
            message,
            headers,
        } => return refuse(session, ctx, refusal, message, &headers).await,
    }
    Ok(false)
}

/// Answer a browser's CSP violation report on a route that collects them.
async fn csp_report(
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: &CompiledRoute,
) -> Result<bool> {
    if session.req_header().method != http::Method::POST {
        ctx.status = Some(405);
        let msg = "CSP reports are sent with POST";
        respond(
            session,
            Refusal::METHOD_NOT_ALLOWED,
            msg,
            ctx,
            false,
            &[("allow", "POST")],
        )
        .await?;
        return Ok(true);
    }
    let answer = route
        .policy
        .check_report(session.req_header(), ctx.client_ip, &mut ctx.notes)
        .await;
    if let Answer::Refuse {
        refusal,
        message,
        headers,
    } = answer
    {
        return refuse(session, ctx, refusal, message, &headers).await;
    }
    let n = policy::csp_report::collect(session, &route.config.name).await?;
    route.policy.csp_reports.inc_by(n as u64);
    ctx.status = Some(204);
    respond::send(
        session,
        204,
        &[("cache-control", "no-store")],
        Bytes::new(),
        ctx,
    )
    .await?;
    Ok(true)
}

/// Answer with a policy's refusal; the request ends here.
async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    refusal: Refusal,
    message: &str,
    headers: &[(&'static str, String)],
) -> Result<bool> {
    ctx.status = Some(refusal.status);
    let extra: Vec<(&'static str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    respond(session, refusal, message, ctx, false, &extra).await?;
    Ok(true)
}

/// Why a canonical path may not go to the route at `index`: an encoded `/` the route does not
/// allow (or
/// no route to allow it, or one that a backend decoding it would route elsewhere), or matrix
/// parameters the route refuses.
pub(super) fn path_refusal(
    state: &crate::state::ProxyState,
    host: &str,
    index: Option<usize>,
    path: &str,
    encoded_slash: bool,
) -> Option<&'static str> {
    let route = index.and_then(|i| state.routes.get(i)).map(|r| &r.config);
    if encoded_slash {
        if !route.is_some_and(|r| r.allow_encoded_slashes) {
            return Some(crate::canonical::PathError::EncodedSlash.message());
        }
        // A backend that decodes `%2F` sees more segments: `/x/..%2Fadmin` is `/admin` to it.
        // That path must be judged by the same route, or the request is refused.
        let decoded = path.replace("%2F", "/");
        let same = crate::canonical::canonical_path(decoded.as_bytes(), false)
            .is_ok_and(|p| state.router.find(host, &p) == index);
        if !same {
            return Some("an encoded `/` in this path would reach another route once decoded");
        }
    }
    if route.is_some_and(|r| r.refuse_matrix_params) && path.contains(';') {
        return Some("this route does not accept `;` (matrix parameters) in the path");
    }
    None
}
