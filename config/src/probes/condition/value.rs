//! Condition values: the type of each subject, the comparisons it takes, and parsing the
//! right-hand side (numbers, ratios, durations, booleans, quoted text, regular expressions).

use super::*;

/// The type of a subject: which comparisons and values it takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Number,
    Ratio,
    Duration,
    Bool,
    Text,
    Records,
    Json,
}

const ORDER: &[Op] = &[Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];
const TEXT: &[Op] = &[Op::Eq, Op::Ne, Op::Contains, Op::NotContains, Op::Matches];
pub(super) const ALL: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::Contains,
    Op::NotContains,
    Op::Matches,
];

impl Ty {
    pub(crate) fn of(subject: &Subject) -> Ty {
        match subject {
            Subject::Status
            | Subject::KeyspaceHits
            | Subject::KeyspaceMisses
            | Subject::RecordCount => Ty::Number,
            Subject::HitRatio => Ty::Ratio,
            Subject::Latency | Subject::Phase(_) | Subject::CertExpiry => Ty::Duration,
            Subject::CertValid | Subject::Connected => Ty::Bool,
            Subject::Body | Subject::Header(_) | Subject::Response => Ty::Text,
            Subject::Records => Ty::Records,
            Subject::BodyJson(_) => Ty::Json,
        }
    }

    pub(crate) fn ops(self) -> &'static [Op] {
        match self {
            Ty::Number | Ty::Ratio | Ty::Duration => ORDER,
            Ty::Bool => &[Op::Eq, Op::Ne],
            Ty::Text => TEXT,
            Ty::Records => &[Op::Contains, Op::NotContains],
            Ty::Json => ALL,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Ty::Number => "a number",
            Ty::Ratio => "a ratio between 0 and 1",
            Ty::Duration => "a duration",
            Ty::Bool => "true or false",
            Ty::Text => "text",
            Ty::Records => "the list of DNS answers",
            Ty::Json => "a JSON value",
        }
    }

    /// `OP VALUE` that fits the subject.
    pub(crate) fn example(self, subject: &Subject) -> &'static str {
        match (self, subject) {
            (_, Subject::Status) => "== 200",
            (_, Subject::RecordCount) => "> 0",
            (Ty::Number, _) => "> 1000",
            (Ty::Ratio, _) => ">= 0.7",
            (_, Subject::CertExpiry) => "> 14d",
            (Ty::Duration, _) => "< 300ms",
            (Ty::Bool, _) => "== true",
            (Ty::Records, _) => "contains \"192.0.2.1\"",
            (Ty::Json, _) => "== \"UP\"",
            _ => "contains \"OK\"",
        }
    }
}

pub(crate) fn parse_value(
    ty: Ty,
    op: Op,
    name: &str,
    subject: &Subject,
    tok: &Token,
) -> Result<Literal, ConditionError> {
    let t = tok.text.as_str();
    let err = |message: String| fail(tok.col, message);
    let number = |t: &str| t.parse::<f64>().ok().filter(|n| n.is_finite());
    let example = ty.example(subject);
    let quote = || format!("`{t}` is text: write it in double quotes, `\"{t}\"`");
    match ty {
        Ty::Number | Ty::Ratio | Ty::Duration | Ty::Bool if tok.quoted => {
            let what = ty.describe();
            err(format!(
                "{name} is {what}; write it without quotes: `{name} {example}`"
            ))
        }
        Ty::Number => match number(t) {
            Some(n) => Ok(Literal::Number(n)),
            None if *subject == Subject::Status && is_status_class(t) => {
                let class = t[..1].parse::<u8>().unwrap_or(2);
                err(format!(
                    "`{t}` is not a number; for a class write two conditions, \
                     e.g. `status >= {class}00` and `status < {}00`",
                    class + 1
                ))
            }
            None => err(format!(
                "`{t}` is not a number; write e.g. `{name} {example}`"
            )),
        },
        Ty::Ratio => {
            let eg = "write e.g. `0.7` or `70%`";
            let (digits, percent) = match t.strip_suffix('%') {
                Some(d) => (d, true),
                None => (t, false),
            };
            match number(digits) {
                Some(p) if percent && (0.0..=100.0).contains(&p) => Ok(Literal::Number(p / 100.0)),
                Some(r) if !percent && (0.0..=1.0).contains(&r) => Ok(Literal::Number(r)),
                Some(_) => err(format!(
                    "`{t}` is out of range; {name} is between 0 and 1: {eg}"
                )),
                None => err(format!("`{t}` is not a ratio; {eg}")),
            }
        }
        Ty::Duration => {
            let cert = *subject == Subject::CertExpiry;
            if number(t).is_some() {
                let unit = if cert { "d" } else { "ms" };
                let what = format!("`{t}` has no unit; {name} is a duration");
                return err(format!("{what}: write e.g. `{t}{unit}`"));
            }
            let eg = if cert {
                "`14d` or `720h`"
            } else {
                "`300ms` or `2s`"
            };
            match parse_duration(t) {
                Ok(d) => Ok(Literal::Duration(d)),
                Err(_) => err(format!("`{t}` is not a duration; write e.g. {eg}")),
            }
        }
        Ty::Bool => match t {
            "true" => Ok(Literal::Bool(true)),
            "false" => Ok(Literal::Bool(false)),
            _ => err(format!(
                "`{t}` is not true or false; write `{name} == true` or `{name} == false`"
            )),
        },
        Ty::Text | Ty::Records if !tok.quoted => err(quote()),
        Ty::Text | Ty::Records => text_literal(op, tok),
        Ty::Json => json_literal(op, name, tok),
    }
}

/// A value compared with part of a JSON body: text, a number or a boolean.
fn json_literal(op: Op, name: &str, tok: &Token) -> Result<Literal, ConditionError> {
    let (t, o) = (tok.text.as_str(), op.as_str());
    let err = |message: String| fail(tok.col, message);
    let ordering = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
    let number = t.parse::<f64>().ok().filter(|n| n.is_finite());
    match (tok.quoted, t, number) {
        (true, _, _) if ordering => err(format!(
            "`{o}` compares numbers; write the number without quotes, e.g. `{name} {o} 10`"
        )),
        (true, _, _) => text_literal(op, tok),
        _ if !ordering && !matches!(op, Op::Eq | Op::Ne) => err(format!(
            "`{t}` is text here: write it in double quotes, `\"{t}\"`"
        )),
        (_, _, Some(n)) => Ok(Literal::Number(n)),
        (_, "true" | "false", _) if !ordering => Ok(Literal::Bool(t == "true")),
        (_, "null", _) => err(format!(
            "comparing with null is not supported; compare with a string, number or boolean, \
             e.g. `{name} == \"UP\"`"
        )),
        _ if ordering => err(format!("`{t}` is not a number; `{o}` compares numbers")),
        _ => err(format!(
            "`{t}` is not a number or true/false; write text in double quotes, `\"{t}\"`"
        )),
    }
}

fn is_status_class(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].eq_ignore_ascii_case(b"xx")
}

/// A quoted value: a regex for `matches`, text otherwise.
fn text_literal(op: Op, tok: &Token) -> Result<Literal, ConditionError> {
    if op != Op::Matches {
        return Ok(Literal::Str(tok.text.clone()));
    }
    regex::Regex::new(&tok.text)
        .map(Literal::Regex)
        .map_err(|e| {
            let full = e.to_string();
            let reason = full
                .lines()
                .find_map(|l| l.trim().strip_prefix("error:"))
                .or_else(|| full.lines().next())
                .unwrap_or("invalid")
                .trim()
                .trim_end_matches('.');
            ConditionError::at(
                tok.col,
                format!("`{}` is not a valid regular expression: {reason}", tok.text),
            )
        })
}
