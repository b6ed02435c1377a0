//! The `manual` connector: with no platform at all, an admin makes each change by hand when
//! Gatehouse asks in the request's thread, and confirms it with Done.

use chrono::Duration;
use gatehouse::domain::{RequestId, Status};

use crate::support::scenario::in_slack_on_every_backend_with;
use crate::support::slack::{SlackTestApp, eventually, shown};

async fn status(t: &SlackTestApp) -> Status {
    t.status(1).await
}

#[tokio::test]
async fn an_admin_grants_and_removes_by_hand_when_asked_in_the_thread() {
    in_slack_on_every_backend_with(SlackTestApp::start_by_hand, async |t, db| {
        // Alice asks; Fiona approves with the button.
        let (msg, task) = t.finance_waiting_for_hands().await;
        assert!(shown(&task).contains("FINANCE_PII"), "{}", shown(&task));
        assert_eq!(status(t).await, Status::Provisioning, "{}", db.name);

        // Only an admin may confirm.
        t.click("UBOB", &task, "by_hand_done").await;
        t.ephemeral_for("UBOB", "only a Gatehouse admin can do that")
            .await;
        assert_eq!(status(t).await, Status::Provisioning);

        t.click("UADA", &task, "by_hand_done").await;
        eventually("active", 30, || async {
            (status(t).await == Status::Active).then_some(())
    })
    .await;
    t.dm_for("UALICE", "You now have access to *Finance with PII*")
        .await;

    // The task answered keeps its words, not its buttons.
    let answered = t
        .message_saying(&task.ts, "✅ Marked done by <@UADA>")
        .await;
    assert!(!answered.contains("[Done]"), "{answered}");

    // At expiry Gatehouse asks for the removal the same way.
    t.later(Duration::hours(4)).await;
    t.run_jobs().await;
    let undo = t.thread_reply(&msg.ts, "undo this").await;
    assert_eq!(status(t).await, Status::Revoking);
    // The grant's Done, had it stayed on screen, cannot record a removal nobody made.
    let audit_rows = t.audit_rows().await;
    let stale = t
        .app
        .workflow()
        .confirm_by_hand(
            RequestId::new(1),
            &crate::support::u("UADA"),
            gatehouse::workflow::ByHandTask::Grant,
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(
        stale.to_string(),
        "this task was to grant the access, and the request is revoking now; nothing was recorded (use the newest task in the thread, if any)"
    );
    assert_eq!(status(t).await, Status::Revoking);
    assert_eq!(t.audit_rows().await, audit_rows);
    t.click("UADA", &undo, "by_hand_done").await;
    eventually("expired", 30, || async {
        (status(t).await == Status::Expired).then_some(())
    })
    .await;
    let actions: Vec<String> = gatehouse::store::audit::for_request(t.app.db().conn(), 1)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        // The clock jumps past both the reminder and the expiry: whether the reminder ran
        // first depends on which worker claimed what, so it is left out of the comparison.
        .filter(|a| a != "expiry_reminder_sent")
        .collect();
    assert_eq!(
        actions,
        [
            "requested",
            "approved",
            "provisioning_started",
            "grant_requested_by_hand",
            "provisioned",
            "expiring",
            "revoke_requested_by_hand",
            "expired"
        ]
    );
    })
    .await;
}
