//! Interactions: buttons, modal submissions and the searches of selects as people type.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::request_form::{picked_time, state_value};
use super::retire::{self, retire};
use super::{Malformed, open_modal, request_id_of, say, str_at, user_at};
use crate::domain::GrantDuration;
use crate::slack::context::SlackContext;
use crate::slack::modals::{
    self, B_DURATION, B_DURATION_CUSTOM, B_IDENTITY, B_REASON, B_RESOURCE, B_STARTS,
};
use crate::slack::{home, views};
use crate::workflow::{ByHandTask, ExtensionAnswer, Field, Start, Submission, Submitted, Via};

/// How a modal submission is answered.
#[derive(Debug, PartialEq)]
pub enum SubmitReply {
    /// Close the modal.
    Close,
    /// Keep it open, with messages beside these blocks.
    Errors(HashMap<String, String>),
    /// Replace it with this view.
    Update(Value),
}

fn error_at(block: &str, message: String) -> SubmitReply {
    SubmitReply::Errors(HashMap::from([(block.to_owned(), message)]))
}

/// The request form's duration, and the block it came from: a preset, or "Other…" and the
/// duration typed beside it. None: the resource's default.
fn duration_in(view: &Value) -> Result<(&'static str, Option<&str>), SubmitReply> {
    let chosen = state_value(view, B_DURATION);
    let typed = state_value(view, B_DURATION_CUSTOM);
    match (chosen, typed) {
        (Some(modals::OTHER_DURATION), None) => {
            // The typed duration's block is there once the form was fitted to "Other…".
            let shown = view
                .pointer(&format!("/state/values/{B_DURATION_CUSTOM}"))
                .is_some()
                || view["blocks"].as_array().is_some_and(|blocks| {
                    blocks.iter().any(|b| b["block_id"] == B_DURATION_CUSTOM)
                });
            let block = if shown { B_DURATION_CUSTOM } else { B_DURATION };
            Err(error_at(
                block,
                "type how long, e.g. 90m, 2h or 1h30m".into(),
            ))
        }
        (Some(preset), _) if preset != modals::OTHER_DURATION => Ok((B_DURATION, Some(preset))),
        (_, Some(t)) => Ok((B_DURATION_CUSTOM, Some(t))),
        _ => Ok((B_DURATION, None)),
    }
}

pub async fn view_submission(
    ctx: &Arc<SlackContext>,
    payload: &Value,
) -> Result<SubmitReply, Malformed> {
    let user = user_at(payload, "/user/id")?;
    let view = payload.get("view").ok_or(Malformed::Missing("/view"))?;
    match str_at(view, "/callback_id")? {
        modals::REQUEST_FORM => {
            let Some(resource) = state_value(view, B_RESOURCE) else {
                return Ok(error_at(B_RESOURCE, "pick a resource".into()));
            };
            let (duration_block, duration_text) = match duration_in(view) {
                Ok(found) => found,
                Err(reply) => return Ok(reply),
            };
            let duration = match duration_text.map(GrantDuration::parse).transpose() {
                Ok(d) => d,
                Err(e) => return Ok(error_at(duration_block, e.to_string())),
            };
            let submitted = ctx
                .workflow
                .request_access(Submission {
                    requester: &user,
                    resource,
                    duration,
                    reason: state_value(view, B_REASON),
                    identity: None,
                    start: picked_time(view, B_STARTS).map(Start::At),
                })
                .await;
            Ok(match submitted {
                // The form becomes the confirmation, so the requester sees what happens next.
                Ok(Submitted::New(r)) => match ctx.workflow.catalog().resource(&r.resource) {
                    Some(found) => SubmitReply::Update(modals::submitted(
                        &super::submitted::confirmation(ctx, &r, found).await,
                    )),
                    None => SubmitReply::Close,
                },
                Ok(Submitted::Extension { request, more }) => {
                    if let Some(r) = ctx.workflow.catalog().resource(&request.resource) {
                        let text = super::commands::extension_asked(&request, r, more);
                        tell(ctx, payload, user.as_str(), &text).await;
                    }
                    SubmitReply::Close
                }
                Err(e) => match e.field() {
                    Some(Field::Resource) => error_at(B_RESOURCE, e.to_string()),
                    Some(Field::Duration) => error_at(duration_block, e.to_string()),
                    Some(Field::Reason) => error_at(B_REASON, e.to_string()),
                    Some(Field::Start) => error_at(B_STARTS, e.to_string()),
                    None => error_at(B_RESOURCE, say(&e)),
                },
            })
        }
        modals::DENY_FORM => {
            let id = request_id_of(view.get("private_metadata").and_then(Value::as_str))?;
            let reason = state_value(view, B_REASON);
            Ok(
                match ctx.workflow.deny(id, &user, Via::Button, reason).await {
                    Ok(_) => SubmitReply::Close,
                    Err(e) => error_at(B_REASON, say(&e)),
                },
            )
        }
        modals::REVOKE_FORM => {
            // `ID`, or `ID:home` when App Home is to be refreshed after.
            let metadata = view.get("private_metadata").and_then(Value::as_str);
            let (id, from_home) = match metadata.and_then(|m| m.split_once(':')) {
                Some((id, "home")) => (Some(id), true),
                _ => (metadata, false),
            };
            let id = request_id_of(id)?;
            let Some(reason) = state_value(view, B_REASON) else {
                return Ok(error_at(
                    B_REASON,
                    "say why you end this access now; the holder reads it".into(),
                ));
            };
            Ok(match ctx.workflow.revoke(id, &user, Some(reason)).await {
                Ok(_) => {
                    if from_home {
                        // After the ack: building App Home may ask platforms how they are.
                        let ctx = ctx.clone();
                        tokio::spawn(async move { home::publish(&ctx, &user).await });
                    }
                    SubmitReply::Close
                }
                Err(e) => error_at(B_REASON, say(&e)),
            })
        }
        modals::EXTEND_FORM => {
            let id = request_id_of(view.get("private_metadata").and_then(Value::as_str))?;
            let more = match state_value(view, B_DURATION).map(GrantDuration::parse) {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Ok(error_at(B_DURATION, e.to_string())),
                None => return Ok(error_at(B_DURATION, "choose how much more time".into())),
            };
            Ok(match ctx.workflow.ask_extension(id, &user, more).await {
                Ok(_) => SubmitReply::Close,
                Err(e) => error_at(B_DURATION, say(&e)),
            })
        }
        modals::IDENTITY_SEARCH => {
            let query = state_value(view, modals::B_QUERY).unwrap_or("");
            Ok(match ctx.workflow.search_identities(&user, query).await {
                Ok(found) => SubmitReply::Update(modals::identity_results(query, &found)),
                Err(e) => error_at(modals::B_QUERY, say(&e)),
            })
        }
        modals::PICKER_FORM => {
            let id = request_id_of(view.get("private_metadata").and_then(Value::as_str))?;
            let Some(identity) = state_value(view, B_IDENTITY) else {
                return Ok(error_at(
                    B_IDENTITY,
                    "choose or type the identity to grant to".into(),
                ));
            };
            Ok(match ctx.workflow.set_identity(id, &user, identity).await {
                Ok(_) => SubmitReply::Close,
                Err(e) => error_at(B_IDENTITY, say(&e)),
            })
        }
        other => Err(Malformed::Invalid(format!("unknown modal `{other}`"))),
    }
}

/// The options of the request form's resource search.
pub fn resource_options(ctx: &SlackContext, query: &str) -> Vec<Value> {
    let q = query.trim().to_lowercase();
    ctx.workflow
        .catalog()
        .resources
        .iter()
        .filter(|r| {
            q.is_empty() || r.id.as_str().contains(&q) || r.name.to_lowercase().contains(&q)
        })
        .take(100)
        .map(modals::resource_option)
        .collect()
}

pub async fn block_suggestion(
    ctx: &SlackContext,
    payload: &Value,
) -> Result<Vec<Value>, Malformed> {
    match str_at(payload, "/action_id")? {
        B_RESOURCE => Ok(resource_options(
            ctx,
            payload.get("value").and_then(Value::as_str).unwrap_or(""),
        )),
        B_IDENTITY => super::identity_picker::options(ctx, payload).await,
        other => Err(Malformed::Invalid(format!("no options for `{other}`"))),
    }
}

/// Tells the clicker why their click did nothing: in the channel if it was a message, else by DM.
async fn tell(ctx: &SlackContext, payload: &Value, user: &str, text: &str) {
    let channel = payload
        .pointer("/container/channel_id")
        .or_else(|| payload.pointer("/channel/id"))
        .and_then(Value::as_str);
    let result = match channel {
        Some(c) => ctx.api.post_ephemeral(c, user, &views::note(text)).await,
        None => match ctx.api.open_dm(user).await {
            Ok(dm) => ctx
                .api
                .post_message(&dm, &views::note(text), None)
                .await
                .map(drop),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot tell the person why their click did nothing");
    }
}

pub async fn block_actions(ctx: &SlackContext, payload: &Value) -> Result<(), Malformed> {
    let user = user_at(payload, "/user/id")?;
    let action = payload
        .pointer("/actions/0")
        .ok_or(Malformed::Missing("/actions/0"))?;
    let action_id = str_at(action, "/action_id")?;
    // A choice in the request form that changes what the form asks: fitted again.
    let in_form = payload.pointer("/view/callback_id").and_then(Value::as_str);
    if in_form == Some(modals::REQUEST_FORM) && matches!(action_id, B_RESOURCE | B_DURATION) {
        super::request_form::refit(ctx, payload).await;
        return Ok(());
    }
    let value = action.get("value").and_then(Value::as_str);
    // Set when the click was refused because its button no longer applies: the button goes.
    let mut stale = false;
    let outcome: Result<(), String> = match action_id {
        "approve" => {
            let id = request_id_of(value)?;
            ctx.workflow
                .approve(id, &user, Via::Button)
                .await
                .map(drop)
                .map_err(|e| {
                    format!(
                        "Request #{} was not approved: {}",
                        id.get(),
                        refused(&e, &mut stale)
                    )
                })
        }
        "deny" => {
            let id = request_id_of(value)?;
            let trigger = str_at(payload, "/trigger_id")?;
            match ctx.workflow.may_deny(id, &user).await {
                Err(e) => Err(format!(
                    "Request #{} was not denied: {}",
                    id.get(),
                    refused(&e, &mut stale)
                )),
                Ok(_) => open_modal(ctx, trigger, &modals::deny_form(id.get()), "form").await,
            }
        }
        "choose_identity" => {
            let id = request_id_of(value)?;
            let trigger = str_at(payload, "/trigger_id")?;
            super::identity_picker::open(ctx, &user, id, trigger).await
        }
        "extend" => {
            let id = request_id_of(value)?;
            let trigger = str_at(payload, "/trigger_id")?;
            let name = match ctx.workflow.request(id).await {
                Ok(r) => resource_name(ctx, &r.resource),
                Err(e) => return Err(Malformed::Invalid(e.to_string())),
            };
            open_modal(ctx, trigger, &modals::extend_form(id.get(), &name), "form").await
        }
        "extend_approve" | "extend_deny" => {
            let answer = if action_id == "extend_approve" {
                ExtensionAnswer::Approve
            } else {
                ExtensionAnswer::Deny
            };
            // `ask:N` names the ask the buttons decide; older buttons named only the request.
            match value
                .and_then(|v| v.strip_prefix("ask:"))
                .and_then(|n| n.parse::<i64>().ok())
            {
                Some(ask) => ctx
                    .workflow
                    .decide_extension(ask, &user, answer)
                    .await
                    .map(drop)
                    .map_err(|e| {
                        format!(
                            "The ask for more time was not decided: {}",
                            refused(&e, &mut stale)
                        )
                    }),
                None => {
                    stale = true;
                    Err("This ask for more time is from an older Gatehouse and can no longer be decided; the holder can ask again.".to_owned())
                }
            }
        }
        "cancel" => {
            let id = request_id_of(value)?;
            ctx.workflow
                .cancel(id, &user)
                .await
                .map(drop)
                .map_err(|e| refused(&e, &mut stale))
        }
        views::REVOKE => {
            // Only the request id is read from the button; who may end it is decided anew.
            let id = request_id_of(value)?;
            let trigger = str_at(payload, "/trigger_id")?;
            match ctx.workflow.may_revoke(id, &user).await {
                Err(e) => Err(format!(
                    "Request #{} was not revoked: {}",
                    id.get(),
                    say(&e)
                )),
                Ok(r) => {
                    let name = resource_name(ctx, &r.resource);
                    let form = modals::revoke_form(
                        id.get(),
                        r.requester.as_str(),
                        &name,
                        in_home(payload),
                    );
                    open_modal(ctx, trigger, &form, "form").await
                }
            }
        }
        "request_access" => {
            let trigger = str_at(payload, "/trigger_id")?;
            super::request_again::open_new(ctx, trigger).await
        }
        "request_again" => {
            let id = request_id_of(value)?;
            let trigger = str_at(payload, "/trigger_id")?;
            super::request_again::open(ctx, &user, id, trigger).await
        }
        "relinquish" => {
            let id = request_id_of(value)?;
            ctx.workflow
                .relinquish(id, &user)
                .await
                .map(drop)
                .map_err(|e| refused(&e, &mut stale))
        }
        "by_hand_done" | "by_hand_failed" => {
            // `grant:N` or `revoke:N`: which task the buttons confirm. Older messages carried
            // the request alone; their block says which task it was.
            let block = action.get("block_id").and_then(Value::as_str).unwrap_or("");
            let (task, id) = match value.and_then(|v| v.split_once(':')) {
                Some((task, id)) => (task, id),
                None => (
                    block.strip_prefix("by_hand_").unwrap_or(""),
                    value.unwrap_or(""),
                ),
            };
            let task = match task {
                "grant" => ByHandTask::Grant,
                "revoke" => ByHandTask::Revoke,
                other => return Err(Malformed::Invalid(format!("unknown task `{other}`"))),
            };
            let id = request_id_of(Some(id))?;
            ctx.workflow
                .confirm_by_hand(id, &user, task, action_id == "by_hand_done")
                .await
                .map(drop)
                .map_err(|e| {
                    format!(
                        "The task for request #{} was not confirmed: {}",
                        id.get(),
                        refused(&e, &mut stale)
                    )
                })
        }
        "identity_search" => {
            let trigger = str_at(payload, "/trigger_id")?;
            open_modal(ctx, trigger, &modals::identity_search_form(), "search").await
        }
        "retry_job" => {
            let job = value
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or(Malformed::Missing("job id"))?;
            match ctx.workflow.retry_job(job, &user).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("That job is no longer failed; nothing to retry.".to_owned()),
                Err(e) => Err(say(&e)),
            }
        }
        "retry" => {
            let id = request_id_of(value)?;
            ctx.workflow
                .retry(id, &user)
                .await
                .map(drop)
                .map_err(|e| say(&e))
        }
        other => return Err(Malformed::Invalid(format!("unknown action `{other}`"))),
    };
    match &outcome {
        Err(text) => {
            tell(ctx, payload, user.as_str(), text).await;
            if stale {
                retire(ctx, payload, &format!("_No longer applies: {text}_")).await;
            }
        }
        // A decided ask or task keeps its words, not its buttons.
        Ok(()) => {
            if let Some(done) = retire::outcome(action_id) {
                retire(ctx, payload, &format!("{done} by <@{user}>")).await;
            }
        }
    }
    // A click in App Home changes what it should show (Revoke only asks why, in a modal).
    if in_home(payload) && action_id != views::REVOKE {
        home::publish(ctx, &user).await;
    }
    Ok(())
}

/// Words for a refused click; a button that no longer applies (a decided ask, a task for
/// another step, a request that moved on) is marked `stale`.
fn refused(e: &crate::workflow::WorkflowError, stale: &mut bool) -> String {
    use crate::workflow::WorkflowError as E;
    *stale = matches!(e, E::Stale(_) | E::Illegal(_) | E::NothingToConfirm(_));
    say(e)
}

/// The resource's name in the catalog, or its id when the catalog no longer has it.
fn resource_name(ctx: &SlackContext, id: &crate::domain::ResourceId) -> String {
    ctx.workflow
        .catalog()
        .resource(id)
        .map(|res| res.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Whether a click came from App Home.
fn in_home(payload: &Value) -> bool {
    payload.pointer("/container/type").and_then(Value::as_str) == Some("view")
        && payload.pointer("/view/type").and_then(Value::as_str) == Some("home")
}

/// The ack payload for `response_action: update`.
pub fn update_payload(view: &Value) -> Value {
    // Like every view sent through the Web API, cut to Slack's limits (`limits::fit_view`).
    let mut view = view.clone();
    crate::slack::limits::fit_view(&mut view);
    json!({ "response_action": "update", "view": view })
}

/// The ack payload for `response_action: errors`.
pub fn errors_payload(errors: &HashMap<String, String>) -> Value {
    json!({ "response_action": "errors", "errors": errors })
}
