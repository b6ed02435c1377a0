//! Slack: Socket Mode, the Web API, views, handlers and notifications. The only code that imports slack-morphism.

pub mod api;
