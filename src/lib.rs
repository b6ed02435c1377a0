//! Gatehouse: time-bound access to data platforms, requested and approved in Slack.
//! This crate root only declares the modules; `app` wires them together.

pub mod clock;
pub mod config;
pub mod domain;
