//! The engine: every rule's trackers, the open incidents, the dispatcher and the silences.
//! It is synchronous and takes `now` from its caller, so tests drive it with their own clock;
//! `runtime.rs` runs it on a thread of its own. `suppression.rs` says why an alert is held
//! (dependency, maintenance, silence), `render.rs` fills in summary templates.

mod deliver;
mod periodic;
mod render;
mod suppression;

use render::render;

use crate::dispatch::{group_key, Dispatcher, Flushed};
use crate::evaluate::covers_probe;
use crate::facts::ProbeEvent;
use crate::incident::{Incident, Policy, Tracker, Transition};
use crate::metrics::AlertMetrics;
use crate::notification::{Alert, Status};
use crate::outbox::Outbox;
use crate::silence::Silence;
use crate::store::AlertStore;
use gatehouse_config::alerting::rules::{Rule, RuleKind};
use gatehouse_config::Config;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
struct Entry {
    tracker: Tracker,
    incident: Option<Incident>,
}

type Key = (String, String);

/// Ids for incidents the store could not take: negative, unique in this process.
static UNSTORED: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(-1);

pub(crate) struct Engine {
    config: Arc<Config>,
    store: AlertStore,
    entries: HashMap<Key, Entry>,
    /// The last result of each probe: `true` when it was down.
    probe_down: HashMap<String, bool>,
    /// Whether each probe that was down (failing, pending or firing) still is, and since when
    /// it recovered (or when it was last seen down): its dependents stay held for their
    /// settle time after it recovered.
    last_down: HashMap<String, (bool, Timestamp)>,
    /// Probe name → index in `config.probes.probes`.
    probe_index: HashMap<String, usize>,
    /// Since when a periodic rule's subject has had too little data to judge.
    unjudged: HashMap<Key, Timestamp>,
    /// Incident changes the store refused, retried at each flush (newest state per id).
    unsaved: BTreeMap<i64, Incident>,
    /// The maintenance windows on at an instant (indexes into the config's list).
    active_maint: std::cell::RefCell<Option<(Timestamp, Vec<usize>)>>,
    dispatcher: Dispatcher,
    /// Notifications not delivered yet.
    outbox: Outbox,
    silences: Vec<Silence>,
    metrics: AlertMetrics,
    /// The last failure of the alert store, for the `store_failing` rule.
    pub(crate) store_error: Option<(Timestamp, String)>,
}

fn policy(rule: &Rule) -> Policy {
    match &rule.kind {
        RuleKind::Probe {
            failure_threshold,
            success_threshold,
            ..
        } => Policy {
            fire_count: failure_threshold.count,
            fire_of: failure_threshold.of,
            hold: Duration::ZERO,
            resolve_count: success_threshold.count,
            resolve_of: success_threshold.of,
        },
        RuleKind::Route { hold, .. } => Policy {
            fire_count: 1,
            fire_of: None,
            hold: *hold,
            resolve_count: 1,
            resolve_of: None,
        },
        _ => Policy {
            fire_count: 1,
            fire_of: None,
            hold: Duration::ZERO,
            resolve_count: 1,
            resolve_of: None,
        },
    }
}

fn index(config: &Config) -> HashMap<String, usize> {
    config
        .probes
        .probes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.clone(), i))
        .collect()
}

impl Engine {
    pub(crate) fn new(
        config: Arc<Config>,
        store: AlertStore,
        metrics: AlertMetrics,
        now: Timestamp,
    ) -> Engine {
        let mut engine = Engine {
            unjudged: HashMap::new(),
            unsaved: BTreeMap::new(),
            active_maint: std::cell::RefCell::new(None),
            probe_index: index(&config),
            config,
            store,
            entries: HashMap::new(),
            probe_down: HashMap::new(),
            last_down: HashMap::new(),
            dispatcher: Dispatcher::default(),
            outbox: Outbox::default(),
            silences: Vec::new(),
            metrics,
            store_error: None,
        };
        match engine.store.prune(now) {
            Ok(n) if n > 0 => tracing::info!(removed = n, "old resolved incidents pruned"),
            Ok(_) => {}
            Err(e) => engine.store_failed(now, "prune", &e),
        }
        match Outbox::load(&engine.store) {
            Ok(o) => {
                let waiting = o.pending().count();
                if waiting > 0 {
                    tracing::info!(waiting, "undelivered notifications resume");
                }
                engine.outbox = o;
            }
            Err(e) => engine.store_failed(now, "read the outbox", &e),
        }
        match engine.store.silences() {
            Ok(s) => engine.silences = s,
            Err(e) => engine.store_failed(now, "read silences", &e),
        }
        let open = match engine.store.open_incidents() {
            Ok(o) => o,
            Err(e) => {
                engine.store_failed(now, "read incidents", &e);
                Vec::new()
            }
        };
        for incident in open {
            let Some(rule) = engine.rule(&incident.rule).cloned() else {
                engine.close(incident, now, "its rule is gone");
                continue;
            };
            let tracker = Tracker::open(incident.flapping, policy(&rule), incident.started_at);
            let key = group_key(&incident.labels, &engine.config.alerting.group_by);
            let sent = if incident.queued {
                incident.last_notified.or(Some(incident.started_at))
            } else {
                None
            };
            engine
                .dispatcher
                .restore(key, alert_of(&incident, Status::Firing), sent, now);
            engine
                .metrics
                .incidents
                .with_label_values(&[rule.name.as_str()]);
            engine.entries.insert(
                (incident.rule.clone(), incident.subject.clone()),
                Entry {
                    tracker,
                    incident: Some(incident),
                },
            );
        }
        if !engine.entries.is_empty() {
            tracing::info!(open = engine.entries.len(), "open incidents restored");
        }
        // Resolves that were due when the process stopped (a day back at most) still go out.
        let day_ago = now
            .checked_sub(jiff::SignedDuration::from_hours(24))
            .unwrap_or(now);
        match engine.store.unsent_resolves(day_ago) {
            Ok(list) => {
                for incident in list {
                    let key = group_key(&incident.labels, &engine.config.alerting.group_by);
                    let sent = incident.last_notified.or(Some(incident.started_at));
                    engine.dispatcher.restore(
                        key,
                        alert_of(&incident, Status::Resolved),
                        sent,
                        now,
                    );
                }
            }
            Err(e) => engine.store_failed(now, "read pending resolves", &e),
        }
        // Incidents of probes that left the config while gatehouse was down close now.
        let config = engine.config.clone();
        engine.apply(config, now);
        engine
    }

    fn rule(&self, name: &str) -> Option<&Rule> {
        self.config.alerting.rules.iter().find(|r| r.name == name)
    }

    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Write `incidents` with whatever earlier writes failed, in one transaction; on failure
    /// they are kept and tried again at the next flush (a busy file must not leave memory
    /// and disk disagreeing about what was notified or resolved).
    fn save(&mut self, incidents: Vec<Incident>, now: Timestamp, op: &str) {
        for i in incidents {
            self.unsaved.insert(i.id, i);
        }
        if self.unsaved.is_empty() {
            return;
        }
        let batch: Vec<Incident> = self.unsaved.values().cloned().collect();
        match self.store.update_all(&batch) {
            Ok(()) => self.unsaved.clear(),
            Err(e) => self.store_failed(now, op, &e),
        }
    }

    /// The wall clock stepped by `d` (the runtime tells by comparing it with the monotonic
    /// clock). Records keep wall time, but every running timer (`for:` and success holds,
    /// the flapping guard, grouping, dependency settle, route patience) is moved by `d`, so
    /// that each measures real elapsed time, as if on a monotonic clock.
    pub(crate) fn clock_stepped(&mut self, d: jiff::SignedDuration) {
        use crate::incident::shifted;
        for e in self.entries.values_mut() {
            e.tracker.shift(d);
        }
        self.dispatcher.shift(d);
        for (_, t) in self.last_down.values_mut() {
            *t = shifted(*t, d);
        }
        for t in self.unjudged.values_mut() {
            *t = shifted(*t, d);
        }
        self.active_maint.replace(None);
    }

    fn store_failed(&mut self, now: Timestamp, op: &str, e: &crate::store::StoreError) {
        let first = self.store_error.is_none();
        self.store_error = Some((now, format!("{op}: {e}")));
        if first {
            tracing::error!(op, error = %e, "the alert store failed");
        }
    }

    /// A new config: rules, probes or settings may have changed. Incidents of rules that are
    /// gone, or of probes a rule no longer covers, are closed.
    pub(crate) fn apply(&mut self, config: Arc<Config>, now: Timestamp) {
        self.probe_index = index(&config);
        self.active_maint.replace(None);
        self.config = config;
        let keys: Vec<Key> = self.entries.keys().cloned().collect();
        for key in keys {
            let keep = match self.rule(&key.0).map(|r| r.kind.clone()) {
                None => false,
                Some(RuleKind::Probe { probes, groups, .. }) => {
                    self.config.probes.probes.iter().any(|p| {
                        p.name == key.1 && covers_probe(&probes, &groups, &p.name, &p.group)
                    })
                }
                Some(_) => true,
            };
            if !keep {
                if let Some(entry) = self.entries.remove(&key) {
                    if let Some(incident) = entry.incident {
                        self.close(incident, now, "no longer watched by the config");
                    }
                }
            }
        }
        self.probe_down
            .retain(|name, _| self.probe_index.contains_key(name));
        self.last_down
            .retain(|name, _| self.probe_index.contains_key(name));
        self.metrics.firing.reset();
        self.metrics.suppressed.reset();
        // Every rule's counter exists from the start, so its first incident is an increase.
        for rule in &self.config.alerting.rules {
            self.metrics
                .incidents
                .with_label_values(&[rule.name.as_str()]);
        }
        self.refresh_metrics(now);
    }

    /// One probe result.
    pub(crate) fn on_probe(&mut self, ev: &ProbeEvent) {
        self.probe_down.insert(ev.probe.clone(), !ev.up);
        let config = Arc::clone(&self.config);
        let Some(probe) = self
            .probe_index
            .get(&ev.probe)
            .and_then(|&i| config.probes.probes.get(i))
        else {
            return;
        };
        for rule in &config.alerting.rules {
            if let RuleKind::Probe { probes, groups, .. } = &rule.kind {
                if covers_probe(probes, groups, &probe.name, &probe.group) {
                    let value = if ev.up {
                        "up".to_string()
                    } else {
                        ev.reason.clone()
                    };
                    let mut labels = probe.labels.clone();
                    labels.insert("group".into(), probe.group.clone());
                    self.observe(rule, &probe.name, !ev.up, value, labels, ev.at);
                }
            }
        }
        self.note_down(&ev.probe, ev.at);
    }

    fn observe(
        &mut self,
        rule: &Rule,
        subject: &str,
        bad: bool,
        value: String,
        extra: BTreeMap<String, String>,
        now: Timestamp,
    ) {
        let key = (rule.name.clone(), subject.to_string());
        if !bad && !self.entries.contains_key(&key) {
            return;
        }
        let flapping = self.config.alerting.flapping;
        let entry = self.entries.entry(key.clone()).or_default();
        let t = entry.tracker.observe(bad, now, policy(rule), flapping);
        match t {
            Transition::None | Transition::Pending => {}
            Transition::Fire => {
                let mut labels = extra;
                labels.extend(rule.labels.clone());
                labels.insert("rule".into(), rule.name.clone());
                labels.insert("severity".into(), rule.severity.as_str().into());
                labels.insert("kind".into(), rule.kind.family().into());
                labels.insert("subject".into(), subject.into());
                let summary = render(&rule.summary, rule, subject, &value, &labels);
                let mut incident = Incident {
                    id: 0,
                    rule: rule.name.clone(),
                    kind: rule.kind.family().into(),
                    subject: subject.into(),
                    severity: rule.severity,
                    labels,
                    summary,
                    cause: value.clone(),
                    value,
                    runbook: rule.runbook.clone(),
                    started_at: to_millis(now),
                    ended_at: None,
                    flapping: entry.tracker.flapping(),
                    notified: false,
                    queued: false,
                    last_notified: None,
                };
                match self.store.insert(&incident) {
                    Ok(id) => incident.id = id,
                    Err(e) => {
                        incident.id = UNSTORED.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        self.store_failed(now, "insert incident", &e);
                    }
                }
                tracing::warn!(rule = %rule.name, subject, severity = %rule.severity, cause = %incident.cause, flapping = incident.flapping, "incident opened");
                self.metrics
                    .incidents
                    .with_label_values(&[rule.name.as_str()])
                    .inc();
                let key_g = group_key(&incident.labels, &self.config.alerting.group_by);
                self.dispatcher
                    .firing(key_g, alert_of(&incident, Status::Firing), now);
                if let Some(e) = self.entries.get_mut(&key) {
                    e.incident = Some(incident);
                }
            }
            Transition::Firing | Transition::HeldFlapping => {
                let tracker_flapping = entry.tracker.flapping();
                let Some(incident) = entry.incident.as_mut() else {
                    return;
                };
                let mut changed = false;
                if bad && incident.value != value {
                    incident.summary =
                        render(&rule.summary, rule, subject, &value, &incident.labels);
                    incident.value = value;
                    changed = true;
                }
                // Flapping starts (or ends while still bad): one notification says so.
                if tracker_flapping != incident.flapping {
                    incident.flapping = tracker_flapping;
                    changed = true;
                }
                if changed {
                    let snapshot = incident.clone();
                    self.save(vec![snapshot.clone()], now, "update incident");
                    let key_g = group_key(&snapshot.labels, &self.config.alerting.group_by);
                    self.dispatcher
                        .firing(key_g, alert_of(&snapshot, Status::Firing), now);
                }
            }
            Transition::Resolve => {
                // The entry stays: its tracker remembers the openings and checks for flap control.
                if let Some(incident) = entry.incident.take() {
                    self.close(incident, now, &value);
                }
            }
        }
    }

    /// Close an incident: stored with its end, and handed to the dispatcher.
    fn close(&mut self, mut incident: Incident, now: Timestamp, why: &str) {
        incident.ended_at = Some(to_millis(now));
        self.save(vec![incident.clone()], now, "resolve incident");
        tracing::info!(rule = %incident.rule, subject = %incident.subject, duration_s = incident.duration(now).as_secs(), why, "incident resolved");
        let key = group_key(&incident.labels, &self.config.alerting.group_by);
        self.dispatcher
            .resolved(&key, alert_of(&incident, Status::Resolved));
    }

    /// Queue what is due in the outbox; marks the queued incidents.
    pub(crate) fn flush(&mut self, now: Timestamp) -> Flushed {
        let config = Arc::clone(&self.config);
        let mut dispatcher = std::mem::take(&mut self.dispatcher);
        let flushed = {
            let quiet = |a: &Alert| {
                self.suppression(&a.kind, &a.subject, &a.labels, now)
                    .is_some()
            };
            dispatcher.flush(now, &config.alerting, &quiet)
        };
        self.dispatcher = dispatcher;
        // Into the outbox first: a crash before the incidents are marked below sends again
        // (at least once), never not at all.
        self.enqueue(&flushed.outgoing, now);
        if !flushed.notified.is_empty() {
            let sent: std::collections::HashSet<i64> = flushed.notified.iter().copied().collect();
            let mut changed = Vec::with_capacity(sent.len());
            for i in self
                .entries
                .values_mut()
                .filter_map(|e| e.incident.as_mut())
            {
                if sent.contains(&i.id) {
                    i.queued = true;
                    i.last_notified = Some(to_millis(now));
                    changed.push(i.clone());
                }
            }
            // One transaction for the whole flush (a reminder of 10,000 alerts included).
            self.save(changed, now, "mark notified");
        } else if !self.unsaved.is_empty() {
            self.save(Vec::new(), now, "retry");
        }
        if !flushed.resolved.is_empty() {
            if let Err(e) = self.store.resolve_sent(&flushed.resolved) {
                self.store_failed(now, "mark resolve sent", &e);
            }
        }
        self.silences.retain(|s| s.ends_at > now);
        let flapping = config.alerting.flapping;
        self.entries
            .retain(|_, e| e.incident.is_some() || !e.tracker.idle(now, flapping));
        self.refresh_metrics(now);
        flushed
    }

    /// At shutdown: the resolves still waiting for their group interval.
    pub(crate) fn flush_resolves(&mut self, now: Timestamp) -> Flushed {
        let config = Arc::clone(&self.config);
        let flushed = self.dispatcher.flush_resolves(&config.alerting, now);
        self.enqueue(&flushed.outgoing, now);
        if let Err(e) = self.store.resolve_sent(&flushed.resolved) {
            self.store_failed(now, "mark resolve sent", &e);
        }
        flushed
    }

    fn refresh_metrics(&self, now: Timestamp) {
        let mut firing: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        let mut suppressed: BTreeMap<(&str, &'static str), i64> = BTreeMap::new();
        for rule in &self.config.alerting.rules {
            firing.insert((rule.name.as_str(), rule.severity.as_str()), 0);
        }
        for i in self.entries.values().filter_map(|e| e.incident.as_ref()) {
            *firing
                .entry((i.rule.as_str(), i.severity.as_str()))
                .or_default() += 1;
            if let Some((reason, _)) = self.suppression(&i.kind, &i.subject, &i.labels, now) {
                *suppressed.entry((i.rule.as_str(), reason)).or_default() += 1;
            }
        }
        for ((rule, severity), n) in firing {
            self.metrics
                .firing
                .with_label_values(&[rule, severity])
                .set(n);
        }
        self.metrics.suppressed.reset();
        for ((rule, reason), n) in suppressed {
            self.metrics
                .suppressed
                .with_label_values(&[rule, reason])
                .set(n);
        }
    }
}

/// `t` to the millisecond, as the store keeps it (so an incident reads the same before and
/// after a restart).
fn to_millis(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// The alert a notifier sees for an incident.
pub(crate) fn alert_of(i: &Incident, status: Status) -> Alert {
    Alert {
        id: i.id,
        rule: i.rule.clone(),
        kind: i.kind.clone(),
        subject: i.subject.clone(),
        severity: i.severity,
        status,
        summary: i.summary.clone(),
        value: i.value.clone(),
        runbook: i.runbook.clone(),
        labels: i.labels.clone(),
        started_at: i.started_at,
        ended_at: i.ended_at,
        flapping: i.flapping,
        unreached: false,
    }
}
