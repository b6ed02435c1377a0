//! Choosing the account a request is granted to is a decision: a reviewer cannot send a
//! colleague's access to their own account, to someone else's, or to a role (whose members
//! would all get it), nor to an account the platform never listed; an admin may name any; and
//! approvals given before the choice stop counting, so the request waits for its reviewers again.

use gatehouse::domain::{ConnectorId, RequestId, Status};
use gatehouse::store;
use gatehouse::store::identities::Seen;
use gatehouse::workflow::{Submission, Via, WorkflowError};

use crate::support::platform::FakePlatform;
use crate::support::scenario::submission;
use crate::support::{TestApp, backends, catalog, u};

/// One stage of Bob or Rita, then one of Fiona: a request approved halfway has an approval
/// that a new identity must wipe.
pub(crate) fn catalog() -> String {
    let stages = r#"approval = [
  { reviewers = ["UBOB", "URITA"], need = "any" },
  { reviewers = ["UFIONA"], need = "any" },
]
"#;
    catalog::manual(&[catalog::task("vault", &[]) + stages])
}

async fn started(db: &crate::support::db::TestDb) -> TestApp {
    let platform = FakePlatform::default();
    platform.set_users(&[
        ("ualice", Some("alice@example.com")),
        ("ubob", Some("bob@example.com")),
        ("udave", Some("dave@example.com")),
    ]);
    let t = TestApp::start_custom(
        db,
        &catalog(),
        platform,
        std::sync::Arc::new(gatehouse::workflow::NoGroups),
    )
    .await;
    let manual = ConnectorId::parse("manual").unwrap();
    t.wf().sync_identities(&manual).await.unwrap();
    let c = t.app.db().conn();
    // A group role on the platform, and the people Gatehouse linked to their accounts.
    let role = Seen {
        kind: "role",
        platform_id: "ops_team",
        name: "ops_team",
        email: None,
    };
    store::identities::upsert(c, "manual", &role, t.clock.now())
        .await
        .unwrap();
    for (person, account) in [("UBOB", "ubob"), ("UDAVE", "udave")] {
        store::links::set(
            c,
            person,
            "manual",
            account,
            store::links::Method::Admin,
            Some("UADA"),
            t.clock.now(),
        )
        .await
        .unwrap();
    }
    t
}

async fn alice_asks(t: &TestApp) -> RequestId {
    t.wf()
        .submit(submission(&u("UALICE"), "vault", None, None))
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn a_reviewer_cannot_send_a_colleagues_access_to_their_own_account_anyone_elses_or_a_role() {
    for db in backends().await {
        let t = started(&db).await;
        let id = alice_asks(&t).await;
        t.wf().approve(id, &u("UBOB"), Via::Button).await.unwrap();
        let rows = t.audit_len().await;
        let bob = u("UBOB");
        let refusals = [
            (
                "ubob",
                "`ubob` is linked to you in Gatehouse; choose the requester's own account",
            ),
            (
                "udave",
                "`udave` is linked to someone other than the requester; choose the requester's own account",
            ),
            (
                "ops_team",
                "`ops_team` is a role on the platform, not a person's account: granting it would give the access to everyone in it; choose the requester's own user (an admin can grant to a role)",
            ),
            (
                "mallory",
                "`manual` has no user `mallory`; run `gatehouse identities sync` if it is new",
            ),
        ];
        for (account, said) in refusals {
            let err = t.wf().set_identity(id, &bob, account).await.unwrap_err();
            assert_eq!(err.to_string(), said, "{} {account}", db.name);
        }
        // Nor may the requester choose where her own access goes.
        let err = t
            .wf()
            .set_identity(id, &u("UALICE"), "ualice")
            .await
            .unwrap_err();
        assert!(matches!(err, WorkflowError::NotAllowed(_)), "{err}");
        // Nothing changed: no identity, Bob's approval still counted, no audit row.
        let r = t.wf().request(id).await.unwrap();
        assert_eq!((r.status, r.identity), (Status::Pending, None));
        assert_eq!(t.audit_len().await, rows, "{}", db.name);
        assert_eq!(
            store::approvals::of_request(t.app.db().conn(), id)
                .await
                .unwrap()
                .len(),
            1
        );

        // Rita picks Alice's own account: Bob approved before it was chosen, so his approval
        // no longer counts and stage 1 waits again.
        let r = t
            .wf()
            .set_identity(id, &u("URITA"), "ualice")
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.identity.as_deref()),
            (Status::Pending, Some("ualice"))
        );
        assert!(
            store::approvals::of_request(t.app.db().conn(), id)
                .await
                .unwrap()
                .is_empty()
        );
        let chosen = store::audit::for_request(t.app.db().conn(), id.get())
            .await
            .unwrap()
            .into_iter()
            .rfind(|e| e.action == "identity_chosen")
            .unwrap();
        let details: serde_json::Value = serde_json::from_str(&chosen.details).unwrap();
        assert_eq!(chosen.actor, "URITA");
        assert_eq!(details["identity"], "ualice");
        assert_eq!(details["before"], serde_json::Value::Null);
        assert_eq!(details["approvals_reset"], 1);
        // Fiona (stage 2) cannot approve before stage 1 is met again.
        let err = t
            .wf()
            .approve(id, &u("UFIONA"), Via::Button)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("step 1"), "{err}");

        // An admin may name any account the platform has, a role included.
        let r = t
            .wf()
            .set_identity(id, &u("UADA"), "ops_team")
            .await
            .unwrap();
        assert_eq!(r.identity.as_deref(), Some("ops_team"));
        t.stop().await;
        db.close().await;
    }
}

/// The account a requester names when asking is held to the same rule: their own, never
/// someone else's nor a role.
#[tokio::test]
async fn a_requester_cannot_name_someone_elses_account_or_a_role_when_asking() {
    for db in backends().await {
        let t = started(&db).await;
        let alice = u("UALICE");
        let ask_as = |account: &'static str| Submission {
            requester: &alice,
            resource: "vault",
            duration: None,
            reason: None,
            identity: Some(account),
            start: None,
        };
        let rows = t.audit_len().await;
        for (account, said) in [
            (
                "udave",
                "`udave` is linked to someone other than the requester; choose the requester's own account",
            ),
            (
                "ops_team",
                "`ops_team` is a role on the platform, not a person's account: granting it would give the access to everyone in it; choose the requester's own user (an admin can grant to a role)",
            ),
        ] {
            let err = t.wf().submit(ask_as(account)).await.unwrap_err();
            assert_eq!(err.to_string(), said, "{} {account}", db.name);
        }
        assert_eq!(t.audit_len().await, rows, "nothing asked: {}", db.name);
        let r = t.wf().submit(ask_as("ualice")).await.unwrap();
        assert_eq!(r.identity.as_deref(), Some("ualice"));
        t.stop().await;
        db.close().await;
    }
}
