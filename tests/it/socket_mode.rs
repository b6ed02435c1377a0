//! Socket Mode as Gatehouse receives it: one slow handler delays no other envelope's ack, and
//! `/readyz` says whether a connection is open now, not whether one ever said hello.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::oncall::{OnCall, OnCallError};
use serde_json::json;
use tokio::sync::Notify;

use crate::support::platform::FakePlatform;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, workspace};
use crate::support::{TestDb, backends, catalog};

/// An on-call service that takes `delay` to answer: the auto-approval rule of `prod-db` asks
/// it for every request of that resource.
struct SlowOnCall {
    asked: Arc<Notify>,
    delay: Duration,
}

#[async_trait::async_trait]
impl OnCall for SlowOnCall {
    async fn on_call_now(&self, _email: &str) -> Result<bool, OnCallError> {
        self.asked.notify_one();
        tokio::time::sleep(self.delay).await;
        Ok(false)
    }
}

/// Production database asks PagerDuty who is on call; only the finance group may ask for the
/// ledger, which is asked of Slack before the command's ack.
fn slow_on_call() -> String {
    let on_call = "auto_approve = [{ on_call = \"pd\" }]\n";
    catalog::with(
        &[catalog::MANUAL, catalog::PAGERDUTY].concat(),
        &[
            catalog::task("prod-db", &["UBOB"]) + on_call,
            catalog::task("ledger", &["UBOB"]) + "requesters = [\"S0FINANCE\"]\n",
        ],
    )
}

fn reaction(event_id: &str) -> serde_json::Value {
    json!({
        "token": "sim", "team_id": "T0SIM", "api_app_id": "A0SIM", "type": "event_callback",
        "event_id": event_id, "event_time": 1_800_000_000,
        "event": { "type": "reaction_added", "user": "UBOB", "reaction": "eyes",
                   "item": { "type": "message", "channel": CHANNEL, "ts": "1.000000" },
                   "item_user": "U0BOT", "event_ts": "1800000000.000100" }
    })
}

async fn slow_on_call_app(db: &TestDb, asked: Arc<Notify>) -> SlackTestApp {
    let mut services: gatehouse::workflow::OnCallServices = Default::default();
    services.insert(
        "pd".into(),
        Arc::new(SlowOnCall {
            asked,
            delay: Duration::from_millis(2500),
        }),
    );
    let mut slack = workspace();
    slack.ack_timeout_ms = 6000;
    let sim = slack_sim::SlackSim::start(slack).await.unwrap();
    // One connection: every envelope travels behind the slow one.
    SlackTestApp::start_on_call(
        db,
        &slow_on_call(),
        sim,
        false,
        FakePlatform::default(),
        &[("GATEHOUSE_SLACK_CONNECTIONS", "1")],
        services,
    )
    .await
}

#[tokio::test]
async fn a_handler_blocked_for_seconds_delays_no_other_envelopes_ack() {
    let db = TestDb::sqlite();
    let t = slow_on_call_app(&db, Arc::new(Notify::new())).await;
    // Slack answers who is in a group only after 2.5 s: Carl's command waits for it.
    t.sim
        .slow_down("usergroups.users.list", Duration::from_millis(2500));

    let sim = t.sim.clone();
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        sim.slash_command("UCARL", CHANNEL, "/request-access", "ledger 2h")
            .await
    });
    eventually("Slack is asked who is in the group", 10, || async {
        (!t.sim.api_calls_of("usergroups.users.list").is_empty()).then_some(())
    })
    .await;

    let mut fast = Vec::new();
    for i in 0..5 {
        let out = t.sim.send_event(reaction(&format!("Ev0FAST{i}"))).await;
        assert!(out.acked, "{i}");
        fast.push(out.envelope_id.expect("an envelope"));
    }
    let acks = t.sim.acks();
    for id in &fast {
        let ack = acks.iter().find(|a| &a.envelope_id == id).expect("acked");
        println!(
            "an event's ack behind the slow command: {} µs",
            ack.latency_us
        );
        assert!(
            ack.latency_ms < 100,
            "an event waited {} ms for its ack behind the slow command",
            ack.latency_ms
        );
    }

    let reply = slow.await.unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "the command really was slow"
    );
    let text = reply.payload.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("is submitted"), "{text}");
    t.stop().await;
}

#[tokio::test]
async fn a_request_is_acked_without_waiting_for_the_on_call_service_its_rule_asks() {
    let db = TestDb::sqlite();
    let asked = Arc::new(Notify::new());
    let t = slow_on_call_app(&db, asked.clone()).await;

    let started = Instant::now();
    let reply = t
        .sim
        .slash_command("UALICE", CHANNEL, "/request-access", "prod-db 2h")
        .await
        .unwrap();
    let acked_after = started.elapsed();
    let text = reply.payload.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("Request #1") && text.contains("is submitted"),
        "{text}"
    );
    assert!(
        acked_after < Duration::from_millis(1000),
        "the ack waited {acked_after:?} for the on-call service"
    );

    // The rule is checked after the ack; Alice is not on call, so the card goes to a reviewer.
    tokio::time::timeout(Duration::from_secs(10), asked.notified())
        .await
        .expect("the on-call service is asked");
    let card = t.request_message(1).await;
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "the card is posted once the on-call service answered"
    );
    let card = crate::support::slack::shown(&card);
    assert!(card.contains("Waiting for a reviewer"), "{card}");
    assert_eq!(t.status(1).await, gatehouse::domain::Status::Pending);
    let audit = gatehouse::store::audit::for_request(t.app.db().conn(), 1)
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["requested", "auto_approval_checked"]);
    t.stop().await;
}

/// `/readyz` and the like, read as JSON.
async fn get(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = crate::ops::get(addr, path).await;
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn readyz_says_not_ready_while_no_socket_mode_connection_is_open() {
    for db in backends().await {
        let sim = slack_sim::SlackSim::start(workspace()).await.unwrap();
        let t = SlackTestApp::start_env(
            &db,
            &crate::support::app::CATALOG,
            sim,
            false,
            FakePlatform::default(),
            &[("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0")],
        )
        .await;
        let addr = t.app.http_addr().expect("the HTTP server is on");
        eventually("ready", 10, || async {
            (get(addr, "/readyz").await.0 == 200).then_some(())
        })
        .await;

        // Slack closes every connection, and refuses new ones for a while.
        t.sim.rate_limit("apps.connections.open", 3, 1);
        assert!(t.sim.disconnect("refresh_requested", None) > 0);
        let body = eventually("not ready while no connection is open", 10, || async {
            let (status, body) = get(addr, "/readyz").await;
            (status == 503).then_some(body)
        })
        .await;
        assert_eq!(body["checks"]["slack"]["ok"], false, "{body}");
        assert_eq!(
            body["checks"]["slack"]["state"], "no Socket Mode connection open",
            "{body}"
        );

        // Gatehouse reconnects by itself, and is ready again.
        eventually("ready again after the reconnection", 30, || async {
            (get(addr, "/readyz").await.0 == 200).then_some(())
        })
        .await;
        assert!(t.sim.connection_count() > 0);
        t.stop().await;
        db.close().await;
    }
}
