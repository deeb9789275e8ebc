//! `alerting`: rules, grouping, maintenance windows, notifiers and routes.

mod notifiers;
