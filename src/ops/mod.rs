//! Operating Gatehouse: the HTTP endpoints (`/healthz`, `/readyz`, `/metrics`) and the watch
//! kept on each connector's last answer. The metrics themselves are `crate::metrics`, which
//! every layer counts into.

pub mod http;
pub mod watched;

pub use crate::metrics::{ConnectorCheck, ErrorClass, Metrics, WaitCause};
