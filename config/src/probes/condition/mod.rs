//! Probe conditions: `status == 200`, `latency < 300ms`, `body.$.status == "UP"`, ...
//!
//! A condition is `SUBJECT OP VALUE`, three tokens separated by whitespace. Text values are in
//! double quotes and may contain spaces; inside them `\"` is a quote and `\\` a backslash (any
//! other backslash is kept, so `"\d+"` is the regex `\d+`). Conditions are parsed and
//! type-checked against the probe's kind when the config is loaded, so a typo is reported with
//! its column before any check runs.

use crate::probes::KindTag;
use crate::units::parse_duration;
use std::fmt;
use value::{parse_value, Ty, ALL};

mod model;
mod value;

pub use model::{Condition, Literal, Op, Phase, Subject};

/// Where and why a condition did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// 1-based character column in the condition text.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

fn fail<T>(column: usize, message: impl Into<String>) -> Result<T, ConditionError> {
    Err(ConditionError::at(column, message))
}

impl ConditionError {
    fn at(column: usize, message: impl Into<String>) -> Self {
        ConditionError {
            column,
            message: message.into(),
        }
    }

    /// One line naming the expression and the column, e.g.
    /// "`latency < 30x`: at column 11: `30x` is not a duration; write e.g. `300ms` or `2s`".
    pub fn render(&self, text: &str) -> String {
        let shown: String = text
            .trim_end()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if shown.trim().is_empty() {
            return self.message.clone();
        }
        format!("`{shown}`: at column {}: {}", self.column, self.message)
    }
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ConditionError {}

impl Subject {
    /// How the subject is written in a condition; `body.$.PATH` and `header.NAME` for those
    /// with a part of the operator's choosing.
    pub fn pattern(&self) -> &'static str {
        match self {
            Subject::Status => "status",
            Subject::Latency => "latency",
            Subject::Phase(Phase::Dns) => "latency.dns",
            Subject::Phase(Phase::Connect) => "latency.connect",
            Subject::Phase(Phase::Tls) => "latency.tls",
            Subject::Phase(Phase::FirstByte) => "latency.first_byte",
            Subject::Body => "body",
            Subject::BodyJson(_) => "body.$.PATH",
            Subject::Header(_) => "header.NAME",
            Subject::CertExpiry => "cert_expiry",
            Subject::CertValid => "cert_valid",
            Subject::Connected => "connected",
            Subject::HitRatio => "hit_ratio",
            Subject::KeyspaceHits => "keyspace_hits",
            Subject::KeyspaceMisses => "keyspace_misses",
            Subject::Records => "records",
            Subject::RecordCount => "record_count",
            Subject::Response => "response",
        }
    }

    /// Whether probes of `kind` measure this subject.
    pub fn allowed_for(&self, kind: KindTag) -> bool {
        subjects_for(kind).split(", ").any(|s| s == self.pattern())
    }
}

impl Op {
    /// As written in a condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::NotContains => "!contains",
            Op::Matches => "matches",
        }
    }
}

/// The subjects probes of `kind` measure, as written in a condition, separated by `, `.
pub fn subjects_for(kind: KindTag) -> &'static str {
    match kind {
        KindTag::Http => {
            "status, latency, latency.dns, latency.connect, latency.tls, latency.first_byte, \
             body, body.$.PATH, header.NAME, cert_expiry, connected"
        }
        KindTag::Tcp => "connected, latency, latency.dns, latency.connect, response",
        KindTag::Tls => {
            "cert_expiry, cert_valid, connected, latency, latency.dns, latency.connect, latency.tls"
        }
        KindTag::Dns => "records, record_count, latency",
        KindTag::Redis => "hit_ratio, keyspace_hits, keyspace_misses, connected, latency",
        KindTag::Heartbeat => "",
    }
}

const HEARTBEAT: &str = "heartbeat monitors have no conditions; \
                         they are up while beats arrive within `period` + `grace`";

/// Parse and type-check `text` for a probe of kind `kind`.
pub fn parse_condition(text: &str, kind: KindTag) -> Result<Condition, ConditionError> {
    if kind == KindTag::Heartbeat {
        return fail(1, HEARTBEAT);
    }
    let tokens = tokenize(text)?;
    let end = text.trim_end().chars().count() + 1;
    let Some(subject_tok) = tokens.first() else {
        let eg = example(kind);
        return fail(1, format!("the condition is empty; write e.g. `{eg}`"));
    };
    let subject = parse_subject(subject_tok, kind)?;
    let name = subject_tok.text.as_str();
    let ty = Ty::of(&subject);
    let eg = ty.example(&subject);
    let Some(op_tok) = tokens.get(1) else {
        let message = format!("missing the comparison after `{name}`; write e.g. `{name} {eg}`");
        return fail(end, message);
    };
    let op = parse_op(op_tok)?;
    let o = op.as_str();
    if !ty.ops().contains(&op) {
        let (what, ops) = (ty.describe(), list_ops(ty.ops()));
        let message =
            format!("`{o}` does not apply to {name} ({what}); use {ops}, e.g. `{name} {eg}`");
        return fail(op_tok.col, message);
    }
    let Some(value_tok) = tokens.get(2) else {
        let message = format!("missing the value after `{name} {o}`; write e.g. `{name} {eg}`");
        return fail(end, message);
    };
    let value = parse_value(ty, op, name, &subject, value_tok)?;
    if let Some(extra) = tokens.get(3) {
        let hint = match extra.text.as_str() {
            "&&" | "||" | "and" | "or" if !extra.quoted => {
                "one comparison per condition; list each as its own entry under `conditions`"
            }
            _ => "a condition is `SUBJECT OP VALUE`; put text with spaces in double quotes",
        };
        let message = format!("unexpected `{}` after the value; {hint}", extra.text);
        return fail(extra.col, message);
    }
    Ok(Condition {
        text: text.trim().to_string(),
        subject,
        op,
        value,
    })
}

fn example(kind: KindTag) -> &'static str {
    match kind {
        KindTag::Http => "status == 200",
        KindTag::Tcp => "connected == true",
        KindTag::Tls => "cert_expiry > 14d",
        KindTag::Dns => "record_count > 0",
        KindTag::Redis => "hit_ratio >= 0.7",
        KindTag::Heartbeat => "",
    }
}

/// A token: a bare word, or a double-quoted string with its escapes resolved.
struct Token {
    /// 1-based column of its first character (the opening quote of a string).
    col: usize,
    text: String,
    quoted: bool,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, quoted) = (i, chars[i] == '"');
        let mut s = String::new();
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        } else if !quoted {
            while i < chars.len() && !chars[i].is_whitespace() {
                s.push(chars[i]);
                i += 1;
            }
        } else {
            i += 1;
            loop {
                let (c, step) = match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => {
                        let fix = "write `\\\"` for a quote inside it";
                        return fail(start + 1, format!("this string has no closing `\"`; {fix}"));
                    }
                    (Some('\\'), Some(&c @ ('"' | '\\'))) => (c, 2),
                    (Some('"'), _) => break,
                    (Some(&c), _) => (c, 1),
                };
                s.push(c);
                i += step;
            }
            i += 1;
            if chars.get(i).is_some_and(|c| !c.is_whitespace()) {
                return fail(i + 1, "expected a space after the closing `\"`");
            }
        }
        tokens.push(Token {
            col: start + 1,
            text: s,
            quoted,
        });
    }
    Ok(tokens)
}

fn parse_subject(tok: &Token, kind: KindTag) -> Result<Subject, ConditionError> {
    let allowed = subjects_for(kind);
    let kind_name = kind.as_str();
    let word = tok.text.as_str();
    if tok.quoted {
        let what = "a condition starts with what is measured, without quotes";
        return fail(
            tok.col,
            format!("{what}; {kind_name} probes measure {allowed}"),
        );
    }
    let Some(subject) = known_subject(word, tok.col)? else {
        let message = match without_spaces(word) {
            Some(fixed) => format!("put spaces around the comparison: `{fixed}`"),
            None => format!(
                "`{word}` is not something a probe measures{}; {kind_name} probes measure \
                 {allowed}",
                subject_hint(word)
            ),
        };
        return fail(tok.col, message);
    };
    if !subject.allowed_for(kind) {
        return fail(
            tok.col,
            format!("{kind_name} probes do not measure `{word}`; they measure {allowed}"),
        );
    }
    Ok(subject)
}

/// `status==200` as `status == 200`, when `word` is a condition written without spaces.
fn without_spaces(word: &str) -> Option<String> {
    let at = word.find(['=', '<', '>', '!']).filter(|&at| at > 0)?;
    let (subject, rest) = word.split_at(at);
    let op_len = rest
        .find(|c: char| !matches!(c, '=' | '<' | '>' | '!'))
        .unwrap_or(rest.len());
    let (op, value) = rest.split_at(op_len);
    Some(format!("{subject} {op} {value}").trim_end().to_string())
}

/// A hint for a word that is not a subject: upper case, gatus brackets.
fn subject_hint(word: &str) -> String {
    let inner = word
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_lowercase();
    if inner != word && matches!(known_subject(&inner, 1), Ok(Some(_))) {
        return format!(" (write `{inner}`)");
    }
    String::new()
}

/// The subject `word` names; `None` when it names none. `col` is the column of `word`.
fn known_subject(word: &str, col: usize) -> Result<Option<Subject>, ConditionError> {
    const SIMPLE: &[Subject] = &[
        Subject::Status,
        Subject::Latency,
        Subject::Phase(Phase::Dns),
        Subject::Phase(Phase::Connect),
        Subject::Phase(Phase::Tls),
        Subject::Phase(Phase::FirstByte),
        Subject::Body,
        Subject::CertExpiry,
        Subject::CertValid,
        Subject::Connected,
        Subject::HitRatio,
        Subject::KeyspaceHits,
        Subject::KeyspaceMisses,
        Subject::Records,
        Subject::RecordCount,
        Subject::Response,
    ];
    if let Some(s) = SIMPLE.iter().find(|s| s.pattern() == word) {
        return Ok(Some(s.clone()));
    }
    if let Some(phase) = word.strip_prefix("latency.") {
        let phases = "latency.dns, latency.connect, latency.tls or latency.first_byte";
        return fail(col + 8, format!("`{phase}` is not a phase; write {phases}"));
    }
    if let Some(path) = word.strip_prefix("body.$") {
        return json_pointer(path, col + 6).map(|p| Some(Subject::BodyJson(p)));
    }
    if let Some(rest) = word.strip_prefix("body.") {
        let fix = format!("a path into a JSON body starts at `body.$`: write `body.$.{rest}`");
        return fail(col + 5, fix);
    }
    match word.strip_prefix("header.") {
        Some(name) => header_name(name, col + 7).map(|n| Some(Subject::Header(n))),
        None => Ok(None),
    }
}

fn header_name(name: &str, col: usize) -> Result<String, ConditionError> {
    if name.is_empty() {
        return fail(
            col,
            "the header name is missing; write e.g. `header.content-type`",
        );
    }
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if let Some((i, c)) = name.chars().enumerate().find(|&(_, c)| !is_tchar(c)) {
        return fail(
            col + i,
            format!("`{c}` cannot be part of a header name; write e.g. `header.content-type`"),
        );
    }
    Ok(name.to_ascii_lowercase())
}

/// A dotted JSONPath subset (`.key`, `[0]`, `["key"]`) after `body.$`, as a JSON pointer
/// (RFC 6901). `col` is the column of the path's first character.
fn json_pointer(path: &str, col: usize) -> Result<String, ConditionError> {
    const EXAMPLE: &str = "write e.g. `body.$.data[0].status`";
    let chars: Vec<char> = path.chars().collect();
    let mut pointer = String::new();
    let mut i = 0;
    while i < chars.len() {
        let (open, start) = (chars[i], i + 1);
        let stops: &[char] = if open == '[' {
            &[']']
        } else {
            &['.', '[', ']']
        };
        let end = (start..chars.len())
            .find(|&j| stops.contains(&chars[j]))
            .unwrap_or(chars.len());
        let inner: String = chars[start.min(end)..end].iter().collect();
        let key = match open {
            '.' if inner.is_empty() || inner == "*" => {
                let what = if inner.is_empty() {
                    "a key is missing after `.`"
                } else {
                    "wildcards are not supported"
                };
                return fail(col + start, format!("{what}; {EXAMPLE}"));
            }
            '.' => inner,
            '[' if end == chars.len() => {
                return fail(
                    col + i,
                    "`[` has no closing `]`; write e.g. `[0]` or `[\"key\"]`",
                );
            }
            '[' => match ['"', '\'']
                .iter()
                .find_map(|&q| inner.strip_prefix(q)?.strip_suffix(q))
            {
                Some(k) => k.to_string(),
                None if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit()) => inner,
                None => {
                    let fix = "write e.g. `[0]`, or `[\"key\"]` for a key";
                    return fail(col + start, format!("`[{inner}]` is not an index; {fix}"));
                }
            },
            c => {
                let what = format!("expected `.key` or `[index]` here, not `{c}`");
                return fail(col + i, format!("{what}; {EXAMPLE}"));
            }
        };
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        i = if open == '[' { end + 1 } else { end };
    }
    Ok(pointer)
}

fn parse_op(tok: &Token) -> Result<Op, ConditionError> {
    let t = tok.text.as_str();
    if let Some(op) = ALL.iter().find(|op| !tok.quoted && op.as_str() == t) {
        return Ok(*op);
    }
    let fix = match t {
        _ if tok.quoted => "write it without quotes",
        "=" | "===" => "write `==`",
        "<>" | "!==" => "write `!=`",
        "=<" => "write `<=`",
        "=>" => "write `>=`",
        "=~" | "~=" | "~" => "write `matches`",
        _ => "use one of ==, !=, <, <=, >, >=, contains, !contains, matches",
    };
    let shown = if tok.quoted {
        format!("\"{t}\"")
    } else {
        t.to_string()
    };
    fail(tok.col, format!("`{shown}` is not a comparison; {fix}"))
}

fn list_ops(ops: &[Op]) -> String {
    let names: Vec<&str> = ops.iter().map(|o| o.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

#[cfg(test)]
mod tests;
