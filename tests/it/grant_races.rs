//! Two workers on one grant at the same instant (a job whose lease another worker took over, or
//! a second provisioning queued meanwhile): both ask the platform before changing it, and are
//! answered together. The grant record, the move to `provisioning` and the identity are one
//! transaction, so one worker writes them and grants; the other loses the guarded move, changes
//! nothing and retries. The access is granted once, recorded once, and ends once.

use chrono::Duration;
use gatehouse::domain::{RequestId, Status};
use gatehouse::jobs::{JobError, JobSpec, Outcome, Runner};
use gatehouse::store;
use gatehouse::workflow::Via;

use crate::support::TestApp;
use crate::support::scenario::on_every_backend;

/// What the `analytics-ro` resource grants on the fake platform.
const TASK: &str = "ANALYTICS_RO";

/// Runs request `id`'s provisioning in two tasks at once, as two workers would.
async fn two_workers_provision(t: &TestApp, id: RequestId) -> Vec<Result<Outcome, JobError>> {
    let job = t
        .jobs_of(id)
        .await
        .into_iter()
        .find(|j| j.kind == "provision")
        .expect("approval queued the provisioning");
    let spec = JobSpec::Provision { request: id };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (wf, spec, job) = (t.app.workflow().clone(), spec.clone(), job.clone());
            tokio::spawn(async move { wf.run(&spec, &job).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.push(w.await.expect("a worker does not panic"));
    }
    outcomes
}

#[tokio::test]
async fn two_workers_granting_one_request_at_the_same_instant_grant_and_record_it_once() {
    on_every_backend(async |t, db| {
        let req = t.submit("UALICE", "analytics-ro", Some("2h"), Some("month-end")).await;
        t.approve(&req, "UBOB", Via::Reaction).await;
        // Neither worker's check is answered before the other's is asked: both see the role
        // not held, and both go on to write the grant record.
        t.platform.answer_checks_together(2);

        let outcomes = two_workers_provision(t, req.id).await;
        assert_eq!(t.platform.checks(), 2, "{}: both workers asked", db.name);
        let done = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Outcome::Done)))
            .count();
        let retried = outcomes
            .iter()
            .filter(|o| matches!(o, Err(JobError::Retryable { .. })))
            .count();
        assert_eq!(
            (done, retried),
            (1, 1),
            "{}: one worker granted, the other lost the move to provisioning and retries: {outcomes:?}",
            db.name
        );
        assert_eq!(t.platform.calls().0, 1, "{}: one grant call", db.name);
        assert_eq!(t.platform.changes("ualice", TASK), (1, 0));
        assert_eq!(t.status(req.id).await, Status::Active, "{}", db.name);

        // The loser's retry finds the access granted and changes nothing.
        t.run_jobs().await;
        assert_eq!(t.platform.calls().0, 1, "{}: the retry granted nothing", db.name);
        let records = store::grants::for_request(t.app.db().conn(), req.id.get())
            .await
            .unwrap();
        assert_eq!(records.len(), 1, "{}: one grant record", db.name);
        assert!(!records[0].held_before, "{}: not held before", db.name);
        let actions = t.audit_actions(req.id).await;
        for once in ["provisioning_started", "provisioned"] {
            assert_eq!(
                actions.iter().filter(|a| *a == once).count(),
                1,
                "{}: `{once}` once in {actions:?}",
                db.name
            );
        }

        // And it ends once, as recorded.
        t.clock.advance(Duration::hours(2) + Duration::minutes(1));
        t.run_jobs().await;
        assert_eq!(t.status(req.id).await, Status::Expired, "{}", db.name);
        assert_eq!(
            t.platform.changes("ualice", TASK),
            (1, 1),
            "{}: granted once, taken away once",
            db.name
        );
        assert!(!t.platform.holds("ualice", TASK));
    })
    .await;
}
