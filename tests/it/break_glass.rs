//! Break-glass through slack-sim: emergency access granted at once, announced to the channel
//! and the reviewers, kept when a reviewer reviews it, taken away and flagged when nobody does.

use chrono::Duration;
use gatehouse::domain::Status;
use gatehouse::store;

use crate::support::catalog;
use crate::support::scenario::in_slack_on_every_backend_with;
use crate::support::slack::{SlackTestApp, eventually, workspace};

/// Production database has break-glass access; Finance with PII has none.
fn catalog() -> String {
    catalog::manual(&[
        catalog::task("prod-db", &["UBOB"]) + catalog::BREAK_GLASS,
        catalog::with_reason(catalog::task("finance-pii", &["UFIONA"])),
    ])
}

async fn ask(t: &SlackTestApp, who: &str, text: &str) -> String {
    t.reply(who, "/request-access", text).await
}

fn actions(audit: &[store::audit::StoredEvent]) -> Vec<String> {
    audit.iter().map(|e| e.action.clone()).collect()
}

#[tokio::test]
async fn break_glass_is_granted_at_once_kept_when_reviewed_and_taken_away_when_not() {
    in_slack_on_every_backend_with(
        async |db| SlackTestApp::start_with(db, &catalog(), workspace()).await,
        async |t, db| {
            // Refused: over the cap, a resource without it, no reason.
            let reply = ask(t, "UALICE", "break-glass prod-db 2h db on fire").await;
            assert!(reply.contains("longer than"), "{}: {reply}", db.name);
            let reply = ask(t, "UALICE", "break-glass finance-pii 30m audit").await;
            assert!(
                reply.contains("finance-pii has no break-glass access"),
                "{reply}"
            );
            let reply = ask(t, "UALICE", "break-glass prod-db 30m").await;
            assert!(reply.contains("Say what for and why"), "{reply}");

            // Alice: granted now, announced loudly, reviewers told.
            let reply = ask(t, "UALICE", "break-glass prod-db 45m primary is down").await;
            assert!(
                reply.contains(
                    "Break-glass access to `prod-db` for 45m is being granted now (request #1)"
                ),
                "{reply}"
            );
            t.wait_for(1, Status::Active).await;
            assert!(t.platform.holds("ualice", "PROD_DB"));
            let card = t.request_message(1).await;
            let loud = "<!here> 🚨 *Break-glass*: alice has this access now";
            t.thread_reply(&card.ts, loud).await;
            let dm = t.dm_for("UBOB", "break-glass").await;
            assert!(
                dm.contains("<@UALICE> used *break-glass* access to *Production database*"),
                "{dm}"
            );
            // Her own ✅ does not review her own emergency access.
            t.tick("UALICE", &card).await;
            t.ephemeral_for("UALICE", "cannot approve or deny your own request")
                .await;

            // Dave too; Bob reviews Dave's with a ✅, nobody reviews Alice's.
            ask(t, "UDAVE", "break-glass prod-db 45m replica lag").await;
            t.wait_for(2, Status::Active).await;
            let dave_card = t.request_message(2).await;
            t.tick("UBOB", &dave_card).await;
            eventually("Bob's review recorded", 30, || async {
                let audit = store::audit::for_request(t.app.db().conn(), 2).await.ok()?;
                actions(&audit)
                    .contains(&"break_glass_reviewed".to_owned())
                    .then_some(())
            })
            .await;

            // The review deadline passes.
            t.clock.advance(Duration::minutes(31));
            t.run_jobs().await;
            t.wait_for(1, Status::Revoked).await;
            assert!(!t.platform.holds("ualice", "PROD_DB"));
            assert_eq!(t.status(2).await, Status::Active, "reviewed: it stays");
            assert!(t.platform.holds("udave", "PROD_DB"));

            let audit = actions(
                &store::audit::for_request(t.app.db().conn(), 1)
                    .await
                    .unwrap(),
            );
            assert!(
                audit.contains(&"break_glass_unreviewed".to_owned())
                    && !audit.contains(&"break_glass_reviewed".to_owned()),
                "{audit:?}"
            );
            let flag = "Nobody reviewed this break-glass access in time";
            t.thread_reply(&card.ts, flag).await;
            t.dm_for("UBOB", "Nobody reviewed <@UALICE>'s break-glass access")
                .await;
        },
    )
    .await;
}

#[test]
fn a_review_deadline_after_the_access_ends_is_refused() {
    let bad = catalog().replace(
        "break_glass = { max = \"1h\", review_within = \"30m\" }",
        "break_glass = { max = \"1h\", review_within = \"2h\" }",
    );
    let line = bad
        .lines()
        .position(|l| l.starts_with("break_glass"))
        .unwrap()
        + 1;
    let err = catalog::refusal(&bad);
    assert!(
        err.contains(&format!("gatehouse.toml:{line}"))
            && err.contains("break_glass review_within (2h) must be shorter than its max (1h)"),
        "{err}"
    );
}
