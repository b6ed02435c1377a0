//! One integration test binary (cheap to link on two cores): the simulator driven over real HTTP and WebSockets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod control_http;
mod history;
mod interactions;
mod morphism;
mod socket_raw;
mod web_api;
