//! conversations.history and conversations.replies: windows, paging, metadata, scopes.

use crate::common::*;
use serde_json::{Value, json};
use slack_sim::SimHandle;

fn texts(v: &Value) -> Vec<&str> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

fn next_cursor(v: &Value) -> &str {
    v["response_metadata"]["next_cursor"].as_str().unwrap()
}

/// conversations.history of #access-requests, with `more` of the query.
async fn history(sim: &SimHandle, more: &[(&str, &str)]) -> Value {
    let query = [&[("channel", "C0ACCESS")], more].concat();
    get(sim, "conversations.history", &query).await
}

/// conversations.replies of the thread of `ts` in #access-requests, with `more` of the query.
async fn replies(sim: &SimHandle, ts: &str, more: &[(&str, &str)]) -> Value {
    let query = [&[("channel", "C0ACCESS"), ("ts", ts)], more].concat();
    get(sim, "conversations.replies", &query).await
}

/// Checks that `method` with `query` fails with `error`; the answer.
async fn fails(sim: &SimHandle, method: &str, query: &[(&str, &str)], error: &str) -> Value {
    let v = get(sim, method, query).await;
    assert_eq!(err(&v), error, "{method} {query:?}");
    v
}

#[tokio::test]
async fn history_pages_newest_first_within_its_window() {
    let sim = start().await;
    let mut ts = Vec::new();
    for i in 0..5 {
        ts.push(seed_message(&sim, &format!("m{i}")).await);
    }
    // A reply stays in its thread, out of the channel's history.
    api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "reply", "thread_ts": ts[0]}),
    )
    .await;

    let v = history(&sim, &[("limit", "2")]).await;
    assert_eq!(texts(ok(&v)), ["m4", "m3"]);
    assert_eq!(v["has_more"], json!(true));
    let c = next_cursor(&v).to_string();
    let v = history(&sim, &[("limit", "2"), ("cursor", &c)]).await;
    assert_eq!(texts(ok(&v)), ["m2", "m1"]);
    let c = next_cursor(&v).to_string();
    let v = history(&sim, &[("limit", "2"), ("cursor", &c)]).await;
    assert_eq!(texts(ok(&v)), ["m0"]);
    assert_eq!(v["has_more"], json!(false));
    assert_eq!(next_cursor(&v), "");
    assert_eq!(v["messages"][0]["reply_count"], json!(1));

    // oldest/latest are exclusive unless `inclusive`.
    let v = history(&sim, &[("oldest", &ts[1]), ("latest", &ts[4])]).await;
    assert_eq!(texts(ok(&v)), ["m3", "m2"]);
    let v = history(
        &sim,
        &[
            ("oldest", &ts[1]),
            ("latest", &ts[4]),
            ("inclusive", "true"),
        ],
    )
    .await;
    assert_eq!(texts(ok(&v)), ["m4", "m3", "m2", "m1"]);

    fails(
        &sim,
        "conversations.history",
        &[("channel", "C0ACCESS"), ("cursor", "not-a-cursor")],
        "invalid_cursor",
    )
    .await;
    fails(
        &sim,
        "conversations.history",
        &[("channel", "C0ACCESS"), ("latest", "soon")],
        "invalid_ts_latest",
    )
    .await;
}

#[tokio::test]
async fn metadata_is_stored_and_returned_only_when_asked_for() {
    let sim = start().await;
    let md = json!({"event_type": "gatehouse_delivery", "event_payload": {"key": "7:card"}});
    let v = api(
        &sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": "card", "metadata": md}),
    )
    .await;
    let parent = ok(&v)["ts"].as_str().unwrap().to_string();
    // Form posts send it as a JSON string.
    let note_md = json!({"event_type": "gatehouse_delivery", "event_payload": {"key": "7:note"}});
    let v = form(
        &sim,
        "chat.postMessage",
        &[
            ("channel", "C0ACCESS"),
            ("text", "note"),
            ("thread_ts", &parent),
            ("metadata", &note_md.to_string()),
        ],
    )
    .await;
    ok(&v);

    let v = history(&sim, &[]).await;
    assert!(ok(&v)["messages"][0].get("metadata").is_none());
    let v = history(&sim, &[("include_all_metadata", "true")]).await;
    assert_eq!(ok(&v)["messages"][0]["metadata"], md);

    let v = replies(&sim, &parent, &[("include_all_metadata", "true")]).await;
    assert_eq!(texts(ok(&v)), ["card", "note"]);
    assert_eq!(v["messages"][1]["metadata"], note_md);
    assert_eq!(v["messages"][1]["thread_ts"], json!(parent));

    for bad in [
        json!({"event_type": "x"}),
        json!({"event_type": 3, "event_payload": {}}),
        json!({"event_type": "x", "event_payload": "no"}),
        json!("not json"),
    ] {
        let v = api(
            &sim,
            "chat.postMessage",
            json!({"channel": "C0ACCESS", "text": "x", "metadata": bad}),
        )
        .await;
        assert_eq!(err(&v), "invalid_metadata_format", "{bad}");
    }
}

#[tokio::test]
async fn replies_start_with_the_parent_and_page_oldest_first() {
    let sim = start().await;
    let parent = seed_message(&sim, "parent").await;
    let mut in_thread = Vec::new();
    for i in 0..4 {
        let v = api(
            &sim,
            "chat.postMessage",
            json!({"channel": "C0ACCESS", "text": format!("r{i}"), "thread_ts": parent}),
        )
        .await;
        in_thread.push(v["ts"].as_str().unwrap().to_string());
    }
    let v = replies(&sim, &parent, &[("limit", "3")]).await;
    assert_eq!(texts(ok(&v)), ["parent", "r0", "r1"]);
    assert_eq!(v["has_more"], json!(true));
    let c = next_cursor(&v).to_string();
    let v = replies(&sim, &parent, &[("limit", "3"), ("cursor", &c)]).await;
    assert_eq!(texts(ok(&v)), ["r2", "r3"]);
    assert_eq!(v["has_more"], json!(false));

    // Any message of the thread names it; `oldest` leaves out earlier replies, not the parent.
    let v = replies(&sim, &in_thread[2], &[("oldest", &in_thread[1])]).await;
    assert_eq!(texts(ok(&v)), ["parent", "r2", "r3"]);

    fails(
        &sim,
        "conversations.replies",
        &[("channel", "C0ACCESS"), ("ts", "1.000001")],
        "thread_not_found",
    )
    .await;
}

#[tokio::test]
async fn reading_needs_the_history_scope_of_the_conversation_kind_and_membership() {
    let sim = start_with(|c| c.bot_scopes.retain(|s| s != "im:history")).await;
    // No such channel; one the bot is not in; a private one it cannot see.
    for (channel, error) in [
        ("C0NOPE", "channel_not_found"),
        ("C0GENERAL", "not_in_channel"),
        ("G0SECRET", "channel_not_found"),
    ] {
        fails(
            &sim,
            "conversations.history",
            &[("channel", channel)],
            error,
        )
        .await;
    }
    let v = api(&sim, "conversations.open", json!({"users": ["U0ALICE"]})).await;
    let dm = ok(&v)["channel"]["id"].as_str().unwrap().to_string();
    let v = fails(
        &sim,
        "conversations.history",
        &[("channel", &dm)],
        "missing_scope",
    )
    .await;
    assert_eq!(v["needed"], json!("im:history"));
    assert!(!v["provided"].as_str().unwrap().contains("im:history"));
    let v = history(&sim, &[]).await;
    assert_eq!(ok(&v)["messages"], json!([]));

    let sim = start_with(|c| c.bot_scopes.retain(|s| s != "channels:history")).await;
    let v = fails(
        &sim,
        "conversations.replies",
        &[("channel", "C0ACCESS"), ("ts", "1.1")],
        "missing_scope",
    )
    .await;
    assert_eq!(v["needed"], json!("channels:history"));
}

#[tokio::test]
async fn a_post_failure_can_be_injected_once_for_a_persons_dm() {
    let sim = start().await;
    sim.sim().fail_next_post("U0ALICE", "internal_error");
    let v = api(&sim, "conversations.open", json!({"users": ["U0ALICE"]})).await;
    let dm = ok(&v)["channel"]["id"].as_str().unwrap().to_string();
    let post = async || {
        api(
            &sim,
            "chat.postMessage",
            json!({"channel": dm, "text": "hi"}),
        )
        .await
    };
    assert_eq!(err(&post().await), "internal_error");
    ok(&post().await);
    assert_eq!(sim.sim().dms("U0ALICE").len(), 1);
}
