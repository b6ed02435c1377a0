//! Buttons that take something away ask first, in Slack's own dialog (Block Kit's `confirm`
//! object): Relinquish, Cancel, a by-hand task's Failed and Deny extension. slack-sim, as Slack,
//! sends nothing to Gatehouse until the person confirms, so a slip of the mouse changes nothing.

use gatehouse::domain::Status;
use serde_json::Value;
use slack_sim::{ButtonTarget, ControlError};

use crate::support::home::{in_view, on_message};
use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{SlackTestApp, eventually, shown};

/// `who`'s App Home once it offers `action`.
async fn home_offering(t: &SlackTestApp, who: &str, action: &str) -> ButtonTarget {
    t.sim.open_app_home(who).await.unwrap();
    let home: Value = eventually(&format!("{who}'s Home offering {action}"), 30, || async {
        t.sim.home_view(who).filter(|v| {
            v.to_string()
                .contains(&format!("\"action_id\":\"{action}\""))
        })
    })
    .await;
    in_view(&home)
}

/// The dialog Slack shows for a click on `action` in `target`, which reached nobody.
async fn dialog_of(
    t: &SlackTestApp,
    who: &str,
    target: &ButtonTarget,
    action: &str,
    value: Option<&str>,
) -> (String, String) {
    match t
        .sim
        .click_button(who, target.clone(), action, value, None)
        .await
    {
        Err(ControlError::ConfirmationShown { title, text }) => (title, text),
        other => panic!("{action} should ask first, not {other:?}"),
    }
}

/// Alice asks for analytics-ro for 8 h as request #1 and Bob's ✅ grants it; its card.
async fn alice_holds_analytics(t: &SlackTestApp) -> slack_sim::Message {
    let card = t
        .granted("UALICE", "analytics-ro 8h quarterly report", 1, "UBOB")
        .await;
    t.dm_for("UALICE", "You now have access to *Analytics (read-only)*")
        .await;
    card
}

#[tokio::test]
async fn relinquish_asks_first_and_nothing_is_removed_until_the_holder_confirms() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        alice_holds_analytics(t).await;
        let home = home_offering(t, "UALICE", "relinquish").await;
        let before = t.audit_rows().await;

        let (title, text) = dialog_of(t, "UALICE", &home, "relinquish", Some("1")).await;
        assert_eq!(title, "Give up this access now?");
        assert!(
            text.contains("*Analytics (read-only)* is removed now"),
            "{text}"
        );
        // Dismissed: the access is as it was, and nothing was recorded.
        t.run_jobs().await;
        assert_eq!(t.status(1).await, Status::Active);
        assert!(t.platform.holds("ualice", "ANALYTICS_RO"));
        assert_eq!(t.audit_rows().await, before);

        t.sim
            .click_button_confirmed("UALICE", home, "relinquish", Some("1"), None)
            .await
            .unwrap();
        t.wait_for(1, Status::Revoked).await;
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));
    })
    .await;
}

#[tokio::test]
async fn cancel_asks_first_in_app_home_and_in_the_scheduled_dm() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        t.ask("UALICE", "analytics-ro 8h quarterly report", 1).await;
        let home = home_offering(t, "UALICE", "cancel").await;

        let (title, text) = dialog_of(t, "UALICE", &home, "cancel", Some("1")).await;
        assert_eq!(title, "Cancel request #1?");
        assert!(text.contains("no access will be granted"), "{text}");
        assert_eq!(t.status(1).await, Status::Pending);

        t.sim
            .click_button_confirmed("UALICE", home, "cancel", Some("1"), None)
            .await
            .unwrap();
        t.wait_for(1, Status::Cancelled).await;
    })
    .await;
}

#[tokio::test]
async fn a_by_hand_task_failed_asks_first_and_its_done_does_not() {
    in_slack_on_sqlite(SlackTestApp::start_by_hand, async |t| {
        let (_, task) = t.finance_waiting_for_hands().await;
        let target = on_message(&task);

        let (title, text) = dialog_of(t, "UADA", &target, "by_hand_failed", None).await;
        assert_eq!(title, "Record this task as failed?");
        assert!(
            text.contains("request #1 could not be made by hand"),
            "{text}"
        );
        t.run_jobs().await;
        assert_eq!(t.status(1).await, Status::Provisioning);
        // Done adds access rather than taking it away: it does not ask.
        assert!(
            matches!(
                t.sim
                    .click_button_confirmed("UADA", target, "by_hand_done", None, None)
                    .await,
                Err(ControlError::NoConfirmation(_))
            ),
            "Done shows no dialog"
        );

        t.click_confirmed("UADA", &task, "by_hand_failed").await;
        t.wait_for(1, Status::Failed).await;
    })
    .await;
}

#[tokio::test]
async fn deny_extension_asks_first_and_the_holder_hears_only_once_it_is_confirmed() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        let card = alice_holds_analytics(t).await;
        // Asking again for what she holds asks for more time, in the thread.
        t.request_access("UALICE", "analytics-ro 2h to finish the report")
            .await;
        let ask = t.thread_reply(&card.ts, "asks for 2h more").await;
        let target = on_message(&ask);

        let (title, text) = dialog_of(t, "UBOB", &target, "extend_deny", None).await;
        assert_eq!(title, "Deny more time?");
        assert!(text.contains("request #1 ends as planned"), "{text}");
        t.run_jobs().await;
        let denied = "did not grant more time";
        assert!(
            t.sim
                .dms("UALICE")
                .iter()
                .all(|m| !shown(m).contains(denied))
        );

        t.click_confirmed("UBOB", &ask, "extend_deny").await;
        t.dm_for("UALICE", denied).await;
    })
    .await;
}

#[tokio::test]
async fn a_cross_asks_its_reviewer_why_and_denies_only_once_they_answer() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        let card = t.ask("UALICE", "analytics-ro 8h quarterly report", 1).await;

        // Dave reviews nothing: his ❌ is explained to him, and asks him nothing.
        t.react("UDAVE", &card, "x").await;
        t.ephemeral_for("UDAVE", "Your reaction on request #1 did nothing")
            .await;
        // Rita reviews it: her ❌ asks her, alone, with the card's Deny.
        t.react("URITA", &card, "x").await;
        let asked = t
            .ephemeral_for("URITA", "You reacted ❌ to request #1")
            .await;
        assert!(asked.contains("Deny it? You can say why"), "{asked}");
        assert!(
            t.sim
                .ephemerals("UDAVE")
                .iter()
                .all(|e| !e.text.contains("You reacted ❌")),
            "only a reviewer is asked"
        );
        t.run_jobs().await;
        assert_eq!(
            t.status(1).await,
            Status::Pending,
            "a ❌ alone denies nothing"
        );
        assert!(
            t.sim
                .dms("UALICE")
                .iter()
                .all(|m| !shown(m).contains("denied"))
        );

        let ask = t
            .sim
            .ephemerals("URITA")
            .into_iter()
            .find(|e| e.text.contains("You reacted ❌"))
            .unwrap();
        t.sim
            .click_button(
                "URITA",
                ButtonTarget::Ephemeral { ts: ask.ts },
                "deny",
                None,
                None,
            )
            .await
            .unwrap();
        let form = eventually("the deny form", 30, || async { t.sim.top_modal("URITA") }).await;
        let why = serde_json::json!({ "reason": { "reason": { "type": "plain_text_input", "value": "budget freeze" } } });
        t.sim
            .submit_view("URITA", form["id"].as_str().unwrap(), why)
            .await
            .unwrap();
        t.wait_for(1, Status::Denied).await;
        t.dm_for(
            "UALICE",
            "denied your request #1 for *Analytics (read-only)*: budget freeze",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_used_dm_button_leaves_an_outcome_line_and_a_stale_one_is_answered_and_taken_off() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        t.granted("UALICE", "analytics-ro 4h modelling", 1, "UBOB")
            .await;
        // An hour before the end she is reminded, with Extend and Relinquish.
        t.later(chrono::Duration::minutes(180)).await;
        t.run_jobs().await;
        let reminder = t.dm_showing("UALICE", "Need more time?").await;
        // She lets it end; later she presses Relinquish on the old reminder.
        t.expire(1, chrono::Duration::hours(1)).await;
        let target = on_message(&reminder);
        t.sim
            .click_button_confirmed("UALICE", target.clone(), "relinquish", Some("1"), None)
            .await
            .unwrap();
        let answered = eventually("the reminder without its buttons", 30, || async {
            let m = t.sim.message(&reminder.channel, &reminder.ts)?;
            let text = shown(&m);
            text.contains("No longer applies").then_some(text)
        })
        .await;
        assert!(
            answered.contains("Need more time?"),
            "keeps its words: {answered}"
        );
        assert!(
            !answered.contains("[Relinquish now]") && !answered.contains("[Extend]"),
            "{answered}"
        );
        assert!(matches!(
            t.sim
                .click_button("UALICE", target, "extend", Some("1"), None)
                .await,
            Err(ControlError::ActionNotFound(_))
        ));

        // Dave's access is approved to start tomorrow; he calls it off from the DM saying so.
        let card = t
            .ask("UDAVE", "analytics-ro 2h from tomorrow 9:00 month end", 2)
            .await;
        t.tick("UBOB", &card).await;
        let approved = t.dm_showing("UDAVE", "Your access starts").await;
        let target = on_message(&approved);
        t.sim
            .click_button_confirmed("UDAVE", target, "cancel", Some("2"), None)
            .await
            .unwrap();
        t.wait_for(2, Status::Cancelled).await;
        let done = eventually("the DM marked cancelled", 30, || async {
            let m = t.sim.message(&approved.channel, &approved.ts)?;
            let text = shown(&m);
            text.contains("🚫 Cancelled by <@UDAVE>").then_some(text)
        })
        .await;
        assert!(!done.contains("[Cancel it]"), "{done}");
    })
    .await;
}

#[tokio::test]
async fn notes_that_wait_on_someone_mention_them_and_never_the_requester() {
    in_slack_on_sqlite(SlackTestApp::start_by_hand, async |t| {
        // A change by hand: the admins are named (mentioned) on the task.
        let (card, task) = t.finance_waiting_for_hands().await;
        assert!(
            shown(&task).contains("By hand, for an admin* (<@UADA>)"),
            "{}",
            shown(&task)
        );
        t.click("UADA", &task, "by_hand_done").await;
        t.wait_for(1, Status::Active).await;
        // More time: the reviewers are asked by name; Alice, who asks, is not among them.
        t.request_access("UALICE", "finance-pii 2h").await;
        let ask = t.thread_reply(&card.ts, "asks for 2h more").await;
        let text = shown(&ask);
        assert!(text.contains("<@UFIONA>, please decide"), "{text}");
        assert!(text.contains("alice asks for 2h more"), "{text}");
        assert!(
            !text.contains("<@UALICE>"),
            "the asker is named, not pinged: {text}"
        );
    })
    .await;
}
