//! gatehouse alerting: rules over probe results, live route signals, certificates and
//! gatehouse itself; incidents that go ok → pending → firing → resolved, grouped, reminded,
//! suppressed by dependencies, maintenance windows and silences; and the notifiers that tell
//! people.

mod notification;
pub mod notify;

pub use notification::{dedup_key, Alert, Notification, Status};
