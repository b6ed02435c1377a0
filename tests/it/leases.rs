//! Leases are judged by the database's clock, whatever each process's clock says, and move with
//! a test's manual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use gatehouse::clock::{Clock, ManualClock, SystemClock};
use gatehouse::domain::RequestId;
use gatehouse::jobs::{self, JobError, JobSpec, Outcome, Runner, Worker, WorkerSettings};
use gatehouse::store::jobs::{Claim, Job, JobStatus};
use gatehouse::store::{self, Db};
use tokio::sync::Notify;

use crate::support::app::at;
use crate::support::{TestDb, backends};

async fn migrated(db: &TestDb) -> Db {
    let conn = db.connect().await;
    conn.migrate().await.unwrap();
    conn
}

async fn enqueue_one(db: &Db, clock: &dyn Clock, request: i64) -> i64 {
    let now = clock.now();
    let spec = JobSpec::Provision {
        request: RequestId::new(request),
    };
    jobs::enqueue(db.conn(), &spec, now, 3, now).await.unwrap()
}

async fn job(db: &Db, id: i64) -> Job {
    store::jobs::get(db.conn(), id).await.unwrap().unwrap()
}

/// Runs every job at once, and counts its runs.
#[derive(Default)]
struct Quick {
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl Runner for Quick {
    async fn run(&self, _spec: &JobSpec, _job: &Job) -> Result<Outcome, JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

/// A process whose own clock is set wrong: it believes it reads the wall clock.
struct Skewed(TimeDelta);

impl Clock for Skewed {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + self.0
    }
}

#[tokio::test]
async fn a_process_whose_clock_runs_ahead_does_not_take_over_a_live_lease() {
    for db in backends().await {
        let honest = SystemClock;
        let conn = migrated(&db).await;
        let id = enqueue_one(&conn, &honest, 1).await;
        let claim = store::jobs::claim(&conn, "honest-worker", &honest, TimeDelta::minutes(1))
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Job(_)), "{}", db.name);

        let runner = Arc::new(Quick::default());
        let ahead = Worker::new(
            db.connect().await,
            Arc::new(Skewed(TimeDelta::minutes(10))),
            runner.clone(),
            Arc::new(Notify::new()),
            WorkerSettings {
                max_attempts: 3,
                lease: Duration::from_secs(60),
                poll: Duration::from_secs(1),
            },
        );
        assert_eq!(
            ahead.run_due().await.unwrap(),
            0,
            "{}: the lease holds on the database's clock",
            db.name
        );
        assert_eq!(runner.runs.load(Ordering::SeqCst), 0);
        let j = job(&conn, id).await;
        assert_eq!(j.locked_by.as_deref(), Some("honest-worker"));
        // And a lease taken by a process whose clock runs behind is no shorter.
        let behind = Skewed(TimeDelta::minutes(-10));
        let id2 = enqueue_one(&conn, &behind, 2).await;
        let Claim::Job(held) =
            store::jobs::claim(&conn, "late-worker", &behind, TimeDelta::minutes(1))
                .await
                .unwrap()
        else {
            panic!("{}: the second job is claimed", db.name);
        };
        assert_eq!(held.id, id2);
        let until = held.lease_until.unwrap();
        assert!(
            until > honest.now() + TimeDelta::seconds(50),
            "{}: leased a minute from the database's now, not from the late clock's: {until}",
            db.name
        );
        conn.close().await.unwrap();
        db.close().await;
    }
}

#[tokio::test]
async fn a_lease_lapses_when_the_manual_clock_passes_it() {
    // Tests move time by hand; leases, judged on the database's clock, move with it.
    for db in backends().await {
        let clock = ManualClock::new(at(2026, 11, 28, 9, 0));
        let conn = migrated(&db).await;
        let id = enqueue_one(&conn, &clock, 1).await;
        let claim = store::jobs::claim(&conn, "stalled", &clock, TimeDelta::minutes(5))
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Job(_)));
        let w = Worker::new(
            conn.clone(),
            Arc::new(clock.clone()),
            Arc::new(Quick::default()),
            Arc::new(Notify::new()),
            WorkerSettings {
                max_attempts: 3,
                lease: Duration::from_secs(60),
                poll: Duration::from_secs(1),
            },
        );
        assert_eq!(
            w.run_due().await.unwrap(),
            0,
            "{}: the lease holds",
            db.name
        );
        clock.advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
        assert_eq!(w.run_due().await.unwrap(), 1, "{}: taken over", db.name);
        let j = job(&conn, id).await;
        assert_eq!((j.status, j.attempts), (JobStatus::Done, 2), "{}", db.name);
        conn.close().await.unwrap();
        db.close().await;
    }
}
