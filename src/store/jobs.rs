//! The durable job queue's rows: enqueue, claim with a lease, finish, retry, fail.
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several processes never take one job;
//! SQLite has a single writer, which makes the same claim exclusive.
//!
//! Two clocks meet here. When a job is due (`run_at`) is judged by the app's `Clock`, which
//! tests drive by hand. Whose lease has lapsed is judged by the database's clock (see
//! `lease_now`), so that processes whose own clocks disagree still agree on it.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Alias, Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use super::entities::jobs::{ActiveModel, Column, Entity, Model};
use super::{Conn, Db, StoreError, StoreResult};
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
    let model = ActiveModel {
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
    };
    Ok(model.insert(c).await?.id)
}

/// The two kinds of claimable job: queued and due, and running past its lease (a worker that
/// died, or stalled, gives its job back). Each is asked separately: as one `OR`, SQLite reads
/// every due job, checks each against its request, and sorts them all to take the first (and
/// PostgreSQL scans and sorts too), so a claim cost grows with the backlog, and the backlog with
/// it. Apart, each is an ordered walk of `jobs_due` that stops at the first job free to run.
/// `now` is the app's clock (due), `lease_now` the database's (lapsed).
fn claimable(now: DateTime<Utc>, lease_now: DateTime<Utc>) -> [Condition; 2] {
    [
        Condition::all()
            .add(Column::Status.eq(JobStatus::Queued.as_str()))
            .add(Column::RunAt.lte(now)),
        Condition::all()
            .add(Column::Status.eq(JobStatus::Running.as_str()))
            .add(Column::LeaseUntil.lt(lease_now)),
    ]
}

/// A request's jobs of one lane run one at a time and in order, across workers and processes:
/// a job waits while another job of its request and lane runs (lease not over), or is due or
/// abandoned before it. Without this, a card's first posting and its first update could race
/// and post two cards. Other lanes do not wait: the requester's DM is not held up by the card.
fn first_of_its_request(now: DateTime<Utc>, lease_now: DateTime<Utc>) -> Condition {
    use sea_orm::sea_query::ExprTrait;
    let (jobs, other) = (Alias::new("jobs"), Alias::new("other"));
    let of = |table: &Alias, column: &str| Expr::col((table.clone(), Alias::new(column)));
    let running_live = Condition::all()
        .add(of(&other, "status").eq(JobStatus::Running.as_str()))
        .add(of(&other, "lease_until").gte(lease_now));
    let queued_due = Condition::all()
        .add(of(&other, "status").eq(JobStatus::Queued.as_str()))
        .add(of(&other, "run_at").lte(now));
    let running_dead = Condition::all()
        .add(of(&other, "status").eq(JobStatus::Running.as_str()))
        .add(of(&other, "lease_until").lt(lease_now));
    let earlier = Condition::any()
        .add(of(&other, "run_at").lt(of(&jobs, "run_at")))
        .add(
            Condition::all()
                .add(of(&other, "run_at").eq(of(&jobs, "run_at")))
                .add(of(&other, "id").lt(of(&jobs, "id"))),
        );
    let blocking = Query::select()
        .expr(Expr::val(1))
        .from_as(Entity, other.clone())
        .and_where(of(&other, "request_id").eq(of(&jobs, "request_id")))
        .and_where(of(&other, "lane").eq(of(&jobs, "lane")))
        .and_where(of(&other, "id").ne(of(&jobs, "id")))
        .cond_where(
            Condition::any().add(running_live).add(
                Condition::all()
                    .add(Condition::any().add(queued_due).add(running_dead))
                    .add(earlier),
            ),
        )
        .to_owned();
    Condition::any()
        .add(of(&jobs, "request_id").is_null())
        .add(Expr::exists(blocking).not())
}

/// Outcome of a claim attempt.
#[derive(Debug)]
pub enum Claim {
    Job(Job),
    /// A job whose worker lost its lease on its last allowed attempt: now `failed`.
    Abandoned(Job),
    Nothing,
}

/// The database server's current time, to the microsecond (SQLite: to the millisecond). Our
/// Db is SQLite or PostgreSQL; anything but PostgreSQL is asked in SQLite's words.
pub async fn database_now(c: &impl Conn) -> StoreResult<DateTime<Utc>> {
    let backend = c.get_database_backend();
    let sql = match backend {
        // clock_timestamp(), not now(): now() is when the transaction began.
        DbBackend::Postgres => {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS micros"
        }
        _ => {
            "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000 AS micros"
        }
    };
    let row = c
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| StoreError::Corrupt("the database did not tell its time".into()))?;
    let micros: i64 = row.try_get("", "micros")?;
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("the database's time is {micros} µs")))
}

/// The time leases are judged by: the database's clock, which every process sharing the
/// database reads alike whatever its own clock says, unless `clock` decides it (a test's manual
/// clock does, so that moving it lapses leases as it makes jobs due). The time is read here and
/// bound like any other, so it is stored and compared in the column's own format (on SQLite a
/// text timestamp, which the database's `CURRENT_TIMESTAMP` would not match).
pub async fn lease_now(c: &impl Conn, clock: &dyn Clock) -> StoreResult<DateTime<Utc>> {
    match clock.lease_now() {
        Some(now) => Ok(now),
        None => database_now(c).await,
    }
}

/// Takes the most overdue job for `worker`, leased for `lease` from now on the database's clock.
pub async fn claim(
    db: &Db,
    worker: &str,
    clock: &dyn Clock,
    lease: TimeDelta,
) -> StoreResult<Claim> {
    let tx = db.begin().await?;
    let now = clock.now();
    let lease_now = lease_now(&tx, clock).await?;
    let lease_until = lease_now
        .checked_add_signed(lease)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut found: Option<Model> = None;
    for kind in claimable(now, lease_now) {
        let first = Entity::find()
            .filter(kind)
            .filter(first_of_its_request(now, lease_now))
            .order_by_asc(Column::RunAt)
            .order_by_asc(Column::Id)
            .limit(1)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&tx)
            .await?;
        found = match (found, first) {
            (Some(a), Some(b)) => Some(if (b.run_at, b.id) < (a.run_at, a.id) {
                b
            } else {
                a
            }),
            (a, b) => a.or(b),
        };
    }
    let Some(found) = found else {
        tx.commit().await?;
        return Ok(Claim::Nothing);
    };
    let abandoned =
        found.status == JobStatus::Running.as_str() && found.attempts >= found.max_attempts;
    let mut q = Entity::update_many().col_expr(Column::UpdatedAt, Expr::value(now));
    q = if abandoned {
        q.col_expr(Column::Status, Expr::value(JobStatus::Failed.as_str()))
            .col_expr(Column::FinishedAt, Expr::value(now))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(
                Column::LastError,
                Expr::value(format!(
                    "the worker running attempt {} stopped before finishing (crash or shutdown); no attempts left",
                    found.attempts
                )),
            )
    } else {
        q.col_expr(Column::Status, Expr::value(JobStatus::Running.as_str()))
            .col_expr(Column::Attempts, Expr::value(found.attempts + 1))
            .col_expr(Column::LeaseUntil, Expr::value(lease_until))
            .col_expr(Column::LockedBy, Expr::value(worker))
    };
    let res = q
        .filter(Column::Id.eq(found.id))
        .filter(Column::Attempts.eq(found.attempts))
        .filter(Column::Status.eq(found.status.as_str()))
        .exec(&tx)
        .await?;
    let job = Entity::find_by_id(found.id).one(&tx).await?;
    tx.commit().await?;
    match job {
        Some(job) if res.rows_affected == 1 => {
            let job = Job::try_from(job)?;
            Ok(if abandoned {
                Claim::Abandoned(job)
            } else {
                Claim::Job(job)
            })
        }
        // Another process won the race for this row (possible only without SKIP LOCKED).
        _ => Ok(Claim::Nothing),
    }
}

fn mine(id: i64, worker: &str) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id))
        .add(Column::LockedBy.eq(worker))
        .add(Column::Status.eq(JobStatus::Running.as_str()))
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
    let res = Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(until))
        .col_expr(Column::UpdatedAt, Expr::value(clock.now()))
        .filter(mine(id, worker))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Marks the job done. False when the worker no longer held it (its lease expired and another took it).
pub async fn complete(
    c: &impl Conn,
    id: i64,
    worker: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(JobStatus::Done.as_str()))
        .col_expr(Column::FinishedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::DedupeKey, Expr::value(Option::<String>::None))
        .filter(mine(id, worker))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
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
    let res = q.filter(mine(id, worker)).exec(c).await?;
    Ok(res.rows_affected == 1)
}

/// Gives up on the job: it stays `failed`, visible to admins, until someone retries it.
pub async fn fail(
    c: &impl Conn,
    id: i64,
    worker: &str,
    error: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(JobStatus::Failed.as_str()))
        .col_expr(Column::LastError, Expr::value(error))
        .col_expr(Column::FinishedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(mine(id, worker))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
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

/// When the worker next has something to do, on `clock`: the earliest queued job, or the
/// earliest lease to lapse (judged on the database's clock, and told in `clock`'s time).
pub async fn next_wakeup(c: &impl Conn, clock: &dyn Clock) -> StoreResult<Option<DateTime<Utc>>> {
    let queued = Entity::find()
        .filter(Column::Status.eq(JobStatus::Queued.as_str()))
        .order_by_asc(Column::RunAt)
        .one(c)
        .await?
        .map(|j| j.run_at);
    let lease = Entity::find()
        .filter(Column::Status.eq(JobStatus::Running.as_str()))
        .filter(Column::LeaseUntil.is_not_null())
        .order_by_asc(Column::LeaseUntil)
        .one(c)
        .await?
        .and_then(|j| j.lease_until);
    let lease = match lease {
        Some(until) => Some(clock.now() + (until - lease_now(c, clock).await?)),
        None => None,
    };
    Ok(match (queued, lease) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

pub async fn get(c: &impl Conn, id: i64) -> StoreResult<Option<Job>> {
    Entity::find_by_id(id)
        .one(c)
        .await?
        .map(Job::try_from)
        .transpose()
}

pub async fn list(c: &impl Conn, status: Option<JobStatus>) -> StoreResult<Vec<Job>> {
    let mut q = Entity::find();
    if let Some(s) = status {
        q = q.filter(Column::Status.eq(s.as_str()));
    }
    q.order_by_asc(Column::Id)
        .all(c)
        .await?
        .into_iter()
        .map(Job::try_from)
        .collect()
}

/// Queued jobs that have failed at least `attempts` times and are still being retried (the
/// ones that never give up, such as revocations).
pub async fn still_failing(c: &impl Conn, attempts: u32) -> StoreResult<Vec<Job>> {
    Entity::find()
        .filter(Column::Status.eq(JobStatus::Queued.as_str()))
        .filter(Column::Attempts.gte(i32::try_from(attempts).unwrap_or(i32::MAX)))
        .filter(Column::LastError.is_not_null())
        .order_by_asc(Column::Id)
        .all(c)
        .await?
        .into_iter()
        .map(Job::try_from)
        .collect()
}

pub async fn for_request(c: &impl Conn, request_id: i64) -> StoreResult<Vec<Job>> {
    Entity::find()
        .filter(Column::RequestId.eq(request_id))
        .order_by_asc(Column::Id)
        .all(c)
        .await?
        .into_iter()
        .map(Job::try_from)
        .collect()
}

pub async fn count(c: &impl Conn, status: JobStatus) -> StoreResult<u64> {
    Ok(Entity::find()
        .filter(Column::Status.eq(status.as_str()))
        .count(c)
        .await?)
}

/// Jobs due at `now` and not done (queued or running): how many, and since when the oldest is due.
pub async fn due(c: &impl Conn, now: DateTime<Utc>) -> StoreResult<(u64, Option<DateTime<Utc>>)> {
    let due = Condition::all()
        .add(Column::Status.is_in([JobStatus::Queued.as_str(), JobStatus::Running.as_str()]))
        .add(Column::RunAt.lte(now));
    let n = Entity::find().filter(due.clone()).count(c).await?;
    let oldest = Entity::find()
        .filter(due)
        .order_by_asc(Column::RunAt)
        .one(c)
        .await?
        .map(|j| j.run_at);
    Ok((n, oldest))
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
