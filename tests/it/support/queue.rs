//! The job queue as the tests (and the foundation benchmark, by `#[path]`) drive it: workers
//! with three attempts and a one-minute lease, and provision jobs queued in bulk.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse::clock::SharedClock;
use gatehouse::domain::RequestId;
use gatehouse::jobs::{self, JobSpec, Runner, Worker, WorkerSettings};
use gatehouse::store::Db;
use tokio::sync::Notify;

/// A worker on `db` running jobs with `runner` by `clock`: three attempts, a one-minute lease,
/// and `poll` between looks at an idle queue.
pub fn worker(db: Db, clock: SharedClock, runner: Arc<dyn Runner>, poll: Duration) -> Worker {
    let settings = WorkerSettings::new(3, Duration::from_secs(60), poll);
    Worker::new(db, clock, runner, Arc::new(Notify::new()), settings)
}

/// Queues a provision job due `now` for each of requests 1 to `n`, in one transaction.
pub async fn provisions(db: &Db, n: i64, now: DateTime<Utc>) {
    let specs = (1..=n).map(|i| JobSpec::Provision {
        request: RequestId::new(i),
    });
    enqueue_all(db, specs, now).await;
}

/// Queues `specs` in their order, each due `now` with three attempts, in one transaction (as
/// the workflow queues a decision's jobs).
pub async fn enqueue_all(db: &Db, specs: impl IntoIterator<Item = JobSpec>, now: DateTime<Utc>) {
    let tx = db.begin().await.unwrap();
    for spec in specs {
        jobs::enqueue(&tx, &spec, now, 3, now).await.unwrap();
    }
    tx.commit().await.unwrap();
}
