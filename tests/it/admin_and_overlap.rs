//! Access given without a new request: an admin's `/access-admin grant @person RESOURCE
//! [DURATION] REASON…` (the same grant, expiry, DMs and audit as any request), and a request for
//! access one already holds, which asks to extend that grant instead of making a second one.

use gatehouse::domain::Status;
use gatehouse::store;

use crate::support::home::on_message;
use crate::support::scenario::in_slack_on_every_backend;

#[tokio::test]
async fn an_admin_grants_access_directly_and_it_is_granted_told_audited_and_expires() {
    in_slack_on_every_backend(async |t, db| {
        // Only admins; a reason is required; a typo gets the closest resource.
        let reply = t
            .admin("UBOB", "grant <@UDAVE|dave> analytics-ro 2h incident 4411")
            .await;
        assert!(
            reply.contains("only a Gatehouse admin can do that"),
            "{reply}"
        );
        let reply = t.admin("UADA", "grant <@UDAVE|dave> analytics-ro 2h").await;
        assert!(reply.contains("Say why"), "{reply}");
        let reply = t
            .admin("UADA", "grant <@UDAVE|dave> analytcs-ro 2h incident")
            .await;
        assert!(reply.contains("did you mean `analytics-ro`"), "{reply}");
        let reply = t
            .admin("UADA", "grant <@UDAVE|dave> analytics-ro 9d incident")
            .await;
        assert!(reply.contains("longer than"), "{}: {reply}", db.name);
        assert!(
            store::requests::list_all(t.app.db().conn())
                .await
                .unwrap()
                .is_empty(),
            "refusals make no request"
        );

        let reply = t
            .admin(
                "UADA",
                "grant <@UDAVE|dave> analytics-ro 2h incident 4411: restore the revenue table",
            )
            .await;
        assert!(
            reply.contains("Granting <@UDAVE> `analytics-ro` for 2h (request #1)"),
            "{reply}"
        );
        t.wait_for(1, Status::Active).await;
        assert!(t.platform.holds("udave", "ANALYTICS_RO"));
        let dm = t.dm_for("UDAVE", "You now have access").await;
        assert!(dm.contains("Analytics (read-only)"), "{dm}");
        // The holder hears first; the card follows.
        let card =
            crate::support::slack::eventually("the card of the granted access", 30, || async {
                let card = crate::support::slack::shown(&t.request_message(1).await);
                card.contains("approved by <@UADA>").then_some(card)
            })
            .await;
        assert!(
            card.contains("*Requester*\ndave"),
            "named, not pinged: {card}"
        );

        let audit = store::audit::for_request(t.app.db().conn(), 1)
            .await
            .unwrap();
        let actions: Vec<(&str, &str)> = audit
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect();
        assert_eq!(
            actions[..2],
            [("requested", "UADA"), ("approved", "UADA")],
            "{actions:?}"
        );
        let requested: serde_json::Value = serde_json::from_str(&audit[0].details).unwrap();
        assert_eq!(requested["on_behalf_of"], "UDAVE");
        assert_eq!(requested["via"], "admin_grant");
        assert_eq!(
            requested["reason"],
            "incident 4411: restore the revenue table"
        );

        // A second grant of what Dave already holds extends it: one grant, 1h longer, the
        // admin's reason audited, Dave told.
        let before = t.request(1).await;
        let reply = t
            .admin(
                "UADA",
                "grant <@UDAVE|dave> analytics-ro 1h incident continues",
            )
            .await;
        assert!(
            reply.contains(
                "<@UDAVE> already had `analytics-ro` (request #1); it now lasts until <!date^"
            ),
            "{reply}"
        );
        let after = t.request(1).await;
        assert_eq!(
            after.expires_at,
            before.expires_at.map(|at| at + chrono::Duration::hours(1))
        );
        assert_eq!(t.platform.calls().0, 1, "granted once");
        let extended = store::audit::for_request(t.app.db().conn(), 1)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.action == "extended")
            .unwrap();
        assert_eq!(extended.actor, "UADA");
        assert!(
            extended.details.contains("incident continues"),
            "{}",
            extended.details
        );
        t.dm_for("UDAVE", "now lasts until").await;
        assert_eq!(
            store::requests::list_all(t.app.db().conn())
                .await
                .unwrap()
                .len(),
            1
        );

        // It ends on its own, like any grant.
        t.expire(1, chrono::Duration::hours(4)).await;
        assert!(!t.platform.holds("udave", "ANALYTICS_RO"));
        t.dm_for("UDAVE", "has expired").await;
    })
    .await;
}

#[tokio::test]
async fn asking_for_access_one_already_holds_asks_to_extend_it_instead_of_a_second_grant() {
    in_slack_on_every_backend(async |t, db| {
        // Alice holds analytics-ro for 8 h from 09:00 UTC (request #1).
        t.granted("UALICE", "analytics-ro 8h report", 1, "UBOB")
            .await;
        let grants_before = t.platform.calls().0;

        let reply = t
            .reply("UALICE", "/request-access", "analytics-ro 4h still on it")
            .await;
        assert!(
            reply.contains("You already have *Analytics (read-only)*")
                && reply.contains("(request #1)")
                && reply.contains("4h more instead of a second grant"),
            "{}: {reply}",
            db.name
        );
        let msg = t.request_message(1).await;
        let ask = t.thread_reply(&msg.ts, "asks for 4h more").await;
        t.sim
            .click_button("UBOB", on_message(&ask), "extend_approve", None, None)
            .await
            .unwrap();
        crate::support::slack::eventually("the longer grant", 30, || async {
            let r = t
                .app
                .workflow()
                .request(gatehouse::domain::RequestId::new(1))
                .await
                .ok()?;
            (r.expires_at == Some(crate::support::app::at(2026, 11, 28, 21, 0))).then_some(())
        })
        .await;
        // Still one request and one grant on the platform.
        let all = store::requests::list_all(t.app.db().conn()).await.unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(t.platform.calls().0, grants_before, "no second grant");
    })
    .await;
}
