//! Ending access now, through slack-sim: `/access-admin revoke`, and `/access-admin close` for
//! a request whose revocation cannot complete, by admins only.

use gatehouse::domain::Status;

use crate::support::backends;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, shown};

const HOLDER: &str = "UALICE";
const REVIEWER: &str = "UBOB";
const OTHER_REVIEWER: &str = "UFIONA";
const ADMIN: &str = "UADA";
const STRANGER: &str = "UDAVE";

/// Alice asks for analytics-ro and Bob's ✅ makes request `n` active; returns once its card
/// says so.
async fn alice_holds_analytics(t: &SlackTestApp, n: i64) -> slack_sim::Message {
    t.sim
        .slash_command(
            HOLDER,
            CHANNEL,
            "/request-access",
            "analytics-ro 8h month end",
        )
        .await
        .unwrap();
    let msg = t.request_message(n).await;
    t.sim
        .add_reaction(REVIEWER, CHANNEL, &msg.ts, "white_check_mark")
        .await
        .unwrap();
    t.wait_for(n, Status::Active).await;
    card_once(t, n, "🟢 *Active*").await
}

/// Request `n`'s card, once it shows `needle`.
async fn card_once(t: &SlackTestApp, n: i64, needle: &str) -> slack_sim::Message {
    eventually(&format!("card #{n} showing {needle:?}"), 30, || async {
        let msg = t.request_message(n).await;
        shown(&msg).contains(needle).then_some(msg)
    })
    .await
}

async fn audit_len(t: &SlackTestApp) -> i64 {
    gatehouse::store::audit::head(t.app.db().conn())
        .await
        .unwrap()
        .0
}

/// (actor, action) of request `n`'s audit rows, in order.
async fn audit_of(t: &SlackTestApp, n: i64) -> Vec<(String, String)> {
    gatehouse::store::audit::for_request(t.app.db().conn(), n)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect()
}

#[tokio::test]
async fn a_request_stuck_in_revoking_is_closed_by_an_admin_with_a_reason_and_by_nobody_else() {
    for db in backends().await {
        let t = SlackTestApp::start(&db).await;
        alice_holds_analytics(&t, 1).await;
        // Only a request stuck in revoking can be closed.
        assert_eq!(
            t.reply(ADMIN, "/access-admin", "close #1 gone already")
                .await,
            "Request #1 was not closed: this request cannot be closed because its access is active"
        );
        assert_eq!(
            t.reply(ADMIN, "/access-admin", "revoke #1").await,
            "Say why. Usage: `/access-admin revoke #ID REASON…`, like `/access-admin revoke #12 incident 4411` (the holder reads the reason; it is kept in the audit log)."
        );
        assert_eq!(t.status(1).await, Status::Active);

        // The platform refuses the revocation for good (its user was deleted, say).
        t.platform.fail_next(5, false);
        assert_eq!(
            t.reply(ADMIN, "/access-admin", "revoke #1 key leaked")
                .await,
            "🔒 Removing <@UALICE>'s access to `analytics-ro` (request #1) now; they are told you ended it and why."
        );
        eventually("the failing revocation", 30, || async {
            t.app
                .workflow()
                .revocation_error(gatehouse::domain::RequestId::new(1))
                .await
                .unwrap()
        })
        .await;
        assert_eq!(t.status(1).await, Status::Revoking);
        card_once(
            &t,
            1,
            "⏳ *Being revoked* by <@UADA>: key leaked — removing access…",
        )
        .await;

        let before = audit_len(&t).await;
        for who in [HOLDER, REVIEWER, OTHER_REVIEWER, STRANGER] {
            assert_eq!(
                t.reply(who, "/access-admin", "close #1 it is gone").await,
                "only a Gatehouse admin can do that",
                "{who}"
            );
        }
        assert_eq!(
            t.reply(ADMIN, "/access-admin", "close #1").await,
            "Say why. Usage: `/access-admin close #ID REASON…` for a request stuck in revoking, like `/access-admin close #12 platform user deleted by IT` (say how you know the access is gone; it is kept in the audit log)."
        );
        assert!(
            t.reply(ADMIN, "/access-admin", "close #x gone")
                .await
                .starts_with("`#x` is not a request number; write it like 42 or #42."),
        );
        assert_eq!(t.status(1).await, Status::Revoking, "{}", db.name);
        assert_eq!(audit_len(&t).await, before, "nothing written");

        assert_eq!(
            t.reply(
                ADMIN,
                "/access-admin",
                "close #1 platform user deleted by IT"
            )
            .await,
            "🔒 Closed request #1 (<@UALICE>'s `analytics-ro`) as revoked, without checking the platform; they are told you closed it and why."
        );
        assert_eq!(t.status(1).await, Status::Revoked);
        let audit = audit_of(&t, 1).await;
        assert_eq!(
            audit.last(),
            Some(&("UADA".to_owned(), "closed".to_owned())),
            "{audit:?}"
        );
        t.dm_for(
            HOLDER,
            "🔒 <@UADA> closed your request #1 for *Analytics (read-only)*: platform user deleted by IT",
        )
        .await;
        card_once(
            &t,
            1,
            "🔒 *Closed* by <@UADA>: platform user deleted by IT — not checked on the platform",
        )
        .await;
        let grant = t
            .app
            .workflow()
            .grant_of(gatehouse::domain::RequestId::new(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            grant.revoke_applied.as_deref(),
            Some("closed by UADA, not checked on the platform: platform user deleted by IT")
        );
        t.stop().await;
        db.close().await;
    }
}
