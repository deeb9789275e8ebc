//! Test support shared by the crates' tests and the binary's integration tests: local peers
//! that stand in for the services gatehouse talks to. A dev-dependency only, never shipped.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

pub mod canned;
pub mod postgres;
pub mod receiver;
pub mod smtp;
