//! Suppression: why a firing alert is held, in one place (a parent probe or route down or
//! settling after it recovered, then an inhibit rule, then a maintenance window, then a
//! silence), the open incidents as the API lists them with that
//! reason, and the engine's list of silences. What a maintenance window or a silence covers
//! is in `maintenance.rs` and `silence.rs`.

use super::{Engine, Key};
use crate::evaluate::covers_probe;
use crate::incident::Incident;

use crate::silence::Silence;
use crate::store::AlertStore;
use gatehouse_config::alerting::rules::RuleKind;
use gatehouse_config::probes::Probe;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::time::Duration;

/// An open incident and why it is not notified now, if it is not.
pub(crate) type OpenIncident = (Incident, Option<String>);

impl Engine {
    /// A parent counts as down while a probe rule sees it failing (pending or firing, so a
    /// single good check of a firing parent does not release its children), or its last
    /// result failed; a route parent while a route rule fires or is pending for it.
    fn parent_down(&self, parent: &str) -> bool {
        self.probe_down.get(parent).copied().unwrap_or(false)
            || self.config.alerting.rules.iter().any(|r| {
                matches!(r.kind, RuleKind::Probe { .. } | RuleKind::Route { .. })
                    && self
                        .entries
                        .get(&(r.name.clone(), parent.to_string()))
                        .is_some_and(|e| e.tracker.firing || e.tracker.pending())
            })
    }

    /// After a result of `probe`: remember when it was last down, and when it recovered
    /// (the first result no longer down).
    pub(super) fn note_down(&mut self, probe: &str, at: Timestamp) {
        let down = self.parent_down(probe);
        let was = self.last_down.get(probe).is_some_and(|(d, _)| *d);
        if down || was {
            self.last_down.insert(probe.to_string(), (down, at));
        }
    }

    /// How long `p`'s alerts stay held after a parent recovers: its `depends_on_settle`, or
    /// twice what the success threshold of the rules watching it takes at its interval (so
    /// that a child coming back a few checks after its parent never pages).
    fn settle_time(&self, p: &Probe) -> Duration {
        p.depends_on_settle.unwrap_or_else(|| {
            let threshold = self
                .config
                .alerting
                .rules
                .iter()
                .filter_map(|r| match &r.kind {
                    RuleKind::Probe {
                        probes,
                        groups,
                        success_threshold,
                        ..
                    } if covers_probe(probes, groups, &p.name, &p.group) => {
                        Some(success_threshold.of.unwrap_or(success_threshold.count))
                    }
                    _ => None,
                })
                .max()
                .unwrap_or(1);
            p.interval.saturating_mul(threshold.saturating_mul(2))
        })
    }

    /// A firing incident that inhibits an alert with `labels` (an inhibit rule's source),
    /// if any; never the alert itself.
    fn inhibitor(&self, labels: &BTreeMap<String, String>) -> Option<&Incident> {
        let rules = &self.config.alerting.inhibit;
        if rules.is_empty() {
            return None;
        }
        self.entries
            .values()
            .filter_map(|e| e.incident.as_ref())
            .filter(|i| i.labels != *labels)
            .find(|i| rules.iter().any(|r| r.inhibits(&i.labels, labels)))
    }

    /// The maintenance windows on at `now`, worked out once per instant (a flush asks for
    /// every open incident).
    fn active_maintenance(&self, now: Timestamp) -> Vec<usize> {
        let mut cache = self.active_maint.borrow_mut();
        match cache.as_ref() {
            Some((at, list)) if *at == now => list.clone(),
            _ => {
                let list: Vec<usize> = self
                    .config
                    .alerting
                    .maintenance
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.active(now))
                    .map(|(i, _)| i)
                    .collect();
                *cache = Some((now, list.clone()));
                list
            }
        }
    }

    /// Why a firing alert is not notified now, if it is not.
    pub(crate) fn suppression(
        &self,
        kind: &str,
        subject: &str,
        labels: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Option<(&'static str, String)> {
        if kind == "probe" {
            if let Some(p) = self
                .probe_index
                .get(subject)
                .and_then(|&i| self.config.probes.probes.get(i))
            {
                for parent in &p.depends_on {
                    if self.parent_down(parent) {
                        return Some((
                            "dependency",
                            format!("depends on `{parent}`, which is down"),
                        ));
                    }
                    let settle = SignedDuration::try_from(self.settle_time(p)).unwrap_or_default();
                    if let Some(until) = self
                        .last_down
                        .get(parent)
                        .and_then(|(_, t)| t.checked_add(settle).ok())
                        .filter(|until| now < *until)
                    {
                        return Some((
                            "dependency",
                            format!(
                                "depends on `{parent}`, which recovered; settling until {until}"
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(source) = self.inhibitor(labels) {
            return Some((
                "inhibited",
                format!(
                    "inhibited by `{}` firing for `{}`",
                    source.rule, source.subject
                ),
            ));
        }
        let active = self.active_maintenance(now);
        if let Some(m) = active
            .iter()
            .filter_map(|&i| self.config.alerting.maintenance.get(i))
            .find(|m| m.covers(subject, labels))
        {
            return Some(("maintenance", format!("in maintenance window `{}`", m.name)));
        }
        self.silences
            .iter()
            .find(|s| s.active(now) && s.matches(labels))
            .map(|s| ("silence", format!("silenced by {} ({})", s.id, s.comment)))
    }

    /// Open incidents with why they are quiet, and the pending ones (rule, subject).
    pub(crate) fn open(&self, now: Timestamp) -> (Vec<OpenIncident>, Vec<Key>) {
        let mut open: Vec<OpenIncident> = self
            .entries
            .values()
            .filter_map(|e| e.incident.as_ref())
            .map(|i| {
                let why = self
                    .suppression(&i.kind, &i.subject, &i.labels, now)
                    .map(|(_, w)| w);
                (i.clone(), why)
            })
            .collect();
        open.sort_by_key(|(i, _)| std::cmp::Reverse(i.started_at));
        let mut pending: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| e.tracker.pending())
            .map(|(k, _)| k.clone())
            .collect();
        pending.sort();
        (open, pending)
    }

    pub(crate) fn store(&self) -> &AlertStore {
        &self.store
    }

    pub(crate) fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// Read the silences again from the store (cluster mode: other instances add them).
    pub(crate) fn reload_silences(&mut self, now: Timestamp) {
        match self.store.silences() {
            Ok(s) => self.silences = s,
            Err(e) => self.store_failed(now, "read silences", &e),
        }
    }

    pub(crate) fn add_silence(&mut self, s: Silence, now: Timestamp) -> Result<(), String> {
        self.store.put_silence(&s).map_err(|e| {
            self.store_failed(now, "save silence", &e);
            format!("cannot save the silence: {e}")
        })?;
        self.silences.retain(|x| x.id != s.id);
        self.silences.push(s);
        Ok(())
    }

    /// Expire a silence now; `None` when there is no such silence.
    pub(crate) fn expire_silence(
        &mut self,
        id: &str,
        now: Timestamp,
    ) -> Option<Result<Silence, String>> {
        let pos = self.silences.iter().position(|s| s.id == id)?;
        let mut s = self.silences[pos].clone();
        if s.ends_at > now {
            s.ends_at = now;
        }
        Some(self.add_silence(s.clone(), now).map(|_| s))
    }
}
