//! The status page as server-rendered HTML: works without JavaScript; the small inline script
//! only shows times in the visitor's zone and refreshes the page while it is visible. Styles
//! and script are inline and allowed by their hashes in the page's own CSP. The markup is a
//! maud template, checked at compile time; every value is escaped by maud, so no text a
//! config or an operator wrote can become markup.

use super::format::{duration_text, percent};
use super::model::{ComponentView, PublicIncident, StatusView};
use super::svg;
use jiff::Timestamp;
use maud::{html, Markup, PreEscaped};
use std::time::Duration;

pub(crate) const CSS: &str = r#"
:root{--bg:#fff;--fg:#1f2328;--muted:#57606a;--card:#f6f8fa;--line:#d0d7de;--ok:#1a7f37;--maint:#0969da;--degraded:#9a6700;--partial:#bc4c00;--major:#cf222e;--none:#8c959f}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9da7b3;--card:#161b22;--line:#30363d;--ok:#3fb950;--maint:#58a6ff;--degraded:#d29922;--partial:#f0883e;--major:#f85149;--none:#6e7681}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header,main,footer{max-width:56rem;margin:0 auto;padding:1rem}h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.2rem;margin:2rem 0 .5rem}h3{font-size:1rem;margin:0}
.muted{color:var(--muted)}.banner{border-radius:.5rem;padding:1rem 1.25rem;font-size:1.25rem;font-weight:600;color:#fff;margin:1rem 0}
.banner.ok{background:var(--ok)}.banner.maint{background:var(--maint)}.banner.degraded{background:var(--degraded)}.banner.partial{background:var(--partial)}.banner.major{background:var(--major)}
@media (prefers-color-scheme:dark){.banner{color:#0d1117}}
.card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:.75rem 0}
.row{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap;align-items:baseline}
.state{font-weight:600}.state.ok{color:var(--ok)}.state.maint{color:var(--maint)}.state.degraded{color:var(--degraded)}.state.partial{color:var(--partial)}.state.major{color:var(--major)}
.bar{width:100%;height:34px;display:block;margin:.5rem 0 .25rem}.bar .ok{fill:var(--ok)}.bar .maint{fill:var(--maint)}.bar .degraded{fill:var(--degraded)}.bar .partial{fill:var(--partial)}.bar .major{fill:var(--major)}.bar .none{fill:var(--none);opacity:.35}
.uptime{display:flex;gap:1.25rem;flex-wrap:wrap;font-size:.9rem}.chart{width:100%;height:60px;display:block}.chart polyline{fill:none;stroke:var(--maint);stroke-width:2}
.updates{margin:.5rem 0 0;padding-left:1.25rem}.tag{text-transform:capitalize;font-weight:600}a{color:var(--maint)}
"#;

pub(crate) const SCRIPT: &str = r#"document.querySelectorAll("time[datetime]").forEach(function(t){var d=new Date(t.getAttribute("datetime"));if(!isNaN(d)){t.textContent=d.toLocaleString();}});setTimeout(function(){if(document.visibilityState==="visible"){location.reload();}},60000);"#;

fn time(t: Timestamp) -> Markup {
    html! { time datetime=(t.to_string()) { (t.strftime("%Y-%m-%d %H:%M UTC").to_string()) } }
}

fn incident(i: &PublicIncident) -> Markup {
    let took = duration_text(Duration::from_secs(i.duration_seconds));
    html! {
        article class="card" {
            div class="row" {
                h3 { (i.title) }
                span class={ "state " (i.impact.css()) } {
                    @if i.ended_at.is_some() { "Resolved" } @else { (i.impact.label()) }
                }
            }
            p class="muted" {
                "Started " (time(i.started_at))
                @match i.ended_at {
                    Some(end) => { ", resolved " (time(end)) " after " (took) }
                    None => { ", ongoing for " (took) }
                }
            }
            @if let Some(d) = &i.details { p { (d) } }
            @if !i.updates.is_empty() {
                ul class="updates" {
                    @for u in &i.updates {
                        li {
                            span class="tag" { (u.status) }
                            " — " (u.message) " "
                            span class="muted" { "(" (time(u.at)) ")" }
                        }
                    }
                }
            }
        }
    }
}

fn component(c: &ComponentView) -> Markup {
    let id = format!("c-{}", c.slug);
    html! {
        section class="card" aria-labelledby=(id) {
            div class="row" {
                h3 id=(id) { (c.name) }
                span class={ "state " (c.status.css()) } { (c.status.label()) }
            }
            @if let Some(d) = &c.description { p class="muted" { (d) } }
            (svg::uptime_bar(c))
            div class="uptime" {
                span { "24h: " strong { (percent(c.uptime.day)) } }
                span { "7d: " strong { (percent(c.uptime.week)) } }
                span { "30d: " strong { (percent(c.uptime.month)) } }
                span { "90d: " strong { (percent(c.uptime.quarter)) } }
            }
            (svg::response_chart(c))
        }
    }
}

pub(crate) fn page(v: &StatusView, base: &str) -> String {
    let markup = html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (v.title) }
                link rel="icon" href="data:,";
                link rel="alternate" type="application/atom+xml" title="Incidents" href={ (base) "feed.atom" };
                // Exactly the hashed text of the CSP: never escaped or reformatted.
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (v.title) }
                    @if let Some(d) = &v.description { p class="muted" { (d) } }
                }
                main {
                    div class={ "banner " (v.status.css()) } role="status" id="banner" { (v.status_text) }
                    @for a in &v.announcements {
                        aside class="card" aria-label="Announcement" {
                            div class="row" {
                                h3 { (a.title) }
                                span class="tag" { (a.level) }
                            }
                            p { (a.body) }
                        }
                    }
                    @if !v.incidents.is_empty() {
                        h2 { "Current incidents" }
                        @for i in &v.incidents { (incident(i)) }
                    }
                    @if !v.maintenance.is_empty() {
                        h2 { "Scheduled maintenance" }
                        @for m in &v.maintenance {
                            article class="card" {
                                div class="row" {
                                    h3 { (m.description.as_deref().unwrap_or(&m.name)) }
                                    span class="state maint" {
                                        @if m.active { "In progress" } @else { "Scheduled" }
                                    }
                                }
                                p class="muted" {
                                    (time(m.starts_at)) " – " (time(m.ends_at)) " · " (m.components.join(", "))
                                }
                            }
                        }
                    }
                    @for g in &v.groups {
                        h2 { (g.name) }
                        @for c in &g.components { (component(c)) }
                    }
                    h2 { "Past incidents" }
                    @if v.history.is_empty() {
                        p class="muted" { "No incidents in the last 90 days." }
                    }
                    @for i in &v.history { (incident(i)) }
                }
                footer class="muted" {
                    p {
                        "Updated " (time(v.generated_at))
                        " · " a href={ (base) "status.json" } { "JSON" }
                        " · " a href={ (base) "feed.atom" } { "Atom feed" }
                        " · Level: " (v.status.css())
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    markup.into_string()
}
