//! The control API over HTTP under `/_control/…` (JSON), mirroring the methods of `Sim` for curl and scripts.

use crate::control::{ButtonTarget, ControlError};
use crate::{Inner, Sim, render_text};
use axum::Json;
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type St = AxState<Arc<Inner>>;

fn sim(inner: Arc<Inner>) -> Sim {
    Sim { inner }
}

fn ok<T: serde::Serialize>(v: T) -> Response {
    Json(json!({"ok": true, "result": v})).into_response()
}

fn control_err(e: ControlError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"ok": false, "error": e.code(), "detail": e.to_string()})),
    )
        .into_response()
}

fn reply<T: serde::Serialize>(r: Result<T, ControlError>) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(e) => control_err(e),
    }
}

pub fn router() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route("/_control/slash_command", post(slash_command))
        .route("/_control/add_reaction", post(add_reaction))
        .route("/_control/remove_reaction", post(remove_reaction))
        .route("/_control/submit_view", post(submit_view))
        .route("/_control/click_button", post(click_button))
        .route("/_control/block_suggestion", post(block_suggestion))
        .route("/_control/open_app_home", post(open_app_home))
        .route("/_control/send_event", post(send_event))
        .route("/_control/send_event_callback", post(send_event_callback))
        .route("/_control/disconnect", post(disconnect))
        .route("/_control/rate_limit", post(rate_limit))
        .route("/_control/render", post(render))
        .route("/_control/messages", get(messages))
        .route("/_control/thread", get(thread))
        .route("/_control/dms", get(dms))
        .route("/_control/ephemerals", get(ephemerals))
        .route("/_control/modals", get(modals))
        .route("/_control/home", get(home))
        .route("/_control/acks", get(acks))
        .route("/_control/envelopes", get(envelopes))
        .route("/_control/calls", get(calls))
        .route("/_control/failures", get(failures))
        .route("/_control/connections", get(connections))
        .route("/_control/config", get(config))
}

#[derive(Deserialize)]
struct SlashReq {
    user_id: String,
    channel_id: String,
    command: String,
    #[serde(default)]
    text: String,
}
async fn slash_command(AxState(i): St, Json(r): Json<SlashReq>) -> Response {
    reply(
        sim(i)
            .slash_command(&r.user_id, &r.channel_id, &r.command, &r.text)
            .await,
    )
}

#[derive(Deserialize)]
struct ReactReq {
    user_id: String,
    channel: String,
    ts: String,
    name: String,
}
async fn add_reaction(AxState(i): St, Json(r): Json<ReactReq>) -> Response {
    reply(
        sim(i)
            .add_reaction(&r.user_id, &r.channel, &r.ts, &r.name)
            .await,
    )
}
async fn remove_reaction(AxState(i): St, Json(r): Json<ReactReq>) -> Response {
    reply(
        sim(i)
            .remove_reaction(&r.user_id, &r.channel, &r.ts, &r.name)
            .await,
    )
}

#[derive(Deserialize)]
struct SubmitReq {
    user_id: String,
    view_id: String,
    #[serde(default)]
    values: Value,
}
async fn submit_view(AxState(i): St, Json(r): Json<SubmitReq>) -> Response {
    let values = if r.values.is_null() {
        json!({})
    } else {
        r.values
    };
    reply(sim(i).submit_view(&r.user_id, &r.view_id, values).await)
}

#[derive(Deserialize)]
struct ClickReq {
    user_id: String,
    target: ButtonTarget,
    action_id: String,
    value: Option<String>,
    block_id: Option<String>,
}
async fn click_button(AxState(i): St, Json(r): Json<ClickReq>) -> Response {
    reply(
        sim(i)
            .click_button(
                &r.user_id,
                r.target,
                &r.action_id,
                r.value.as_deref(),
                r.block_id.as_deref(),
            )
            .await,
    )
}

#[derive(Deserialize)]
struct SuggestReq {
    user_id: String,
    view_id: String,
    action_id: String,
    block_id: String,
    #[serde(default)]
    query: String,
}
async fn block_suggestion(AxState(i): St, Json(r): Json<SuggestReq>) -> Response {
    reply(
        sim(i)
            .block_suggestion(&r.user_id, &r.view_id, &r.action_id, &r.block_id, &r.query)
            .await,
    )
}

#[derive(Deserialize)]
struct UserReq {
    user_id: String,
}
async fn open_app_home(AxState(i): St, Json(r): Json<UserReq>) -> Response {
    reply(sim(i).open_app_home(&r.user_id).await)
}

async fn send_event(AxState(i): St, Json(payload): Json<Value>) -> Response {
    ok(sim(i).send_event(payload).await)
}
async fn send_event_callback(AxState(i): St, Json(event): Json<Value>) -> Response {
    ok(sim(i).send_event_callback(event).await)
}

#[derive(Deserialize)]
struct DisconnectReq {
    reason: String,
    connection_id: Option<u64>,
}
async fn disconnect(AxState(i): St, Json(r): Json<DisconnectReq>) -> Response {
    ok(json!({"sent_to": sim(i).disconnect(&r.reason, r.connection_id)}))
}

#[derive(Deserialize)]
struct RateReq {
    method: String,
    times: u32,
    #[serde(default = "one")]
    retry_after_secs: u64,
}
fn one() -> u64 {
    1
}
async fn rate_limit(AxState(i): St, Json(r): Json<RateReq>) -> Response {
    sim(i).rate_limit(&r.method, r.times, r.retry_after_secs);
    ok(Value::Null)
}

async fn render(Json(v): Json<Value>) -> Response {
    ok(render_text(&v))
}

#[derive(Deserialize)]
struct ChanQ {
    channel: String,
    ts: Option<String>,
}
async fn messages(AxState(i): St, Query(q): Query<ChanQ>) -> Response {
    ok(sim(i).messages(&q.channel))
}
async fn thread(AxState(i): St, Query(q): Query<ChanQ>) -> Response {
    ok(sim(i).thread(&q.channel, q.ts.as_deref().unwrap_or("")))
}

#[derive(Deserialize)]
struct UserQ {
    user: String,
}
async fn dms(AxState(i): St, Query(q): Query<UserQ>) -> Response {
    ok(sim(i).dms(&q.user))
}
async fn ephemerals(AxState(i): St, Query(q): Query<UserQ>) -> Response {
    ok(sim(i).ephemerals(&q.user))
}
async fn modals(AxState(i): St, Query(q): Query<UserQ>) -> Response {
    ok(sim(i).modal_stack(&q.user))
}
async fn home(AxState(i): St, Query(q): Query<UserQ>) -> Response {
    ok(sim(i).home_view(&q.user))
}
async fn acks(AxState(i): St) -> Response {
    ok(sim(i).acks())
}
async fn envelopes(AxState(i): St) -> Response {
    ok(sim(i).envelopes())
}
async fn calls(AxState(i): St) -> Response {
    ok(sim(i).api_calls())
}
async fn failures(AxState(i): St) -> Response {
    ok(sim(i).failures())
}
async fn connections(AxState(i): St) -> Response {
    let s = sim(i);
    ok(json!({"live": s.connection_ids(), "opened": s.connections_opened()}))
}
async fn config(AxState(i): St) -> Response {
    ok(&i.cfg)
}
