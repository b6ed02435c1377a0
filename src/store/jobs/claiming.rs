//! Claiming a job: which jobs may be taken (due, or past their lease, and first of their
//! request's lane), and the claim itself, which leases the most overdue one to a worker or
//! fails one whose worker lost it on its last attempt.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Alias, Expr, LockBehavior, LockType, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::lease_clock::lease_now;
use super::{Job, JobStatus};
use crate::clock::Clock;
use crate::store::entities::jobs::{Column, Entity};
use crate::store::{Db, StoreResult};

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

/// How often a busy process also looks for jobs past their lease (see `claim`).
const LAPSED_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes the most overdue job for `worker`, leased for `lease` from now on the database's clock.
///
/// A job past its lease is looked for whenever no queued job is due, and otherwise at most every
/// `LAPSED_EVERY` in this process: under load that is one query fewer in most claims, and a dead
/// worker's job still runs again within a second. A clock that decides leases itself (a test's)
/// is always looked at, so that moving it lapses a lease at once, as it makes a job due.
pub async fn claim(
    db: &Db,
    worker: &str,
    clock: &dyn Clock,
    lease: TimeDelta,
) -> StoreResult<Claim> {
    if !anything_claimable(db, clock).await? {
        return Ok(Claim::Nothing);
    }
    let tx = db.begin().await?;
    let now = clock.now();
    let lease_now = lease_now(&tx, clock).await?;
    let lease_until = lease_now
        .checked_add_signed(lease)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let [due, lapsed] = claimable(now, lease_now);
    let first = |kind: Condition| {
        Entity::find()
            .filter(kind)
            .filter(first_of_its_request(now, lease_now))
            .order_by_asc(Column::RunAt)
            .order_by_asc(Column::Id)
            .limit(1)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    };
    let mut found = first(due).one(&tx).await?;
    if found.is_none() || clock.lease_now().is_some() || db.lapsed_due(LAPSED_EVERY) {
        found = match (found, first(lapsed).one(&tx).await?) {
            (Some(a), Some(b)) if (b.run_at, b.id) < (a.run_at, a.id) => Some(b),
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
            .col_expr(
                Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                Column::LastError,
                Expr::value(abandoned_error(found.attempts)),
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
    tx.commit().await?;
    if res.rows_affected != 1 {
        return Ok(Claim::Nothing);
    }
    // The row as the update left it, without reading it back.
    let mut job = found;
    job.updated_at = now;
    if abandoned {
        job.status = JobStatus::Failed.as_str().to_owned();
        job.finished_at = Some(now);
        job.lease_until = None;
        job.last_error = Some(abandoned_error(job.attempts));
    } else {
        job.status = JobStatus::Running.as_str().to_owned();
        job.attempts += 1;
        job.lease_until = Some(lease_until);
        job.locked_by = Some(worker.to_owned());
    }
    let job = Job::try_from(job)?;
    Ok(if abandoned {
        Claim::Abandoned(job)
    } else {
        Claim::Job(job)
    })
}

/// Whether any job is claimable now, asked of the read pool. Most looks under load find nothing
/// (the last of each drain, a worker woken for a job another took); on SQLite a claim's
/// transaction waits for the one writer, which a person's decision may be waiting on too, so a
/// look that finds nothing takes no turn. A job committed after this look is not lost: its
/// commit wakes a worker (or leaves the wake for the next to wait), as it would have anyway.
async fn anything_claimable(db: &Db, clock: &dyn Clock) -> StoreResult<bool> {
    let reads = db.reads();
    let now = clock.now();
    let lease_now = lease_now(reads, clock).await?;
    for kind in claimable(now, lease_now) {
        let found: Option<i64> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(kind)
            .filter(first_of_its_request(now, lease_now))
            .limit(1)
            .into_tuple()
            .one(reads)
            .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why a job whose worker lost it on its last attempt failed.
fn abandoned_error(attempts: i32) -> String {
    format!(
        "the worker running attempt {attempts} stopped before finishing (crash or shutdown); no attempts left"
    )
}
