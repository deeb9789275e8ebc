//! Evaluating compiled conditions against an observation.
//!
//! A condition fails when its fact was not measured, and otherwise when the comparison does not
//! hold; the reason names the condition as written and what was measured, e.g.
//! "`status == 200`: status was 500". Measured text is shortened to about 100 characters.

use crate::observation::Observation;
use gatehouse_config::probes::condition::{Condition, Literal, Op, Phase, Subject};
use serde_json::Value;
use std::cmp::Ordering;
use std::time::Duration;

/// At most this many characters of measured text go into a reason.
const EXCERPT_CHARS: usize = 100;

/// Why a condition does not hold: the condition as written and what was measured, e.g.
/// "`status == 200`: status was 500". Not an error of the check (a failed condition is a
/// result), so a plain value: the text goes into the probe's result as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet(pub String);

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Check one condition.
pub fn check(condition: &Condition, obs: &Observation) -> Result<(), Unmet> {
    holds(condition, obs).map_err(|why| Unmet(format!("`{}`: {why}", condition.text)))
}

/// Every failed condition's reason; empty when all hold.
pub fn evaluate(conditions: &[Condition], obs: &Observation) -> Vec<String> {
    conditions
        .iter()
        .filter_map(|c| check(c, obs).err().map(|u| u.0))
        .collect()
}

/// `Err` is the reason without the condition's text.
fn holds(c: &Condition, obs: &Observation) -> Result<(), String> {
    // The subject as the operator wrote it (`body.$.data[0].status`, `header.X-Cache`).
    let name = c.text.split_whitespace().next().unwrap_or("the value");
    let missing = || format!("{name} was not measured");
    match &c.subject {
        Subject::Status => {
            let v = obs.status.ok_or_else(missing)?;
            number(c, f64::from(v), name)
        }
        Subject::Latency => duration(c, obs.latency.ok_or_else(missing)?, name),
        Subject::Phase(phase) => {
            let d = match phase {
                Phase::Dns => obs.phases.dns,
                Phase::Connect => obs.phases.connect,
                Phase::Tls => obs.phases.tls,
                Phase::FirstByte => obs.phases.first_byte,
            };
            duration(c, d.ok_or_else(missing)?, name)
        }
        Subject::Body => {
            let body = obs.body.as_ref().ok_or_else(missing)?;
            text(c, &String::from_utf8_lossy(body), name)
        }
        Subject::BodyJson(pointer) => {
            let body = obs.body.as_ref().ok_or_else(missing)?;
            json(c, body, pointer, name)
        }
        Subject::Header(header) => {
            let headers = obs.headers.as_ref().ok_or_else(missing)?;
            let values: Vec<String> = headers
                .get_all(header.as_str())
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            if values.is_empty() {
                return Err(format!("{name} is missing"));
            }
            text(c, &values.join(", "), name)
        }
        Subject::CertExpiry => {
            let secs = obs.cert_expiry_secs.ok_or_else(missing)?;
            let Literal::Duration(limit) = &c.value else {
                return Err(unsupported(c, name));
            };
            match order(c.op, secs.partial_cmp(&limit.as_secs_f64())) {
                Some(true) => Ok(()),
                Some(false) if secs >= 0.0 => {
                    Err(format!("certificate expires in {}", human_secs(secs)))
                }
                Some(false) => Err(format!("certificate expired {} ago", human_secs(-secs))),
                None => Err(unsupported(c, name)),
            }
        }
        Subject::CertValid => boolean(c, obs.cert_valid.ok_or_else(missing)?, name),
        Subject::Connected => boolean(c, obs.connected.ok_or_else(missing)?, name),
        Subject::HitRatio => number(c, obs.hit_ratio.ok_or_else(missing)?, name),
        Subject::KeyspaceHits => number(c, obs.keyspace_hits.ok_or_else(missing)? as f64, name),
        Subject::KeyspaceMisses => number(c, obs.keyspace_misses.ok_or_else(missing)? as f64, name),
        Subject::Records => records(c, obs.records.as_deref().ok_or_else(missing)?, name),
        Subject::RecordCount => {
            let n = obs.records.as_ref().ok_or_else(missing)?.len();
            number(c, n as f64, name)
        }
        Subject::Response => text(c, obs.response.as_deref().ok_or_else(missing)?, name),
    }
}

/// A condition the parser never produces (e.g. `status contains "x"`).
fn unsupported(c: &Condition, name: &str) -> String {
    format!(
        "`{}` cannot be applied to {name} with this value",
        c.op.as_str()
    )
}

/// The outcome of an ordering op given how the measured value compares with the literal;
/// `None` for ops that do not order, or values that do not compare (NaN).
fn order(op: Op, ord: Option<Ordering>) -> Option<bool> {
    let ord = ord?;
    Some(match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Contains | Op::NotContains | Op::Matches => return None,
    })
}

fn number(c: &Condition, v: f64, name: &str) -> Result<(), String> {
    let Literal::Number(n) = &c.value else {
        return Err(unsupported(c, name));
    };
    match order(c.op, v.partial_cmp(n)) {
        Some(true) => Ok(()),
        Some(false) => Err(format!("{name} was {}", fmt_number(v))),
        None => Err(unsupported(c, name)),
    }
}

fn duration(c: &Condition, v: Duration, name: &str) -> Result<(), String> {
    let Literal::Duration(d) = &c.value else {
        return Err(unsupported(c, name));
    };
    match order(c.op, Some(v.cmp(d))) {
        Some(true) => Ok(()),
        Some(false) => Err(format!("{name} was {}", fmt_duration(v))),
        None => Err(unsupported(c, name)),
    }
}

fn boolean(c: &Condition, v: bool, name: &str) -> Result<(), String> {
    let held = match (c.op, &c.value) {
        (Op::Eq, Literal::Bool(b)) => v == *b,
        (Op::Ne, Literal::Bool(b)) => v != *b,
        _ => return Err(unsupported(c, name)),
    };
    if held {
        Ok(())
    } else {
        Err(format!("{name} was {v}"))
    }
}

fn text(c: &Condition, s: &str, name: &str) -> Result<(), String> {
    let held = match (c.op, &c.value) {
        (Op::Eq, Literal::Str(v)) => s == v,
        (Op::Ne, Literal::Str(v)) => s != v,
        (Op::Contains, Literal::Str(v)) => s.contains(v.as_str()),
        (Op::NotContains, Literal::Str(v)) => {
            // Show where the unwanted text is, not just the start.
            return match s.find(v.as_str()) {
                None => Ok(()),
                Some(at) => Err(format!("{name} was {}", excerpt(s, at))),
            };
        }
        (Op::Matches, Literal::Regex(r)) => r.is_match(s),
        _ => return Err(unsupported(c, name)),
    };
    if held {
        Ok(())
    } else {
        Err(format!("{name} was {}", excerpt(s, 0)))
    }
}

/// DNS answers compare case-insensitively, ignoring a trailing dot.
fn records(c: &Condition, records: &[String], name: &str) -> Result<(), String> {
    let norm = |s: &str| s.trim_end_matches('.').to_lowercase();
    let (Op::Contains | Op::NotContains, Literal::Str(want)) = (c.op, &c.value) else {
        return Err(unsupported(c, name));
    };
    let want = norm(want);
    let found = records.iter().any(|r| norm(r) == want);
    if found == (c.op == Op::Contains) {
        return Ok(());
    }
    if records.is_empty() {
        return Err(format!("there were no {name}"));
    }
    let mut list = String::new();
    for (i, r) in records.iter().enumerate() {
        if list.chars().count() > EXCERPT_CHARS {
            list.push_str(&format!(", … ({} in all)", records.len()));
            break;
        }
        if i > 0 {
            list.push_str(", ");
        }
        list.push_str(&format!("{r:?}"));
    }
    Err(format!("{name} were [{list}]"))
}

fn json(c: &Condition, body: &[u8], pointer: &str, name: &str) -> Result<(), String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        if text.trim().is_empty() {
            "body is not JSON (it is empty)".to_string()
        } else {
            format!("body is not JSON ({e}): {}", excerpt(&text, 0))
        }
    })?;
    let v = doc
        .pointer(pointer)
        .ok_or_else(|| format!("{name} is missing"))?;
    let shown = || {
        let compact = v.to_string();
        let mut s: String = compact.chars().take(EXCERPT_CHARS).collect();
        if s.len() < compact.len() {
            s.push('…');
        }
        s
    };
    let held = match (c.op, &c.value) {
        (Op::Eq | Op::Ne, lit) => {
            let equal = match lit {
                Literal::Str(s) => json_text(v).is_some_and(|t| t == *s),
                Literal::Number(n) => v.as_f64() == Some(*n),
                Literal::Bool(b) => v.as_bool() == Some(*b),
                _ => return Err(unsupported(c, name)),
            };
            equal == (c.op == Op::Eq)
        }
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, Literal::Number(n)) => {
            let Some(x) = v.as_f64() else {
                return Err(format!("{name} was {}, not a number", shown()));
            };
            order(c.op, x.partial_cmp(n)) == Some(true)
        }
        (Op::Contains | Op::NotContains, Literal::Str(s)) => {
            let contains = match v {
                Value::Array(items) => items.iter().any(|i| json_text(i).is_some_and(|t| t == *s)),
                Value::Object(map) => map.contains_key(s.as_str()),
                _ => json_text(v).is_some_and(|t| t.contains(s.as_str())),
            };
            contains == (c.op == Op::Contains)
        }
        (Op::Matches, Literal::Regex(r)) => match json_text(v) {
            Some(t) => r.is_match(&t),
            None => r.is_match(&v.to_string()),
        },
        _ => return Err(unsupported(c, name)),
    };
    if held {
        Ok(())
    } else {
        Err(format!("{name} was {}", shown()))
    }
}

/// The text of a JSON scalar: a string's content, a number's or boolean's literal.
fn json_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// `s` quoted and escaped on one line, at most [`EXCERPT_CHARS`] characters of it, starting a
/// little before byte `focus`.
fn excerpt(s: &str, focus: usize) -> String {
    let total = s.chars().count();
    let focus_char = s.char_indices().take_while(|&(i, _)| i < focus).count();
    let start = if total <= EXCERPT_CHARS {
        0
    } else {
        focus_char
            .saturating_sub(EXCERPT_CHARS / 3)
            .min(total - EXCERPT_CHARS)
    };
    let window: String = s.chars().skip(start).take(EXCERPT_CHARS).collect();
    let before = if start > 0 { "…" } else { "" };
    let after = if start + EXCERPT_CHARS < total {
        "…"
    } else {
        ""
    };
    format!("\"{before}{}{after}\"", window.escape_debug())
}

/// `200`, `0.52`, `0.5235`: integers without a fraction, others with at most 4 decimals.
fn fmt_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `0.45ms`, `512ms`, `12.3s`, `5m 3s`.
fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.2}ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(10) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(120) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        human_secs(d.as_secs_f64())
    }
}

/// Coarse time spans: `3d 4h`, `5h 12m`, `7m 30s`, `42s` (zero second parts left out).
fn human_secs(secs: f64) -> String {
    let s = secs.max(0.0).floor() as u64;
    let (days, hours, mins) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    let (big, small) = if days > 0 {
        ((days, "d"), (hours, "h"))
    } else if hours > 0 {
        ((hours, "h"), (mins, "m"))
    } else if mins > 0 {
        ((mins, "m"), (s % 60, "s"))
    } else {
        return format!("{s}s");
    };
    if small.0 == 0 {
        format!("{}{}", big.0, big.1)
    } else {
        format!("{}{} {}{}", big.0, big.1, small.0, small.1)
    }
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
