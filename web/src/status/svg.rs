//! Inline SVG: the 90-day uptime bar, the 24-hour response-time chart, and the badges for
//! READMEs. Every graphic has a text alternative (`role="img"`, `aria-label`, `<title>`).
//! maud templates, like the page: names from the config are escaped by maud. Empty elements
//! are written open and closed (`<rect ...></rect>`), valid in HTML and in a standalone
//! SVG document (XML) alike.

use super::format::percent;
use super::model::{ComponentView, Day, Level};
use maud::{html, Markup};

/// The CSS class of a day's cell by its uptime (outside maintenance): a day with maintenance
/// and no failures outside it is a maintenance day.
fn day_class(d: &Day) -> &'static str {
    match d.uptime {
        Some(u) if d.maintenance > 0 && u >= 0.999 => "maint",
        None if d.maintenance > 0 => "maint",
        u => uptime_class(u),
    }
}

/// The CSS class of an uptime ratio.
fn uptime_class(uptime: Option<f64>) -> &'static str {
    match uptime {
        None => "none",
        Some(u) if u >= 0.999 => "ok",
        Some(u) if u >= 0.99 => "degraded",
        Some(u) if u >= 0.95 => "partial",
        Some(_) => "major",
    }
}

pub(crate) fn uptime_bar(c: &ComponentView) -> Markup {
    let n = c.days.len().max(1);
    let w = 900.0 / n as f64;
    html! {
        svg class="bar" viewBox="0 0 900 34" preserveAspectRatio="none" role="img"
            aria-label={ (c.name) ": 90-day uptime " (percent(c.uptime.quarter)) } {
            @for (i, d) in c.days.iter().enumerate() {
                rect class=(day_class(d)) x=(format!("{:.2}", i as f64 * w + 0.5)) y="0"
                    width=(format!("{:.2}", (w - 1.0).max(0.5))) height="34" rx="1" {
                    title {
                        (d.date) ": " (percent(d.uptime))
                        @if d.maintenance > 0 { "; maintenance" }
                        @for inc in &d.incidents { "; " (inc) }
                    }
                }
            }
        }
    }
}

pub(crate) fn response_chart(c: &ComponentView) -> Markup {
    if c.response_time.len() < 2 {
        return html! {
            p class="muted" { "Response time: not enough data for the last 24 hours yet." }
        };
    }
    let max = c.response_time.iter().map(|p| p.ms).fold(1.0_f64, f64::max);
    let mean = c.response_time.iter().map(|p| p.ms).sum::<f64>() / c.response_time.len() as f64;
    let first = c.response_time[0].at.as_second() as f64;
    let span = (c.response_time[c.response_time.len() - 1].at.as_second() as f64 - first).max(1.0);
    let points: Vec<String> = c
        .response_time
        .iter()
        .map(|p| {
            format!(
                "{:.1},{:.1}",
                (p.at.as_second() as f64 - first) / span * 600.0,
                58.0 - p.ms / max * 56.0
            )
        })
        .collect();
    let summary = format!("mean {mean:.0} ms, highest hour {max:.0} ms");
    html! {
        p class="muted" { "Response time, last 24 hours: " (summary) }
        svg class="chart" viewBox="0 0 600 60" preserveAspectRatio="none" role="img"
            aria-label={ (c.name) ": response time over the last 24 hours, " (summary) } {
            polyline points=(points.join(" ")) {}
        }
    }
}

fn colour(level: Level) -> &'static str {
    match level {
        Level::Operational => "#1a7f37",
        Level::Maintenance => "#0969da",
        Level::Degraded => "#9a6700",
        Level::PartialOutage => "#bc4c00",
        Level::MajorOutage => "#cf222e",
    }
}

/// A shields-style badge: grey label, coloured value.
pub(crate) fn badge(label: &str, value: &str, colour: &str) -> String {
    // Verdana 11px averages about 7 px per character.
    let lw = 10 + label.chars().count() * 7;
    let vw = 10 + value.chars().count() * 7;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(lw + vw) height="20" role="img"
            aria-label={ (label) ": " (value) } {
            title { (label) ": " (value) }
            rect width=(lw) height="20" fill="#555" {}
            rect x=(lw) width=(vw) height="20" fill=(colour) {}
            g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" {
                text x=(lw / 2) y="14" { (label) }
                text x=(lw + vw / 2) y="14" { (value) }
            }
        }
    }
    .into_string()
}

pub(crate) fn status_badge(c: &ComponentView) -> String {
    badge(&c.name, &c.status.label().to_lowercase(), colour(c.status))
}

pub(crate) fn uptime_badge(c: &ComponentView) -> String {
    let u = c.uptime.month;
    let col = match uptime_class(u) {
        "ok" => "#1a7f37",
        "degraded" => "#9a6700",
        "partial" => "#bc4c00",
        "major" => "#cf222e",
        _ => "#8c959f",
    };
    badge("uptime 30d", &percent(u), col)
}

pub(crate) fn response_badge(c: &ComponentView) -> String {
    match c.response_time.last() {
        Some(p) => badge(
            "response time",
            &format!("{:.0} ms", p.ms),
            if p.ms < 500.0 {
                "#1a7f37"
            } else if p.ms < 2000.0 {
                "#9a6700"
            } else {
                "#cf222e"
            },
        ),
        None => badge("response time", "no data", "#8c959f"),
    }
}
