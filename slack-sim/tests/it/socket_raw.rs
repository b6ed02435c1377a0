//! Socket Mode protocol with a bare WebSocket client: hello, round-robin, redelivery, failures, limits.

use crate::common::*;
use serde_json::{Value, json};
use slack_sim::{AckOutcome, ControlError, SimHandle};
use std::time::Duration;
use tokio::task::JoinHandle;

#[tokio::test]
async fn hello_carries_every_field_slack_morphism_needs_and_tickets_are_single_use() {
    let sim = start().await;
    let (_, v) = post(&sim, "apps.connections.open", Some(APP), json!({})).await;
    let url = v["url"].as_str().unwrap().to_string();
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let hello = next_json(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["num_connections"], 1);
    assert_eq!(hello["connection_info"]["app_id"], "A0SIM");
    assert!(hello["debug_info"]["host"].is_string());
    assert!(hello["debug_info"]["approximate_connection_time"].is_u64());
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "a ticket opens one connection"
    );
    sim.wait_hello(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(sim.connection_count(), 1);
}

#[tokio::test]
async fn each_envelope_goes_to_exactly_one_of_two_connections_in_turn() {
    let sim = start().await;
    let (mut a, _) = connect(&sim).await;
    let (mut b, _) = connect(&sim).await;
    sim.wait_hello(2, Duration::from_secs(1)).await.unwrap();
    let ts = seed_message(&sim, "req").await;
    let s2 = sim.sim();
    let ts2 = ts.clone();
    let sender = tokio::spawn(async move {
        for name in ["one", "two", "three", "four"] {
            let o = s2
                .add_reaction("U0BOB", "C0ACCESS", &ts2, name)
                .await
                .unwrap()
                .unwrap();
            assert!(o.acked);
        }
    });
    let mut got = vec![];
    for _ in 0..4 {
        tokio::select! {
            Some(e) = next_json(&mut a) => { ack(&mut a, &e, None).await; got.push(("a", e)); }
            Some(e) = next_json(&mut b) => { ack(&mut b, &e, None).await; got.push(("b", e)); }
        }
    }
    sender.await.unwrap();
    let who: Vec<&str> = got.iter().map(|(w, _)| *w).collect();
    assert_eq!(who.iter().filter(|w| **w == "a").count(), 2, "{who:?}");
    assert_ne!(who[0], who[1]);
    let reactions: Vec<&str> = got
        .iter()
        .map(|(_, e)| e["payload"]["event"]["reaction"].as_str().unwrap())
        .collect();
    assert_eq!(reactions, ["one", "two", "three", "four"]);
    let e = &got[0].1;
    assert_eq!(
        (e["type"].as_str(), e["accepts_response_payload"].as_bool()),
        (Some("events_api"), Some(false))
    );
    assert_eq!(
        (e["retry_attempt"].as_u64(), e["retry_reason"].as_str()),
        (Some(0), Some(""))
    );
    let p = &e["payload"];
    assert!(p["event_id"].as_str().unwrap().starts_with("Ev"));
    assert!(p["event_time"].is_u64());
    assert_eq!(
        p["event"]["item"],
        json!({"type": "message", "channel": "C0ACCESS", "ts": ts})
    );
    assert_eq!(p["event"]["item_user"], "U0BOT");
    // Nothing else arrives: no duplicates.
    assert!(
        next_json_within(&mut a, Duration::from_millis(200))
            .await
            .is_none()
    );
    assert_eq!(sim.acks().len(), 4);
}

#[tokio::test]
async fn an_unacked_event_is_redelivered_with_retry_attempt_and_reason_timeout() {
    let sim = start_with(|c| c.ack_timeout_ms = 300).await;
    let (mut ws, _) = connect(&sim).await;
    let ts = seed_message(&sim, "req").await;
    let s2 = sim.sim();
    let ts2 = ts.clone();
    let h = tokio::spawn(async move {
        s2.add_reaction("U0BOB", "C0ACCESS", &ts2, "white_check_mark")
            .await
    });
    let first = next_json(&mut ws).await.unwrap();
    let second = next_json(&mut ws).await.unwrap();
    assert_eq!(
        (
            second["retry_attempt"].as_u64(),
            second["retry_reason"].as_str()
        ),
        (Some(1), Some("timeout"))
    );
    assert_eq!(first["payload"]["event_id"], second["payload"]["event_id"]);
    assert_ne!(first["envelope_id"], second["envelope_id"]);
    ack(&mut ws, &second, None).await;
    let outcome = h.await.unwrap().unwrap().unwrap();
    assert!(!outcome.acked, "the first delivery was not acked in time");
    let a = sim
        .wait_for_ack(|a| a.retry_attempt == 1, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(a.in_time && a.payload.is_none());
    assert!(
        next_json_within(&mut ws, Duration::from_millis(500))
            .await
            .is_none(),
        "acked: no third delivery"
    );
}

#[tokio::test]
async fn an_event_never_acked_is_tried_four_times_then_reported() {
    let sim = start_with(|c| c.ack_timeout_ms = 100).await;
    let (mut ws, _) = connect(&sim).await;
    sim.send_event_callback(json!({"type": "app_mention", "user": "U0ALICE", "text": "hi", "ts": "1.2", "channel": "C0ACCESS", "event_ts": "1.2"})).await;
    let mut attempts = vec![];
    while let Some(e) = next_json_within(&mut ws, Duration::from_millis(400)).await {
        attempts.push(e["retry_attempt"].as_u64().unwrap());
    }
    assert_eq!(attempts, [0, 1, 2, 3]);
    sim.wait_until("failure", Duration::from_secs(1), |s| {
        s.failures()
            .into_iter()
            .find(|f| f.kind == "event_not_acked")
    })
    .await
    .unwrap();
}

/// Connects to `sim`, and Alice types `/request-access text`, waiting on the ack in the
/// background: the socket, that wait, and the envelope the app receives.
async fn alice_requests_access(
    sim: &SimHandle,
    text: &str,
) -> (RawWs, JoinHandle<Result<AckOutcome, ControlError>>, Value) {
    let (mut ws, _) = connect(sim).await;
    let (s2, text) = (sim.sim(), text.to_owned());
    let h = tokio::spawn(async move {
        s2.slash_command("U0ALICE", "C0ACCESS", "/request-access", &text)
            .await
    });
    let env = next_json(&mut ws).await.unwrap();
    (ws, h, env)
}

#[tokio::test]
async fn an_interaction_not_acked_in_time_is_a_user_visible_failure_not_a_retry() {
    let sim = start_with(|c| c.ack_timeout_ms = 200).await;
    let (mut ws, h, env) = alice_requests_access(&sim, "prod").await;
    assert_eq!(env["type"], "slash_commands");
    assert_eq!(env["accepts_response_payload"], true);
    assert!(env.get("retry_attempt").is_none());
    let p = &env["payload"];
    for k in [
        "team_id",
        "channel_id",
        "user_id",
        "command",
        "response_url",
        "trigger_id",
    ] {
        assert!(p[k].is_string(), "{k} missing from {p}");
    }
    let out = h.await.unwrap().unwrap();
    assert_eq!(out.error.as_deref(), Some("operation_timeout"));
    assert!(
        next_json_within(&mut ws, Duration::from_millis(400))
            .await
            .is_none()
    );
    // A late ack is recorded as such.
    ack(&mut ws, &env, Some(json!({"text": "late"}))).await;
    let a = sim
        .wait_for_ack(|_| true, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(!a.in_time);
    assert!(sim.ephemerals("U0ALICE").is_empty());
    assert_eq!(sim.failures()[0].kind, "operation_timeout");
}

#[tokio::test]
async fn acks_record_latency_payload_and_slash_text_becomes_an_ephemeral() {
    let sim = start().await;
    let (mut ws, h, env) = alice_requests_access(&sim, "").await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    ack(
        &mut ws,
        &env,
        Some(json!({"text": "Opening the form…", "response_type": "ephemeral"})),
    )
    .await;
    let out = h.await.unwrap().unwrap();
    assert!(out.acked);
    assert_eq!(out.payload.unwrap()["text"], "Opening the form…");
    let a = &sim.acks()[0];
    assert!(
        a.latency_ms >= 100 && a.latency_ms < 2000,
        "{}",
        a.latency_ms
    );
    // The same latency in microseconds, agreeing with the milliseconds.
    assert_eq!(a.latency_us / 1000, a.latency_ms, "{}", a.latency_us);
    assert_eq!(a.envelope_type, "slash_commands");
    assert_eq!(sim.ephemerals("U0ALICE")[0].text, "Opening the form…");
    assert!(sim.ephemerals("U0BOB").is_empty());
}

#[tokio::test]
async fn an_eleventh_connection_is_told_too_many_websockets() {
    let sim = start().await;
    let mut keep = vec![];
    for _ in 0..10 {
        keep.push(connect(&sim).await.0);
    }
    let (mut extra, first) = connect(&sim).await;
    assert_eq!(
        (first["type"].as_str(), first["reason"].as_str()),
        (Some("disconnect"), Some("too_many_websockets"))
    );
    assert!(first["debug_info"]["host"].is_string());
    assert!(
        next_json_within(&mut extra, Duration::from_millis(500))
            .await
            .is_none()
    );
    assert_eq!(sim.connection_count(), 10);
}

#[tokio::test]
async fn refresh_requested_closes_the_socket_and_pending_events_go_to_the_next_connection() {
    let sim = start_with(|c| c.ack_timeout_ms = 2000).await;
    let (mut a, _) = connect(&sim).await;
    let ts = seed_message(&sim, "req").await;
    let s2 = sim.sim();
    tokio::spawn(async move { s2.add_reaction("U0BOB", "C0ACCESS", &ts, "eyes").await });
    let first = next_json(&mut a).await.unwrap();
    assert_eq!(first["type"], "events_api");
    assert_eq!(sim.disconnect("refresh_requested", None), 1);
    let d = next_json(&mut a).await.unwrap();
    assert_eq!(
        d,
        json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-sim-1"}})
    );
    assert!(
        next_json(&mut a).await.is_none(),
        "closed after the disconnect frame"
    );
    let _ = a.close(None).await;
    let (mut b, _) = connect(&sim).await;
    let again = next_json(&mut b).await.unwrap();
    assert_eq!(again["payload"]["event_id"], first["payload"]["event_id"]);
    ack(&mut b, &again, None).await;
    sim.wait_for_ack(|_| true, Duration::from_secs(1))
        .await
        .unwrap();
}
