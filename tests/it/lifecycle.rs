//! A request's whole life through the workflow and the job worker, on every backend.

use chrono::Duration;
use gatehouse::audit::{self, Verdict};
use gatehouse::domain::{GrantDuration, Status};
use gatehouse::store::jobs::{Job, JobStatus};
use gatehouse::store::requests::Request;
use gatehouse::workflow::{Via, WorkflowError};

use crate::support::scenario::on_every_backend;
use crate::support::{TestApp, u};

/// Alice asks for analytics-ro for 2 h, as every test here starts.
async fn alices_ask(t: &TestApp) -> Request {
    t.submit(
        "UALICE",
        "analytics-ro",
        Some("2h"),
        Some("quarterly revenue report"),
    )
    .await
}

/// Alice's ask, approved by Bob by `via` (nothing run yet).
async fn approved_by_bob(t: &TestApp, via: Via) -> Request {
    let req = alices_ask(t).await;
    t.approve(&req, "UBOB", via).await;
    req
}

/// Request `req`'s provisioning job, as stored.
async fn provision_job(t: &TestApp, req: &Request) -> Job {
    let jobs = t.jobs_of(req.id).await;
    jobs.into_iter().find(|j| j.kind == "provision").unwrap()
}

#[tokio::test]
async fn an_approved_request_is_granted_then_revoked_at_expiry() {
    on_every_backend(async |t, db| {
        let req = alices_ask(t).await;
        assert_eq!(req.status, Status::Pending);
        assert_eq!(
            t.run_jobs().await,
            0,
            "{}: nothing runs before approval",
            db.name
        );

        let approved = t.approve(&req, "UBOB", Via::Reaction).await;
        assert_eq!(approved.status, Status::Approved);
        assert_eq!(approved.decided_by.as_deref(), Some("UBOB"));

        assert_eq!(t.run_jobs().await, 1);
        let active = t.wf().request(req.id).await.unwrap();
        assert_eq!(active.status, Status::Active, "{}", db.name);
        assert!(t.platform.holds("ualice", "ANALYTICS_RO"));
        assert_eq!(active.expires_at, Some(t.clock.now() + Duration::hours(2)));

        // Not yet: the revocation waits for the expiry.
        t.clock.advance(Duration::minutes(119));
        assert_eq!(t.run_jobs().await, 0);
        assert!(t.platform.holds("ualice", "ANALYTICS_RO"));

        t.clock.advance(Duration::minutes(1));
        assert_eq!(t.run_jobs().await, 1);
        let ended = t.wf().request(req.id).await.unwrap();
        assert_eq!(ended.status, Status::Expired, "{}", db.name);
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));
        assert_eq!(
            t.audit_actions(req.id).await,
            [
                "requested",
                "approved",
                "provisioning_started",
                "provisioned",
                "expiring",
                "expired"
            ]
        );
        let grants = gatehouse::store::grants::for_request(t.app.db().conn(), req.id.get())
            .await
            .unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].applied, "granted ANALYTICS_RO to ualice");
        assert_eq!(
            grants[0].revoke_applied.as_deref(),
            Some("revoked ANALYTICS_RO from ualice")
        );
        assert!(matches!(
            audit::verify(t.app.db()).await.unwrap(),
            Verdict::Intact { rows: 6, .. }
        ));
    })
    .await;
}

#[tokio::test]
async fn a_throttled_platform_is_asked_again_no_sooner_than_it_said() {
    on_every_backend(async |t, _| {
        let req = approved_by_bob(t, Via::Button).await;
        t.platform.throttle_next(90);

        assert_eq!(t.run_jobs().await, 1);
        let job = provision_job(t, &req).await;
        assert_eq!(job.last_error.as_deref(), Some("429 Too Many Requests"));
        assert!(
            job.run_at - t.clock.now() >= Duration::seconds(90),
            "{}",
            job.run_at
        );
        t.clock.advance(Duration::seconds(60));
        t.run_jobs().await;
        assert_eq!(
            t.platform.calls().0,
            1,
            "not asked again within its Retry-After"
        );
        t.clock.advance(Duration::seconds(31));
        t.run_jobs().await;
        assert_eq!(t.status(req.id).await, Status::Active);
        assert!(t.platform.holds("ualice", "ANALYTICS_RO"));
    })
    .await;
}

#[tokio::test]
async fn a_platform_outage_is_retried_until_the_grant_lands() {
    on_every_backend(async |t, db| {
        let req = approved_by_bob(t, Via::Button).await;
        t.platform.fail_next(2, true);

        assert_eq!(t.run_jobs().await, 1);
        let job = provision_job(t, &req).await;
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.attempts, 1);
        assert_eq!(
            job.last_error.as_deref(),
            Some("platform answered 503 Service Unavailable")
        );
        let delay = job.run_at - t.clock.now();
        assert!(
            delay >= Duration::milliseconds(2500) && delay <= Duration::seconds(5),
            "{delay}"
        );
        assert_eq!(t.run_jobs().await, 0, "the retry waits for its backoff");

        t.clock.advance(Duration::seconds(5));
        t.run_jobs().await;
        t.clock.advance(Duration::seconds(10));
        t.run_jobs().await;
        assert_eq!(t.status(req.id).await, Status::Active, "{}", db.name);
        assert_eq!(t.platform.calls().0, 3);
        assert!(t.platform.holds("ualice", "ANALYTICS_RO"));
    })
    .await;
}

#[tokio::test]
async fn provisioning_that_keeps_failing_ends_failed_and_an_admin_retry_recovers_it() {
    on_every_backend(async |t, db| {
        let req = approved_by_bob(t, Via::Button).await;
        t.platform.fail_next(3, true); // GATEHOUSE_JOB_MAX_ATTEMPTS=3 in tests
        for _ in 0..3 {
            t.run_jobs().await;
            t.clock.advance(Duration::minutes(5));
        }
        let failed = t.wf().request(req.id).await.unwrap();
        assert_eq!(failed.status, Status::Failed, "{}", db.name);
        let jobs = gatehouse::store::jobs::list(t.app.db().conn(), Some(JobStatus::Failed))
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1);
        assert!(
            jobs[0]
                .last_error
                .as_deref()
                .unwrap()
                .contains("gave up after 3 attempts")
        );

        let refused = t.wf().retry(req.id, &u("UBOB")).await.unwrap_err();
        assert_eq!(refused.to_string(), "only a Gatehouse admin can do that");
        t.wf().retry(req.id, &u("UADA")).await.unwrap();
        t.run_jobs().await;
        assert_eq!(t.status(req.id).await, Status::Active);
        assert_eq!(
            t.audit_actions(req.id).await,
            [
                "requested",
                "approved",
                "provisioning_started",
                "provisioning_failed",
                "retried",
                "provisioned"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn a_permanent_platform_error_fails_at_once() {
    on_every_backend(async |t, _| {
        let req = approved_by_bob(t, Via::Button).await;
        t.platform.fail_next(1, false);
        t.run_jobs().await;
        assert_eq!(t.status(req.id).await, Status::Failed);
        let events = gatehouse::store::audit::for_request(t.app.db().conn(), req.id.get())
            .await
            .unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.action, "provisioning_failed");
        assert!(
            last.details.contains("role ANALYTICS_RO does not exist"),
            "{}",
            last.details
        );
    })
    .await;
}

#[tokio::test]
async fn extending_moves_the_revocation_and_revoking_ends_access_now() {
    on_every_backend(async |t, db| {
        let alice = u("UALICE");
        let req = approved_by_bob(t, Via::Reaction).await;
        t.run_jobs().await;
        let started = t.clock.now();

        let two_h = GrantDuration::parse("2h").unwrap();
        let err = t.wf().extend(req.id, &alice, two_h).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "you cannot extend your own access to analytics-ro; a reviewer decides your ask for more time"
        );
        let extended = t.wf().extend(req.id, &u("URITA"), two_h).await.unwrap();
        assert_eq!(extended.expires_at, Some(started + Duration::hours(4)));
        let too_long = t
            .wf()
            .extend(req.id, &u("URITA"), GrantDuration::parse("3d").unwrap())
            .await
            .unwrap_err();
        assert!(
            too_long
                .to_string()
                .contains("longer than the 3d this resource allows"),
            "{too_long}"
        );

        // The old expiry passes: nothing happens.
        t.clock.advance(Duration::hours(2));
        assert_eq!(t.run_jobs().await, 0, "{}", db.name);
        assert_eq!(t.status(req.id).await, Status::Active);

        // Alice gives it back early.
        t.clock.advance(Duration::minutes(30));
        let revoking = t
            .wf()
            .revoke(req.id, &alice, Some("done early"))
            .await
            .unwrap();
        assert_eq!(revoking.status, Status::Revoking);
        let twice = t.wf().revoke(req.id, &alice, None).await.unwrap_err();
        assert_eq!(
            twice.to_string(),
            "this request cannot be revoked because its access is already being removed"
        );
        assert_eq!(t.run_jobs().await, 1);
        assert_eq!(t.status(req.id).await, Status::Revoked);
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));

        // The original expiry passes too: the single revocation job is long done.
        t.clock.advance(Duration::hours(3));
        assert_eq!(t.run_jobs().await, 0);
        assert_eq!(t.platform.calls(), (1, 1));
    })
    .await;
}

#[tokio::test]
async fn a_revocation_that_keeps_failing_is_reported_once_and_retried_until_it_succeeds() {
    on_every_backend(async |t, _| {
        let req = approved_by_bob(t, Via::Reaction).await;
        t.run_jobs().await;
        t.clock.advance(Duration::hours(2));
        // Five failures, past the three attempts other jobs get; then one refusal that
        // retrying cannot fix (a privilege an admin must restore).
        t.platform.fail_next(5, true);
        t.platform.fail_next(1, false);
        for _ in 0..6 {
            t.run_jobs().await;
            t.clock.advance(Duration::hours(1));
        }
        assert_eq!(t.status(req.id).await, Status::Revoking);
        assert!(
            t.platform.holds("ualice", "ANALYTICS_RO"),
            "the grant is still there, and we say so"
        );
        let failed = gatehouse::store::jobs::list(t.app.db().conn(), Some(JobStatus::Failed))
            .await
            .unwrap();
        assert!(failed.is_empty(), "a revocation is never given up");
        let actions = t.audit_actions(req.id).await;
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "revocation_failing")
                .count(),
            1,
            "reported once, not at every attempt: {actions:?}"
        );

        // The platform answers again: the next attempt finishes the revocation.
        t.clock.advance(Duration::hours(1));
        t.run_jobs().await;
        assert_eq!(t.status(req.id).await, Status::Expired);
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));
    })
    .await;
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_after_its_lease() {
    on_every_backend(async |t, db| {
        let req = approved_by_bob(t, Via::Reaction).await;
        // A worker claims the job and dies without finishing.
        let claim = gatehouse::store::jobs::claim(
            t.app.db(),
            "dead-worker",
            &t.clock,
            Duration::minutes(5),
        )
        .await
        .unwrap();
        assert!(matches!(claim, gatehouse::store::jobs::Claim::Job(_)));
        assert_eq!(t.run_jobs().await, 0, "{}: the lease still holds", db.name);
        t.clock.advance(Duration::minutes(6));
        assert_eq!(t.run_jobs().await, 1);
        assert_eq!(t.status(req.id).await, Status::Active);
    })
    .await;
}

#[tokio::test]
async fn cancel_and_lapse_end_pending_requests_and_free_the_slot() {
    on_every_backend(async |t, _| {
        let alice = u("UALICE");
        let req = alices_ask(t).await;
        let err = t.wf().cancel(req.id, &u("UBOB")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "only the person who asked for this access can do that"
        );
        let cancelled = t.wf().cancel(req.id, &alice).await.unwrap();
        assert_eq!(cancelled.status, Status::Cancelled);
        // A new request for the same resource is welcome now.
        let again = alices_ask(t).await;
        let lapsed = t.wf().lapse(again.id).await.unwrap();
        assert_eq!(lapsed.status, Status::Lapsed);
        let err = t
            .wf()
            .approve(again.id, &u("UBOB"), Via::Button)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "this request cannot be approved because it lapsed without a review"
        );
        assert!(matches!(err, WorkflowError::Illegal(_)));
    })
    .await;
}
