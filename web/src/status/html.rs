//! The status page as server-rendered HTML: works without JavaScript; the small inline script
//! only shows times in the visitor's zone and refreshes the page while it is visible. Styles
//! and script are inline and allowed by their hashes in the page's own CSP.

use super::model::{ComponentView, PublicIncident, StatusView};
use super::svg;
use jiff::Timestamp;
use std::fmt::Write as _;
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
.bar{width:100%;height:34px;display:block;margin:.5rem 0 .25rem}.bar .ok{fill:var(--ok)}.bar .degraded{fill:var(--degraded)}.bar .partial{fill:var(--partial)}.bar .major{fill:var(--major)}.bar .none{fill:var(--none);opacity:.35}
.uptime{display:flex;gap:1.25rem;flex-wrap:wrap;font-size:.9rem}.chart{width:100%;height:60px;display:block}.chart polyline{fill:none;stroke:var(--maint);stroke-width:2}
.updates{margin:.5rem 0 0;padding-left:1.25rem}.tag{text-transform:capitalize;font-weight:600}a{color:var(--maint)}
"#;

pub(crate) const SCRIPT: &str = r#"document.querySelectorAll("time[datetime]").forEach(function(t){var d=new Date(t.getAttribute("datetime"));if(!isNaN(d)){t.textContent=d.toLocaleString();}});setTimeout(function(){if(document.visibilityState==="visible"){location.reload();}},60000);"#;

/// Text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `99.95%`, or `no data`.
pub(crate) fn percent(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1.0 => "100%".into(),
        Some(v) => format!("{:.2}%", (v * 100.0 * 100.0).floor() / 100.0),
        None => "no data".into(),
    }
}

/// `2h 5m`, `3d 4h`, `45s`.
pub(crate) fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 86400, s % 86400 / 3600, s % 3600 / 60) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn time(t: Timestamp) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t,
        t.strftime("%Y-%m-%d %H:%M UTC")
    )
}

fn incident(out: &mut String, i: &PublicIncident) {
    let _ = write!(
        out,
        "<article class=\"card\"><div class=\"row\"><h3>{}</h3><span class=\"state {}\">{}</span></div><p class=\"muted\">Started {}",
        esc(&i.title),
        i.impact.css(),
        if i.ended_at.is_some() { "Resolved" } else { i.impact.label() },
        time(i.started_at)
    );
    match i.ended_at {
        Some(end) => {
            let _ = write!(
                out,
                ", resolved {} after {}",
                time(end),
                duration_text(Duration::from_secs(i.duration_seconds))
            );
        }
        None => {
            let _ = write!(
                out,
                ", ongoing for {}",
                duration_text(Duration::from_secs(i.duration_seconds))
            );
        }
    }
    out.push_str("</p>");
    if let Some(d) = &i.details {
        let _ = write!(out, "<p>{}</p>", esc(d));
    }
    if !i.updates.is_empty() {
        out.push_str("<ul class=\"updates\">");
        for u in &i.updates {
            let _ = write!(
                out,
                "<li><span class=\"tag\">{}</span> — {} <span class=\"muted\">({})</span></li>",
                esc(&u.status),
                esc(&u.message),
                time(u.at)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</article>");
}

fn component(out: &mut String, c: &ComponentView) {
    let _ = write!(
        out,
        "<section class=\"card\" aria-labelledby=\"c-{slug}\"><div class=\"row\"><h3 id=\"c-{slug}\">{name}</h3><span class=\"state {css}\">{label}</span></div>",
        slug = esc(&c.slug),
        name = esc(&c.name),
        css = c.status.css(),
        label = c.status.label()
    );
    if let Some(d) = &c.description {
        let _ = write!(out, "<p class=\"muted\">{}</p>", esc(d));
    }
    out.push_str(&svg::uptime_bar(c));
    let _ = write!(
        out,
        "<div class=\"uptime\"><span>24h: <strong>{}</strong></span><span>7d: <strong>{}</strong></span><span>30d: <strong>{}</strong></span><span>90d: <strong>{}</strong></span></div>",
        percent(c.uptime.day),
        percent(c.uptime.week),
        percent(c.uptime.month),
        percent(c.uptime.quarter)
    );
    out.push_str(&svg::response_chart(c));
    out.push_str("</section>");
}

pub(crate) fn page(v: &StatusView, base: &str) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title><link rel=\"icon\" href=\"data:,\"><link rel=\"alternate\" type=\"application/atom+xml\" title=\"Incidents\" href=\"{base}feed.atom\"><style>{CSS}</style></head><body><header><h1>{title}</h1>",
        title = esc(&v.title),
    );
    if let Some(d) = &v.description {
        let _ = write!(out, "<p class=\"muted\">{}</p>", esc(d));
    }
    let _ = write!(
        out,
        "</header><main><div class=\"banner {}\" role=\"status\" id=\"banner\">{}</div>",
        v.status.css(),
        esc(&v.status_text)
    );
    for a in &v.announcements {
        let _ = write!(
            out,
            "<aside class=\"card\" aria-label=\"Announcement\"><div class=\"row\"><h3>{}</h3><span class=\"tag\">{}</span></div><p>{}</p></aside>",
            esc(&a.title),
            esc(&a.level),
            esc(&a.body)
        );
    }
    if !v.incidents.is_empty() {
        out.push_str("<h2>Current incidents</h2>");
        for i in &v.incidents {
            incident(&mut out, i);
        }
    }
    if !v.maintenance.is_empty() {
        out.push_str("<h2>Scheduled maintenance</h2>");
        for m in &v.maintenance {
            let _ = write!(
                out,
                "<article class=\"card\"><div class=\"row\"><h3>{}</h3><span class=\"state maint\">{}</span></div><p class=\"muted\">{} – {} · {}</p>",
                esc(m.description.as_deref().unwrap_or(&m.name)),
                if m.active { "In progress" } else { "Scheduled" },
                time(m.starts_at),
                time(m.ends_at),
                esc(&m.components.join(", "))
            );
            out.push_str("</article>");
        }
    }
    for g in &v.groups {
        let _ = write!(out, "<h2>{}</h2>", esc(&g.name));
        for c in &g.components {
            component(&mut out, c);
        }
    }
    out.push_str("<h2>Past incidents</h2>");
    if v.history.is_empty() {
        out.push_str("<p class=\"muted\">No incidents in the last 90 days.</p>");
    }
    for i in &v.history {
        incident(&mut out, i);
    }
    let _ = write!(
        out,
        "</main><footer class=\"muted\"><p>Updated {} · <a href=\"{base}status.json\">JSON</a> · <a href=\"{base}feed.atom\">Atom feed</a> · Level: {}</p></footer><script>{SCRIPT}</script></body></html>",
        time(v.generated_at),
        v.status.css()
    );
    out
}
