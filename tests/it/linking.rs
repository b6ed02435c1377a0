//! Linking Slack users to platform identities: by email among the synced users, by the
//! connector's rule, or by an admin; remembered, audited, and used so that a reviewer's ✅ needs
//! no picker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse::domain::{ConnectorId, GroupId, SlackUserId, Status};
use gatehouse::store::links::Method;
use gatehouse::workflow::{Directory, Via, WorkflowError};

use crate::support::catalog;
use crate::support::platform::FakePlatform;
use crate::support::scenario::submission;
use crate::support::{TestApp, backends, u};

/// Slack's users.info, as far as linking reads it: emails, and how often it was asked.
#[derive(Default)]
struct Emails {
    by_user: HashMap<String, String>,
    asked: Mutex<usize>,
    /// When set, the first question waits for the test to let it be answered.
    hold: Option<Hold>,
}

/// A question held: `asked` says it came, `answer` lets it go on.
#[derive(Default)]
struct Hold {
    asked: tokio::sync::Notify,
    answer: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl Directory for Emails {
    async fn members_of(&self, _group: &GroupId) -> Result<Vec<SlackUserId>, String> {
        Ok(Vec::new())
    }
    async fn email_of(&self, user: &SlackUserId) -> Result<Option<String>, String> {
        let first = {
            let mut asked = self.asked.lock().unwrap();
            *asked += 1;
            *asked == 1
        };
        if let (true, Some(hold)) = (first, &self.hold) {
            hold.asked.notify_one();
            hold.answer.notified().await;
        }
        Ok(self.by_user.get(user.as_str()).cloned())
    }
}

/// The warehouse `wh` links people by the rule `link`.
fn catalog(link: &str) -> String {
    let wh = catalog::postgres("wh", "NEVER_RESOLVED_IN_THESE_TESTS");
    let linked = format!("{wh}link = \"{link}\"\n");
    catalog::with(
        &linked,
        &[catalog::role_on("wh", "warehouse", "ANALYST", &["UBOB"])],
    )
}

async fn start(
    db: &crate::support::TestDb,
    link: &str,
    emails: &[(&str, &str)],
) -> (TestApp, Arc<Emails>) {
    start_held(db, link, emails, None).await
}

/// `start`, with Slack's first answer about an email held by `hold`.
async fn start_held(
    db: &crate::support::TestDb,
    link: &str,
    emails: &[(&str, &str)],
    hold: Option<Hold>,
) -> (TestApp, Arc<Emails>) {
    let platform = FakePlatform::default();
    platform.require_identity();
    platform.set_users(&[
        ("MARIA", Some("Maria@Example.com")),
        ("SAM", None),
        ("DAVE.SMITH", None),
    ]);
    let directory = Arc::new(Emails {
        by_user: emails
            .iter()
            .map(|(u, e)| (u.to_string(), e.to_string()))
            .collect(),
        hold,
        ..Default::default()
    });
    let t = TestApp::start_custom(db, &catalog(link), platform, directory.clone()).await;
    t.wf()
        .sync_identities(&ConnectorId::parse("wh").unwrap())
        .await
        .unwrap();
    (t, directory)
}

/// The platform identity `who` is linked to on the `wh` connector, if any.
async fn linked(t: &TestApp, who: &str) -> Option<gatehouse::store::links::Link> {
    let wh = ConnectorId::parse("wh").unwrap();
    t.wf().linked_identity(&u(who), &wh).await.unwrap()
}

#[tokio::test]
async fn an_email_match_links_once_and_is_remembered() {
    for db in backends().await {
        let (t, dir) = start(&db, "email", &[("UMARIA", "maria@example.com")]).await;
        let link = linked(&t, "UMARIA").await.unwrap();
        assert_eq!(
            (link.platform_id.as_str(), link.method),
            ("MARIA", Method::Email)
        );
        let again = linked(&t, "UMARIA").await.unwrap();
        assert_eq!(again.platform_id, "MARIA");
        assert_eq!(
            *dir.asked.lock().unwrap(),
            1,
            "a remembered link costs no Slack call"
        );
        // Nobody on the platform has Carl's email, and the rule is `email`: no link.
        assert!(linked(&t, "UCARL").await.is_none());
        t.stop().await;
    }
}

#[tokio::test]
async fn a_rule_links_only_to_a_user_the_platform_listed() {
    for db in backends().await {
        let (t, _) = start(
            &db,
            "local-part-upper",
            &[
                ("UDAVE", "dave.smith@example.com"),
                ("UCARL", "carl@example.com"),
            ],
        )
        .await;
        let link = linked(&t, "UDAVE").await.unwrap();
        assert_eq!(
            (link.platform_id.as_str(), link.method),
            ("DAVE.SMITH", Method::Rule)
        );
        assert!(
            linked(&t, "UCARL").await.is_none(),
            "CARL is not a platform user"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_admin_link_wins_a_typo_is_refused_with_a_suggestion_and_unlinking_restores_the_match() {
    for db in backends().await {
        let (t, _) = start(&db, "email", &[("UMARIA", "maria@example.com")]).await;
        let err = t
            .wf()
            .link_identity(&u("UBOB"), &u("UMARIA"), "wh", "SAM")
            .await
            .unwrap_err();
        assert!(matches!(err, WorkflowError::NotAllowed(_)), "{err}");
        // Ada's typos: the connector and user she named, and what she is told.
        let refused = [
            (
                "wh",
                "SA",
                "`wh` has no user `SA` (did you mean `SAM`?); run `gatehouse identities sync` if it is new",
            ),
            (
                "warehouse",
                "SAM",
                "there is no platform connector `warehouse`; use one of: wh",
            ),
        ];
        for (connector, user, message) in refused {
            let err = t
                .wf()
                .link_identity(&u("UADA"), &u("UMARIA"), connector, user)
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), message, "{user} on {connector}");
        }

        t.wf()
            .link_identity(&u("UADA"), &u("UMARIA"), "wh", "SAM")
            .await
            .unwrap();
        let link = linked(&t, "UMARIA").await.unwrap();
        assert_eq!(
            (link.platform_id.as_str(), link.method),
            ("SAM", Method::Admin)
        );
        let seen = t
            .wf()
            .person_access(&u("UADA"), &u("UMARIA"))
            .await
            .unwrap();
        assert_eq!(seen.links.len(), 1);
        let found = t.wf().search_identities(&u("UADA"), "sam").await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].linked,
            ["UMARIA"],
            "the browser shows who is linked"
        );
        assert_eq!(seen.links[0].created_by.as_deref(), Some("UADA"));

        assert!(
            t.wf()
                .unlink_identity(&u("UADA"), &u("UMARIA"), "wh")
                .await
                .unwrap()
        );
        assert!(
            !t.wf()
                .unlink_identity(&u("UADA"), &u("UMARIA"), "wh")
                .await
                .unwrap()
        );
        let link = linked(&t, "UMARIA").await.unwrap();
        assert_eq!(link.platform_id, "MARIA", "found by email again");
        t.stop().await;
    }
}

/// Maria asks for the warehouse and Bob approves: her request, not yet provisioned.
async fn approved_for_maria(t: &TestApp) -> (SlackUserId, gatehouse::store::requests::Request) {
    let maria = u("UMARIA");
    let r = t
        .wf()
        .submit(submission(&maria, "warehouse", None, None))
        .await
        .unwrap();
    t.wf().approve(r.id, &u("UBOB"), Via::Button).await.unwrap();
    (maria, r)
}

#[tokio::test]
async fn an_approved_request_is_granted_to_the_linked_identity_without_a_picker() {
    for db in backends().await {
        let (t, _) = start(&db, "email", &[("UMARIA", "maria@example.com")]).await;
        let (maria, r) = approved_for_maria(&t).await;
        t.run_jobs().await;
        assert_eq!(t.wf().request(r.id).await.unwrap().status, Status::Active);
        assert!(
            t.platform.holds("MARIA", "ANALYST"),
            "granted to the linked user"
        );
        let actions = t.audit_actions(r.id).await;
        assert!(
            actions.contains(&"identity_chosen".to_owned()),
            "{actions:?}"
        );
        let seen = t.wf().person_access(&u("UADA"), &maria).await.unwrap();
        assert_eq!(seen.active.len(), 1);
        assert_eq!(seen.active[0].identity.as_deref(), Some("MARIA"));
        t.stop().await;
    }
}

#[tokio::test]
async fn a_request_withdrawn_while_its_identity_is_looked_up_is_never_granted() {
    for db in backends().await {
        let emails = [("UMARIA", "maria@example.com")];
        let (t, directory) = start_held(&db, "email", &emails, Some(Hold::default())).await;
        let hold = directory.hold.as_ref().unwrap();
        let (maria, r) = approved_for_maria(&t).await;
        // The grant's job waits on Maria's email; she withdraws the request meanwhile.
        let withdraw = async {
            hold.asked.notified().await;
            let cancelled = t.wf().cancel(r.id, &maria).await.unwrap();
            hold.answer.notify_one();
            cancelled
        };
        let (_, cancelled) = tokio::join!(t.run_jobs(), withdraw);
        assert_eq!(cancelled.status, Status::Cancelled);
        // The grant's job tries again later, and finds nothing to do.
        t.clock.advance(chrono::TimeDelta::hours(2));
        t.run_jobs().await;
        assert_eq!(
            t.wf().request(r.id).await.unwrap().status,
            Status::Cancelled
        );
        assert!(!t.platform.holds("MARIA", "ANALYST"), "{}", db.name);
        assert_eq!(t.platform.calls(), (0, 0), "the platform was never changed");
        let actions = t.audit_actions(r.id).await;
        assert!(
            !actions.iter().any(|a| {
                a == "identity_chosen" || a == "provisioning_started" || a == "identity_needed"
            }),
            "nothing was chosen, started or asked for: {actions:?}"
        );
        assert_eq!(t.wf().request(r.id).await.unwrap().identity, None);
        t.stop().await;
    }
}
