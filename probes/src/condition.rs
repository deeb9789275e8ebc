//! Evaluating compiled conditions against an observation (written by the conditions helper).

use crate::observation::Observation;
use gatehouse_config::Condition;

/// Check one condition. `Err` says what was measured, e.g. "`status == 200`: status was 500".
pub fn check(condition: &Condition, obs: &Observation) -> Result<(), String> {
    let _ = obs;
    Err(format!("`{}`: not evaluated yet", condition.text))
}

/// Every failed condition's reason; empty when all hold.
pub fn evaluate(conditions: &[Condition], obs: &Observation) -> Vec<String> {
    conditions.iter().filter_map(|c| check(c, obs).err()).collect()
}
