//! Grouping and routing, as in Alertmanager: alerts with the same values of the `group_by`
//! labels form a group; a new group waits `group_wait` to collect its members, then sends one
//! notification; later changes go out at most every `group_interval`; firing groups are
//! reminded every `repeat_interval`. Each alert is routed to notifiers by severity and labels,
//! and each notifier gets one notification with its alerts of the group.

use crate::notification::{dedup_key, Alert, Notification, Status};
use gatehouse_config::alerting::{AlertingConfig, NotifyRoute, Severity};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug)]
struct Member {
    alert: Alert,
    notified: bool,
}

#[derive(Debug)]
struct Group {
    created: Timestamp,
    last_flush: Option<Timestamp>,
    last_sent: Option<Timestamp>,
    members: BTreeMap<i64, Member>,
}

impl Group {
    fn new(now: Timestamp) -> Group {
        Group {
            created: now,
            last_flush: None,
            last_sent: None,
            members: BTreeMap::new(),
        }
    }
}

/// One notification for one notifier.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub notifier: String,
    pub notification: Notification,
}

/// What one flush did.
#[derive(Debug, Default)]
pub(crate) struct Flushed {
    pub outgoing: Vec<Outgoing>,
    /// Firing incidents that went out (first time or reminder), to mark notified.
    pub notified: Vec<i64>,
    /// Resolved incidents done with: their resolve went out (or none was due).
    pub resolved: Vec<i64>,
}

/// Drop the resolved members of a group, noting their ids.
fn drop_resolved(group: &mut Group, done: &mut Vec<i64>) {
    group.members.retain(|id, m| {
        let keep = m.alert.status == Status::Firing;
        if !keep {
            done.push(*id);
        }
        keep
    });
}

#[derive(Debug, Default)]
pub(crate) struct Dispatcher {
    groups: BTreeMap<String, Group>,
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// `label=value,...` over `group_by`, in the order given.
pub(crate) fn group_key(labels: &BTreeMap<String, String>, group_by: &[String]) -> String {
    group_by
        .iter()
        .map(|k| format!("{k}={}", labels.get(k).map(String::as_str).unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",")
}

impl Dispatcher {
    /// The wall clock stepped by `d`: move every group's timers with it, so that group_wait,
    /// group_interval and repeat_interval keep their real length.
    pub(crate) fn shift(&mut self, d: jiff::SignedDuration) {
        use crate::incident::shifted;
        for g in self.groups.values_mut() {
            g.created = shifted(g.created, d);
            for t in [&mut g.last_flush, &mut g.last_sent].into_iter().flatten() {
                *t = shifted(*t, d);
            }
        }
    }

    /// An alert fires (or its value changed). An alert already in another group (its key
    /// changed with `group_by` on a reload) moves to its new group, keeping whether it was
    /// notified, so that it is neither paged twice nor left behind.
    pub(crate) fn firing(&mut self, key: String, alert: Alert, now: Timestamp) {
        let moved = self
            .groups
            .iter_mut()
            .filter(|(k, _)| **k != key)
            .find_map(|(_, g)| g.members.remove(&alert.id));
        let group = self.groups.entry(key).or_insert_with(|| Group::new(now));
        if let Some(m) = moved {
            if m.notified {
                group.last_flush = group.last_flush.or(Some(now));
                group.last_sent = group.last_sent.or(Some(now));
            }
            group.members.insert(
                alert.id,
                Member {
                    alert,
                    notified: m.notified,
                },
            );
            self.groups.retain(|_, g| !g.members.is_empty());
            return;
        }
        match group.members.get_mut(&alert.id) {
            Some(m) => {
                // Flapping starting (or ending while it still fires) is news worth one
                // notification; any other change waits for the next reminder.
                if m.alert.flapping != alert.flapping && alert.status == Status::Firing {
                    m.notified = false;
                }
                m.alert = alert;
            }
            None => {
                group.members.insert(
                    alert.id,
                    Member {
                        alert,
                        notified: false,
                    },
                );
            }
        }
    }

    /// Send every pending resolve now, whatever `group_interval` says (at shutdown, so that
    /// no PagerDuty incident stays triggered).
    pub(crate) fn flush_resolves(&mut self, config: &AlertingConfig, now: Timestamp) -> Flushed {
        let mut out = Flushed::default();
        if !config.send_resolved {
            return out;
        }
        let every: Vec<String> = config.notifiers.iter().map(|n| n.name.clone()).collect();
        for (key, group) in &mut self.groups {
            let resolved: Vec<Alert> = group
                .members
                .values()
                .filter(|m| m.alert.status == Status::Resolved && m.notified)
                .map(|m| m.alert.clone())
                .collect();
            if !resolved.is_empty() {
                out.outgoing.extend(per_notifier(
                    key,
                    &resolved,
                    false,
                    now,
                    &config.routes,
                    &every,
                ));
                group
                    .members
                    .retain(|_, m| m.alert.status == Status::Firing);
            }
        }
        self.groups.retain(|_, g| !g.members.is_empty());
        out
    }

    /// An alert that was notified before a restart: it joins its group as already sent.
    pub(crate) fn restore(
        &mut self,
        key: String,
        alert: Alert,
        sent: Option<Timestamp>,
        now: Timestamp,
    ) {
        let group = self.groups.entry(key).or_insert_with(|| Group::new(now));
        if let Some(sent) = sent {
            group.last_flush = group.last_flush.max(Some(sent));
            group.last_sent = group.last_sent.max(Some(sent));
        }
        group.members.insert(
            alert.id,
            Member {
                alert,
                notified: sent.is_some(),
            },
        );
    }

    /// An alert resolved. It is looked up by id when its group key changed (a reload that
    /// changed `group_by`).
    pub(crate) fn resolved(&mut self, key: &str, alert: Alert) {
        let id = alert.id;
        let group = match self.groups.get_mut(key) {
            Some(g) if g.members.contains_key(&id) => Some(g),
            _ => self
                .groups
                .values_mut()
                .find(|g| g.members.contains_key(&id)),
        };
        if let Some(m) = group.and_then(|g| g.members.get_mut(&id)) {
            m.alert = alert;
        }
    }

    /// Send what is due at `now`. `quiet` says whether a firing alert is suppressed
    /// (dependency, maintenance, silence).
    pub(crate) fn flush(
        &mut self,
        now: Timestamp,
        config: &AlertingConfig,
        quiet: &dyn Fn(&Alert) -> bool,
    ) -> Flushed {
        let mut out = Flushed::default();
        let every: Vec<String> = config.notifiers.iter().map(|n| n.name.clone()).collect();
        for (key, group) in &mut self.groups {
            let due_first =
                group.last_flush.is_none() && now >= after(group.created, config.group_wait);
            let due_next = group
                .last_flush
                .is_some_and(|t| now >= after(t, config.group_interval));
            if !(due_first || due_next) {
                continue;
            }
            let active: Vec<&Member> = group
                .members
                .values()
                .filter(|m| m.alert.status == Status::Firing && !quiet(&m.alert))
                .collect();
            let new_firing = active.iter().any(|m| !m.notified);
            let resolved: Vec<&Member> = group
                .members
                .values()
                .filter(|m| m.alert.status == Status::Resolved && m.notified)
                .collect();
            let send_resolved = config.send_resolved && !resolved.is_empty();
            let remind = !active.is_empty()
                && !config.repeat_interval.is_zero()
                && group
                    .last_sent
                    .is_some_and(|t| now >= after(t, config.repeat_interval));
            group.last_flush = Some(now);
            if !(new_firing || send_resolved || remind) {
                drop_resolved(group, &mut out.resolved);
                continue;
            }
            let reminder = !new_firing && !send_resolved;
            let mut alerts: Vec<Alert> = active.iter().map(|m| m.alert.clone()).collect();
            if config.send_resolved {
                alerts.extend(resolved.iter().map(|m| m.alert.clone()));
            }
            out.notified.extend(active.iter().map(|m| m.alert.id));
            out.outgoing.extend(per_notifier(
                key,
                &alerts,
                reminder,
                now,
                &config.routes,
                &every,
            ));
            group.last_sent = Some(now);
            let sent: BTreeSet<i64> = active.iter().map(|m| m.alert.id).collect();
            for (id, m) in group.members.iter_mut() {
                if sent.contains(id) {
                    m.notified = true;
                }
            }
            drop_resolved(group, &mut out.resolved);
        }
        self.groups.retain(|_, g| !g.members.is_empty());
        out
    }
}

/// The notifiers an alert goes to: the first matching route (and later ones while
/// `continue` is set); every notifier when no route is configured.
pub(crate) fn route(alert: &Alert, routes: &[NotifyRoute], every: &[String]) -> Vec<String> {
    if routes.is_empty() {
        return every.to_vec();
    }
    let mut out = Vec::new();
    for r in routes {
        let severity_ok = r.severities.is_empty() || r.severities.contains(&alert.severity);
        let labels_ok = r.labels.iter().all(|(k, v)| alert.labels.get(k) == Some(v));
        if severity_ok && labels_ok {
            for n in &r.notifiers {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            if !r.continue_matching {
                break;
            }
        }
    }
    out
}

fn per_notifier(
    key: &str,
    alerts: &[Alert],
    reminder: bool,
    now: Timestamp,
    routes: &[NotifyRoute],
    every: &[String],
) -> Vec<Outgoing> {
    let mut by: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
    for a in alerts {
        let to = route(a, routes, every);
        if to.is_empty() && !every.is_empty() {
            tracing::warn!(rule = %a.rule, subject = %a.subject, severity = %a.severity, "no notify route matches this alert; add a catch-all route (`- {{ notifiers: [...] }}`)");
        }
        for n in to {
            by.entry(n).or_default().push(a.clone());
        }
    }
    by.into_iter()
        .map(|(notifier, alerts)| Outgoing {
            notifier,
            notification: build(key, alerts, reminder, now),
        })
        .collect()
}

pub(crate) fn build(key: &str, alerts: Vec<Alert>, reminder: bool, now: Timestamp) -> Notification {
    let firing = alerts.iter().filter(|a| a.status == Status::Firing).count();
    let status = if firing > 0 {
        Status::Firing
    } else {
        Status::Resolved
    };
    let severity = alerts
        .iter()
        .map(|a| a.severity)
        .min()
        .unwrap_or(Severity::Info);
    let rules: BTreeSet<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
    let head = match status {
        Status::Firing => format!("[FIRING:{firing}]"),
        Status::Resolved => "[RESOLVED]".to_string(),
    };
    let subject = if alerts.len() == 1 {
        alerts[0].summary.clone()
    } else {
        format!(
            "{} ({} alerts)",
            rules.into_iter().collect::<Vec<_>>().join(", "),
            alerts.len()
        )
    };
    let title = format!(
        "{head} {subject}{}",
        if reminder { " (reminder)" } else { "" }
    );
    Notification {
        version: 1,
        status,
        reminder,
        test: false,
        group_key: key.to_string(),
        dedup_key: dedup_key(key),
        title,
        severity,
        alerts,
        sent_at: now,
        instance: crate::instance_name(),
    }
}
