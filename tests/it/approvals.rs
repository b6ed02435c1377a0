//! Approval policies through slack-sim: a two-step policy (all of two people, then two of a
//! set), each ✅ counted once toward the step waiting, only that step's reviewers mentioned,
//! a guest's ✅ refused, and the grant made when the last step is met.

use gatehouse::domain::Status;
use gatehouse::store;

use crate::support::backends;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, person, shown, workspace};

const CATALOG: &str = r#"
admins = ["UADA"]

[connectors.manual]
kind = "manual"

[[resources]]
id = "finance-pii"
name = "Finance with PII"
connector = "manual"
grant = { task = "FINANCE_PII" }
reason_required = false
approval = [
  { reviewers = ["UBOB", "URITA"], need = "all" },
  { reviewers = ["UFIONA", "UCARL", "UADA", "UGUEST"], need = 2 },
]
"#;

#[tokio::test]
async fn a_two_step_policy_needs_both_of_the_first_then_two_different_people_of_the_second() {
    for db in backends().await {
        let mut ws = workspace();
        ws.users.push(slack_sim::UserSeed {
            is_restricted: true,
            ..person("UGUEST", "gus", "UTC")
        });
        for c in &mut ws.channels {
            c.members.push("UGUEST".into());
        }
        let t = SlackTestApp::start_with(&db, CATALOG, ws).await;
        t.sim
            .slash_command("UALICE", CHANNEL, "/request-access", "finance-pii 2h")
            .await
            .unwrap();
        let msg = t.request_message(1).await;
        let card = shown(&msg);
        // Only the first step's reviewers are mentioned.
        assert!(
            card.contains("step 1 of 2: 2 more from <@UBOB>, <@URITA>"),
            "{}: {card}",
            db.name
        );
        assert!(
            !card.contains("UFIONA") && !card.contains("UCARL"),
            "{card}"
        );

        // Fiona reviews the second step: her ✅ now counts for nothing.
        t.sim
            .add_reaction("UFIONA", CHANNEL, &msg.ts, "white_check_mark")
            .await
            .unwrap();
        let note = t.ephemeral_for("UFIONA", "did nothing").await;
        assert!(
            note.contains(
                "waiting for step 1 of its approval, which is for all of <@UBOB>, <@URITA>"
            ),
            "{note}"
        );

        // Bob counts once, however many times he ✅s.
        t.sim
            .add_reaction("UBOB", CHANNEL, &msg.ts, "white_check_mark")
            .await
            .unwrap();
        let card = eventually("Bob's approval on the card", 30, || async {
            let card = shown(&t.request_message(1).await);
            card.contains("approved by <@UBOB>").then_some(card)
        })
        .await;
        assert!(card.contains("step 1 of 2: 1 more from"), "{card}");
        t.sim
            .add_reaction("UBOB", CHANNEL, &msg.ts, "heavy_check_mark")
            .await
            .unwrap();
        let note = t.ephemeral_for("UBOB", "did nothing").await;
        assert!(
            note.contains("you have already approved this request"),
            "{note}"
        );
        assert_eq!(t.status(1).await, Status::Pending);

        // Rita completes the first step; the thread now mentions the second step's reviewers.
        t.sim
            .add_reaction("URITA", CHANNEL, &msg.ts, "white_check_mark")
            .await
            .unwrap();
        let reply = eventually("the thread note for step 2", 30, || async {
            t.sim
                .thread(CHANNEL, &msg.ts)
                .iter()
                .map(shown)
                .find(|m| m.contains("approved; step 2 of 2"))
        })
        .await;
        assert!(
            reply.contains("<@URITA> approved; step 2 of 2 needs 2 more from <@UFIONA>, <@UCARL>, <@UADA>, <@UGUEST>"),
            "{reply}"
        );
        assert_eq!(t.status(1).await, Status::Pending);

        // A guest never approves, even one named as a reviewer.
        t.sim
            .add_reaction("UGUEST", CHANNEL, &msg.ts, "white_check_mark")
            .await
            .unwrap();
        let note = t.ephemeral_for("UGUEST", "did nothing").await;
        assert!(note.contains("guests cannot approve"), "{note}");

        // Fiona's ✅ counts now, and her Approve click after it does not count again.
        t.sim
            .add_reaction("UFIONA", CHANNEL, &msg.ts, "heavy_check_mark")
            .await
            .unwrap();
        eventually("Fiona's approval on the card", 30, || async {
            let card = shown(&t.request_message(1).await);
            card.contains("step 2 of 2: 1 more from").then_some(())
        })
        .await;
        t.sim
            .add_reaction("UFIONA", CHANNEL, &msg.ts, "white_check_mark::skin-tone-2")
            .await
            .unwrap();
        let notes = || {
            t.sim
                .ephemerals("UFIONA")
                .into_iter()
                .filter(|e| e.text.contains("already approved"))
                .count()
        };
        eventually("Fiona told she already approved", 30, || async {
            (notes() == 1).then_some(())
        })
        .await;
        assert_eq!(t.status(1).await, Status::Pending);

        // Carl is the second different person of step 2: the request is approved and granted.
        t.sim
            .add_reaction("UCARL", CHANNEL, &msg.ts, "white_check_mark")
            .await
            .unwrap();
        eventually("the grant", 30, || async {
            t.platform.holds("ualice", "FINANCE_PII").then_some(())
        })
        .await;
        assert_eq!(t.status(1).await, Status::Active);

        let audit = store::audit::for_request(t.app.db().conn(), 1)
            .await
            .unwrap();
        let counted = audit
            .iter()
            .filter(|e| e.action == "approval_counted")
            .count();
        assert_eq!(counted, 3, "Bob, Rita and Fiona counted before Carl");
        let approved = audit.iter().find(|e| e.action == "approved").unwrap();
        let details: serde_json::Value = serde_json::from_str(&approved.details).unwrap();
        assert_eq!(
            details["approvers"],
            serde_json::json!(["UBOB", "URITA", "UFIONA", "UCARL"]),
            "{details}"
        );
        t.stop().await;
    }
}
