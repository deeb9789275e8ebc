//! Summary templates.

use gatehouse_config::alerting::rules::Rule;
use std::collections::BTreeMap;

/// `{subject}`, `{value}`, `{rule}`, `{severity}` and `{labels.NAME}` filled in.
pub(super) fn render(
    template: &str,
    rule: &Rule,
    subject: &str,
    value: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    // One pass over the template: replaced values are never scanned again.
    let mut out = String::with_capacity(template.len() + value.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find('}') else {
            break;
        };
        let name = &tail[1..end];
        let replacement = match name {
            "subject" => Some(subject.to_string()),
            "value" => Some(value.to_string()),
            "rule" => Some(rule.name.clone()),
            "severity" => Some(rule.severity.as_str().to_string()),
            _ => name
                .strip_prefix("labels.")
                .map(|l| labels.get(l).cloned().unwrap_or_default()),
        };
        match replacement {
            Some(r) => out.push_str(&r),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}
