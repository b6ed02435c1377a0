//! Handlers: parse what Slack sent, call `workflow`, answer within Slack's 3 seconds. Slow
//! work (posting, DMs) is queued as jobs by `workflow`, never done here.

pub mod commands;
pub mod events;
pub mod identity_admin;
mod identity_picker;
pub mod interactions;
pub mod mentions;
pub mod questions;
mod request_again;
mod request_form;
mod retire;
mod submitted;

use serde_json::Value;

use crate::domain::{RequestId, SlackUserId};
use crate::slack::context::SlackContext;
use crate::workflow::WorkflowError;

/// A reason to stop handling a payload, logged once with its context.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("payload lacks {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

pub fn str_at<'a>(v: &'a Value, pointer: &'static str) -> Result<&'a str, Malformed> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or(Malformed::Missing(pointer))
}

pub fn user_at(v: &Value, pointer: &'static str) -> Result<SlackUserId, Malformed> {
    SlackUserId::parse(str_at(v, pointer)?).map_err(|e| Malformed::Invalid(e.to_string()))
}

/// The request id a button or a view carries.
fn request_id_of(v: Option<&str>) -> Result<RequestId, Malformed> {
    v.ok_or(Malformed::Missing("request id"))?
        .parse()
        .map_err(|e: crate::domain::ids::InvalidId| Malformed::Invalid(e.to_string()))
}

/// Opens `view` as a modal for `trigger`; when Slack will not, what the person is told (`what`
/// names the view: "form", "request form", "search").
async fn open_modal(
    ctx: &SlackContext,
    trigger: &str,
    view: &Value,
    what: &str,
) -> Result<(), String> {
    ctx.api
        .open_view(trigger, view)
        .await
        .map(drop)
        .map_err(|e| format!("Slack would not open the {what} ({e}); try again."))
}

/// What a person is told when their action failed: their own error in full; ours, vaguely.
pub fn say(e: &WorkflowError) -> String {
    if e.is_internal() {
        tracing::error!(error = %e, "request handling failed");
        "Something went wrong on Gatehouse's side; nothing was changed. Try again in a minute."
            .into()
    } else {
        e.to_string()
    }
}
