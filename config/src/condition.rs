//! Probe conditions: `status == 200`, `latency < 300ms`, `body.$.status == "UP"`, ...
//! (parser written by the conditions helper)

use crate::probes::{Condition, KindTag};

/// Where and why a condition did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// 1-based character column in the condition text.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// Parse and type-check `text` for a probe of kind `kind`.
pub fn parse_condition(text: &str, kind: KindTag) -> Result<Condition, ConditionError> {
    let _ = kind;
    Err(ConditionError {
        column: 1,
        message: format!("`{text}`: conditions are not parsed yet"),
    })
}
