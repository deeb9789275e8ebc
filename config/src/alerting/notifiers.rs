//! Notifier configuration: one variant per kind of notifier.

use std::time::Duration;

/// One configured notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Notifier {
    /// Unique name, used by routes and `gatehouse notify-test --notifier NAME`.
    pub name: String,
    /// Longest wait for one attempt.
    pub timeout: Duration,
    /// Attempts after the first one fails.
    pub retries: u32,
    /// Where and how to send.
    pub kind: NotifierKind,
}

/// The kinds of notifier.
#[derive(Debug, Clone, PartialEq)]
pub enum NotifierKind {
    /// Placeholder until the notifier kinds land.
    Webhook {
        /// Where the JSON is POSTed.
        url: String,
    },
}
