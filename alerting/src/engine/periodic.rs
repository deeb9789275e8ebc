//! The periodic rules (routes, certificates, gatehouse itself): one verdict per subject at
//! every evaluation, and what happens to a subject with too little data to judge.

use super::Engine;
use crate::evaluate::{verdicts, Inputs};
use gatehouse_config::alerting::rules::{Rule, RuleKind};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

impl Engine {
    /// The periodic rules.
    pub(crate) fn evaluate(&mut self, input: &Inputs<'_>) {
        let config = Arc::clone(&self.config);
        self.evaluate_rules(input);
        // Routes can be parents (`depends_on`): note when they recover.
        for route in &config.routes {
            self.note_down(&route.name, input.now);
        }
    }

    fn evaluate_rules(&mut self, input: &Inputs<'_>) {
        let config = Arc::clone(&self.config);
        for rule in &config.alerting.rules {
            if matches!(rule.kind, RuleKind::Probe { .. }) {
                continue;
            }
            let group = match rule.kind.family() {
                "route" => "routes",
                "certificate" => "certificates",
                _ => "gatehouse",
            };
            let labels = || {
                let mut labels = BTreeMap::new();
                labels.insert("group".to_string(), group.to_string());
                labels
            };
            // How long a route may go unjudged (too little traffic) before its incident
            // closes for want of data: its window plus its hold.
            // Anything else (an ACME certificate or a notifier not tried since start) holds
            // until it is.
            let patience = match &rule.kind {
                RuleKind::Route { window, hold, .. } => {
                    Duration::from_secs(crate::evaluate::window_of(*window).seconds()) + *hold
                }
                _ => Duration::MAX,
            };
            let seen = verdicts(&rule.kind, input);
            for v in &seen {
                let key = (rule.name.clone(), v.subject.clone());
                if v.judged {
                    self.unjudged.remove(&key);
                    self.observe(
                        rule,
                        &v.subject,
                        v.bad,
                        v.value.clone(),
                        labels(),
                        input.now,
                    );
                } else {
                    self.quiet(rule, &v.subject, &v.value, patience, labels(), input.now);
                }
            }
            // Subjects that are not measured now: a route still in the config is only quiet
            // (right after a restart its windows are empty); anything else went away and
            // counts as good.
            let stale: Vec<String> = self
                .entries
                .keys()
                .filter(|(r, s)| r == &rule.name && !seen.iter().any(|v| &v.subject == s))
                .map(|(_, s)| s.clone())
                .collect();
            for subject in stale {
                let still_routed = rule.kind.family() == "route"
                    && config.routes.iter().any(|r| r.name == subject);
                if still_routed {
                    self.quiet(rule, &subject, "no traffic", patience, labels(), input.now);
                } else {
                    self.observe(
                        rule,
                        &subject,
                        false,
                        "no longer measured".into(),
                        labels(),
                        input.now,
                    );
                }
            }
        }
    }

    /// A subject with too little to judge: its state holds, unless that has lasted longer
    /// than `patience`, when an open incident closes for want of data.
    fn quiet(
        &mut self,
        rule: &Rule,
        subject: &str,
        value: &str,
        patience: Duration,
        labels: BTreeMap<String, String>,
        now: Timestamp,
    ) {
        let key = (rule.name.clone(), subject.to_string());
        if !self.entries.contains_key(&key) {
            return;
        }
        let since = *self.unjudged.entry(key.clone()).or_insert(now);
        if now.duration_since(since).unsigned_abs() > patience {
            self.unjudged.remove(&key);
            self.observe(
                rule,
                subject,
                false,
                format!("no data: {value}"),
                labels,
                now,
            );
        }
    }
}
