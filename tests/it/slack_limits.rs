//! What Gatehouse posts fits Slack's Block Kit limits, which slack-sim enforces as Slack does
//! (a text over its limit and the whole post is refused): a reason too long for the card is cut
//! there, with the whole of it in the request's thread.

use serde_json::Value;

use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{CHANNEL, SlackTestApp, shown};

/// The texts of a message's sections, in order.
fn sections(m: &slack_sim::Message) -> Vec<String> {
    let blocks = m.blocks.clone().unwrap_or(Value::Null);
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.pointer("/text/text").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_reason_too_long_for_the_card_is_cut_there_and_kept_whole_in_the_thread() {
    // 900 `&` escape to 4,500 characters; 3,000 characters fill the form's longest reason.
    for reason in ["&".repeat(900), "r".repeat(3000)] {
        in_slack_on_sqlite(SlackTestApp::start, async |t| {
            t.reply(
                "UALICE",
                "/request-access",
                &format!("analytics-ro 1h {reason}"),
            )
            .await;
            let card = t.request_message(1).await;
            let reason_section = sections(&card)
                .into_iter()
                .find(|s| s.starts_with("*Reason*"))
                .unwrap();
            assert!(reason_section.chars().count() <= 3000);
            assert!(
                reason_section.ends_with("…\n_The whole reason is in the thread._"),
                "{}",
                &reason_section[reason_section.len() - 80..]
            );
            let whole = t.thread_reply(&card.ts, "The whole reason").await;
            let escaped = reason.replace('&', "&amp;");
            assert_eq!(sections(&whole)[1..].concat(), escaped, "{}", shown(&whole));
        })
        .await;
    }
}

/// A card Slack refuses for good is never a silence: the requester hears their request is not
/// lost, and the admins hear what Slack said and where to retry; both with Slack's words.
#[tokio::test]
async fn a_post_slack_refuses_for_good_reaches_the_requester_and_the_admins() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        t.sim.sim().fail_next_post(CHANNEL, "invalid_blocks");
        t.reply(
            "UALICE",
            "/request-access",
            "analytics-ro 1h quarterly report",
        )
        .await;
        let alice = t
            .dm_for("UALICE", "could not post an update of your request #1")
            .await;
        assert!(
            alice.contains("Slack said: ") && alice.contains("invalid_blocks"),
            "{alice}"
        );
        assert!(
            alice.contains("Your request is not lost: it is pending"),
            "{alice}"
        );
        let ada = t.dm_for("UADA", "Slack refused for good").await;
        // Bob reviews the resource, but only an admin can fix what Slack refused: once every
        // delivery of the request has run, he has heard nothing of it.
        crate::support::slack::eventually("every delivery run", 30, || async {
            let jobs = gatehouse::store::jobs::for_request(t.app.db().conn(), 1)
                .await
                .unwrap();
            jobs.iter()
                .filter(|j| j.kind == "notify")
                .all(|j| {
                    !matches!(
                        j.status,
                        gatehouse::store::jobs::JobStatus::Queued
                            | gatehouse::store::jobs::JobStatus::Running
                    )
                })
                .then_some(())
        })
        .await;
        assert!(
            !t.sim
                .dms("UBOB")
                .iter()
                .any(|m| shown(m).contains("Slack refused")),
            "reviewers are not told"
        );
        assert!(
            ada.contains("request #1")
                && ada.contains("invalid_blocks")
                && ada.contains("App Home"),
            "{ada}"
        );
        let audit = gatehouse::store::audit::for_request(t.app.db().conn(), 1)
            .await
            .unwrap();
        assert!(audit.iter().any(|e| e.action == "notice_failed"));
    })
    .await;
}
