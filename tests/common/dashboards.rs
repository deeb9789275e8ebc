//! The shipped Grafana dashboards as the dashboards test reads them: each file, its panels
//! (collapsed rows included), their PromQL queries and the query variables.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use serde_json::Value;
use std::path::Path;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards");

/// A query of a dashboard: where it is, and its PromQL as written (with Grafana variables).
pub struct Query {
    pub place: String,
    pub expr: String,
}

/// The dashboards as (file name, JSON), by name.
pub fn dashboards() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(Path::new(DIR).join("grafana"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 5, "five dashboards");
    out
}

/// Every panel, including those inside collapsed rows.
pub fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

pub fn queries(name: &str, d: &Value) -> Vec<Query> {
    panels(d)
        .into_iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| Query {
                    place: format!("{name} / {}", p["title"].as_str().unwrap_or("?")),
                    expr: t["expr"].as_str().unwrap_or_default().to_string(),
                })
        })
        .collect()
}

/// The query variables as (place, selector, label) from `label_values(SELECTOR, LABEL)`.
pub fn variables(name: &str, d: &Value) -> Vec<(String, String, String)> {
    d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap();
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{name}: variable {}: `{q}`", v["name"]));
            let (sel, label) = inner.rsplit_once(',').unwrap();
            let place = format!("{name} / variable {}", v["name"]);
            (place, sel.trim().to_string(), label.trim().to_string())
        })
        .collect()
}
