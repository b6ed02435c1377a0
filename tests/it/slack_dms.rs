//! What a requester hears in their DMs: one message per outcome. Approved and granted at once
//! is one DM, which names who approved; a grant that waits (for an admin's hands, for a reviewer
//! to choose the account) is told when approved, and again when the access is theirs.

use gatehouse::domain::Status;

use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{SlackTestApp, eventually, shown};

/// What `who` was told in their DMs about request `id`, in order.
fn told_about(t: &SlackTestApp, who: &str, id: i64) -> Vec<String> {
    let tag = format!("request #{id}");
    t.sim
        .dms(who)
        .iter()
        .map(shown)
        .filter(|m| m.contains(&tag))
        .collect()
}

#[tokio::test]
async fn approved_and_granted_at_once_is_one_dm_that_names_the_approver() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        t.granted("UALICE", "analytics-ro 8h churn study", 1, "UBOB")
            .await;
        t.settled().await;
        let told = told_about(t, "UALICE", 1);
        assert_eq!(told.len(), 1, "one DM: {told:?}");
        assert!(
            told[0].contains("You now have access to *Analytics (read-only)*"),
            "{told:?}"
        );
        assert!(
            told[0].contains("<@UBOB> approved your request #1"),
            "{told:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_grant_by_hand_is_told_when_approved_and_again_when_done() {
    in_slack_on_sqlite(SlackTestApp::start_by_hand, async |t| {
        let (_, task) = t.finance_waiting_for_hands().await;
        t.settled().await;
        let told = told_about(t, "UALICE", 1);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].contains("<@UFIONA> approved your request #1")
                && told[0].contains("you will get a DM once you have access"),
            "{told:?}"
        );

        t.click("UADA", &task, "by_hand_done").await;
        t.wait_for(1, Status::Active).await;
        let told = eventually("the access DM", 30, || async {
            let told = told_about(t, "UALICE", 1);
            (told.len() == 2).then_some(told)
        })
        .await;
        assert!(
            told[1].contains("You now have access to *Finance with PII*"),
            "{told:?}"
        );
    })
    .await;
}
