//! A compiled probe condition: subject, comparison and literal.

use std::time::Duration;

/// A compiled condition such as `status == 200` or `body.$.status == "UP"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// As written in the config.
    pub text: String,
    /// The left-hand side: what is measured.
    pub subject: Subject,
    /// The comparison.
    pub op: Op,
    /// The right-hand side.
    pub value: Literal,
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `status`: the HTTP status code.
    Status,
    /// `latency`: the whole check.
    Latency,
    /// `latency.dns` / `.connect` / `.tls` / `.first_byte`.
    Phase(Phase),
    /// `body`: the response body as text.
    Body,
    /// `body.$.a.b[0]`: a value in a JSON body, stored as a JSON pointer (`/a/b/0`).
    BodyJson(String),
    /// `header.NAME` (lower case).
    Header(String),
    /// `cert_expiry`: time left until the leaf certificate expires.
    CertExpiry,
    /// `cert_valid`: the chain verifies for the name.
    CertValid,
    /// `connected`
    Connected,
    /// `hit_ratio`: Redis keyspace hits / (hits + misses).
    HitRatio,
    /// `keyspace_hits`
    KeyspaceHits,
    /// `keyspace_misses`
    KeyspaceMisses,
    /// `records`: the DNS answers, as text.
    Records,
    /// `record_count`
    RecordCount,
    /// `response`: what a TCP probe read.
    Response,
}

/// A timed phase of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Name resolution.
    Dns,
    /// TCP connect.
    Connect,
    /// TLS handshake.
    Tls,
    /// Request sent until the response head arrived.
    FirstByte,
}

impl Phase {
    /// Metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::FirstByte => "first_byte",
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `!contains`
    NotContains,
    /// `matches` (a regular expression, unanchored)
    Matches,
}

/// The right-hand side of a condition.
#[derive(Debug, Clone)]
pub enum Literal {
    /// `200`, `0.7`
    Number(f64),
    /// `300ms`, `14d`
    Duration(Duration),
    /// `"UP"`
    Str(String),
    /// `true`, `false`
    Bool(bool),
    /// The pattern of `matches`, compiled.
    Regex(regex::Regex),
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Literal::Number(a), Literal::Number(b)) => a == b,
            (Literal::Duration(a), Literal::Duration(b)) => a == b,
            (Literal::Str(a), Literal::Str(b)) => a == b,
            (Literal::Bool(a), Literal::Bool(b)) => a == b,
            (Literal::Regex(a), Literal::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}
