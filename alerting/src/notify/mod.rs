//! Notifiers: placeholder.
