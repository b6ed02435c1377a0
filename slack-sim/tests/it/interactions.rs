//! Acting as people over a bare socket: buttons, modal response_actions and App Home payloads.

use crate::common::*;
use serde_json::{Value, json};
use slack_sim::{ButtonTarget, ControlError, SimHandle};
use std::future::Future;
use std::time::Duration;

/// Runs a control action while answering its one envelope with `reply`; returns (outcome, envelope).
async fn answered<T: Send + 'static>(
    sim: &SimHandle,
    ws: &mut RawWs,
    reply: Option<Value>,
    action: impl Future<Output = T> + Send + 'static,
) -> (T, Value) {
    let _ = sim;
    let h = tokio::spawn(action);
    let env = next_json(ws).await.unwrap();
    ack(ws, &env, reply).await;
    (h.await.unwrap(), env)
}

async fn open_modal(sim: &SimHandle, user: &str) -> String {
    let t = sim.issue_trigger(user);
    let v = api(
        sim,
        "views.open",
        json!({"trigger_id": t, "view": modal("Request")}),
    )
    .await;
    v["view"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn buttons_in_messages_and_views_send_block_actions_with_the_right_container() {
    let sim = start().await;
    let (mut ws, _) = connect(&sim).await;
    let blocks = json!([{"type": "actions", "block_id": "b_review", "elements": [
        {"type": "button", "action_id": "approve", "value": "req-1", "text": {"type": "plain_text", "text": "Approve"}}]}]);
    let v = api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "req", "blocks": blocks}),
    )
    .await;
    let ts = v["ts"].as_str().unwrap().to_string();
    let s = sim.sim();
    let target = ButtonTarget::Message {
        channel: "C0ACCESS".into(),
        ts: ts.clone(),
    };
    let (out, env) = answered(&sim, &mut ws, None, async move {
        s.click_button("U0BOB", target, "approve", None, None).await
    })
    .await;
    let out = out.unwrap();
    assert!(out.acked && out.trigger_id.is_some());
    assert_eq!(
        (
            env["type"].as_str(),
            env["accepts_response_payload"].as_bool()
        ),
        (Some("interactive"), Some(false))
    );
    let p = &env["payload"];
    assert_eq!(p["type"], "block_actions");
    assert_eq!(p["container"]["type"], "message");
    assert_eq!(p["container"]["message_ts"], json!(ts));
    assert_eq!(p["message"]["ts"], json!(ts));
    assert_eq!(p["channel"]["id"], "C0ACCESS");
    assert_eq!(p["actions"][0]["value"], "req-1");
    assert_eq!(p["actions"][0]["block_id"], "b_review");
    // The trigger from a click opens a modal.
    let v = api(
        &sim,
        "views.open",
        json!({"trigger_id": out.trigger_id, "view": modal("Deny reason")}),
    )
    .await;
    ok(&v);

    let view_id = sim.top_modal("U0BOB").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = sim.sim();
    let vid = view_id.clone();
    let (out, env) = answered(&sim, &mut ws, None, async move {
        s.click_button(
            "U0BOB",
            ButtonTarget::View { view_id: vid },
            "a_more",
            None,
            None,
        )
        .await
    })
    .await;
    assert!(out.unwrap().acked);
    assert_eq!(
        env["payload"]["container"],
        json!({"type": "view", "view_id": view_id})
    );
    assert_eq!(env["payload"]["view"]["id"], json!(view_id));

    let missing = sim
        .click_button(
            "U0BOB",
            ButtonTarget::Message {
                channel: "C0ACCESS".into(),
                ts,
            },
            "nope",
            None,
            None,
        )
        .await;
    assert_eq!(
        missing.unwrap_err(),
        ControlError::ActionNotFound("nope".into())
    );
}

#[tokio::test]
async fn view_submission_response_actions_change_the_modal_stack_as_slack_does() {
    let sim = start().await;
    let (mut ws, _) = connect(&sim).await;
    let root = open_modal(&sim, "U0ALICE").await;
    let values =
        json!({"b_reason": {"a_reason": {"type": "plain_text_input", "value": "need it"}}});

    // push: a second view on top.
    let s = sim.sim();
    let (r, v, vals) = (
        root.clone(),
        json!({"response_action": "push", "view": modal("Confirm")}),
        values.clone(),
    );
    let (out, env) = answered(&sim, &mut ws, Some(v), async move {
        s.submit_view("U0ALICE", &r, vals).await
    })
    .await;
    assert_eq!(env["accepts_response_payload"], true);
    assert_eq!(env["payload"]["view"]["state"]["values"], values);
    assert_eq!(env["payload"]["user"]["id"], "U0ALICE");
    let out = out.unwrap();
    assert_eq!(out.stack.len(), 2);
    let top = out.stack[1].clone();

    // update: same id, new content.
    let s = sim.sim();
    let t = top.clone();
    let (out, _) = answered(
        &sim,
        &mut ws,
        Some(json!({"response_action": "update", "view": modal("Updated")})),
        async move { s.submit_view("U0ALICE", &t, json!({})).await },
    )
    .await;
    assert_eq!(out.unwrap().stack, vec![root.clone(), top.clone()]);
    assert_eq!(
        sim.top_modal("U0ALICE").unwrap()["title"]["text"],
        "Updated"
    );

    // no response_action: the top view closes.
    let s = sim.sim();
    let t = top.clone();
    let (out, _) = answered(&sim, &mut ws, None, async move {
        s.submit_view("U0ALICE", &t, json!({})).await
    })
    .await;
    assert_eq!(out.unwrap().stack, vec![root.clone()]);
    assert_eq!(
        sim.submit_view("U0ALICE", &top, json!({}))
            .await
            .unwrap_err(),
        ControlError::ViewNotOpen(top)
    );

    // errors naming a block that is not an input is reported as a failure.
    let s = sim.sim();
    let r = root.clone();
    let (out, _) = answered(
        &sim,
        &mut ws,
        Some(json!({"response_action": "errors", "errors": {"b_nope": "x"}})),
        async move { s.submit_view("U0ALICE", &r, json!({})).await },
    )
    .await;
    assert_eq!(out.unwrap().stack, vec![root.clone()]);
    assert_eq!(sim.failures()[0].kind, "invalid_errors_block_id");

    // clear: everything closes.
    let s = sim.sim();
    let r = root.clone();
    let (out, _) = answered(
        &sim,
        &mut ws,
        Some(json!({"response_action": "clear"})),
        async move { s.submit_view("U0ALICE", &r, json!({})).await },
    )
    .await;
    assert!(out.unwrap().stack.is_empty());
    assert!(sim.modal_stack("U0ALICE").is_empty());
}

#[tokio::test]
async fn app_home_opened_carries_the_published_view_and_reactions_round_trip() {
    let sim = start().await;
    let (mut ws, _) = connect(&sim).await;
    let home = json!({"type": "home", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Gatehouse"}}]});
    ok(&api(
        &sim,
        "views.publish",
        json!({"user_id": "U0DAVE", "view": home}),
    )
    .await);
    let s = sim.sim();
    let (out, env) = answered(&sim, &mut ws, None, async move {
        s.open_app_home("U0DAVE").await
    })
    .await;
    assert!(out.unwrap().acked);
    let e = &env["payload"]["event"];
    assert_eq!(
        (e["type"].as_str(), e["tab"].as_str()),
        (Some("app_home_opened"), Some("home"))
    );
    assert!(e["channel"].as_str().unwrap().starts_with('D'));
    assert_eq!(e["view"]["type"], "home");

    let ts = seed_message(&sim, "req").await;
    let s = sim.sim();
    let t = ts.clone();
    let _ = answered(&sim, &mut ws, None, async move {
        s.add_reaction("U0BOB", "C0ACCESS", &t, "white_check_mark")
            .await
    })
    .await;
    assert_eq!(
        sim.add_reaction("U0BOB", "C0ACCESS", &ts, "white_check_mark")
            .await
            .unwrap_err(),
        ControlError::AlreadyReacted("U0BOB".into(), "white_check_mark".into())
    );
    let s = sim.sim();
    let t = ts.clone();
    let (out, env) = answered(&sim, &mut ws, None, async move {
        s.remove_reaction("U0BOB", "C0ACCESS", &t, "white_check_mark")
            .await
    })
    .await;
    assert!(out.unwrap().unwrap().acked);
    assert_eq!(env["payload"]["event"]["type"], "reaction_removed");
    assert!(sim.message("C0ACCESS", &ts).unwrap().reactions.is_empty());
    // No event for channels the bot is not in.
    let mine = sim.post_as_user("U0ALICE", "C0GENERAL", "hi").unwrap();
    assert!(
        sim.add_reaction("U0BOB", "C0GENERAL", &mine, "wave")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        next_json_within(&mut ws, Duration::from_millis(200))
            .await
            .is_none()
    );
}

/// A form of two selects and a text input; the first select's block dispatches its choice.
fn form(extra_block: bool) -> Value {
    let select = |id: &str| {
        json!({"type": "static_select", "action_id": id,
        "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}]})
    };
    let mut blocks = vec![
        json!({"type": "input", "block_id": "kind", "dispatch_action": true, "label": {"type": "plain_text", "text": "Kind"}, "element": select("kind")}),
        json!({"type": "input", "block_id": "size", "label": {"type": "plain_text", "text": "Size"}, "element": select("size")}),
        json!({"type": "input", "block_id": "why", "label": {"type": "plain_text", "text": "Why"},
               "element": {"type": "plain_text_input", "action_id": "why"}}),
    ];
    if extra_block {
        blocks.push(json!({"type": "input", "block_id": "more", "label": {"type": "plain_text", "text": "More"},
               "element": {"type": "plain_text_input", "action_id": "more"}}));
    }
    json!({"type": "modal", "callback_id": "form", "title": {"type": "plain_text", "text": "Form"}, "blocks": blocks})
}

#[tokio::test]
async fn a_choice_in_a_form_is_sent_only_where_its_block_dispatches_and_an_update_keeps_what_was_entered()
 {
    let sim = start().await;
    let (mut ws, _) = connect(&sim).await;
    let t = sim.issue_trigger("U0BOB");
    let v = api(
        &sim,
        "views.open",
        json!({"trigger_id": t, "view": form(true)}),
    )
    .await;
    let id = v["view"]["id"].as_str().unwrap().to_owned();
    let option = json!({"text": {"type": "plain_text", "text": "A"}, "value": "a"});

    // Typed text and a choice in a block that does not dispatch: state only, no envelope.
    sim.type_text("U0BOB", &id, "why", "because").await.unwrap();
    sim.type_text("U0BOB", &id, "more", "extra").await.unwrap();
    let quiet = sim.choose("U0BOB", &id, "size", option.clone()).await;
    assert!(quiet.unwrap().is_none());
    // A choice in the dispatching block: a block_actions with the view, its hash and state.
    let (s, vid, o) = (sim.sim(), id.clone(), option.clone());
    let (out, env) = answered(&sim, &mut ws, None, async move {
        s.choose("U0BOB", &vid, "kind", o).await
    })
    .await;
    assert!(out.unwrap().unwrap().acked);
    let p = &env["payload"];
    assert_eq!(p["type"], "block_actions");
    assert_eq!(p["container"], json!({"type": "view", "view_id": id}));
    assert_eq!(p["actions"][0]["selected_option"]["value"], "a");
    assert_eq!(p["actions"][0]["block_id"], "kind");
    assert_eq!(
        p["view"]["state"]["values"]["why"]["why"]["value"],
        "because"
    );
    let hash = p["view"]["hash"].as_str().unwrap().to_owned();

    // The app updates the view without the `more` block: the other entries stay, its goes.
    let v = api(
        &sim,
        "views.update",
        json!({"view_id": id, "hash": hash, "view": form(false)}),
    )
    .await;
    ok(&v);
    let values = &sim.view(&id).unwrap()["state"]["values"];
    assert_eq!(values["why"]["why"]["value"], "because");
    assert_eq!(values["size"]["size"]["selected_option"]["value"], "a");
    assert!(values.get("more").is_none(), "{values}");
    // The old hash is stale now.
    let v = api(
        &sim,
        "views.update",
        json!({"view_id": id, "hash": hash, "view": form(false)}),
    )
    .await;
    assert_eq!(v["error"], "hash_conflict");
}
