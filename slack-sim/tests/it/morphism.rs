//! A real slack-morphism 2.31.1 client and Socket Mode listener against the simulator (reference/slack.md §4).

use crate::common::*;
use serde_json::json;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use slack_sim::SimHandle;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Built exactly as slack.md §4.4 says: https_or_http connector plus with_slack_api_url.
fn client(sim: &SimHandle) -> Arc<SlackHyperClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .unwrap()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector = SlackClientHyperConnector::from(https)
        .with_slack_api_url(&sim.api_url())
        .with_rate_control(SlackApiRateControlConfig::new().with_max_retries(2));
    Arc::new(SlackClient::new(connector))
}

/// What the handlers saw, shared through slack-morphism's user state (callbacks are plain fns).
#[derive(Default)]
struct Probe {
    hellos: usize,
    failed_once: Vec<String>,
    bot_token: String,
}

type Shared = Arc<Mutex<Probe>>;

async fn probe(states: &SlackClientEventsUserState) -> Shared {
    states
        .read()
        .await
        .get_user_state::<Shared>()
        .unwrap()
        .clone()
}

/// Generic because slack-morphism 2.31.1 does not re-export `SlackSocketModeHelloEvent` (models is private).
async fn on_hello<E: Send + 'static>(
    _: E,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) {
    probe(&states).await.lock().unwrap().hellos += 1;
}

async fn on_command(
    ev: SlackCommandEvent,
    client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let token = SlackApiToken::new(
        probe(&states)
            .await
            .lock()
            .unwrap()
            .bot_token
            .clone()
            .into(),
    );
    let view: SlackView = serde_json::from_value(json!({"type": "modal", "callback_id": "req",
        "title": {"type": "plain_text", "text": "Request access"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": [
            {"type": "input", "block_id": "b_resource", "label": {"type": "plain_text", "text": "Resource"},
             "element": {"type": "external_select", "action_id": "a_resource", "min_query_length": 1}},
            {"type": "input", "block_id": "b_reason", "label": {"type": "plain_text", "text": "Reason"},
             "element": {"type": "plain_text_input", "action_id": "a_reason"}}]}))?;
    client
        .open_session(&token)
        .views_open(&SlackApiViewsOpenRequest::new(ev.trigger_id, view))
        .await?;
    Ok(SlackCommandEventResponse::new(
        SlackMessageContent::new().with_text("Opening the form…".into()),
    )
    .with_response_type(SlackMessageResponseType::Ephemeral))
}

async fn on_interaction(
    ev: SlackInteractionEvent,
    _: Arc<SlackHyperClient>,
    _: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    Ok(match ev {
        SlackInteractionEvent::ViewSubmission(_) => {
            SlackInteractionResponse::ViewSubmission(serde_json::from_value(
                json!({"response_action": "errors", "errors": {"b_reason": "Reason is required"}}),
            )?)
        }
        SlackInteractionEvent::BlockSuggestion(s) => {
            let opts: Vec<SlackBlockChoiceItem<SlackBlockPlainTextOnly>> =
                ["prod-db", "staging-db"]
                    .into_iter()
                    .filter(|o| o.contains(s.value.as_str()))
                    .map(|o| {
                        SlackBlockChoiceItem::new(SlackBlockPlainTextOnly::from(o), o.to_string())
                    })
                    .collect();
            SlackInteractionResponse::BlockSuggestion(SlackBlockSuggestionResponse::Options(
                SlackBlockSuggestionOptions::new(opts),
            ))
        }
        _ => SlackInteractionResponse::Empty,
    })
}

/// Fails the first delivery of a `boom` reaction (default error handler → no ack), accepts the retry.
async fn on_push(
    ev: SlackPushEventCallback,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let SlackEventCallbackBody::ReactionAdded(r) = &ev.event
        && r.reaction.0 == "boom"
    {
        let p = probe(&states).await;
        let mut p = p.lock().unwrap();
        if !p.failed_once.contains(&ev.event_id.0) {
            p.failed_once.push(ev.event_id.0.clone());
            return Err("simulated handler failure".into());
        }
    }
    Ok(())
}

async fn listen(
    sim: &SimHandle,
) -> (
    SlackClientSocketModeListener<SlackClientHyperHttpsConnector>,
    Shared,
) {
    let shared: Shared = Arc::new(Mutex::new(Probe {
        bot_token: BOT.into(),
        ..Default::default()
    }));
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::new(client(sim)).with_user_state(shared.clone()),
    );
    let cbs = SlackSocketModeListenerCallbacks::new()
        .with_hello_events(on_hello)
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new().with_max_connections_count(1),
        env,
        cbs,
    );
    listener
        .listen_for(&SlackApiToken::new(APP.to_string().into()))
        .await
        .unwrap();
    listener.start().await;
    sim.wait_hello(1, Duration::from_secs(5)).await.unwrap();
    (listener, shared)
}

#[tokio::test]
async fn slack_morphism_listener_handles_commands_modals_suggestions_and_events() {
    let sim = start_with(|c| c.ack_timeout_ms = 800).await;
    let (listener, shared) = listen(&sim).await;
    sim.wait_until("hello callback", Duration::from_secs(2), |_| {
        (shared.lock().unwrap().hellos == 1).then_some(())
    })
    .await
    .unwrap();

    // Slash command: ephemeral ack payload, and the handler opened a modal with the trigger.
    let out = sim
        .slash_command("U0ALICE", "C0ACCESS", "/request-access", "prod")
        .await
        .unwrap();
    assert!(out.acked, "{out:?}");
    assert_eq!(out.payload.as_ref().unwrap()["response_type"], "ephemeral");
    assert_eq!(sim.ephemerals("U0ALICE")[0].text, "Opening the form…");
    let modal = sim
        .wait_for_modal("U0ALICE", |_| true, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        slack_sim::render_text(&modal),
        "Request access\nResource\nReason"
    );
    let view_id = modal["id"].as_str().unwrap().to_string();
    // slack-morphism POSTs the view as a JSON object.
    let call = &sim.api_calls_of("views.open")[0];
    assert!(call.args["view"].is_object() && call.args["trigger_id"].is_string());

    // External select: options come back in the ack.
    let out = sim
        .block_suggestion("U0ALICE", &view_id, "a_resource", "b_resource", "prod")
        .await
        .unwrap();
    assert_eq!(
        out.payload.unwrap()["options"],
        json!([{"text": {"type": "plain_text", "text": "prod-db"}, "value": "prod-db"}])
    );

    // Submission with a validation error keeps the modal open and shows the error.
    let values = json!({"b_resource": {"a_resource": {"type": "external_select",
        "selected_option": {"text": {"type": "plain_text", "text": "prod-db"}, "value": "prod-db"}}},
        "b_reason": {"a_reason": {"type": "plain_text_input", "value": null}}});
    let out = sim.submit_view("U0ALICE", &view_id, values).await.unwrap();
    assert_eq!(out.errors, Some(json!({"b_reason": "Reason is required"})));
    assert_eq!(out.stack, vec![view_id.clone()]);
    assert!(sim.failures().is_empty(), "{:?}", sim.failures());

    // reaction_added is acked bare.
    let ts = seed_message(&sim, "request #1").await;
    let ev = sim
        .add_reaction("U0BOB", "C0ACCESS", &ts, "white_check_mark")
        .await
        .unwrap()
        .unwrap();
    assert!(ev.acked);
    let ack = sim
        .acks()
        .into_iter()
        .find(|a| Some(&a.envelope_id) == ev.envelope_id.as_ref())
        .unwrap();
    assert_eq!(
        (ack.payload, ack.envelope_type.as_str()),
        (None, "events_api")
    );

    // A handler error is not acked (default error handler) and the event comes back as retry 1.
    let ev = sim
        .add_reaction("U0BOB", "C0ACCESS", &ts, "boom")
        .await
        .unwrap()
        .unwrap();
    assert!(!ev.acked);
    let retry = sim
        .wait_for_ack(|a| a.retry_attempt == 1, Duration::from_secs(3))
        .await
        .unwrap();
    let env = sim
        .envelopes()
        .into_iter()
        .find(|e| e.envelope_id == retry.envelope_id)
        .unwrap();
    assert_eq!(
        (env.retry_reason.as_str(), env.event_id.as_deref()),
        ("timeout", Some(ev.event_id.as_str()))
    );

    // App Home: app_home_opened parses and is acked.
    assert!(sim.open_app_home("U0DAVE").await.unwrap().acked);
    listener.shutdown().await;
}

#[tokio::test]
async fn refresh_requested_makes_slack_morphism_reopen_and_reconnect() {
    let sim = start().await;
    let (listener, shared) = listen(&sim).await;
    let first = sim.connection_ids();
    assert_eq!(sim.connections_opened(), 1);
    sim.disconnect("refresh_requested", None);
    sim.wait_until("a second connection", Duration::from_secs(10), |s| {
        (s.connections_opened() == 2
            && s.connection_ids().len() == 1
            && s.connection_ids() != first)
            .then_some(())
    })
    .await
    .unwrap();
    sim.wait_until("second hello", Duration::from_secs(2), |_| {
        (shared.lock().unwrap().hellos == 2).then_some(())
    })
    .await
    .unwrap();
    let ts = seed_message(&sim, "after refresh").await;
    assert!(
        sim.add_reaction("U0BOB", "C0ACCESS", &ts, "eyes")
            .await
            .unwrap()
            .unwrap()
            .acked
    );
    listener.shutdown().await;
}

#[tokio::test]
async fn slack_morphism_web_api_calls_parse_and_send_the_documented_shapes() {
    let sim = start().await;
    let c = client(&sim);
    let token = SlackApiToken::new(BOT.to_string().into());
    let s = c.open_session(&token);
    let message = |channel: &str, text: &str| {
        let content = SlackMessageContent::new().with_text(text.into());
        SlackApiChatPostMessageRequest::new(channel.into(), content)
    };
    let posted = s
        .chat_post_message(&message("C0ACCESS", "Request #1: pending"))
        .await
        .unwrap();
    let upd = s
        .chat_update(&SlackApiChatUpdateRequest::new(
            "C0ACCESS".into(),
            SlackMessageContent::new().with_text("Request #1: approved".into()),
            posted.ts.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(upd.ts, posted.ts);
    assert_eq!(sim.messages("C0ACCESS")[0].text, "Request #1: approved");
    let e = s
        .chat_post_message(&message("C0GENERAL", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SlackClientError::ApiError(a) if a.code == "not_in_channel"),
        "{e:?}"
    );

    let u = s
        .users_info(&SlackApiUsersInfoRequest::new("U0BOB".into()))
        .await
        .unwrap();
    assert_eq!(u.user.name.as_deref(), Some("bob"));
    assert_eq!(u.user.tz.as_deref(), Some("Europe/London"));
    let u = s
        .users_lookup_by_email(&SlackApiUsersLookupByEmailRequest::new(EmailAddress(
            "carol@example.com".into(),
        )))
        .await
        .unwrap();
    assert_eq!(u.user.id.0, "U0CAROL");
    let g = s
        .usergroups_users_list(&SlackApiUserGroupsUsersListRequest::new("S0REVIEW".into()))
        .await
        .unwrap();
    assert_eq!(g.users.len(), 2);
    let im = s
        .conversations_open(
            &SlackApiConversationsOpenRequest::new().with_users(vec!["U0ALICE".into()]),
        )
        .await
        .unwrap();
    assert!(im.channel.id.0.starts_with('D'));
    s.reactions_add(&SlackApiReactionsAddRequest::new(
        "C0ACCESS".into(),
        SlackReactionName("eyes".into()),
        posted.ts.clone(),
    ))
    .await
    .unwrap();
    let home: SlackView = serde_json::from_value(json!({"type": "home", "blocks": []})).unwrap();
    s.views_publish(&SlackApiViewsPublishRequest::new("U0ALICE".into(), home))
        .await
        .unwrap();

    // What slack-morphism actually sent: JSON bodies for POSTs, query strings for GETs.
    let calls = sim.api_calls();
    let args = |m: &str| calls.iter().find(|c| c.method == m).unwrap().args.clone();
    assert_eq!(
        args("chat.postMessage"),
        json!({"channel": "C0ACCESS", "text": "Request #1: pending"})
    );
    assert_eq!(args("chat.update")["ts"], json!(posted.ts.0));
    assert_eq!(args("users.info"), json!({"user": "U0BOB"}));
    assert_eq!(
        args("users.lookupByEmail"),
        json!({"email": "carol@example.com"})
    );
    assert_eq!(
        args("usergroups.users.list"),
        json!({"usergroup": "S0REVIEW"})
    );
    assert_eq!(args("conversations.open"), json!({"users": ["U0ALICE"]}));
    assert_eq!(args("views.publish")["view"]["type"], "home");

    // 429 + Retry-After is retried by slack-morphism's rate control.
    sim.rate_limit("users.info", 1, 1);
    let started = std::time::Instant::now();
    s.users_info(&SlackApiUsersInfoRequest::new("U0ALICE".into()))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    let statuses: Vec<u16> = sim
        .api_calls_of("users.info")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![200, 429, 200]);
}
