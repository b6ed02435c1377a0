//! Slack misbehaving: redelivered events, a disconnect in the middle of a flow, malformed or
//! unknown payloads, a person who left, a Web API call that never answers. Nothing is lost,
//! nothing is done twice, nothing panics, nothing waits forever.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::config::Secret;
use gatehouse::domain::Status;
use gatehouse::ops::Metrics;
use gatehouse::slack::api::{SlackApi, SlackError, hyper_client};
use serde_json::json;

use crate::support::backends;
use crate::support::home::on_message;
use crate::support::scenario::in_slack_on_every_backend;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, shown, workspace};

fn reaction(event_id: &str, user: &str, ts: &str) -> serde_json::Value {
    json!({
        "token": "sim", "team_id": "T0SIM", "api_app_id": "A0SIM", "type": "event_callback",
        "event_id": event_id, "event_time": 1_800_000_000,
        "event": { "type": "reaction_added", "user": user, "reaction": "white_check_mark",
                   "item": { "type": "message", "channel": CHANNEL, "ts": ts }, "item_user": "U0BOT",
                   "event_ts": "1800000000.000100" }
    })
}

#[tokio::test]
async fn a_redelivered_approval_is_acted_on_once() {
    in_slack_on_every_backend(async |t, db| {
        let msg = t.ask("UALICE", "analytics-ro 1h numbers", 1).await;
        // Slack delivers the same event (same event_id) again, as it does after a slow ack.
        for _ in 0..3 {
            let out = t.sim.send_event(reaction("Ev0SAME", "UBOB", &msg.ts)).await;
            assert!(out.acked);
        }
        t.wait_for(1, Status::Active).await;
        let approvals = crate::support::audit::count(&t.app, 1, "approved").await;
        assert_eq!(approvals, 1, "{}", db.name);
        t.dm_for("UALICE", "You now have access").await;
        assert!(
            t.sim.ephemerals("UBOB").is_empty(),
            "no confusing note to Bob"
        );
        let dms = t.dms_saying("UALICE", "approved your request").len();
        assert_eq!(dms, 1);
    })
    .await;
}

#[tokio::test]
async fn a_disconnect_in_the_middle_of_a_flow_loses_nothing() {
    in_slack_on_every_backend(async |t, _| {
        let msg = t.ask("UALICE", "analytics-ro 1h numbers", 1).await;
        let opened = t.sim.connections_opened();
        assert!(t.sim.disconnect("refresh_requested", None) > 0);
        eventually("the reconnection", 30, || async {
            (t.sim.connections_opened() > opened && t.sim.connection_count() > 0).then_some(())
        })
        .await;
        t.tick("UBOB", &msg).await;
        t.wait_for(1, Status::Active).await;
        t.dm_for("UALICE", "You now have access").await;
    })
    .await;
}

#[tokio::test]
async fn malformed_and_unknown_payloads_change_nothing_and_break_nothing() {
    in_slack_on_every_backend(async |t, db| {
        let msg = t.ask("UALICE", "analytics-ro 1h numbers", 1).await;
        let audit_before = t.audit_rows().await;

        // A reaction without a user, one on an unknown message, an unknown event type, garbage.
        let mut broken = reaction("Ev0BROKEN1", "UBOB", &msg.ts);
        broken["event"].as_object_mut().unwrap().remove("user");
        t.sim.send_event(broken).await;
        t.sim
            .send_event(reaction("Ev0BROKEN2", "UBOB", "1.000000"))
            .await;
        t.sim
            .send_event_callback(
                json!({ "type": "something_new", "user": "UBOB", "event_ts": "1.2" }),
            )
            .await;
        t.sim.send_raw_frame("{not json", None);
        // Interactions Slack never sends: no type; a form submitted with no view nor user.
        for forged in [
            json!({ "user": { "id": "UBOB" } }),
            json!({ "type": "view_submission" }),
        ] {
            let ack = t.sim.forged_interaction("UBOB", forged.clone()).await;
            assert!(ack.acked && ack.payload.is_none(), "{forged}: {ack:?}");
        }
        // A button whose request number does not exist, and one that is not a number.
        let target = on_message(&msg);
        t.sim
            .click_button("UBOB", target.clone(), "approve", Some("999"), None)
            .await
            .unwrap();
        t.ephemeral_for("UBOB", "there is no request #999").await;
        t.sim
            .click_button("UBOB", target, "approve", Some("not-a-number"), None)
            .await
            .unwrap();
        // A command Gatehouse does not know.
        let ack = t
            .sim
            .slash_command("UBOB", CHANNEL, "/request-acess", "typo")
            .await
            .unwrap();
        assert!(
            ack.payload.unwrap()["text"]
                .as_str()
                .unwrap()
                .contains("does not know the command")
        );

        assert_eq!(t.status(1).await, Status::Pending, "{}", db.name);
        assert_eq!(t.audit_rows().await, audit_before);
        // And Gatehouse still works.
        t.tick("URITA", &msg).await;
        t.wait_for(1, Status::Active).await;
    })
    .await;
}

#[tokio::test]
async fn a_requester_who_left_gets_no_dm_and_the_flow_goes_on() {
    for db in backends().await {
        let mut ws = workspace();
        for u in ws.users.iter_mut().filter(|u| u.id == "UDAVE") {
            u.deleted = true;
        }
        let t =
            crate::support::slack::SlackTestApp::start_with(&db, &crate::support::app::CATALOG, ws)
                .await;
        t.granted("UDAVE", "finance-pii 1h", 1, "UFIONA").await;
        t.run_jobs().await;
        // What people see: no DM reached the deactivated account, and the card and its thread
        // still followed the request to the end.
        assert!(t.sim.dms("UDAVE").is_empty(), "{}", db.name);
        // The card's update is a job of its own, delivered after the grant: wait for it.
        eventually("the card to say Active", 30, || async {
            let card = crate::support::slack::shown(&t.request_message(1).await);
            card.contains("Active").then_some(())
        })
        .await;
        let failed = gatehouse::store::jobs::list(
            t.app.db().conn(),
            Some(gatehouse::store::jobs::JobStatus::Failed),
        )
        .await
        .unwrap();
        assert!(failed.is_empty(), "{}: {failed:?}", db.name);
        t.stop().await;
        db.close().await;
    }
}

#[tokio::test]
async fn two_gatehouse_processes_on_one_database_share_the_work_and_do_each_step_once() {
    for db in backends().await {
        let first = SlackTestApp::start(&db).await;
        let second = first.another(&db).await;
        eventually("two socket connections", 30, || async {
            (first.sim.connection_count() == 2).then_some(())
        })
        .await;
        for (i, who) in ["UALICE", "UDAVE", "UCARL"].iter().enumerate() {
            first
                .sim
                .slash_command(who, CHANNEL, "/request-access", "finance-pii 1h")
                .await
                .unwrap();
            let msg = first.request_message(i as i64 + 1).await;
            first.tick("UFIONA", &msg).await;
        }
        for n in 1..=3 {
            first.wait_for(n, Status::Active).await;
        }
        // Each request has one channel message, and each requester one "now have access" DM.
        for who in ["UALICE", "UDAVE", "UCARL"] {
            first.dm_for(who, "You now have access").await;
        }
        let posts = first
            .sim
            .messages(CHANNEL)
            .iter()
            .filter(|m| shown(m).contains("Access request #"))
            .count();
        assert_eq!(posts, 3, "{}", db.name);
        for who in ["UALICE", "UDAVE", "UCARL"] {
            let grants = first
                .sim
                .dms(who)
                .iter()
                .filter(|m| shown(m).contains("You now have access"))
                .count();
            assert_eq!(grants, 1, "{who}");
        }
        // Both processes took envelopes.
        let connections: std::collections::BTreeSet<u64> =
            first.sim.acks().iter().map(|a| a.connection_id).collect();
        assert_eq!(connections.len(), 2, "{connections:?}");
        second.app.shutdown().await;
        first.stop().await;
        db.close().await;
    }
}

#[tokio::test]
async fn a_slack_call_that_gets_no_answer_gives_up_retryably() {
    // A server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = hyper_client(&format!("http://{addr}/api/")).unwrap();
    let api = SlackApi::new(
        client,
        &Secret::new("xoxb-1-2-secretsecret"),
        false,
        Arc::new(Metrics::new()),
    )
    .with_timeout(Duration::from_millis(300));
    let err = tokio::time::timeout(Duration::from_secs(10), api.auth_test())
        .await
        .expect("the call gives up by itself")
        .unwrap_err();
    assert!(
        matches!(
            err,
            SlackError::Transport {
                method: "auth.test",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let said = err.to_string();
    assert_eq!(said, "cannot reach Slack for auth.test: no answer in 0.3 s");
    assert!(
        !said.contains("xox") && !said.contains("127.0.0.1"),
        "{said}"
    );
    silent.abort();
}
