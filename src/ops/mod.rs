//! Operating Gatehouse: the HTTP endpoints (`/healthz`, `/readyz`, `/metrics`), the metrics they
//! expose, and the watch kept on each connector's last answer.

pub mod http;
pub mod metrics;
pub mod watched;

pub use metrics::{ConnectorCheck, ErrorClass, Metrics, WaitCause};
