//! Shared helpers: start a sim, call the Web API raw, and speak Socket Mode with a bare WebSocket client.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use slack_sim::{SimConfig, SimHandle, SlackSim};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Ws;

pub const BOT: &str = "xoxb-sim-bot-token";
pub const APP: &str = "xapp-1-sim-app-token";

pub async fn start_with(f: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig::demo();
    f(&mut cfg);
    SlackSim::start(cfg).await.unwrap()
}

pub async fn start() -> SimHandle {
    start_with(|_| {}).await
}

/// An HTTP client for the tests (plain HTTP to the sim; TLS is never used).
pub fn http() -> reqwest::Client {
    // Already installed by another test of this binary: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// POST JSON with a bearer token; returns (HTTP status, body).
pub async fn post(sim: &SimHandle, method: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = http()
        .post(format!("{}/{method}", sim.api_url()))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// POST JSON with the bot token and return the body.
pub async fn api(sim: &SimHandle, method: &str, body: Value) -> Value {
    let (status, v) = post(sim, method, Some(BOT), body).await;
    assert_eq!(status, 200);
    v
}

/// Sends `request` with the bot token and returns the body.
async fn as_bot(request: reqwest::RequestBuilder) -> Value {
    let resp = request.bearer_auth(BOT).send().await.unwrap();
    resp.json().await.unwrap()
}

pub async fn get(sim: &SimHandle, method: &str, query: &[(&str, &str)]) -> Value {
    as_bot(
        http()
            .get(format!("{}/{method}", sim.api_url()))
            .query(query),
    )
    .await
}

pub async fn form(sim: &SimHandle, method: &str, pairs: &[(&str, &str)]) -> Value {
    let request = http()
        .post(format!("{}/{method}", sim.api_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(pairs).unwrap());
    as_bot(request).await
}

pub fn err(v: &Value) -> &str {
    assert_eq!(v["ok"], json!(false), "expected an error, got {v}");
    v["error"].as_str().unwrap()
}

pub fn ok(v: &Value) -> &Value {
    assert_eq!(v["ok"], json!(true), "expected ok, got {v}");
    v
}

/// A modal view as an app would send it.
pub fn modal(title: &str) -> Value {
    json!({"type": "modal", "callback_id": "req", "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": [{"type": "input", "block_id": "b_reason", "label": {"type": "plain_text", "text": "Reason"},
                    "element": {"type": "plain_text_input", "action_id": "a_reason"}},
                   {"type": "actions", "block_id": "b_act", "elements": [
                       {"type": "button", "action_id": "a_more", "value": "more",
                        "text": {"type": "plain_text", "text": "More"}}]}]})
}

pub type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a Socket Mode connection like a client would (apps.connections.open, then the URL).
pub async fn connect(sim: &SimHandle) -> (RawWs, Value) {
    let (_, v) = post(sim, "apps.connections.open", Some(APP), json!({})).await;
    let url = v["url"].as_str().unwrap().to_string();
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = next_json(&mut ws).await.unwrap();
    (ws, first)
}

/// The next text frame as JSON, or None after 5 s / on close.
pub async fn next_json(ws: &mut RawWs) -> Option<Value> {
    next_json_within(ws, Duration::from_secs(5)).await
}

pub async fn next_json_within(ws: &mut RawWs, d: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(d, ws.next()).await {
            Ok(Some(Ok(Ws::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Ws::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub async fn ack(ws: &mut RawWs, env: &Value, payload: Option<Value>) {
    let mut a = json!({"envelope_id": env["envelope_id"]});
    if let Some(p) = payload {
        a["payload"] = p;
    }
    ws.send(Ws::Text(a.to_string().into())).await.unwrap();
}

/// Posts a bot message to #access-requests and returns its ts.
pub async fn seed_message(sim: &SimHandle, text: &str) -> String {
    let v = api(
        sim,
        "chat.postMessage",
        json!({"channel": "C0ACCESS", "text": text}),
    )
    .await;
    v["ts"].as_str().unwrap().to_string()
}
