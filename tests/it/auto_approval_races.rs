//! The auto-approval check runs as a job after the submission's ack, so it can meet a
//! reviewer deciding at the same instant, and a process can die after its commit and before
//! the job is marked done. Either way a request is approved once, provisioned once, and
//! checked once.

use std::sync::Arc;

use gatehouse::domain::{RequestId, Status};
use gatehouse::store;
use gatehouse::workflow::Via;
use sea_orm::ConnectionTrait;
use tokio::sync::Barrier;

use crate::support::{TestApp, backends, catalog, u};

/// Logs: anything up to 30 min is approved without a reviewer.
fn catalog() -> String {
    catalog::manual(&[catalog::task("logs", &["UBOB"]) + catalog::AUTO_30M])
}

async fn ask(t: &TestApp, requester: &str, duration: &str) -> RequestId {
    t.submit(requester, "logs", Some(duration), None).await.id
}

/// How many of the request's jobs are of `kind`, whatever their state.
async fn jobs_of(t: &TestApp, id: RequestId, kind: &str) -> usize {
    t.jobs_of(id)
        .await
        .iter()
        .filter(|j| j.kind == kind)
        .count()
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

#[tokio::test]
async fn the_auto_approval_job_and_a_reviewer_at_the_same_instant_approve_once() {
    for db in backends().await {
        let t = Arc::new(TestApp::start_with(&db, &catalog()).await);
        // Several rounds, each released by a barrier, so both orders are met.
        for round in 0..8 {
            let id = ask(&t, &format!("UREQ{round}"), "20m").await;
            let start = Arc::new(Barrier::new(2));
            let job = {
                let (t, start) = (t.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    t.run_jobs().await
                })
            };
            let reviewer = {
                let (t, start) = (t.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    t.wf().approve(id, &u("UBOB"), Via::Reaction).await.is_ok()
                })
            };
            job.await.unwrap();
            let bob_won = reviewer.await.unwrap();
            t.run_jobs().await;

            let actions = t.audit_actions(id).await;
            let here = format!("{}, round {round}: {actions:?}", db.name);
            assert_eq!(count(&actions, "approved"), 1, "{here}");
            assert_eq!(jobs_of(&t, id, "provision").await, 1, "{here}");
            assert_ne!(
                t.wf().request(id).await.unwrap().status,
                Status::Pending,
                "{here}"
            );
            let approvals = store::approvals::of_request(t.app.db().conn(), id)
                .await
                .unwrap();
            if bob_won {
                // Bob's approval counted; the check found the request decided and did nothing.
                assert_eq!(approvals.len(), 1, "{here}");
                assert_eq!(count(&actions, "auto_approval_checked"), 0, "{here}");
            } else {
                // The rule approved it; Bob was told it was decided, and nothing of his counts.
                assert!(approvals.is_empty(), "{here}");
                assert_eq!(count(&actions, "auto_approval_checked"), 1, "{here}");
            }
        }
        Arc::try_unwrap(t).ok().unwrap().stop().await;
    }
}

#[tokio::test]
async fn an_auto_approval_check_run_again_after_its_commit_changes_nothing() {
    for db in backends().await {
        let t = TestApp::start_with(&db, &catalog()).await;
        // One the rule approves, one it leaves to a reviewer (2h is over its 30m).
        let approved = ask(&t, "UALICE", "20m").await;
        let waiting = ask(&t, "UDAVE", "2h").await;
        t.run_jobs().await;
        let before = (
            t.audit_actions(approved).await,
            t.audit_actions(waiting).await,
            jobs_of(&t, approved, "provision").await,
            jobs_of(&t, waiting, "lapse").await,
        );
        assert_eq!(count(&before.0, "approved"), 1, "{}: {before:?}", db.name);
        assert_eq!(count(&before.1, "auto_approval_checked"), 1, "{before:?}");
        assert_eq!((before.2, before.3), (1, 1), "{before:?}");

        // As if each process died after committing the check, before marking its job done:
        // the jobs are due again and run again.
        t.app
            .db()
            .conn()
            .execute_unprepared(
                "UPDATE jobs SET status = 'queued', finished_at = NULL WHERE kind = 'auto_approval'",
            )
            .await
            .unwrap();
        assert_eq!(t.run_jobs().await, 2, "{}: both checks ran again", db.name);
        let after = (
            t.audit_actions(approved).await,
            t.audit_actions(waiting).await,
            jobs_of(&t, approved, "provision").await,
            jobs_of(&t, waiting, "lapse").await,
        );
        assert_eq!(after, before, "{}", db.name);
        assert_eq!(
            t.wf().request(waiting).await.unwrap().status,
            Status::Pending
        );
        t.stop().await;
    }
}
