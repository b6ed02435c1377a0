//! What Gatehouse remembers of user groups and people (for five minutes, to spare Slack a call
//! per decision) is forgotten when Slack says they changed: a reviewer removed from a group is
//! refused at once, a member added approves at once, and `subteam_updated` and `user_change`
//! make the next decision ask Slack again.

use gatehouse::domain::Status;

use crate::support::catalog;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, workspace};

/// `ledger` is reviewed by the user group S0FINANCE, which starts as Carl alone.
fn catalog() -> String {
    catalog::manual(&[catalog::task("ledger", &["S0FINANCE"])])
}

/// `who` asks for the ledger; the number of their request.
async fn ask(t: &SlackTestApp, who: &str, n: i64) -> slack_sim::Message {
    t.ask(who, "ledger 2h", n).await
}

/// `reviewer` ✅s request `n`.
async fn approve(t: &SlackTestApp, reviewer: &str, n: i64) {
    let msg = t.request_message(n).await;
    t.tick(reviewer, &msg).await;
}

async fn decided(t: &SlackTestApp, n: i64) {
    eventually(&format!("request #{n} decided"), 30, || async {
        (t.status(n).await != Status::Pending).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_reviewer_removed_from_the_group_is_refused_at_once_and_one_added_approves() {
    let db = crate::support::TestDb::sqlite();
    let t = SlackTestApp::start_with(&db, &catalog(), workspace()).await;
    ask(&t, "UALICE", 1).await;
    approve(&t, "UCARL", 1).await;
    decided(&t, 1).await;

    // An admin moves the group from Carl to Fiona; Slack says so at once.
    let sent = t
        .sim
        .change_usergroup_members("S0FINANCE", &["UFIONA"])
        .await
        .unwrap();
    assert!(sent.acked, "the event is acked");

    ask(&t, "UDAVE", 2).await;
    approve(&t, "UCARL", 2).await;
    let refused = t.ephemeral_for("UCARL", "request #2").await;
    assert!(
        refused.starts_with("Your reaction on request #2 did nothing:"),
        "{refused}"
    );
    assert!(refused.contains("reviewer"), "{refused}");
    assert_eq!(t.status(2).await, Status::Pending);

    approve(&t, "UFIONA", 2).await;
    decided(&t, 2).await;
    t.stop().await;
}

#[tokio::test]
async fn subteam_updated_also_makes_the_group_be_asked_again_and_user_change_the_person() {
    let db = crate::support::TestDb::sqlite();
    let t = SlackTestApp::start_with(&db, &catalog(), workspace()).await;
    for (n, who) in [(1, "UALICE"), (2, "UDAVE"), (3, "URITA")] {
        ask(&t, who, n).await;
    }
    approve(&t, "UCARL", 1).await;
    decided(&t, 1).await;
    // Carl leaves the group and Slack says nothing: what was read stands for its five minutes.
    t.sim
        .set_usergroup_members("S0FINANCE", &["UFIONA"])
        .unwrap();
    approve(&t, "UCARL", 2).await;
    decided(&t, 2).await;

    // subteam_updated (sent for any change to a group) is enough to ask again.
    assert!(t.sim.usergroup_updated("S0FINANCE").await.unwrap().acked);
    approve(&t, "UCARL", 3).await;
    let refused = t.ephemeral_for("UCARL", "request #3").await;
    assert!(refused.contains("reviewer"), "{refused}");
    assert_eq!(t.status(3).await, Status::Pending);

    // user_change: Carl's account is read from Slack again at his next decision.
    let carl_reads = || {
        t.sim
            .api_calls_of("users.info")
            .iter()
            .filter(|c| c.args["user"] == "UCARL")
            .count()
    };
    let before = carl_reads();
    assert!(t.sim.user_changed("UCARL").await.unwrap().acked);
    t.sim
        .remove_reaction(
            "UCARL",
            CHANNEL,
            &t.request_message(3).await.ts,
            "white_check_mark",
        )
        .await
        .unwrap();
    approve(&t, "UCARL", 3).await;
    eventually("Carl's account read again", 30, || async {
        (carl_reads() > before).then_some(())
    })
    .await;
    t.stop().await;
}
