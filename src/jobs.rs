//! The durable job queue's worker: claims due jobs with a lease, runs them, retries failures
//! with exponential backoff and jitter, and gives up after the last attempt (`failed`, visible
//! to admins). It sleeps until the next job is due, woken early when one is added here.
//!
//! A job runs at most once at a time: it must finish within its deadline (shorter than the
//! lease), and while it runs its worker renews the lease; a run whose job another worker took
//! over meanwhile (a paused process, a lost database) is stopped, not left to finish twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::domain::RequestId;
use crate::store::jobs::{self as rows, Claim, Job, NewJob, OnExisting};
use crate::store::{Conn, Db, Priority, StoreError, Writer};

mod spec;
pub use spec::JobSpec;

/// Adds a job inside the caller's transaction, so it exists exactly when the change that
/// caused it commits. Call `Jobs::wake` after the commit. A live job with the same key is moved
/// to `run_at` (see `JobSpec::dedupe_key`).
pub async fn enqueue(
    c: &impl Conn,
    spec: &JobSpec,
    run_at: DateTime<Utc>,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    enqueue_or(c, spec, run_at, max_attempts, now, OnExisting::Move).await
}

/// Like `enqueue`, but a live job with the same key keeps its time unless `run_at` is earlier:
/// for jobs that repeat on their own, scheduled again at every start.
pub async fn enqueue_unless_sooner(
    c: &impl Conn,
    spec: &JobSpec,
    run_at: DateTime<Utc>,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    enqueue_or(c, spec, run_at, max_attempts, now, OnExisting::Earlier).await
}

async fn enqueue_or(
    c: &impl Conn,
    spec: &JobSpec,
    run_at: DateTime<Utc>,
    max_attempts: u32,
    now: DateTime<Utc>,
    on_existing: OnExisting,
) -> Result<i64, StoreError> {
    let job = new_job(spec, run_at, max_attempts)?;
    rows::enqueue_or(c, job, now, on_existing).await
}

/// Adds the first jobs of something created in the caller's transaction (a request just
/// submitted), in one statement: their keys name it, so no live job can have them, and the
/// unique key would refuse a clash rather than queue a job twice. One statement instead of a
/// look-up and an insert each, because a submission's ack waits for this transaction.
pub async fn enqueue_first(
    c: &impl Conn,
    jobs: &[(JobSpec, DateTime<Utc>)],
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let jobs = jobs
        .iter()
        .map(|(spec, run_at)| new_job(spec, *run_at, max_attempts))
        .collect::<Result<Vec<_>, _>>()?;
    rows::insert_new(c, jobs, now).await
}

fn new_job(spec: &JobSpec, run_at: DateTime<Utc>, max_attempts: u32) -> Result<NewJob, StoreError> {
    let payload = serde_json::to_string(spec)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode job: {e}")))?;
    Ok(NewJob {
        kind: spec.kind().to_owned(),
        payload,
        run_at,
        max_attempts: if spec.never_gives_up() {
            i32::MAX
        } else {
            i32::try_from(max_attempts).unwrap_or(i32::MAX)
        },
        dedupe_key: spec.dedupe_key(),
        request_id: spec.request().map(RequestId::get),
        lane: spec.lane(),
    })
}

/// Aborts a task when dropped (a no-op once it finished).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a run ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Not yet: run again then (e.g. a revocation whose expiry moved later meanwhile).
    RunAgainAt(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt: a timeout, a 5xx, a 429, a lock conflict.
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Another attempt would fail the same way: the job fails now.
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retryable {
            message: e.to_string(),
            retry_after: None,
        }
    }
}

/// Runs jobs of every kind; `workflow` implements it.
#[async_trait::async_trait]
pub trait Runner: Send + Sync + 'static {
    async fn run(&self, spec: &JobSpec, job: &Job) -> Result<Outcome, JobError>;
    /// Called once when a job is given up, so the failure reaches people and the lifecycle.
    async fn gave_up(&self, spec: &JobSpec, job: &Job, error: &str) -> Result<(), JobError>;
    /// A job that never gives up (see `JobSpec::never_gives_up`) failed again after using its
    /// attempts, or failed in a way retrying may not fix; it will run again.
    async fn failing(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

/// The attempt from which `backoff` gives its longest delay (an hour).
const LONGEST_BACKOFF: u32 = 11;

/// Retry delay before attempt `attempt + 1`: 5 s doubling to at most an hour, with the upper
/// half jittered so that many failing jobs do not retry in lockstep.
pub fn backoff(attempt: u32, rng: &mut impl Rng) -> Duration {
    let base = 5u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let capped = base.min(3600);
    let half = capped * 500;
    Duration::from_millis(half + rng.random_range(0..=half))
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub max_attempts: u32,
    /// How long a claimed job stays this worker's without a word from it; renewed every third
    /// of it while the job runs.
    pub lease: Duration,
    /// How long one run may take before it is stopped and retried. Keep it shorter than the
    /// lease (see `deadline_for`): a run then ends before its first lease could lapse, even if
    /// renewing fails. A test may make it longer, to show renewal carrying a slow job.
    pub deadline: Duration,
    pub poll: Duration,
}

impl WorkerSettings {
    /// Settings whose deadline is `deadline_for(lease)`.
    pub fn new(max_attempts: u32, lease: Duration, poll: Duration) -> Self {
        WorkerSettings {
            max_attempts,
            lease,
            deadline: deadline_for(lease),
            poll,
        }
    }
}

/// A job's deadline for a lease: four fifths of it (240 s of the default 300 s lease), leaving
/// the rest for the claim, the bookkeeping after the run, and a slow clock.
pub fn deadline_for(lease: Duration) -> Duration {
    lease.mul_f64(0.8)
}

/// "1 s", "0.25 s", "240 s": a duration for people, in seconds.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// One worker; run several (in one process or many) against one database safely.
pub struct Worker {
    db: Db,
    clock: SharedClock,
    runner: Arc<dyn Runner>,
    wake: Arc<Notify>,
    id: String,
    settings: WorkerSettings,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Worker {
    pub fn new(
        db: Db,
        clock: SharedClock,
        runner: Arc<dyn Runner>,
        wake: Arc<Notify>,
        settings: WorkerSettings,
    ) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Worker {
            db,
            clock,
            runner,
            wake,
            id,
            settings,
            metrics: None,
        }
    }

    /// Counts each job run in `metrics` (`gatehouse_jobs_total`).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, kind: &str, outcome: &'static str) {
        if let Some(m) = &self.metrics {
            m.job_ran(kind, outcome);
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::MAX)
    }

    /// Claims and runs one due job. False when nothing is due.
    pub async fn run_one(&self) -> Result<bool, StoreError> {
        let job = match rows::claim(&self.db, &self.id, &*self.clock, self.lease()).await? {
            Claim::Nothing => return Ok(false),
            Claim::Abandoned(job) => {
                let error = job.last_error.clone().unwrap_or_default();
                tracing::error!(job = job.id, kind = %job.kind, %error, "job abandoned");
                if let Ok(spec) = serde_json::from_str::<JobSpec>(&job.payload) {
                    self.report_give_up(&spec, &job, &error).await;
                }
                return Ok(true);
            }
            Claim::Job(job) => job,
        };
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = %job.kind,
            attempt = job.attempts,
            request_id = job.request_id
        );
        self.execute(job).instrument(span).await?;
        Ok(true)
    }

    async fn execute(&self, job: Job) -> Result<(), StoreError> {
        let spec = match serde_json::from_str::<JobSpec>(&job.payload) {
            Ok(spec) => spec,
            Err(e) => {
                let error = format!("unknown job `{}`: {e}", job.kind);
                tracing::error!(%error, "job cannot run");
                let now = self.clock.now();
                rows::fail(&self.turn().await, job.id, &self.id, &error, now).await?;
                return Ok(());
            }
        };
        let Some(result) = self.run_guarded(&spec, &job).await else {
            // Another worker holds the job now: its run decides; this one writes nothing.
            self.count(&job.kind, "taken_over");
            return Ok(());
        };
        let now = self.clock.now();
        match result {
            Ok(Outcome::Done) => {
                self.count(&job.kind, "done");
                if !rows::complete(&self.turn().await, job.id, &self.id, now).await? {
                    tracing::warn!(
                        "job finished after its lease was taken over; the run was idempotent"
                    );
                }
            }
            Ok(Outcome::RunAgainAt(at)) => {
                self.count(&job.kind, "rescheduled");
                rows::reschedule(&self.turn().await, job.id, &self.id, at, now).await?;
            }
            Err(e) if spec.never_gives_up() => {
                let attempts = u32::try_from(job.attempts).unwrap_or(u32::MAX);
                let (message, retry_after, permanent) = match e {
                    JobError::Retryable {
                        message,
                        retry_after,
                    } => (message, retry_after, false),
                    JobError::Permanent(message) => (message, None, true),
                };
                // What retrying cannot fix waits for a person: try again hourly meanwhile.
                let step = if permanent { LONGEST_BACKOFF } else { attempts };
                let delay = backoff(step, &mut rand::rng()).max(retry_after.unwrap_or_default());
                let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                tracing::warn!(error = %message, retry_at = %at, "job failed; it never gives up");
                self.count(&job.kind, "retry");
                rows::retry_later(&self.turn().await, job.id, &self.id, &message, at, now).await?;
                if (permanent || attempts >= self.settings.max_attempts)
                    && let Err(e) = self.runner.failing(&spec, &job, &message).await
                {
                    tracing::error!(job = job.id, error = %e, "could not tell people the job keeps failing");
                }
            }
            Err(JobError::Retryable {
                message,
                retry_after,
            }) if job.attempts < job.max_attempts => {
                let attempts = u32::try_from(job.attempts).unwrap_or(u32::MAX);
                let delay =
                    backoff(attempts, &mut rand::rng()).max(retry_after.unwrap_or_default());
                let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                tracing::warn!(error = %message, retry_at = %at, "job failed; will retry");
                self.count(&job.kind, "retry");
                rows::retry_later(&self.turn().await, job.id, &self.id, &message, at, now).await?;
            }
            Err(e) => {
                let error = match &e {
                    JobError::Retryable { message, .. } => {
                        format!("{message} (gave up after {} attempts)", job.attempts)
                    }
                    JobError::Permanent(message) => message.clone(),
                };
                tracing::error!(%error, "job failed");
                self.count(&job.kind, "failed");
                let failed = rows::fail(&self.turn().await, job.id, &self.id, &error, now).await?;
                if failed {
                    self.report_give_up(&spec, &job, &error).await;
                }
            }
        }
        Ok(())
    }

    /// Runs the job in its own task, so that a bug that panics fails this job, not the worker;
    /// within the deadline, past which the run is stopped and fails retryably; and renewing
    /// the lease meanwhile. None when the job was taken over: the run was stopped.
    async fn run_guarded(&self, spec: &JobSpec, job: &Job) -> Option<Result<Outcome, JobError>> {
        let (runner, spec, held) = (self.runner.clone(), spec.clone(), job.clone());
        let task = async move { runner.run(&spec, &held).await }.in_current_span();
        let mut handle = tokio::spawn(task);
        // A worker dropped at shutdown (past its grace period) takes its job's run with it, and
        // so does every early return here.
        let _abort = AbortOnDrop(handle.abort_handle());
        let deadline = self.settings.deadline;
        tokio::select! {
            joined = tokio::time::timeout(deadline, &mut handle) => Some(match joined {
                Ok(Ok(result)) => result,
                Ok(Err(e)) => Err(JobError::Retryable {
                    message: format!("the job crashed: {e}"),
                    retry_after: None,
                }),
                Err(_) => {
                    handle.abort();
                    tracing::warn!(deadline_secs = deadline.as_secs_f64(), "job stopped at its deadline");
                    Err(JobError::Retryable {
                        message: format!("the job did not finish within {}", seconds(deadline)),
                        retry_after: None,
                    })
                }
            }),
            () = self.keep_lease(job.id) => {
                handle.abort();
                None
            }
        }
    }

    /// The pool in a background turn, for one statement about a run (its outcome, its lease):
    /// a write someone is waiting on goes first. Dropped before anything else is written.
    async fn turn(&self) -> Writer {
        self.db.writer(Priority::Background).await
    }

    /// Renews the job's lease every third of it, for as long as the run lasts. Returns only when
    /// the job is no longer this worker's, or may not be: renewing found another worker holding
    /// it, or the database has not answered for so long that the lease may have lapsed.
    async fn keep_lease(&self, id: i64) {
        let every = self.settings.lease / 3;
        let mut held_at = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(every).await;
            let asked_at = tokio::time::Instant::now();
            let renewed =
                rows::renew(&self.turn().await, id, &self.id, &*self.clock, self.lease()).await;
            match renewed {
                Ok(true) => held_at = asked_at,
                Ok(false) => {
                    tracing::warn!("another worker took the job over; stopping this run");
                    return;
                }
                Err(e) if held_at.elapsed() + every >= self.settings.lease => {
                    tracing::error!(error = %e, "cannot renew the job's lease before it lapses; stopping this run");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "cannot renew the job's lease; trying again"),
            }
        }
    }

    async fn report_give_up(&self, spec: &JobSpec, job: &Job, error: &str) {
        if let Err(e) = self.runner.gave_up(spec, job, error).await {
            tracing::error!(job = job.id, error = %e, "could not record that the job failed");
        }
    }

    /// Runs due jobs until none is left or `shutdown`: a stopping process finishes the job in
    /// hand, not the whole backlog (the rest stay queued for the next process).
    async fn run_due_until(&self, shutdown: &CancellationToken) -> Result<usize, StoreError> {
        let mut n = 0;
        while !shutdown.is_cancelled() && self.run_one().await? {
            n += 1;
        }
        Ok(n)
    }

    /// Runs every job due now; returns how many ran.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        self.run_due_until(&CancellationToken::new()).await
    }

    /// Runs jobs until `shutdown`: sleeps until the next one is due, or until `wake`, or at most
    /// `poll` (to notice jobs other processes added). A database outage is logged and retried.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(worker = %self.id, "job worker started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let wait = match self.run_due_until(&shutdown).await {
                Ok(_) => self.until_next().await,
                Err(e) => {
                    tracing::error!(error = %e, "job worker cannot reach the database; retrying");
                    Duration::from_secs(5).min(self.settings.poll)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(worker = %self.id, "job worker stopped");
    }

    async fn until_next(&self) -> Duration {
        match rows::next_wakeup(self.db.reads(), &*self.clock).await {
            Ok(Some(at)) => (at - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(self.settings.poll),
            Ok(None) => self.settings.poll,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the next due job");
                self.settings.poll
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_jitters_and_caps() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            let first = backoff(1, &mut rng);
            assert!(first >= Duration::from_millis(2500) && first <= Duration::from_secs(5));
            let third = backoff(3, &mut rng);
            assert!(third >= Duration::from_secs(10) && third <= Duration::from_secs(20));
            let late = backoff(40, &mut rng);
            assert!(late >= Duration::from_secs(1800) && late <= Duration::from_secs(3600));
        }
    }

    #[test]
    fn specs_round_trip_through_their_payload() {
        let spec = JobSpec::Revoke {
            request: RequestId::new(42),
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(json, r#"{"kind":"revoke","request":42}"#);
        assert_eq!(serde_json::from_str::<JobSpec>(&json).unwrap(), spec);
        assert_eq!(spec.dedupe_key().as_deref(), Some("revoke:42"));
    }
}
