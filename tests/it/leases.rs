//! Jobs that can neither run twice nor hang: a slow job keeps its lease while it runs, a job past
//! its deadline is stopped and retried, a run whose job was taken over stops, and leases are
//! judged by the database's clock whatever each process's clock says.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use gatehouse::clock::{Clock, ManualClock, SharedClock, SystemClock};
use gatehouse::domain::RequestId;
use gatehouse::jobs::{self, JobError, JobSpec, Outcome, Runner, Worker, WorkerSettings};
use gatehouse::store::jobs::{Claim, Job, JobStatus};
use gatehouse::store::{self, Db};
use sea_orm::ConnectionTrait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::support::app::at;
use crate::support::slack::eventually;
use crate::support::{TestDb, backends, queue};

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
        let conn = db.migrated().await;
        let id = enqueue_one(&conn, &honest, 1).await;
        let claim = store::jobs::claim(&conn, "honest-worker", &honest, TimeDelta::minutes(1))
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Job(_)), "{}", db.name);

        let runner = Arc::new(Quick::default());
        let ahead = queue::worker(
            db.connect().await,
            Arc::new(Skewed(TimeDelta::minutes(10))),
            runner.clone(),
            Duration::from_secs(1),
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
    // Tests move time by hand: a manual clock decides leases too, so they lapse as it passes them.
    for db in backends().await {
        let clock = ManualClock::new(at(2026, 11, 28, 9, 0));
        let conn = db.migrated().await;
        let id = enqueue_one(&conn, &clock, 1).await;
        let claim = store::jobs::claim(&conn, "stalled", &clock, TimeDelta::minutes(5))
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Job(_)));
        let w = queue::worker(
            conn.clone(),
            Arc::new(clock.clone()),
            Arc::new(Quick::default()),
            Duration::from_secs(1),
        );
        assert_eq!(
            w.run_due().await.unwrap(),
            0,
            "{}: the lease holds",
            db.name
        );
        clock.advance(TimeDelta::minutes(5));
        assert_eq!(
            w.run_due().await.unwrap(),
            0,
            "{}: it holds to its last instant, every time",
            db.name
        );
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(w.run_due().await.unwrap(), 1, "{}: taken over", db.name);
        let j = job(&conn, id).await;
        assert_eq!((j.status, j.attempts), (JobStatus::Done, 2), "{}", db.name);
        conn.close().await.unwrap();
        db.close().await;
    }
}

/// A job's lease when its run began, and as its work ended.
type Leases = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Stands in for a platform: counts its calls, takes `work` for each, and notes the lease the
/// job had when it began and the lease it has as the work ends.
struct SlowPlatform {
    calls: AtomicUsize,
    work: Duration,
    db: Db,
    leases: Mutex<Vec<Leases>>,
}

#[async_trait::async_trait]
impl Runner for SlowPlatform {
    async fn run(&self, _spec: &JobSpec, job: &Job) -> Result<Outcome, JobError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.work).await;
        let now = store::jobs::get(self.db.conn(), job.id)
            .await
            .map_err(JobError::from)?
            .and_then(|j| j.lease_until);
        self.leases.lock().unwrap().push((job.lease_until, now));
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_job_slower_than_its_lease_keeps_it_and_runs_once_with_two_workers() {
    for db in backends().await {
        let clock: SharedClock = Arc::new(SystemClock);
        let setup = db.migrated().await;
        let id = enqueue_one(&setup, &*clock, 1).await;
        // Short, but with room for a renewal (every 0.5 s) held up on a busy machine.
        let lease = Duration::from_millis(1500);
        let platform = Arc::new(SlowPlatform {
            calls: AtomicUsize::new(0),
            // Well past the lease: without renewal the other worker would take the job over.
            work: Duration::from_millis(3500),
            db: db.connect().await,
            leases: Mutex::default(),
        });
        let settings = WorkerSettings {
            max_attempts: 3,
            lease,
            // Longer than the lease here, so that only renewing can keep the job.
            deadline: Duration::from_secs(20),
            poll: Duration::from_millis(50),
        };
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        for _ in 0..2 {
            // Each worker has its own pool, as two processes would.
            let w = Worker::new(
                db.connect().await,
                clock.clone(),
                platform.clone(),
                Arc::new(Notify::new()),
                settings.clone(),
            );
            tasks.push(tokio::spawn(w.run(stop.clone())));
        }
        // Until it ends, or a second run shows the lease was lost.
        let done = eventually("the slow job to end", 20, || async {
            let j = job(&setup, id).await;
            let ended = matches!(j.status, JobStatus::Done | JobStatus::Failed);
            (ended || platform.calls.load(Ordering::SeqCst) > 1).then_some(j)
        })
        .await;
        stop.cancel();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("workers stop")
                .unwrap();
        }
        assert_eq!(
            platform.calls.load(Ordering::SeqCst),
            1,
            "{}: the platform was called once",
            db.name
        );
        assert_eq!(done.attempts, 1, "{}: {done:?}", db.name);
        let leases = platform.leases.lock().unwrap().clone();
        let [(Some(claimed), Some(last))] = leases[..] else {
            panic!("{}: one run that saw its lease: {leases:?}", db.name);
        };
        assert!(
            last > claimed + TimeDelta::milliseconds(1500),
            "{}: the lease was renewed while the job ran: claimed until {claimed}, then {last}",
            db.name
        );
        platform.db.clone().close().await.unwrap();
        setup.close().await.unwrap();
        db.close().await;
    }
}

/// Never finishes; notes when its run is dropped (stopped).
struct Hanging {
    started: AtomicUsize,
    stopped: Arc<AtomicBool>,
}

struct OnDrop(Arc<AtomicBool>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Runner for Hanging {
    async fn run(&self, _spec: &JobSpec, _job: &Job) -> Result<Outcome, JobError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let _noted = OnDrop(self.stopped.clone());
        std::future::pending::<()>().await;
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

/// One job queued on a fresh database, and a worker of its own pool (as another process's)
/// about to run it with a `Hanging` runner under `lease` and `deadline`.
struct HangingJob {
    conn: Db,
    clock: SharedClock,
    id: i64,
    runner: Arc<Hanging>,
    worker: Worker,
}

async fn hanging_job(db: &TestDb, lease: Duration, deadline: Duration) -> HangingJob {
    let clock: SharedClock = Arc::new(SystemClock);
    let conn = db.migrated().await;
    let id = enqueue_one(&conn, &*clock, 1).await;
    let runner = Arc::new(Hanging {
        started: AtomicUsize::new(0),
        stopped: Arc::new(AtomicBool::new(false)),
    });
    let settings = WorkerSettings {
        max_attempts: 3,
        lease,
        deadline,
        poll: Duration::from_secs(1),
    };
    let worker = Worker::new(
        db.connect().await,
        clock.clone(),
        runner.clone(),
        Arc::new(Notify::new()),
        settings,
    );
    HangingJob {
        conn,
        clock,
        id,
        runner,
        worker,
    }
}

#[tokio::test]
async fn a_job_past_its_deadline_is_stopped_and_fails_retryably_without_hanging_the_worker() {
    for db in backends().await {
        let HangingJob {
            conn,
            clock,
            id,
            runner,
            worker: w,
        } = hanging_job(&db, Duration::from_secs(5), Duration::from_millis(250)).await;
        let ran = tokio::time::timeout(Duration::from_secs(10), w.run_due())
            .await
            .expect("the worker is not held by the hanging job")
            .unwrap();
        assert_eq!(ran, 1, "{}", db.name);
        assert_eq!(runner.started.load(Ordering::SeqCst), 1);
        eventually("the hanging run to be stopped", 5, || async {
            runner.stopped.load(Ordering::SeqCst).then_some(())
        })
        .await;
        let j = job(&conn, id).await;
        assert_eq!(
            j.status,
            JobStatus::Queued,
            "{}: retried later: {j:?}",
            db.name
        );
        assert_eq!(j.attempts, 1);
        assert_eq!(
            j.last_error.as_deref(),
            Some("the job did not finish within 0.25 s"),
            "{}",
            db.name
        );
        assert!(
            j.run_at > clock.now(),
            "{}: after a backoff: {j:?}",
            db.name
        );
        assert_eq!(j.locked_by, None);
        conn.close().await.unwrap();
        db.close().await;
    }
}

#[tokio::test]
async fn a_run_whose_job_was_taken_over_stops_and_writes_nothing() {
    for db in backends().await {
        let HangingJob {
            conn,
            id,
            runner,
            worker: w,
            ..
        } = hanging_job(&db, Duration::from_millis(600), Duration::from_secs(30)).await;
        let run = tokio::spawn(async move { w.run_due().await });
        eventually("the job to start", 10, || async {
            (runner.started.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;
        // As if this worker had stalled past its lease and another had claimed the job.
        conn.conn()
            .execute_unprepared(&format!(
                "UPDATE jobs SET locked_by = 'another-worker' WHERE id = {id}"
            ))
            .await
            .unwrap();
        let ran = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the run stops at its next renewal, long before its deadline")
            .unwrap()
            .unwrap();
        assert_eq!(ran, 1, "{}", db.name);
        assert!(runner.stopped.load(Ordering::SeqCst), "{}", db.name);
        let j = job(&conn, id).await;
        assert_eq!(j.status, JobStatus::Running, "{}: {j:?}", db.name);
        assert_eq!(j.locked_by.as_deref(), Some("another-worker"));
        assert_eq!(j.last_error, None, "the other worker's run decides");
        conn.close().await.unwrap();
        db.close().await;
    }
}
