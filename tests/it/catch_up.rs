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

    let t = SlackTestApp::start_env(&db, CATALOG, sim, false, FakePlatform::default(), &[]).await;
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
