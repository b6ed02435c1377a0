//! ✅s Gatehouse never heard still count: Slack sends Socket Mode events only to a connected
//! app, so reactions given while Gatehouse is stopped are lost as events; at its next start it
//! reads the reactions of pending requests back and applies each eligible one, once.

use gatehouse::domain::Status;

use crate::support::TestDb;
use crate::support::app::CATALOG;
use crate::support::platform::FakePlatform;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually};

#[tokio::test]
async fn a_check_mark_given_while_gatehouse_was_stopped_counts_at_the_next_start() {
    let db = TestDb::sqlite();
    let t = SlackTestApp::start(&db).await;
    t.reply(
        "UALICE",
        "/request-access",
        "analytics-ro 1h quarterly report",
    )
    .await;
    t.reply("UALICE", "/request-access", "finance-pii 1h").await;
    let (first, second) = (t.request_message(1).await, t.request_message(2).await);
    let sim = t.restart_later().await;
    sim.sim().lose_events_while_disconnected();

    // While nobody listens: Bob (a reviewer) approves #1; Alice "approves" her own #2 and
    // Dave (no reviewer) ❌ it; Fiona (its reviewer) ✅ it. Every event is lost.
    for (who, msg, emoji) in [
        ("UBOB", &first, "white_check_mark"),
        ("UALICE", &second, "white_check_mark"),
        ("UDAVE", &second, "x"),
        ("UFIONA", &second, "heavy_check_mark"),
    ] {
        sim.add_reaction(who, CHANNEL, &msg.ts, emoji)
            .await
            .unwrap();
    }
    assert!(
        sim.sim()
            .failures()
            .iter()
            .any(|f| f.kind == "event_not_delivered"),
        "the events were lost, as Slack loses them"
    );

    let t = SlackTestApp::start_env(&db, &CATALOG, sim, false, FakePlatform::default(), &[]).await;
    for n in [1, 2] {
        eventually(&format!("request #{n} active"), 30, || async {
            (t.status(n).await == Status::Active).then_some(())
        })
        .await;
    }
    let wf = t.app.workflow();
    let one = wf
        .request(gatehouse::domain::RequestId::new(1))
        .await
        .unwrap();
    let two = wf
        .request(gatehouse::domain::RequestId::new(2))
        .await
        .unwrap();
    assert_eq!(one.decided_by.as_deref(), Some("UBOB"));
    assert_eq!(
        two.decided_by.as_deref(),
        Some("UFIONA"),
        "not Alice, not Dave's ❌"
    );
    t.dm_for("UALICE", "approved your request #1").await;
    t.stop().await;
    db.close().await;
}

/// A ✅ left on the card by someone whose approval stopped counting (an admin chose a new
/// account for the request) is never brought back by the catch-up; a new reviewer's ✅ is.
#[tokio::test]
async fn a_check_mark_whose_approval_was_cleared_is_not_brought_back() {
    // Vault: one stage of Bob or Rita, then one of Fiona.
    let two_stages = crate::identity_choice::catalog();
    let db = TestDb::sqlite();
    let sim = slack_sim::SlackSim::start(crate::support::slack::workspace())
        .await
        .unwrap();
    let t =
        SlackTestApp::start_env(&db, &two_stages, sim, false, FakePlatform::default(), &[]).await;
    t.reply("UALICE", "/request-access", "vault 1h").await;
    let card = t.request_message(1).await;
    t.tick("UBOB", &card).await;
    let id = gatehouse::domain::RequestId::new(1);
    let approvers = |t: &SlackTestApp| {
        let conn = t.app.db().conn().clone();
        async move {
            gatehouse::store::approvals::of_request(&conn, id)
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.user.to_string())
                .collect::<Vec<_>>()
        }
    };
    eventually("Bob's approval counted", 30, || async {
        (approvers(&t).await == ["UBOB"]).then_some(())
    })
    .await;
    // An admin sends the access to another account: Bob's approval stops counting.
    t.app
        .workflow()
        .set_identity(id, &crate::support::u("UADA"), "alice-admin")
        .await
        .unwrap();
    assert!(approvers(&t).await.is_empty());

    let sim = t.restart_later().await;
    sim.sim().lose_events_while_disconnected();
    sim.add_reaction("URITA", CHANNEL, &card.ts, "white_check_mark")
        .await
        .unwrap();
    let t =
        SlackTestApp::start_env(&db, &two_stages, sim, false, FakePlatform::default(), &[]).await;
    // Bob's ✅ is read first (it was there first), and is passed over; Rita's counts.
    eventually("Rita's approval caught up", 30, || async {
        let now = approvers(&t).await;
        (!now.is_empty()).then_some(now)
    })
    .await;
    assert_eq!(approvers(&t).await, ["URITA"]);
    assert_eq!(t.status(1).await, Status::Pending, "Fiona's stage is next");
    t.stop().await;
    db.close().await;
}
