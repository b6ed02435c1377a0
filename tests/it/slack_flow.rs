//! The whole story in Slack, through slack-sim: a request typed in one line, refused ✅s, a
//! reviewer's ✅, the grant on the platform, DMs in the requester's time zone, expiry.

use chrono::Duration;
use gatehouse::domain::Status;

use crate::support::home::on_message;
use crate::support::scenario::in_slack_on_every_backend;
use crate::support::slack::{CHANNEL, eventually, shown};

#[tokio::test]
async fn a_one_line_request_is_approved_by_a_reviewers_check_mark_and_expires() {
    in_slack_on_every_backend(async |t, db| {
        let ack = t
            .sim
            .slash_command(
                "UALICE",
                "C0GENERAL",
                "/request-access",
                "analytics-ro 2h quarterly revenue report",
            )
            .await
            .unwrap();
        let reply = ack.payload.unwrap()["text"].as_str().unwrap().to_owned();
        assert!(
            reply.contains("Request #1 for *Analytics (read-only)* (2h) is submitted"),
            "{}: {reply}",
            db.name
        );

        let msg = t.request_message(1).await;
        let text = shown(&msg);
        assert!(
            text.contains("*Requester*\nalice") && text.contains("quarterly revenue report"),
            "{text}"
        );
        assert!(text.contains("Waiting for a reviewer"), "{text}");

        // Alice cannot approve her own request; Dave is no reviewer.
        t.tick("UALICE", &msg).await;
        let note = t.ephemeral_for("UALICE", "did nothing").await;
        assert!(
            note.contains("you cannot approve or deny your own request"),
            "{note}"
        );
        t.react("UDAVE", &msg, "heavy_check_mark").await;
        let note = t.ephemeral_for("UDAVE", "did nothing").await;
        assert!(
            note.contains("only a reviewer of analytics-ro (<@UBOB> or <@URITA>) can approve or deny this request"),
            "{note}"
        );
        // Other reactions mean nothing.
        t.react("UBOB", &msg, "eyes").await;
        assert_eq!(t.status(1).await, Status::Pending);

        // Bob's ✅, in his skin tone, approves.
        t.react("UBOB", &msg, "white_check_mark::skin-tone-3").await;
        t.holds_soon("ualice", "ANALYTICS_RO").await;
        let dm = t.dm_for("UALICE", "You now have access").await;
        assert_eq!(
            dm,
            "🟢 You now have access to *Analytics (read-only)* until Sat 28 Nov, 12:00 CET (Europe/Paris): <@UBOB> approved your request #1."
        );
        t.message_saying(&msg.ts, "Active").await;
        let thread: Vec<String> = t
            .sim
            .thread(CHANNEL, &msg.ts)
            .iter()
            .skip(1)
            .map(shown)
            .collect();
        assert!(
            thread.iter().any(|r| r.contains("Approved by bob")),
            "{thread:?}"
        );

        t.later(Duration::hours(2)).await;
        t.run_jobs().await;
        t.wait_for(1, Status::Expired).await;
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));
        t.dm_for("UALICE", "has expired and was removed").await;
        t.message_saying(&msg.ts, "Expired").await;
    })
    .await;
}

#[tokio::test]
async fn a_rate_limited_post_waits_and_every_envelope_is_acked_in_time() {
    in_slack_on_every_backend(async |t, db| {
        t.sim.rate_limit("chat.postMessage", 1, 2);
        t.request_access("UALICE", "analytics-ro 1h numbers").await;
        let job = eventually("the rate-limited post to be put back", 30, || async {
            gatehouse::store::jobs::list(t.app.db().conn(), None)
                .await
                .unwrap()
                .into_iter()
                .find(|j| {
                    j.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("rate limiting chat.postMessage"))
                })
        })
        .await;
        assert!(
            job.run_at >= t.clock.now() + Duration::seconds(2),
            "Retry-After is honoured"
        );
        assert!(t.sim.messages(CHANNEL).is_empty());
        t.later(Duration::seconds(10)).await;
        t.run_jobs().await;
        let msg = t.request_message(1).await;

        // ❌ from a reviewer asks them why, and their answer denies.
        t.deny_by_cross("URITA", &msg, 1, "not this quarter").await;
        t.wait_for(1, Status::Denied).await;

        let acks = t.sim.acks();
        assert!(!acks.is_empty());
        let late: Vec<_> = acks
            .iter()
            .filter(|a| !a.in_time || a.latency_ms >= 3000)
            .collect();
        assert!(late.is_empty(), "{}: late acks {late:?}", db.name);
        assert!(t.sim.failures().is_empty(), "{:?}", t.sim.failures());
    })
    .await;
}

#[tokio::test]
async fn the_holder_is_reminded_before_expiry_and_reviewers_grant_more_time() {
    in_slack_on_every_backend(async |t, db| {
        let msg = t.granted("UALICE", "analytics-ro 4h modelling", 1, "UBOB").await;

        // An hour before the end (13:00 UTC = 14:00 in Paris), Alice is reminded.
        t.later(Duration::minutes(179)).await;
        t.run_jobs().await;
        assert!(
            t.sim
                .dms("UALICE")
                .iter()
                .all(|m| !shown(m).contains("ends")),
            "not yet"
        );
        t.later(Duration::minutes(1)).await;
        t.run_jobs().await;
        let reminder = t.dm_showing("UALICE", "Need more time?").await;
        assert!(
            shown(&reminder).contains(
                "Your access to *Analytics (read-only)* ends Sat 28 Nov, 14:00 CET (Europe/Paris)"
            ),
            "{}",
            shown(&reminder)
        );

        // She asks for 2h more; the ask goes to the reviewers in the thread.
        t.sim
            .click_button(
                "UALICE",
                on_message(&reminder),
                "extend",
                Some("1"),
                None,
            )
            .await
            .unwrap();
        let form = eventually("the extension form", 30, || async {
            t.sim.top_modal("UALICE")
        })
        .await;
        t.submitted("UALICE", form["id"].as_str().unwrap(), serde_json::json!({ "duration": { "duration": { "type": "static_select", "selected_option": { "text": { "type": "plain_text", "text": "2h" }, "value": "2h" } } } })).await;
        let ask = t.thread_reply(&msg.ts, "asks for 2h more").await;
        assert_eq!(
            t.request(1).await
                .expires_at,
            Some(crate::support::app::at(2026, 11, 28, 13, 0)),
            "the expiry moves only when a reviewer agrees"
        );
        let target = on_message(&ask);
        // Rita double-clicks Approve: the ask is decided once, and extends once.
        let (first, second) = tokio::join!(
            t.sim
                .click_button("URITA", target.clone(), "extend_approve", None, None),
            t.sim
                .click_button("URITA", target, "extend_approve", None, None)
        );
        // The second click may find the button already gone; that is the point.
        assert!(first.is_ok() || second.is_ok(), "{first:?} {second:?}");
        t.dm_for("UALICE", "now lasts until Sat 28 Nov, 16:00 CET")
            .await;
        // Its buttons go, saying who approved (the refused second click may say it last).
        let answered = t.message_saying(&ask.ts, "approved by <@URITA>").await;
        assert!(!answered.contains("[Approve extension]"));
        let extended = crate::support::audit::count(&t.app, 1, "extended").await;
        assert_eq!(extended, 1, "{}: one extension", db.name);
        assert_eq!(
            t.request(1).await
                .expires_at,
            Some(crate::support::app::at(2026, 11, 28, 15, 0))
        );

        // The old expiry passes; the access stays until the new one.
        t.later(Duration::hours(1)).await;
        t.run_jobs().await;
        assert_eq!(t.status(1).await, Status::Active, "{}", db.name);
        t.later(Duration::hours(2)).await;
        t.run_jobs().await;
        t.wait_for(1, Status::Expired).await;
    })
    .await;
}
