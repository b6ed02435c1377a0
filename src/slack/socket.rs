//! Socket Mode: slack-morphism's listener, and the thin callbacks that hand each envelope to a
//! handler. Acks go out when a callback returns, so callbacks only do quick work.

use std::sync::Arc;

use serde_json::Value;
use slack_morphism::prelude::*;

use super::context::SlackContext;
use super::handlers::{Malformed, commands, events, interactions, questions};
use crate::domain::SlackUserId;

/// Marks an envelope answered on purpose without a payload (e.g. a command that opened a modal).
#[derive(Debug, thiserror::Error)]
#[error("acknowledged without a payload")]
struct BareAck;

async fn context(
    states: &SlackClientEventsUserState,
) -> Result<Arc<SlackContext>, Box<dyn std::error::Error + Send + Sync>> {
    states
        .read()
        .await
        .get_user_state::<Arc<SlackContext>>()
        .cloned()
        .ok_or_else(|| "Slack context missing from the listener state".into())
}

fn log_malformed(kind: &str, e: &Malformed) {
    tracing::warn!(kind, error = %e, "ignored a Slack payload");
}

/// Generic: slack-morphism 2.31 does not export the hello event's type.
async fn on_hello<E: Send + 'static>(
    _: E,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) {
    if let Ok(ctx) = context(&states).await {
        tracing::info!("connected to Slack (Socket Mode)");
        ctx.connected.send_modify(|n| *n += 1);
    }
}

async fn on_command(
    ev: SlackCommandEvent,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let ctx = context(&states).await?;
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
                    tokio::spawn(async move {
                        questions::access_check(&ctx, &user, &channel, &q).await;
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

async fn on_interaction(
    ev: SlackInteractionEvent,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let ctx = context(&states).await?;
    let payload: Value = serde_json::to_value(&ev)?;
    let kind = payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match kind.as_str() {
        "view_submission" => match interactions::view_submission(&ctx, &payload).await {
            Ok(interactions::SubmitReply::Close) => Ok(SlackInteractionResponse::Empty),
            Ok(interactions::SubmitReply::Update(view)) => {
                Ok(SlackInteractionResponse::ViewSubmission(
                    serde_json::from_value(interactions::update_payload(&view))?,
                ))
            }
            Ok(interactions::SubmitReply::Errors(errors)) => {
                Ok(SlackInteractionResponse::ViewSubmission(
                    serde_json::from_value(interactions::errors_payload(&errors))?,
                ))
            }
            Err(e) => {
                log_malformed("view_submission", &e);
                Ok(SlackInteractionResponse::Empty)
            }
        },
        "block_suggestion" => {
            let options = interactions::block_suggestion(&ctx, &payload)
                .await
                .unwrap_or_else(|e| {
                    log_malformed("block_suggestion", &e);
                    Vec::new()
                });
            let options: Vec<SlackBlockChoiceItem<SlackBlockPlainTextOnly>> =
                serde_json::from_value(Value::Array(options))?;
            Ok(SlackInteractionResponse::BlockSuggestion(
                SlackBlockSuggestionResponse::Options(SlackBlockSuggestionOptions::new(options)),
            ))
        }
        "block_actions" => {
            // Clicks may call Slack several times (modals, ephemerals, Home): answer first.
            tokio::spawn(async move {
                if let Err(e) = interactions::block_actions(&ctx, &payload).await {
                    log_malformed("block_actions", &e);
                }
            });
            Ok(SlackInteractionResponse::Empty)
        }
        _ => Ok(SlackInteractionResponse::Empty),
    }
}

async fn on_push(
    ev: SlackPushEventCallback,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let ctx = context(&states).await?;
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
fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _: Arc<SlackHyperClient>,
    _: SlackClientEventsUserState,
) -> HttpStatusCode {
    if err.downcast_ref::<BareAck>().is_some() {
        return HttpStatusCode::OK;
    }
    tracing::error!(error = %super::api::redact(&err.to_string()), "a Slack envelope could not be handled");
    HttpStatusCode::INTERNAL_SERVER_ERROR
}

/// Starts the listener; returns it so the app can shut it down.
pub async fn listen(
    client: Arc<SlackHyperClient>,
    app_token: &crate::config::Secret,
    connections: u32,
    ctx: Arc<SlackContext>,
) -> Result<SlackClientSocketModeListener<SlackClientHyperHttpsConnector>, super::api::SlackError> {
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(ctx),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_hello_events(on_hello)
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new().with_max_connections_count(connections),
        env,
        callbacks,
    );
    let token = SlackApiToken::new(app_token.expose().to_owned().into());
    listener
        .listen_for(&token)
        .await
        .map_err(|e| super::api::SlackError::Transport {
            method: "apps.connections.open",
            detail: super::api::redact(&e.to_string()),
        })?;
    listener.start().await;
    Ok(listener)
}
