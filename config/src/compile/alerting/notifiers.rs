//! `alerting.notifiers`: placeholder until the notifier kinds land.

use super::super::Compiler;
use crate::alerting::*;
use serde_yaml::Value;

impl Compiler {
    /// Compile `alerting.notifiers`; `timeout` and `retries` are the section-wide defaults.
    pub(in crate::compile) fn notifiers(
        &mut self,
        value: Option<Value>,
        _timeout: std::time::Duration,
        _retries: u32,
    ) -> Vec<Notifier> {
        let _ = self.list(value, "alerting.notifiers");
        Vec::new()
    }
}
