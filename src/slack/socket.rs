//! Socket Mode envelopes: what each one means and what its ack carries. `socket_mode` moves the
//! frames; each envelope is handled on its own task and acked when its handler returns, so a
//! slow handler delays only its own ack (still, handlers do quick work and spawn the rest).

use std::sync::Arc;

use serde_json::Value;
use slack_morphism::prelude::*;

use super::context::SlackContext;
use super::handlers::{Malformed, commands, events, interactions, questions};
use super::socket_mode::{Ack, Listener};
use crate::domain::SlackUserId;

/// Marks an envelope answered on purpose without a payload (e.g. a command that opened a modal).
#[derive(Debug, thiserror::Error)]
#[error("acknowledged without a payload")]
struct BareAck;

fn log_malformed(kind: &str, e: &Malformed) {
    tracing::warn!(kind, error = %e, "ignored a Slack payload");
}

/// A connection said hello (`socket_mode` counts it as open).
async fn on_command(
    ev: SlackCommandEvent,
    ctx: Arc<SlackContext>,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let text = ev.text.as_deref().unwrap_or("");
    let reply = match SlackUserId::parse(ev.user_id.as_ref()) {
        Err(e) => commands::Reply::Ephemeral(format!("Gatehouse cannot act for this user: {e}")),
        Ok(user) => match ev.command.as_ref() {
            "/request-access" => {
                commands::request_access(&ctx, &user, text, ev.trigger_id.as_ref()).await
            }
            "/access-admin" => commands::access_admin(&ctx, &user, text).await,
            "/access-check" => match questions::parse_check(text) {
                None => commands::Reply::Ephemeral(questions::check_usage()),
                Some(q) => {
                    // The platform may take seconds to answer: ack now, answer after.
                    let channel = ev.channel_id.to_string();
                    let response_url = ev.response_url.0.to_string();
                    tokio::spawn(async move {
                        questions::access_check(&ctx, &user, &channel, &response_url, &q).await;
                    });
                    commands::Reply::Nothing
                }
            },
            other => {
                commands::Reply::Ephemeral(format!("Gatehouse does not know the command {other}."))
            }
        },
    };
    match reply {
        commands::Reply::Ephemeral(text) => Ok(SlackCommandEventResponse::new(
            SlackMessageContent::new().with_text(text),
        )
        .with_response_type(SlackMessageResponseType::Ephemeral)),
        commands::Reply::Nothing => Err(Box::new(BareAck)),
    }
}

/// Handles an interaction; returns what its ack carries, if anything (a view's update or its
/// field errors, a menu's options). Built as JSON and sent as built: reading it into
/// slack-morphism's types and back would cost the ack a parse of the whole view.
async fn on_interaction(payload: Value, ctx: Arc<SlackContext>) -> Option<Value> {
    let kind = payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match kind.as_str() {
        "view_submission" => match interactions::view_submission(&ctx, &payload).await {
            Ok(interactions::SubmitReply::Close) => None,
            Ok(interactions::SubmitReply::Update(view)) => {
                Some(interactions::update_payload(&view))
            }
            Ok(interactions::SubmitReply::Errors(errors)) => {
                Some(interactions::errors_payload(&errors))
            }
            Err(e) => {
                log_malformed("view_submission", &e);
                None
            }
        },
        "block_suggestion" => {
            let options = interactions::block_suggestion(&ctx, &payload)
                .await
                .unwrap_or_else(|e| {
                    log_malformed("block_suggestion", &e);
                    Vec::new()
                });
            Some(serde_json::json!({ "options": options }))
        }
        "block_actions" => {
            // Clicks may call Slack several times (modals, ephemerals, Home): answer first.
            tokio::spawn(async move {
                if let Err(e) = interactions::block_actions(&ctx, &payload).await {
                    log_malformed("block_actions", &e);
                }
            });
            None
        }
        _ => None,
    }
}

async fn on_push(ev: SlackPushEventCallback, ctx: Arc<SlackContext>) -> UserCallbackResult<()> {
    let event: Value = serde_json::to_value(&ev.event)?;
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    // Groups and people changing only make the directory forget: done before the ack, in
    // memory, and harmless when Slack redelivers.
    if matches!(
        kind.as_str(),
        "subteam_members_changed" | "subteam_updated" | "user_change"
    ) {
        if let Err(e) = events::directory_changed(&ctx, &event) {
            log_malformed(&kind, &e);
        }
        return Ok(());
    }
    let direct_message =
        kind == "message" && event.get("channel_type").and_then(Value::as_str) == Some("im");
    if !(matches!(
        kind.as_str(),
        "reaction_added" | "app_home_opened" | "app_mention"
    ) || direct_message)
    {
        return Ok(());
    }
    // Everything is handled after the ack, on its own task, recorded first so that a
    // redelivery never acts twice. A ✅ or ❌ whose process dies before deciding is not lost:
    // the catch-up (`catch_up`) reads the card's reactions back at the next start.
    let event_id = ev.event_id.to_string();
    tokio::spawn(async move {
        match ctx.workflow.first_delivery(&event_id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, kind, "cannot record an event; handling it anyway");
            }
        }
        let result = match kind.as_str() {
            "reaction_added" => events::reaction_added(&ctx, &event).await,
            "app_mention" => questions::app_mention(&ctx, &event).await,
            "message" => questions::direct_message(&ctx, &event).await,
            _ => events::app_home_opened(&ctx, &event).await,
        };
        if let Err(e) = result {
            log_malformed(&kind, &e);
        }
    });
    Ok(())
}

/// Acks what we chose to answer bare; anything else is logged and left unacked, so that Slack
/// redelivers an event whose handling failed (the ledger keeps redeliveries from acting twice).
fn on_error(err: Box<dyn std::error::Error + Send + Sync>) -> Ack {
    if err.downcast_ref::<BareAck>().is_some() {
        return Ack::Bare;
    }
    tracing::error!(error = %super::api::redact(&err.to_string()), "a Slack envelope could not be handled");
    Ack::Withheld
}

/// Handles one envelope of type `kind`; says what its ack carries. A payload that does not
/// parse, or an envelope type Gatehouse does not know, is logged and acked bare: it would not
/// parse better when redelivered.
pub(super) async fn answer(
    ctx: Arc<SlackContext>,
    kind: &str,
    payload: Value,
    accepts_response_payload: bool,
) -> Ack {
    let result = match kind {
        "slash_commands" => match serde_json::from_value::<SlackCommandEvent>(payload) {
            Ok(ev) => on_command(ev, ctx)
                .await
                .and_then(|reply| Ok(Ack::With(serde_json::to_value(reply)?))),
            Err(e) => return unreadable(kind, &e),
        },
        // Handlers read the payload as Slack sent it: slack-morphism's type drops a block
        // action's view id, hash and state, which fitting the request form to a choice needs.
        "interactive" => match payload.get("type").and_then(Value::as_str) {
            Some(_) => Ok(match on_interaction(payload, ctx).await {
                None => Ack::Bare,
                Some(reply) if accepts_response_payload => Ack::With(reply),
                Some(_) => {
                    tracing::warn!("dropped an interaction response Slack did not accept");
                    Ack::Bare
                }
            }),
            None => {
                tracing::warn!(kind, "acked an interaction payload that names no type");
                return Ack::Bare;
            }
        },
        "events_api" => match serde_json::from_value::<SlackPushEventCallback>(payload) {
            Ok(ev) => on_push(ev, ctx).await.map(|()| Ack::Bare),
            Err(e) => return unreadable(kind, &e),
        },
        _ => {
            tracing::warn!(
                kind,
                "acked a Socket Mode envelope of a type Gatehouse does not know"
            );
            return Ack::Bare;
        }
    };
    result.unwrap_or_else(on_error)
}

fn unreadable(kind: &str, e: &serde_json::Error) -> Ack {
    tracing::warn!(kind, error = %e, "acked a Socket Mode envelope whose payload does not parse");
    Ack::Bare
}

/// Starts `connections` Socket Mode connections; returns them so the app can shut them down.
pub fn listen(
    client: Arc<SlackHyperClient>,
    app_token: &crate::config::Secret,
    connections: u32,
    ctx: Arc<SlackContext>,
) -> Listener {
    let token = SlackApiToken::new(app_token.expose().to_owned().into());
    super::socket_mode::start(
        client,
        token,
        connections,
        ctx,
        |ctx, kind, payload, accepts| {
            Box::pin(async move { answer(ctx, &kind, payload, accepts).await })
        },
    )
}
