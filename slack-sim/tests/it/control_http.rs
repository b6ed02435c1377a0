//! The control API over HTTP, as curl would drive it.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn ctl(sim: &slack_sim::SimHandle, path: &str, body: Value) -> (u16, Value) {
    let r = crate::common::http()
        .post(format!("{}/{path}", sim.control_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn read(sim: &slack_sim::SimHandle, path: &str) -> Value {
    reqwest::get(format!("{}/{path}", sim.control_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn http_control_acts_as_people_and_reads_what_slack_shows() {
    let sim = start().await;
    let (mut ws, _) = connect(&sim).await;
    let ts = seed_message(&sim, "request").await;
    let body =
        json!({"user_id": "U0BOB", "channel": "C0ACCESS", "ts": ts, "name": "white_check_mark"});
    let url = format!("{}/add_reaction", sim.control_url());
    let req = tokio::spawn(async move {
        crate::common::http()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    let env = next_json(&mut ws).await.unwrap();
    assert_eq!(env["payload"]["event"]["reaction"], "white_check_mark");
    ack(&mut ws, &env, None).await;
    let v = req.await.unwrap();
    assert_eq!(v["result"]["acked"], true);

    let msgs = read(&sim, "messages?channel=C0ACCESS").await;
    assert_eq!(msgs["result"][0]["reactions"][0]["users"], json!(["U0BOB"]));
    let acks = read(&sim, "acks").await;
    assert_eq!(acks["result"].as_array().unwrap().len(), 1);
    assert_eq!(
        read(&sim, "connections").await["result"]["live"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        read(&sim, "calls").await["result"][1]["method"],
        "chat.postMessage"
    );

    let (s, v) = ctl(
        &sim,
        "slash_command",
        json!({"user_id": "U0NOBODY", "channel_id": "C0ACCESS", "command": "/x"}),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("user_not_found")));
    let (_, v) = ctl(
        &sim,
        "render",
        json!([{"type": "header", "text": {"type": "plain_text", "text": "Hi"}}]),
    )
    .await;
    assert_eq!(v["result"], "Hi");
    let (_, v) = ctl(
        &sim,
        "rate_limit",
        json!({"method": "auth.test", "times": 1, "retry_after_secs": 2}),
    )
    .await;
    assert_eq!(v["ok"], true);
    let (status, _) = post(&sim, "auth.test", Some(BOT), json!({})).await;
    assert_eq!(status, 429);
    let (_, v) = ctl(&sim, "disconnect", json!({"reason": "warning"})).await;
    assert_eq!(v["result"]["sent_to"], 1);
    let d = next_json_within(&mut ws, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(d["reason"], "warning");
}
