//! Web API methods: success shapes and the documented errors, over raw HTTP.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn tokens_are_checked_and_each_token_type_is_confined_to_its_methods() {
    let sim = start().await;
    let (s, v) = post(&sim, "auth.test", None, json!({})).await;
    assert_eq!((s, err(&v)), (200, "not_authed"));
    let (_, v) = post(&sim, "auth.test", Some("xoxb-wrong"), json!({})).await;
    assert_eq!(err(&v), "invalid_auth");
    let (_, v) = post(&sim, "auth.test", Some(APP), json!({})).await;
    assert_eq!(err(&v), "not_allowed_token_type");
    let (_, v) = post(&sim, "apps.connections.open", Some(BOT), json!({})).await;
    assert_eq!(err(&v), "not_allowed_token_type");
    let (_, v) = post(&sim, "apps.connections.open", Some(APP), json!({})).await;
    assert!(
        ok(&v)["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("ws://127.0.0.1:{}/link/?ticket=", sim.port()))
    );
    let v = api(&sim, "auth.test", json!({})).await;
    assert_eq!(
        (ok(&v)["user_id"].as_str(), v["team_id"].as_str()),
        (Some("U0BOT"), Some("T0SIM"))
    );
    let v = api(&sim, "no.such.method", json!({})).await;
    assert_eq!(err(&v), "unknown_method");
    // Every call is in the log with its outcome.
    let calls = sim.api_calls();
    assert_eq!(calls.len(), 7);
    assert_eq!(calls[0].error.as_deref(), Some("not_authed"));
    assert!(calls[4].ok);
}

#[tokio::test]
async fn post_message_checks_channel_membership_text_and_threads() {
    let sim = start().await;
    // No such channel; a channel the bot is not in; a private one it cannot see.
    for (channel, error) in [
        ("C0NOPE", "channel_not_found"),
        ("C0GENERAL", "not_in_channel"),
        ("G0SECRET", "channel_not_found"),
    ] {
        let v = api(
            &sim,
            "chat.postMessage",
            json!({"channel": channel, "text": "x"}),
        )
        .await;
        assert_eq!(err(&v), error, "{channel}");
    }
    let v = api(&sim, "chat.postMessage", json!({"channel": "C0ACCESS"})).await;
    assert_eq!(err(&v), "no_text");

    let v = api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "hello",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]}),
    )
    .await;
    let ts = ok(&v)["ts"].as_str().unwrap().to_string();
    assert_eq!(v["channel"], "C0ACCESS");
    assert_eq!(v["message"]["ts"], json!(ts));
    assert_eq!(v["message"]["bot_id"], "B0SIMBOT");
    let r = api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "reply", "thread_ts": ts}),
    )
    .await;
    assert_eq!(ok(&r)["message"]["thread_ts"], json!(ts));

    let msgs = sim.messages("C0ACCESS");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].replies.len(), 1);
    assert_eq!(msgs[0].replies[0].text, "reply");
    assert_eq!(
        slack_sim::render_text(&serde_json::to_value(&msgs[0]).unwrap()),
        "*hello*"
    );
    assert_eq!(sim.thread("C0ACCESS", &ts).len(), 2);

    // chat:write.public lifts not_in_channel for public channels only.
    let sim2 = start_with(|c| c.bot_scopes.push("chat:write.public".into())).await;
    ok(&api(
        &sim2,
        "chat.postMessage",
        json!({"channel": "C0GENERAL", "text": "x"}),
    )
    .await);
    let v = api(
        &sim2,
        "chat.postMessage",
        json!({"channel": "G0SECRET", "text": "x"}),
    )
    .await;
    assert_eq!(err(&v), "channel_not_found");
}

#[tokio::test]
async fn form_encoded_and_query_arguments_are_accepted_with_json_strings_in_fields() {
    let sim = start().await;
    let blocks =
        json!([{"type": "header", "text": {"type": "plain_text", "text": "Hi"}}]).to_string();
    let v = form(
        &sim,
        "chat.postMessage",
        &[("channel", "C0ACCESS"), ("blocks", &blocks)],
    )
    .await;
    let ts = ok(&v)["ts"].as_str().unwrap().to_string();
    assert_eq!(
        sim.message("C0ACCESS", &ts).unwrap().blocks.unwrap()[0]["type"],
        "header"
    );
    let v = get(&sim, "users.info", &[("user", "U0BOB")]).await;
    assert_eq!(ok(&v)["user"]["name"], "bob");
    // The token may also come as a parameter (not for apps.connections.open).
    let v: serde_json::Value = reqwest::get(format!("{}/auth.test?token={BOT}", sim.api_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ok(&v);
}

#[tokio::test]
async fn update_ephemeral_permalink_and_reactions_follow_slack_rules() {
    let sim = start().await;
    let ts = seed_message(&sim, "pending").await;
    let v = api(
        &sim,
        "chat.update",
        json!({"channel": "C0ACCESS", "ts": "1.000001", "text": "x"}),
    )
    .await;
    assert_eq!(err(&v), "message_not_found");
    let v = api(
        &sim,
        "chat.update",
        json!({"channel": "C0ACCESS", "ts": ts, "text": "approved"}),
    )
    .await;
    assert_eq!(
        (ok(&v)["text"].as_str(), v["message"]["text"].as_str()),
        (Some("approved"), Some("approved"))
    );
    assert_eq!(sim.message("C0ACCESS", &ts).unwrap().text, "approved");
    let dm = api(&sim, "conversations.open", json!({"users": ["U0ALICE"]})).await;
    let d = ok(&dm)["channel"]["id"].as_str().unwrap().to_string();
    sim.slash_command("U0ALICE", "C0ACCESS", "/x", "")
        .await
        .unwrap(); // no socket: dispatch_failed
    assert_eq!(sim.failures()[0].kind, "dispatch_failed");

    let v = api(
        &sim,
        "chat.postEphemeral",
        json!({"channel": "C0ACCESS", "user": "U0ALICE", "text": "only you"}),
    )
    .await;
    assert!(ok(&v)["message_ts"].is_string());
    assert_eq!(sim.ephemerals("U0ALICE")[0].text, "only you");
    let v = api(
        &sim,
        "chat.postEphemeral",
        json!({"channel": d, "user": "U0BOB", "text": "x"}),
    )
    .await;
    assert_eq!(err(&v), "user_not_in_channel");

    let v = api(
        &sim,
        "chat.getPermalink",
        json!({"channel": "C0ACCESS", "message_ts": ts}),
    )
    .await;
    assert_eq!(
        ok(&v)["permalink"],
        json!(format!(
            "https://sim.sim.slack/archives/C0ACCESS/p{}",
            ts.replace('.', "")
        ))
    );
    let v = api(
        &sim,
        "chat.getPermalink",
        json!({"channel": "C0ACCESS", "message_ts": "9.9"}),
    )
    .await;
    assert_eq!(err(&v), "message_not_found");

    ok(&api(
        &sim,
        "reactions.add",
        json!({"channel": "C0ACCESS", "timestamp": ts, "name": "eyes"}),
    )
    .await);
    let v = api(
        &sim,
        "reactions.add",
        json!({"channel": "C0ACCESS", "timestamp": ts, "name": ":eyes:"}),
    )
    .await;
    assert_eq!(err(&v), "already_reacted");
    let v = api(
        &sim,
        "reactions.add",
        json!({"channel": "C0ACCESS", "timestamp": "1.1", "name": "eyes"}),
    )
    .await;
    assert_eq!(err(&v), "message_not_found");
    assert_eq!(
        sim.message("C0ACCESS", &ts).unwrap().reactions[0].users,
        vec!["U0BOT"]
    );

    // A person's message is not the bot's to edit.
    let mine = sim
        .post_as_user("U0ALICE", "C0ACCESS", "my own words")
        .unwrap();
    let v = api(
        &sim,
        "chat.update",
        json!({"channel": "C0ACCESS", "ts": mine, "text": "x"}),
    )
    .await;
    assert_eq!(err(&v), "cant_update_message");
}

#[tokio::test]
async fn conversations_open_gives_a_stable_dm_that_the_bot_can_post_to() {
    let sim = start().await;
    let a = api(&sim, "conversations.open", json!({"users": ["U0ALICE"]})).await;
    let b = form(&sim, "conversations.open", &[("users", "U0ALICE")]).await;
    let d = ok(&a)["channel"]["id"].as_str().unwrap().to_string();
    assert!(d.starts_with('D'));
    assert_eq!(ok(&b)["channel"]["id"], json!(d));
    assert_eq!(b["already_open"], json!(true));
    let v = api(&sim, "conversations.open", json!({"users": ["U0NOBODY"]})).await;
    assert_eq!(err(&v), "user_not_found");
    let v = api(&sim, "conversations.open", json!({})).await;
    assert_eq!(err(&v), "users_list_not_supplied");
    ok(&api(
        &sim,
        "chat.postMessage",
        json!({"channel": d, "text": "your request was approved"}),
    )
    .await);
    let m = sim
        .wait_for_dm(
            "U0ALICE",
            |m| m.text.contains("approved"),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(m.user, "U0BOT");
    assert_eq!(sim.dms("U0ALICE").len(), 1);
}

#[tokio::test]
async fn user_and_group_lookups_return_slack_shapes_and_errors() {
    let sim = start().await;
    let v = get(&sim, "users.info", &[("user", "U0ALICE")]).await;
    let u = &ok(&v)["user"];
    assert_eq!(
        (u["tz"].as_str(), u["tz_offset"].as_i64()),
        (Some("Europe/Paris"), Some(3600))
    );
    assert_eq!(u["profile"]["email"], "alice@example.com");
    assert_eq!(u["is_bot"], json!(false));
    assert_eq!(
        err(&get(&sim, "users.info", &[("user", "U0NOBODY")]).await),
        "user_not_found"
    );
    let v = get(&sim, "users.lookupByEmail", &[("email", "Bob@Example.com")]).await;
    assert_eq!(ok(&v)["user"]["id"], "U0BOB");
    assert_eq!(
        err(&get(&sim, "users.lookupByEmail", &[("email", "x@y.z")]).await),
        "users_not_found"
    );
    let v = get(&sim, "usergroups.users.list", &[("usergroup", "S0REVIEW")]).await;
    assert_eq!(ok(&v)["users"], json!(["U0BOB", "U0CAROL"]));
    assert_eq!(
        err(&get(&sim, "usergroups.users.list", &[("usergroup", "S0NOPE")]).await),
        "no_such_subteam"
    );
    let sim2 = start_with(|c| c.bot_scopes.retain(|s| s != "usergroups:read")).await;
    let v = get(&sim2, "usergroups.users.list", &[("usergroup", "S0REVIEW")]).await;
    assert_eq!(
        (err(&v), v["needed"].as_str()),
        ("missing_scope", Some("usergroups:read"))
    );
    // Without users:read.email, users.info answers but leaves the email out, as Slack does.
    let sim3 = start_with(|c| c.bot_scopes.retain(|s| s != "users:read.email")).await;
    let v = get(&sim3, "users.info", &[("user", "U0ALICE")]).await;
    let profile = &ok(&v)["user"]["profile"];
    assert_eq!(profile["real_name"], "Alice Martin", "{profile}");
    assert!(profile.get("email").is_none(), "{profile}");
}

#[tokio::test]
async fn trigger_ids_expire_and_are_single_use() {
    let sim = start_with(|c| c.trigger_ttl_ms = 300).await;
    let (t1, t2) = (sim.issue_trigger("U0ALICE"), sim.issue_trigger("U0ALICE"));
    let v = api(
        &sim,
        "views.open",
        json!({"trigger_id": "nope", "view": modal("A")}),
    )
    .await;
    assert_eq!(err(&v), "invalid_trigger_id");
    let v = api(
        &sim,
        "views.open",
        json!({"trigger_id": t1, "view": modal("Request")}),
    )
    .await;
    let view = &ok(&v)["view"];
    assert!(view["id"].as_str().unwrap().starts_with('V'));
    assert_eq!(
        (view["team_id"].as_str(), view["type"].as_str()),
        (Some("T0SIM"), Some("modal"))
    );
    assert_eq!(view["state"], json!({"values": {}}));
    assert!(view["hash"].is_string());
    let v = api(
        &sim,
        "views.open",
        json!({"trigger_id": t1, "view": modal("Again")}),
    )
    .await;
    assert_eq!(err(&v), "exchanged_trigger_id");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let v = api(
        &sim,
        "views.open",
        json!({"trigger_id": t2, "view": modal("Late")}),
    )
    .await;
    assert_eq!(err(&v), "expired_trigger_id");
    assert_eq!(sim.modal_stack("U0ALICE").len(), 1);
}

#[tokio::test]
async fn views_update_push_and_publish_track_hashes_and_stacks() {
    let sim = start().await;
    let (t1, t2) = (sim.issue_trigger("U0ALICE"), sim.issue_trigger("U0ALICE"));
    // The view may arrive as a JSON string (form-style clients).
    let v = api(
        &sim,
        "views.open",
        json!({"trigger_id": t1, "view": modal("Request").to_string()}),
    )
    .await;
    let id = ok(&v)["view"]["id"].as_str().unwrap().to_string();
    let hash = v["view"]["hash"].as_str().unwrap().to_string();
    let v = api(
        &sim,
        "views.update",
        json!({"view_id": id, "hash": "stale", "view": modal("B")}),
    )
    .await;
    assert_eq!(err(&v), "hash_conflict");
    let v = api(
        &sim,
        "views.update",
        json!({"view_id": id, "hash": hash, "view": modal("Updated")}),
    )
    .await;
    assert_ne!(ok(&v)["view"]["hash"], json!(hash));
    assert_eq!(
        sim.top_modal("U0ALICE").unwrap()["title"]["text"],
        "Updated"
    );
    let v = api(
        &sim,
        "views.update",
        json!({"view_id": "V0NOPE", "view": modal("B")}),
    )
    .await;
    assert_eq!(err(&v), "not_found");
    let mut ext = modal("Ext");
    ext["external_id"] = json!("req-1");
    let v = api(&sim, "views.push", json!({"trigger_id": t2, "view": ext})).await;
    assert_eq!(ok(&v)["view"]["previous_view_id"], json!(id));
    let v = api(
        &sim,
        "views.update",
        json!({"external_id": "req-1", "view": modal("By ext")}),
    )
    .await;
    ok(&v);
    let stack = sim.modal_stack("U0ALICE");
    assert_eq!(stack.len(), 2);
    assert_eq!(stack[1]["title"]["text"], "By ext");

    let home = json!({"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Your requests"}}]});
    let v = api(
        &sim,
        "views.publish",
        json!({"user_id": "U0BOB", "view": home}),
    )
    .await;
    let hid = ok(&v)["view"]["id"].as_str().unwrap().to_string();
    let v = api(
        &sim,
        "views.publish",
        json!({"user_id": "U0BOB", "view": home, "hash": "old"}),
    )
    .await;
    assert_eq!(err(&v), "hash_conflict");
    let v = api(
        &sim,
        "views.publish",
        json!({"user_id": "U0BOB", "view": home}),
    )
    .await;
    assert_eq!(ok(&v)["view"]["id"], json!(hid));
    assert_eq!(
        slack_sim::render_text(&sim.home_view("U0BOB").unwrap()),
        "Your requests"
    );
    let v = api(
        &sim,
        "views.publish",
        json!({"user_id": "U0NOBODY", "view": home}),
    )
    .await;
    assert_eq!(err(&v), "user_not_found");
}

#[tokio::test]
async fn injected_rate_limits_answer_429_with_retry_after_then_recover() {
    let sim = start().await;
    sim.rate_limit("users.info", 2, 7);
    for _ in 0..2 {
        let r = crate::common::http()
            .get(format!("{}/users.info?user=U0BOB", sim.api_url()))
            .bearer_auth(BOT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v, json!({"ok": false, "error": "ratelimited"}));
    }
    ok(&get(&sim, "users.info", &[("user", "U0BOB")]).await);
    let log = sim.api_calls_of("users.info");
    assert_eq!(
        log.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![429, 429, 200]
    );
}

#[tokio::test]
async fn subscribers_see_each_post_and_update_with_the_instant_its_call_arrived() {
    let sim = start().await;
    let mut posts = sim.subscribe_posts();
    let before = std::time::Instant::now();
    let v = api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "request #1"}),
    )
    .await;
    let ts = ok(&v)["ts"].as_str().unwrap().to_string();
    let after_post = std::time::Instant::now();
    api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "in the thread", "thread_ts": ts}),
    )
    .await;
    api(
        &sim,
        "chat.update",
        json!({"channel": "C0ACCESS", "ts": ts, "text": "request #1: approved"}),
    )
    .await;
    // A DM (to a user id) is announced under its conversation id.
    api(
        &sim,
        "chat.postMessage",
        json!({"channel": "U0ALICE", "text": "you now have access"}),
    )
    .await;
    // Refused calls and other methods are not announced.
    api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0NOPE", "text": "x"}),
    )
    .await;
    api(&sim, "auth.test", json!({})).await;

    let next = |p: &mut tokio::sync::broadcast::Receiver<slack_sim::Posted>| p.try_recv().unwrap();
    let first = next(&mut posts);
    assert_eq!(
        (first.method, first.channel.as_str(), first.ts.as_str()),
        ("chat.postMessage", "C0ACCESS", ts.as_str())
    );
    assert_eq!((first.text.as_str(), first.thread_ts), ("request #1", None));
    assert!(before <= first.at && first.at <= after_post);
    let reply = next(&mut posts);
    assert_eq!(reply.thread_ts.as_deref(), Some(ts.as_str()));
    assert_ne!(reply.ts, ts);
    assert!(reply.at >= first.at);
    let update = next(&mut posts);
    assert_eq!(
        (update.method, update.ts.as_str(), update.text.as_str()),
        ("chat.update", ts.as_str(), "request #1: approved")
    );
    let dm = next(&mut posts);
    assert_eq!(Some(dm.channel), sim.im_channel("U0ALICE"));
    assert_eq!(dm.text, "you now have access");
    assert!(posts.try_recv().is_err(), "nothing else was announced");
}

/// Who a new post notifies, as Slack's default preferences do: a mentioned member and a
/// group's members, each once; an edit notifies no one; a DM notifies its reader.
#[tokio::test]
async fn a_post_notifies_mentioned_members_and_groups_once_and_an_edit_notifies_no_one() {
    let sim = start().await;
    let v = api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "<@U0ALICE|alice> and <!subteam^S0REVIEW>, <@U0BOB> again",
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "ask <@U0DAVE>"}}]}),
    )
    .await;
    let ts = ok(&v)["ts"].as_str().unwrap().to_owned();
    let why = |user: &str| -> Vec<String> {
        sim.notifications(user)
            .iter()
            .map(|n| n.why.clone())
            .collect()
    };
    assert_eq!(why("U0ALICE"), ["mention"]);
    assert_eq!(why("U0BOB"), ["group"], "once, though named twice");
    assert_eq!(why("U0CAROL"), ["group"]);
    assert_eq!(why("U0DAVE"), ["mention"], "mentions in blocks count too");

    let edited = api(
        &sim,
        "chat.update",
        json!({"channel": "C0ACCESS", "ts": ts, "text": "now <@U0ALICE> and <!here>"}),
    )
    .await;
    ok(&edited);
    assert_eq!(why("U0ALICE"), ["mention"], "an edit notifies no one");

    api(
        &sim,
        "chat.postMessage",
        json!({"channel": "U0DAVE", "text": "your DM"}),
    )
    .await;
    assert_eq!(why("U0DAVE"), ["mention", "dm"]);
}

/// A read-only Messages tab (the manifest's `messages_tab_read_only_enabled`) gives people no
/// box to write to the app in: `message_bot` is refused, as Slack would not let them.
#[tokio::test]
async fn a_read_only_messages_tab_lets_nobody_write_to_the_app() {
    let sim = start_with(|c| c.messages_tab_read_only = true).await;
    let refused = sim.sim().message_bot("U0ALICE", "hello").await;
    assert!(
        matches!(refused, Err(slack_sim::ControlError::MessagesTabReadOnly(ref u)) if u == "U0ALICE"),
        "{refused:?}"
    );
    assert!(sim.dms("U0ALICE").is_empty(), "nothing was written");
}
