//! Gatehouse: time-bound access to data platforms, requested and approved in Slack.
//! This crate root only declares the modules; `app` wires them together.

pub mod app;
pub mod ask;
pub mod audit;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod domain;
pub mod jobs;
pub mod metrics;
pub mod oncall;
pub mod ops;
pub mod platform;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod workflow;

pub use app::{App, AppOptions, StartError};
