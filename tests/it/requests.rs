//! Submitting and deciding: every wrong input gets a clear error and writes nothing.

use gatehouse::domain::{GrantDuration, Status};
use gatehouse::store;
use gatehouse::workflow::{Field, Submission, Via, WorkflowError};

use crate::support::scenario::on_every_backend;
use crate::support::scenario::submission;
use crate::support::{TestApp, u};

async fn request_count(t: &TestApp) -> usize {
    store::requests::list_all(t.app.db().conn())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn bad_submissions_say_what_to_fix_and_write_nothing() {
    on_every_backend(async |t, db| {
        let alice = u("UALICE");
        let base = submission(&alice, "analytics-ro", None, Some("need it"));
        let cases: Vec<(Submission<'_>, Field, &str)> = vec![
            (
                Submission {
                    resource: "analytics",
                    ..base.clone()
                },
                Field::Resource,
                "there is no resource `analytics`; did you mean `analytics-ro`?",
            ),
            (
                Submission {
                    resource: "Robert'); DROP TABLE requests;--",
                    ..base.clone()
                },
                Field::Resource,
                "there is no resource `Robert'); DROP TABLE requests;--`; pick one from the list",
            ),
            (
                Submission {
                    duration: Some(GrantDuration::parse("4d").unwrap()),
                    ..base.clone()
                },
                Field::Duration,
                "4d is longer than the 3d this resource allows; ask for 3d or less",
            ),
            (
                Submission {
                    duration: Some(GrantDuration::parse("5m").unwrap()),
                    ..base.clone()
                },
                Field::Duration,
                "5m is shorter than the 15m minimum for this resource; ask for 15m or more",
            ),
            (
                Submission {
                    reason: Some("   "),
                    ..base.clone()
                },
                Field::Reason,
                "analytics-ro needs a reason; say briefly why you need this access",
            ),
        ];
        for (s, field, message) in cases {
            let err = t.wf().submit(s).await.unwrap_err();
            assert_eq!(err.to_string(), message, "{}", db.name);
            assert_eq!(err.field(), Some(field));
        }
        let long = "x".repeat(3001);
        let err = t
            .wf()
            .submit(Submission {
                reason: Some(&long),
                ..base.clone()
            })
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(Field::Reason));
        assert_eq!(request_count(t).await, 0);
        assert_eq!(t.audit_len().await, 0);

        // Finance needs no reason; the default duration applies.
        let ok = t
            .wf()
            .submit(Submission {
                resource: "finance-pii",
                reason: None,
                ..base.clone()
            })
            .await
            .unwrap();
        assert_eq!(ok.duration.to_string(), "8h");
        assert_eq!(ok.reason, None);
    })
    .await;
}

#[tokio::test]
async fn a_second_open_request_names_the_first() {
    on_every_backend(async |t, _| {
        let alice = u("UALICE");
        let s = submission(&alice, "analytics-ro", None, Some("dashboards"));
        let first = t.wf().submit(s.clone()).await.unwrap();
        let err = t.wf().submit(s.clone()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "you already have an open request for analytics-ro: #{}",
                first.id.get()
            )
        );
        // Someone else may ask for the same thing.
        t.wf()
            .submit(Submission {
                requester: &u("UDAVE"),
                ..s.clone()
            })
            .await
            .unwrap();
        assert_eq!(request_count(t).await, 2);
        assert_eq!(t.audit_len().await, 2);
    })
    .await;
}

#[tokio::test]
async fn racing_submissions_of_the_same_request_create_one() {
    on_every_backend(async |t, db| {
        let alice = u("UALICE");
        let s = submission(&alice, "analytics-ro", None, Some("dashboards"));
        let results = futures_join(t.wf().submit(s.clone()), t.wf().submit(s.clone())).await;
        let oks = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1, "{}: {results:?}", db.name);
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(WorkflowError::AlreadyOpen { .. })))
        );
        assert_eq!(request_count(t).await, 1);
        assert_eq!(t.audit_len().await, 1);
    })
    .await;
}

async fn futures_join<T>(
    a: impl std::future::Future<Output = T>,
    b: impl std::future::Future<Output = T>,
) -> Vec<T> {
    let (x, y) = tokio::join!(a, b);
    vec![x, y]
}

#[tokio::test]
async fn only_a_reviewer_other_than_the_requester_decides() {
    on_every_backend(async |t, _| {
        let bob = u("UBOB");
        // Bob reviews analytics, but this is his own request.
        let own = t
            .wf()
            .submit(submission(&bob, "analytics-ro", None, Some("audit")))
            .await
            .unwrap();
        // Bob may not decide his own request; Dave, who reviews nothing, may not either.
        let refusals = [
            (
                "UBOB",
                "you cannot approve or deny your own request; a reviewer of analytics-ro has to",
            ),
            (
                "UDAVE",
                "only a reviewer of analytics-ro (<@UBOB> or <@URITA>) can approve or deny this request",
            ),
        ];
        for (who, said) in refusals {
            let err = t
                .wf()
                .approve(own.id, &u(who), Via::Reaction)
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), said, "{who}");
        }
        let err = t
            .wf()
            .approve(own.id, &u("UFIONA"), Via::Reaction)
            .await
            .unwrap_err();
        assert!(
            matches!(err, WorkflowError::NotAllowed(_)),
            "a finance reviewer is not an analytics reviewer: {err:?}"
        );
        assert_eq!(
            t.wf().request(own.id).await.unwrap().status,
            Status::Pending
        );
        assert_eq!(t.audit_len().await, 1);

        let denied = t
            .wf()
            .deny(own.id, &u("URITA"), Via::Button, Some("use the sandbox"))
            .await
            .unwrap();
        assert_eq!(denied.status, Status::Denied);
        assert_eq!(denied.decision_note.as_deref(), Some("use the sandbox"));
        let err = t
            .wf()
            .approve(own.id, &u("URITA"), Via::Reaction)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "this request cannot be approved because it was denied"
        );
        assert_eq!(t.audit_actions(own.id).await, ["requested", "denied"]);
    })
    .await;
}

#[tokio::test]
async fn reviewers_added_in_the_database_count_like_the_catalogs() {
    on_every_backend(async |t, _| {
        let req = t
            .wf()
            .submit(submission(&u("UALICE"), "finance-pii", None, None))
            .await
            .unwrap();
        let carl = u("UCARL");
        assert!(t.wf().approve(req.id, &carl, Via::Reaction).await.is_err());
        let principal = gatehouse::domain::Principal::User(carl.clone());
        store::roles::add(
            t.app.db().conn(),
            &principal,
            store::roles::AppRole::Reviewer,
            "finance-pii",
            "UADA",
            t.clock.now(),
        )
        .await
        .unwrap();
        let ok = t.wf().approve(req.id, &carl, Via::Reaction).await.unwrap();
        assert_eq!(ok.status, Status::Approved);
    })
    .await;
}

#[tokio::test]
async fn two_reviewers_approving_at_once_approve_once() {
    on_every_backend(async |t, db| {
        let req = t
            .wf()
            .submit(submission(&u("UALICE"), "analytics-ro", None, Some("x")))
            .await
            .unwrap();
        let (bob, rita) = (u("UBOB"), u("URITA"));
        let (a, b) = tokio::join!(
            t.wf().approve(req.id, &bob, Via::Reaction),
            t.wf().approve(req.id, &rita, Via::Button)
        );
        let results = [a, b];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{}: {results:?}",
            db.name
        );
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(
                loser,
                WorkflowError::Illegal(_) | WorkflowError::Conflict(_)
            ),
            "{loser:?}"
        );
        assert_eq!(t.audit_actions(req.id).await, ["requested", "approved"]);
        let jobs = store::jobs::for_request(t.app.db().conn(), req.id.get())
            .await
            .unwrap();
        let provisioning = jobs.iter().filter(|j| j.kind == "provision").count();
        assert_eq!(provisioning, 1, "one provisioning job");
    })
    .await;
}

#[tokio::test]
async fn admins_add_and_remove_reviewers_and_each_change_is_audited() {
    use gatehouse::domain::{Principal, ResourceId};
    use gatehouse::workflow::Scope;
    on_every_backend(async |t, db| {
        let carl = Principal::User(u("UCARL"));
        let finance = Scope::Resource(ResourceId::parse("finance-pii").unwrap());
        let err = t
            .wf()
            .add_reviewer(&u("UBOB"), &carl, &finance)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "only a Gatehouse admin can do that");
        let err = t
            .wf()
            .add_reviewer(
                &u("UADA"),
                &carl,
                &Scope::Resource(ResourceId::parse("finance").unwrap()),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "there is no resource `finance`; did you mean `finance-pii`?"
        );
        assert_eq!(t.audit_len().await, 0);

        // Ada adds Carl, then removes him; each a second time changes nothing.
        let ada = u("UADA");
        let add = || t.wf().add_reviewer(&ada, &carl, &finance);
        let remove = || t.wf().remove_reviewer(&ada, &carl, &finance);
        assert!(add().await.unwrap());
        assert!(!add().await.unwrap(), "already one");
        assert_eq!(t.wf().reviewers_added(&finance).await.unwrap().len(), 1);
        assert!(remove().await.unwrap());
        assert!(!remove().await.unwrap(), "already none");
        assert!(t.wf().reviewers_added(&finance).await.unwrap().is_empty());

        let rows = gatehouse::store::audit::page(t.app.db().conn(), 0, 10)
            .await
            .unwrap();
        let actions: Vec<_> = rows
            .iter()
            .map(|r| (r.actor.as_str(), r.action.as_str()))
            .collect();
        assert_eq!(
            actions,
            [("UADA", "reviewer_added"), ("UADA", "reviewer_removed")],
            "{}",
            db.name
        );
        assert!(rows[0].details.contains("\"reviewer\":\"UCARL\""));
    })
    .await;
}
