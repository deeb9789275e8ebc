//! Probe conditions: `status == 200`, `latency < 300ms`, `body.$.status == "UP"`, ...
//!
//! A condition is `SUBJECT OP VALUE`, three tokens separated by whitespace. Text values are in
//! double quotes and may contain spaces; inside them `\"` is a quote and `\\` a backslash (any
//! other backslash is kept, so `"\d+"` is the regex `\d+`). Conditions are parsed and
//! type-checked against the probe's kind when the config is loaded, so a typo is reported with
//! its column before any check runs.

use crate::probes::{Condition, KindTag, Literal, Op, Phase, Subject};
use crate::units::parse_duration;
use std::fmt;

/// Where and why a condition did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// 1-based character column in the condition text.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
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
    /// Whether probes of `kind` measure this subject.
    pub fn allowed_for(&self, kind: KindTag) -> bool {
        use Subject as S;
        match kind {
            KindTag::Http => matches!(
                self,
                S::Status
                    | S::Latency
                    | S::Phase(_)
                    | S::Body
                    | S::BodyJson(_)
                    | S::Header(_)
                    | S::CertExpiry
                    | S::Connected
            ),
            KindTag::Tcp => matches!(
                self,
                S::Connected | S::Latency | S::Phase(Phase::Dns | Phase::Connect) | S::Response
            ),
            KindTag::Tls => matches!(
                self,
                S::CertExpiry
                    | S::CertValid
                    | S::Connected
                    | S::Latency
                    | S::Phase(Phase::Dns | Phase::Connect | Phase::Tls)
            ),
            KindTag::Dns => matches!(self, S::Records | S::RecordCount | S::Latency),
            KindTag::Redis => matches!(
                self,
                S::HitRatio | S::KeyspaceHits | S::KeyspaceMisses | S::Connected | S::Latency
            ),
            KindTag::Heartbeat => false,
        }
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

/// The subjects probes of `kind` measure, as written in a condition.
pub fn subjects_for(kind: KindTag) -> &'static [&'static str] {
    match kind {
        KindTag::Http => &[
            "status",
            "latency",
            "latency.dns",
            "latency.connect",
            "latency.tls",
            "latency.first_byte",
            "body",
            "body.$.PATH",
            "header.NAME",
            "cert_expiry",
            "connected",
        ],
        KindTag::Tcp => &["connected", "latency", "latency.dns", "latency.connect", "response"],
        KindTag::Tls => &[
            "cert_expiry",
            "cert_valid",
            "connected",
            "latency",
            "latency.dns",
            "latency.connect",
            "latency.tls",
        ],
        KindTag::Dns => &["records", "record_count", "latency"],
        KindTag::Redis => &["hit_ratio", "keyspace_hits", "keyspace_misses", "connected", "latency"],
        KindTag::Heartbeat => &[],
    }
}

const HEARTBEAT: &str = "heartbeat monitors have no conditions; \
                         they are up while beats arrive within `period` + `grace`";

/// Parse and type-check `text` for a probe of kind `kind`.
pub fn parse_condition(text: &str, kind: KindTag) -> Result<Condition, ConditionError> {
    if kind == KindTag::Heartbeat {
        return Err(ConditionError::at(1, HEARTBEAT));
    }
    let tokens = tokenize(text)?;
    let end = text.trim_end().chars().count() + 1;
    let Some(subject_tok) = tokens.first() else {
        return Err(ConditionError::at(
            1,
            format!("the condition is empty; write e.g. `{}`", example(kind)),
        ));
    };
    let subject = parse_subject(subject_tok, kind)?;
    let name = subject_tok.text.as_str();
    let ty = Ty::of(&subject);
    let Some(op_tok) = tokens.get(1) else {
        return Err(ConditionError::at(
            end,
            format!(
                "missing the comparison after `{name}`; write e.g. `{name} {}`",
                ty.example(&subject)
            ),
        ));
    };
    let op = parse_op(op_tok)?;
    if !ty.ops().contains(&op) {
        return Err(ConditionError::at(
            op_tok.col,
            format!(
                "`{}` does not apply to {name} ({}); use {}, e.g. `{name} {}`",
                op.as_str(),
                ty.describe(),
                list_ops(ty.ops()),
                ty.example(&subject)
            ),
        ));
    }
    let Some(value_tok) = tokens.get(2) else {
        return Err(ConditionError::at(
            end,
            format!(
                "missing the value after `{name} {}`; write e.g. `{name} {}`",
                op.as_str(),
                ty.example(&subject)
            ),
        ));
    };
    let value = parse_value(ty, op, name, &subject, value_tok)?;
    if let Some(extra) = tokens.get(3) {
        let hint = match extra.text.as_str() {
            "&&" | "||" | "and" | "or" if !extra.quoted => {
                "one comparison per condition; list each as its own entry under `conditions`"
            }
            _ => "a condition is `SUBJECT OP VALUE`; put text with spaces in double quotes",
        };
        return Err(ConditionError::at(
            extra.col,
            format!("unexpected `{}` after the value; {hint}", extra.text),
        ));
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
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if chars[i] != '"' {
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            tokens.push(Token {
                col: start + 1,
                text: chars[start..i].iter().collect(),
                quoted: false,
            });
            continue;
        }
        i += 1;
        let mut s = String::new();
        let mut closed = false;
        while i < chars.len() {
            match (chars[i], chars.get(i + 1)) {
                ('\\', Some(&c @ ('"' | '\\'))) => {
                    s.push(c);
                    i += 2;
                }
                ('"', _) => {
                    closed = true;
                    i += 1;
                    break;
                }
                (c, _) => {
                    s.push(c);
                    i += 1;
                }
            }
        }
        if !closed {
            return Err(ConditionError::at(
                start + 1,
                "this string has no closing `\"`; write `\\\"` for a quote inside it",
            ));
        }
        if i < chars.len() && !chars[i].is_whitespace() {
            return Err(ConditionError::at(
                i + 1,
                "expected a space after the closing `\"`",
            ));
        }
        tokens.push(Token {
            col: start + 1,
            text: s,
            quoted: true,
        });
    }
    Ok(tokens)
}

fn parse_subject(tok: &Token, kind: KindTag) -> Result<Subject, ConditionError> {
    let allowed = subjects_for(kind).join(", ");
    let kind_name = kind.as_str();
    let word = tok.text.as_str();
    if tok.quoted {
        return Err(ConditionError::at(
            tok.col,
            format!("a condition starts with what is measured, without quotes; {kind_name} probes measure {allowed}"),
        ));
    }
    let subject = match known_subject(word, tok.col)? {
        Some(s) => s,
        None => {
            return Err(ConditionError::at(
                tok.col,
                format!(
                    "`{word}` is not something a probe measures{}; {kind_name} probes measure {allowed}",
                    subject_hint(word)
                ),
            ))
        }
    };
    if !subject.allowed_for(kind) {
        return Err(ConditionError::at(
            tok.col,
            format!("{kind_name} probes do not measure `{word}`; they measure {allowed}"),
        ));
    }
    Ok(subject)
}

/// A hint for a word that is not a subject: upper case, gatus brackets, missing spaces.
fn subject_hint(word: &str) -> String {
    let inner = word.trim_start_matches('[').trim_end_matches(']').to_lowercase();
    if inner != word && matches!(known_subject(&inner, 1), Ok(Some(_))) {
        return format!(" (write `{inner}`)");
    }
    if let Some(at) = word.find(['=', '<', '>', '!']) {
        if at > 0 {
            let (l, r) = word.split_at(at);
            let op_len = r
                .find(|c: char| !matches!(c, '=' | '<' | '>' | '!'))
                .unwrap_or(r.len());
            let (op, value) = r.split_at(op_len);
            return format!(" (put spaces around the comparison: `{l} {op} {value}`)");
        }
    }
    String::new()
}

/// The subject `word` names; `None` when it names none. `col` is the column of `word`.
fn known_subject(word: &str, col: usize) -> Result<Option<Subject>, ConditionError> {
    let s = match word {
        "status" => Subject::Status,
        "latency" => Subject::Latency,
        "latency.dns" => Subject::Phase(Phase::Dns),
        "latency.connect" => Subject::Phase(Phase::Connect),
        "latency.tls" => Subject::Phase(Phase::Tls),
        "latency.first_byte" => Subject::Phase(Phase::FirstByte),
        "body" => Subject::Body,
        "cert_expiry" => Subject::CertExpiry,
        "cert_valid" => Subject::CertValid,
        "connected" => Subject::Connected,
        "hit_ratio" => Subject::HitRatio,
        "keyspace_hits" => Subject::KeyspaceHits,
        "keyspace_misses" => Subject::KeyspaceMisses,
        "records" => Subject::Records,
        "record_count" => Subject::RecordCount,
        "response" => Subject::Response,
        _ => {
            if let Some(phase) = word.strip_prefix("latency.") {
                return Err(ConditionError::at(
                    col + 8,
                    format!("`{phase}` is not a phase; write latency.dns, latency.connect, latency.tls or latency.first_byte"),
                ));
            }
            if let Some(path) = word.strip_prefix("body.$") {
                return json_pointer(path, col + 6).map(|p| Some(Subject::BodyJson(p)));
            }
            if let Some(rest) = word.strip_prefix("body.") {
                return Err(ConditionError::at(
                    col + 5,
                    format!("a path into a JSON body starts at `body.$`: write `body.$.{rest}`"),
                ));
            }
            if let Some(name) = word.strip_prefix("header.") {
                return header_name(name, col + 7).map(|n| Some(Subject::Header(n)));
            }
            return Ok(None);
        }
    };
    Ok(Some(s))
}

fn header_name(name: &str, col: usize) -> Result<String, ConditionError> {
    if name.is_empty() {
        return Err(ConditionError::at(
            col,
            "the header name is missing; write e.g. `header.content-type`",
        ));
    }
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if let Some((i, c)) = name.chars().enumerate().find(|&(_, c)| !is_tchar(c)) {
        return Err(ConditionError::at(
            col + i,
            format!("`{c}` cannot be part of a header name; write e.g. `header.content-type`"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// A dotted JSONPath subset (`.key`, `[0]`, `["key"]`) after `body.$`, as a JSON pointer
/// (RFC 6901). `col` is the column of the path's first character.
fn json_pointer(path: &str, col: usize) -> Result<String, ConditionError> {
    let chars: Vec<char> = path.chars().collect();
    let mut pointer = String::new();
    let mut push = |key: &str| {
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
    };
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && !matches!(chars[i], '.' | '[' | ']') {
                    i += 1;
                }
                let key: String = chars[start..i].iter().collect();
                if key.is_empty() {
                    return Err(ConditionError::at(
                        col + start,
                        "a key is missing after `.`; write e.g. `body.$.data.status` (`..` and `.[` are not supported)",
                    ));
                }
                if key == "*" {
                    return Err(ConditionError::at(
                        col + start,
                        "wildcards are not supported; name one key or index, e.g. `body.$.items[0].id`",
                    ));
                }
                push(&key);
            }
            '[' => {
                let open = i;
                i += 1;
                let key: String = match chars.get(i) {
                    Some(&q @ ('"' | '\'')) => {
                        let start = i + 1;
                        i = start;
                        while i < chars.len() && chars[i] != q {
                            i += 1;
                        }
                        if i >= chars.len() {
                            return Err(ConditionError::at(
                                col + open,
                                format!("`[{q}` has no closing `{q}]`"),
                            ));
                        }
                        i += 1;
                        chars[start..i - 1].iter().collect()
                    }
                    _ => {
                        let start = i;
                        while i < chars.len() && chars[i] != ']' {
                            i += 1;
                        }
                        let index: String = chars[start..i].iter().collect();
                        if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
                            return Err(ConditionError::at(
                                col + start,
                                format!("`[{index}]` is not an index; write e.g. `[0]`, or `[\"key\"]` for a key"),
                            ));
                        }
                        index
                    }
                };
                if chars.get(i) != Some(&']') {
                    return Err(ConditionError::at(
                        col + open,
                        "`[` has no closing `]`; write e.g. `[0]` or `[\"key\"]`",
                    ));
                }
                i += 1;
                push(&key);
            }
            c => {
                return Err(ConditionError::at(
                    col + i,
                    format!("expected `.key` or `[index]` here, not `{c}`; write e.g. `body.$.data[0].status`"),
                ))
            }
        }
    }
    Ok(pointer)
}

fn parse_op(tok: &Token) -> Result<Op, ConditionError> {
    let op = match (tok.quoted, tok.text.as_str()) {
        (false, "==") => Op::Eq,
        (false, "!=") => Op::Ne,
        (false, "<") => Op::Lt,
        (false, "<=") => Op::Le,
        (false, ">") => Op::Gt,
        (false, ">=") => Op::Ge,
        (false, "contains") => Op::Contains,
        (false, "!contains") => Op::NotContains,
        (false, "matches") => Op::Matches,
        (_, t) => {
            let hint = match t {
                "=" | "===" if !tok.quoted => "; write `==`",
                "<>" | "!==" if !tok.quoted => "; write `!=`",
                "=<" if !tok.quoted => "; write `<=`",
                "=>" if !tok.quoted => "; write `>=`",
                "=~" | "~=" | "~" if !tok.quoted => "; write `matches`",
                _ => "",
            };
            let shown = if tok.quoted { format!("\"{t}\"") } else { t.to_string() };
            return Err(ConditionError::at(
                tok.col,
                format!(
                    "`{shown}` is not a comparison{hint}; use one of ==, !=, <, <=, >, >=, contains, !contains, matches"
                ),
            ));
        }
    };
    Ok(op)
}

fn list_ops(ops: &[Op]) -> String {
    let names: Vec<&str> = ops.iter().map(|o| o.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The type of a subject: which comparisons and values it takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
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
const ALL: &[Op] = &[
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
    fn of(subject: &Subject) -> Ty {
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

    fn ops(self) -> &'static [Op] {
        match self {
            Ty::Number | Ty::Ratio | Ty::Duration => ORDER,
            Ty::Bool => &[Op::Eq, Op::Ne],
            Ty::Text => TEXT,
            Ty::Records => &[Op::Contains, Op::NotContains],
            Ty::Json => ALL,
        }
    }

    fn describe(self) -> &'static str {
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
    fn example(self, subject: &Subject) -> &'static str {
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

fn parse_value(
    ty: Ty,
    op: Op,
    name: &str,
    subject: &Subject,
    tok: &Token,
) -> Result<Literal, ConditionError> {
    let t = tok.text.as_str();
    let err = |message: String| Err(ConditionError::at(tok.col, message));
    let number = |t: &str| t.parse::<f64>().ok().filter(|n| n.is_finite());
    match ty {
        Ty::Number | Ty::Ratio | Ty::Duration | Ty::Bool if tok.quoted => {
            let what = ty.describe();
            err(format!("{name} is {what}; write it without quotes: `{name} {}`", ty.example(subject)))
        }
        Ty::Number => match number(t) {
            Some(n) => Ok(Literal::Number(n)),
            None if *subject == Subject::Status && is_status_class(t) => err(format!(
                "`{t}` is not a number; for a class write two conditions, e.g. `status >= {0}00` and `status < {1}00`",
                &t[..1],
                t[..1].parse::<u8>().unwrap_or(2) + 1
            )),
            None => err(format!("`{t}` is not a number; write e.g. `{name} {}`", ty.example(subject))),
        },
        Ty::Ratio => {
            let (digits, percent) = match t.strip_suffix('%') {
                Some(d) => (d, true),
                None => (t, false),
            };
            match number(digits) {
                Some(p) if percent && (0.0..=100.0).contains(&p) => Ok(Literal::Number(p / 100.0)),
                Some(r) if !percent && (0.0..=1.0).contains(&r) => Ok(Literal::Number(r)),
                Some(_) => err(format!("`{t}` is out of range; {name} is between 0 and 1: write e.g. `0.7` or `70%`")),
                None => err(format!("`{t}` is not a ratio; write e.g. `0.7` or `70%`")),
            }
        }
        Ty::Duration => {
            let eg = if *subject == Subject::CertExpiry { ("14d", "720h") } else { ("300ms", "2s") };
            if number(t).is_some() {
                return err(format!(
                    "`{t}` has no unit; {name} is a duration: write e.g. `{t}{}`",
                    if *subject == Subject::CertExpiry { "d" } else { "ms" }
                ));
            }
            match parse_duration(t) {
                Ok(d) => Ok(Literal::Duration(d)),
                Err(_) => err(format!("`{t}` is not a duration; write e.g. `{}` or `{}`", eg.0, eg.1)),
            }
        }
        Ty::Bool => match t {
            "true" => Ok(Literal::Bool(true)),
            "false" => Ok(Literal::Bool(false)),
            _ => err(format!("`{t}` is not true or false; write `{name} == true` or `{name} == false`")),
        },
        Ty::Text | Ty::Records => {
            if !tok.quoted {
                return err(format!("`{t}` is text: write it in double quotes, `\"{t}\"`"));
            }
            text_literal(op, tok)
        }
        Ty::Json => {
            if tok.quoted {
                if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
                    return err(format!(
                        "`{}` compares numbers; write the number without quotes, e.g. `{name} {} 10`",
                        op.as_str(),
                        op.as_str()
                    ));
                }
                return text_literal(op, tok);
            }
            if matches!(op, Op::Contains | Op::NotContains | Op::Matches) {
                return err(format!("`{t}` is text here: write it in double quotes, `\"{t}\"`"));
            }
            match (t, number(t)) {
                (_, Some(n)) => Ok(Literal::Number(n)),
                ("true" | "false", _) if matches!(op, Op::Eq | Op::Ne) => Ok(Literal::Bool(t == "true")),
                ("true" | "false", _) => err(format!(
                    "`{}` compares numbers, not `{t}`; use `==` or `!=` with true or false",
                    op.as_str()
                )),
                ("null", _) => err(format!(
                    "comparing with null is not supported; compare with a string, number or boolean, e.g. `{name} == \"UP\"`"
                )),
                _ if matches!(op, Op::Eq | Op::Ne) => err(format!(
                    "`{t}` is not a number or true/false; write text in double quotes, `\"{t}\"`"
                )),
                _ => err(format!("`{t}` is not a number; `{}` compares numbers", op.as_str())),
            }
        }
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
    regex::Regex::new(&tok.text).map(Literal::Regex).map_err(|e| {
        let full = e.to_string();
        let reason = full
            .lines()
            .find_map(|l| l.trim().strip_prefix("error:"))
            .or_else(|| full.lines().next())
            .unwrap_or("invalid")
            .trim();
        ConditionError::at(
            tok.col,
            format!("`{}` is not a valid regular expression: {reason}", tok.text),
        )
    })
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
