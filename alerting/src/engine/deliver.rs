//! The engine's side of the outbox: what the dispatcher flushed is queued, the runtime asks
//! which attempts are due and reports how each ended; a delivered firing marks its
//! incidents notified.

use super::Engine;
use crate::dispatch::Outgoing;
use crate::outbox::{Attempt, Delivery, Outcome, Settled};
use jiff::Timestamp;

/// How many failed and expired deliveries the API lists.
const GIVEN_UP: usize = 100;

impl Engine {
    pub(super) fn enqueue(&mut self, outgoing: &[Outgoing], now: Timestamp) {
        let policy = self.config.alerting.delivery;
        self.outbox.enqueue(outgoing, &policy, &self.store, now);
        self.outbox_errors(now);
    }

    /// The attempts to make now, and the deliveries that expired waiting.
    pub(crate) fn due(&mut self, now: Timestamp) -> (Vec<Attempt>, Vec<(Delivery, Settled)>) {
        let due = self.outbox.due(&self.store, now);
        self.outbox_errors(now);
        due
    }

    /// How an attempt ended.
    pub(crate) fn settle(
        &mut self,
        id: i64,
        outcome: Outcome,
        now: Timestamp,
    ) -> (Option<Delivery>, Settled) {
        let policy = self.config.alerting.delivery;
        let settled = self.outbox.settle(&self.store, id, outcome, &policy, now);
        if let Settled::Delivered { reached } = &settled.1 {
            for i in self
                .entries
                .values_mut()
                .filter_map(|e| e.incident.as_mut())
                .filter(|i| reached.contains(&i.id))
            {
                i.notified = true;
            }
        }
        self.outbox_errors(now);
        settled
    }

    /// Whether an attempt is on its way.
    pub(crate) fn delivering(&self) -> bool {
        self.outbox.busy()
    }

    /// Pending deliveries, oldest first, then the failed and expired ones, newest first.
    pub(crate) fn deliveries(&self) -> crate::store::StoreResult<Vec<Delivery>> {
        let mut out: Vec<Delivery> = self.outbox.pending().cloned().collect();
        out.extend(self.store.given_up(GIVEN_UP)?);
        Ok(out)
    }

    /// Pending deliveries per configured notifier, for the metric.
    pub(crate) fn pending_by_notifier(&self) -> std::collections::BTreeMap<String, i64> {
        self.outbox.pending_by_notifier(
            self.config
                .alerting
                .notifiers
                .iter()
                .map(|n| n.name.as_str()),
        )
    }

    pub(crate) fn metrics(&self) -> &crate::metrics::AlertMetrics {
        &self.metrics
    }

    /// The notifiers an incident's firing reached.
    pub(crate) fn reached_by(&self, incident: i64) -> Vec<String> {
        self.store.reached_by(incident).unwrap_or_default()
    }

    fn outbox_errors(&mut self, now: Timestamp) {
        if let Some(e) = self.outbox.store_error.take() {
            let first = self.store_error.is_none();
            self.store_error = Some((now, format!("outbox: {e}")));
            if first {
                tracing::error!(error = %e, "the alert store failed (outbox)");
            }
        }
    }
}
