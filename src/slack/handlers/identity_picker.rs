//! The picker of the platform user a request is granted to: opened by "Choose role or
//! identity", it searches all of the connector's present users as the reviewer types (an
//! external select), since a platform may have thousands and a static list holds a hundred.

use serde_json::Value;

use super::{Malformed, open_modal, request_id_of, say, user_at};
use crate::domain::{RequestId, SlackUserId};
use crate::slack::context::SlackContext;
use crate::slack::{limits, modals};

/// Opens the picker of request `id` for `user`, if they may choose its identity; else what
/// they are told.
pub async fn open(
    ctx: &SlackContext,
    user: &SlackUserId,
    id: RequestId,
    trigger: &str,
) -> Result<(), String> {
    let picker = ctx.workflow.identity_picker(id, user).await.map_err(|e| {
        format!(
            "The account for request #{} was not changed: {}",
            id.get(),
            say(&e)
        )
    })?;
    let form = modals::picker_form(id.get(), picker.suggested.as_deref(), picker.searchable);
    open_modal(ctx, trigger, &form, "form").await
}

/// The options for what the reviewer typed in the picker (a `block_suggestion`); none for
/// someone who may not choose the request's identity, whatever view their payload names.
pub async fn options(ctx: &SlackContext, payload: &Value) -> Result<Vec<Value>, Malformed> {
    let user = user_at(payload, "/user/id")?;
    let id = request_id_of(
        payload
            .pointer("/view/private_metadata")
            .and_then(Value::as_str),
    )?;
    let query = payload.get("value").and_then(Value::as_str).unwrap_or("");
    let limit = limits::OPTIONS as u64;
    match ctx.workflow.identity_options(id, &user, query, limit).await {
        Ok(found) => Ok(found.iter().filter_map(modals::identity_option).collect()),
        Err(e) => {
            if e.is_internal() {
                tracing::error!(error = %e, request_id = id.get(), "cannot search the platform's users");
            } else {
                tracing::info!(user = %user, request_id = id.get(), refusal = %e, "no platform users offered");
            }
            Ok(Vec::new())
        }
    }
}
