//! Read-only questions about the queue: one job, lists of jobs, counts, what is due, and when
//! the worker next has something to do.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::lease_clock::lease_now;
use super::{Job, JobStatus};
use crate::clock::Clock;
use crate::store::entities::jobs::{Column, Entity};
use crate::store::{Conn, StoreResult, rows};

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
    rows::one(c, Entity::find_by_id(id)).await
}

pub async fn list(c: &impl Conn, status: Option<JobStatus>) -> StoreResult<Vec<Job>> {
    let mut q = Entity::find();
    if let Some(s) = status {
        q = q.filter(Column::Status.eq(s.as_str()));
    }
    rows::all(c, q.order_by_asc(Column::Id)).await
}

/// Queued jobs that have failed at least `attempts` times and are still being retried (the
/// ones that never give up, such as revocations).
pub async fn still_failing(c: &impl Conn, attempts: u32) -> StoreResult<Vec<Job>> {
    let query = Entity::find()
        .filter(Column::Status.eq(JobStatus::Queued.as_str()))
        .filter(Column::Attempts.gte(i32::try_from(attempts).unwrap_or(i32::MAX)))
        .filter(Column::LastError.is_not_null())
        .order_by_asc(Column::Id);
    rows::all(c, query).await
}

pub async fn for_request(c: &impl Conn, request_id: i64) -> StoreResult<Vec<Job>> {
    let query = Entity::find()
        .filter(Column::RequestId.eq(request_id))
        .order_by_asc(Column::Id);
    rows::all(c, query).await
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
