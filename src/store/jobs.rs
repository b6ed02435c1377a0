//! The durable job queue's rows: enqueue, claim with a lease, finish, retry, fail.
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several processes never take one job;
//! SQLite has a single writer, which makes the same claim exclusive.
//!
//! Two clocks meet here. When a job is due (`run_at`) is judged by the app's `Clock`, which
//! tests drive by hand. Whose lease has lapsed is judged by the database's clock (see
//! `lease_now`), so that processes whose own clocks disagree still agree on it.
//!
//! This file owns a job's shape, enqueueing, and what a worker does with a job it holds
//! (renew, complete, retry, reschedule, fail, release). The claim is in `claiming`, the lease
//! clock in `lease_clock`, and the read-only questions in `queries`.

mod claiming;
mod lease_clock;
mod queries;

pub use claiming::{Claim, claim};
pub use lease_clock::{database_now, lease_now};
pub use queries::{count, due, for_request, get, list, next_wakeup, still_failing};

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set, UpdateMany,
};

use super::entities::jobs::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreError, StoreResult};
use crate::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: JobStatus,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_until: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub request_id: Option<i64>,
    pub lane: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<Model> for Job {
    type Error = StoreError;
    fn try_from(m: Model) -> Result<Self, StoreError> {
        Ok(Job {
            status: JobStatus::parse(&m.status).ok_or_else(|| {
                StoreError::Corrupt(format!("job {}: unknown status `{}`", m.id, m.status))
            })?,
            id: m.id,
            kind: m.kind,
            payload: m.payload,
            run_at: m.run_at,
            attempts: m.attempts,
            max_attempts: m.max_attempts,
            lease_until: m.lease_until,
            locked_by: m.locked_by,
            last_error: m.last_error,
            dedupe_key: m.dedupe_key,
            request_id: m.request_id,
            lane: m.lane,
            created_at: m.created_at,
            finished_at: m.finished_at,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
    /// At most one live job per key: enqueueing again moves the existing job's time instead.
    pub dedupe_key: Option<String>,
    pub request_id: Option<i64>,
    /// Within a request, jobs of one lane run in order; lanes run side by side.
    pub lane: &'static str,
}

/// What enqueueing does to a live job that has the same `dedupe_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Move it to the new `run_at`, later or earlier (a revocation follows its expiry).
    Move,
    /// Move it only if that makes it earlier: a job that repeats on its own (reconciliation)
    /// is not pushed back each time a process starts, yet a shorter interval takes effect.
    Earlier,
}

/// Adds a job, or, when a live job has the same `dedupe_key`, moves that job to `run_at`
/// (and queues it again if it had failed). Returns the job's id.
pub async fn enqueue(c: &impl Conn, job: NewJob, now: DateTime<Utc>) -> StoreResult<i64> {
    enqueue_or(c, job, now, OnExisting::Move).await
}

/// Like `enqueue`, choosing what happens to a live job with the same key. A failed one is
/// always queued again at `run_at`.
pub async fn enqueue_or(
    c: &impl Conn,
    job: NewJob,
    now: DateTime<Utc>,
    on_existing: OnExisting,
) -> StoreResult<i64> {
    if let Some(key) = &job.dedupe_key
        && let Some(existing) = Entity::find()
            .filter(Column::DedupeKey.eq(key.as_str()))
            .one(c)
            .await?
    {
        let failed = existing.status == JobStatus::Failed.as_str();
        if on_existing == OnExisting::Earlier && !failed && existing.run_at <= job.run_at {
            return Ok(existing.id);
        }
        let mut q = Entity::update_many()
            .col_expr(Column::RunAt, Expr::value(job.run_at))
            .col_expr(Column::UpdatedAt, Expr::value(now));
        if failed {
            q = q
                .col_expr(Column::Status, Expr::value(JobStatus::Queued.as_str()))
                .col_expr(Column::Attempts, Expr::value(0))
                .col_expr(
                    Column::FinishedAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                );
        }
        q.filter(Column::Id.eq(existing.id)).exec(c).await?;
        return Ok(existing.id);
    }
    Ok(row(job, now).insert(c).await?.id)
}

/// Inserts jobs no live job can share a key with, in one statement (`jobs::enqueue_first`).
pub async fn insert_new(c: &impl Conn, jobs: Vec<NewJob>, now: DateTime<Utc>) -> StoreResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    Entity::insert_many(jobs.into_iter().map(|job| row(job, now)))
        .exec_without_returning(c)
        .await?;
    Ok(())
}

fn row(job: NewJob, now: DateTime<Utc>) -> ActiveModel {
    ActiveModel {
        kind: Set(job.kind),
        payload: Set(job.payload),
        status: Set(JobStatus::Queued.as_str().to_owned()),
        run_at: Set(job.run_at),
        attempts: Set(0),
        max_attempts: Set(job.max_attempts),
        lease_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        dedupe_key: Set(job.dedupe_key),
        request_id: Set(job.request_id),
        lane: Set(job.lane.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
        ..Default::default()
    }
}

fn mine(id: i64, worker: &str) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id))
        .add(Column::LockedBy.eq(worker))
        .add(Column::Status.eq(JobStatus::Running.as_str()))
}

/// Applies `update` to the job only while `worker` holds it; false when it no longer does.
async fn if_mine(
    c: &impl Conn,
    id: i64,
    worker: &str,
    update: UpdateMany<Entity>,
) -> StoreResult<bool> {
    let res = update.filter(mine(id, worker)).exec(c).await?;
    Ok(res.rows_affected == 1)
}

/// The run ends in `status` (done or failed) at `now`, and its lease with it.
fn ended(status: JobStatus, now: DateTime<Utc>) -> UpdateMany<Entity> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::FinishedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

/// Extends the lease of a job `worker` still holds to `lease` from now, on the database's
/// clock. False when the job is no longer its (its lease lapsed and another worker took it
/// over, or it ended): the run in hand must stop.
pub async fn renew(
    c: &impl Conn,
    id: i64,
    worker: &str,
    clock: &dyn Clock,
    lease: TimeDelta,
) -> StoreResult<bool> {
    let until = lease_now(c, clock)
        .await?
        .checked_add_signed(lease)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let update = Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(until))
        .col_expr(Column::UpdatedAt, Expr::value(clock.now()));
    if_mine(c, id, worker, update).await
}

/// Marks the job done. False when the worker no longer held it (its lease expired and another took it).
pub async fn complete(
    c: &impl Conn,
    id: i64,
    worker: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let update = ended(JobStatus::Done, now)
        .col_expr(Column::DedupeKey, Expr::value(Option::<String>::None));
    if_mine(c, id, worker, update).await
}

/// Puts the job back in the queue for another attempt at `run_at`.
pub async fn retry_later(
    c: &impl Conn,
    id: i64,
    worker: &str,
    error: &str,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    requeue(c, id, worker, run_at, now, Requeue::Failed(error)).await
}

/// Puts the job back until `run_at` because it is not due yet (a scheduled start, an expiry
/// moved later): not a failure, so the attempt it used is given back and its last error kept.
pub async fn reschedule(
    c: &impl Conn,
    id: i64,
    worker: &str,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    requeue(c, id, worker, run_at, now, Requeue::NotDue).await
}

/// Why a held job goes back to the queue.
enum Requeue<'a> {
    /// The attempt failed with this error; it counts.
    Failed(&'a str),
    /// It ran too early; the attempt is given back.
    NotDue,
}

async fn requeue(
    c: &impl Conn,
    id: i64,
    worker: &str,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
    why: Requeue<'_>,
) -> StoreResult<bool> {
    let q = Entity::update_many()
        .col_expr(Column::Status, Expr::value(JobStatus::Queued.as_str()))
        .col_expr(Column::RunAt, Expr::value(run_at))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LockedBy, Expr::value(Option::<String>::None));
    let q = match why {
        Requeue::Failed(error) => q.col_expr(Column::LastError, Expr::value(error)),
        Requeue::NotDue => q.col_expr(
            Column::Attempts,
            sea_orm::sea_query::ExprTrait::sub(Expr::col(Column::Attempts), 1),
        ),
    };
    if_mine(c, id, worker, q).await
}

/// Gives up on the job: it stays `failed`, visible to admins, until someone retries it.
pub async fn fail(
    c: &impl Conn,
    id: i64,
    worker: &str,
    error: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let update = ended(JobStatus::Failed, now).col_expr(Column::LastError, Expr::value(error));
    if_mine(c, id, worker, update).await
}

/// Queues a failed job again with a fresh set of attempts. False if it was not failed.
pub async fn requeue_failed(c: &impl Conn, id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(JobStatus::Queued.as_str()))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::RunAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(
            Column::FinishedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LockedBy, Expr::value(Option::<String>::None))
        .filter(Column::Id.eq(id))
        // A job still being retried (a revocation) may be run now too.
        .filter(Column::Status.is_in([JobStatus::Failed.as_str(), JobStatus::Queued.as_str()]))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives back the jobs `worker` still holds, at shutdown: their lease ends now, so another
/// process claims them at once instead of after the lease, and the interrupted attempt is not
/// counted (it did not fail). "Now" for the lease is the database's (see `lease_now`).
/// Returns the kinds of the jobs released.
pub async fn release(c: &impl Conn, worker: &str, clock: &dyn Clock) -> StoreResult<Vec<String>> {
    let held = Condition::all()
        .add(Column::LockedBy.eq(worker))
        .add(Column::Status.eq(JobStatus::Running.as_str()))
        .add(Column::Attempts.gt(0));
    let jobs = Entity::find().filter(held.clone()).all(c).await?;
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let (now, lease_now) = (clock.now(), lease_now(c, clock).await?);
    Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(lease_now))
        .col_expr(
            Column::Attempts,
            sea_orm::sea_query::ExprTrait::sub(Expr::col(Column::Attempts), 1),
        )
        // A notice job that was cut short may have posted: its next run looks before posting.
        .col_expr(
            Column::LastError,
            Expr::value("released unfinished when its process stopped"),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(held)
        .filter(Column::Id.is_in(jobs.iter().map(|j| j.id)))
        .exec(c)
        .await?;
    Ok(jobs.into_iter().map(|j| j.kind).collect())
}
