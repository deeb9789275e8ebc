//! The Atom feed of the incidents (open and past), a maud template like the page: titles and
//! texts are escaped by maud (the same escaping is right for XML).

use super::model::StatusView;
use gatehouse_config::status::StatusPageConfig;
use maud::{html, PreEscaped};

pub(crate) fn feed(view: &StatusView, page: &StatusPageConfig) -> String {
    let markup = html! {
        (PreEscaped("<?xml version=\"1.0\" encoding=\"utf-8\"?>"))
        feed xmlns="http://www.w3.org/2005/Atom" {
            title { (view.title) " — incidents" }
            id { "urn:gatehouse:status:" (page.title) }
            updated { (view.generated_at.to_string()) }
            @for i in view.incidents.iter().chain(view.history.iter()) {
                @let state = if i.ended_at.is_some() { "resolved" } else { "ongoing" };
                @let updated = i.updates.first().map(|u| u.at).or(i.ended_at).unwrap_or(i.started_at);
                entry {
                    id { "urn:gatehouse:incident:" (i.id) }
                    title { (i.title) " (" (state) ")" }
                    updated { (updated.to_string()) }
                    published { (i.started_at.to_string()) }
                    content type="text" { (body(i)) }
                }
            }
        }
    };
    markup.into_string()
}

/// An incident as plain text: impact, times, then the operators' updates, one a line.
fn body(i: &super::model::PublicIncident) -> String {
    let mut body = format!("{} since {}", i.impact.label(), i.started_at);
    if let Some(end) = i.ended_at {
        body.push_str(&format!(", resolved {end}"));
    }
    for u in &i.updates {
        body.push_str(&format!("\n{} ({}): {}", u.status, u.at, u.message));
    }
    body
}
