//! The built-in collector for Content-Security-Policy violation reports: browsers POST them to
//! `/.well-known/gatehouse/csp-report` on the route; each is logged (what was blocked, by which
//! directive, on which page) and counted, and never reaches the upstream.

use pingora::prelude::*;
use pingora::proxy::Session;

/// Largest report read; a report is a few hundred bytes.
const MAX_REPORT: usize = 64 << 10;

/// Read and log the reports in the request body; returns how many there were.
pub(crate) async fn collect(session: &mut Session, route: &str) -> Result<usize> {
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_REPORT {
            return Error::e_explain(ErrorType::HTTPStatus(413), "CSP report larger than 64 KiB");
        }
    }
    let reports = parse(&body);
    for r in &reports {
        tracing::warn!(
            target: "gatehouse::csp",
            route,
            document = ?r.document,
            directive = ?r.directive,
            blocked = ?r.blocked,
            "content security policy violation reported by a browser"
        );
    }
    Ok(reports.len())
}

#[derive(Debug, PartialEq, Eq)]
struct Report {
    document: String,
    directive: String,
    blocked: String,
}

/// Both shapes: `{"csp-report": {...}}` (report-uri) and the Reporting API's
/// `[{"type": "csp-violation", "body": {...}}]` (report-to).
fn parse(body: &[u8]) -> Vec<Report> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let field = |o: &serde_json::Value, names: &[&str]| {
        names
            .iter()
            .find_map(|n| o.get(*n).and_then(|v| v.as_str()))
            .unwrap_or("")
            .chars()
            .take(512)
            .collect::<String>()
    };
    let one = |o: &serde_json::Value| Report {
        document: field(o, &["document-uri", "documentURL"]),
        directive: field(
            o,
            &[
                "effective-directive",
                "violated-directive",
                "effectiveDirective",
            ],
        ),
        blocked: field(o, &["blocked-uri", "blockedURL"]),
    };
    match &v {
        serde_json::Value::Object(_) => v.get("csp-report").map(one).into_iter().collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.get("body"))
            .map(one)
            .take(20)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_report_shapes() {
        let legacy = br#"{"csp-report":{"document-uri":"https://a/","violated-directive":"img-src","blocked-uri":"https://evil/x.png"}}"#;
        assert_eq!(
            parse(legacy),
            vec![Report {
                document: "https://a/".into(),
                directive: "img-src".into(),
                blocked: "https://evil/x.png".into()
            }]
        );
        let api = br#"[{"type":"csp-violation","body":{"documentURL":"https://a/","effectiveDirective":"script-src-elem","blockedURL":"inline"}}]"#;
        assert_eq!(parse(api).len(), 1);
        assert!(parse(b"junk").is_empty());
    }
}
