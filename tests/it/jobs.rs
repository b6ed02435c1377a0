//! The durable job queue under concurrency: several workers, one database, each job once; and
//! jobs that repeat on their own keep their time across restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use gatehouse::clock::{Clock, ManualClock, SharedClock, SystemClock};
use gatehouse::domain::{ConnectorId, RequestId};
use gatehouse::jobs::{self, JobError, JobSpec, Outcome, Runner, Worker, WorkerSettings};
use gatehouse::store::jobs::{Job, JobStatus};
use gatehouse::store::{self, Db};
use gatehouse::workflow::Audience;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::support::app::{CATALOG, config_for};
use crate::support::platform::FakePlatform;
use crate::support::{TestApp, backends, queue};

/// Counts how often each job ran, and by which worker.
#[derive(Default)]
struct Counter {
    runs: Mutex<HashMap<i64, Vec<String>>>,
}

struct CountingRunner {
    counter: Arc<Counter>,
    name: String,
}

#[async_trait::async_trait]
impl Runner for CountingRunner {
    async fn run(&self, _spec: &JobSpec, job: &Job) -> Result<Outcome, JobError> {
        self.counter
            .runs
            .lock()
            .unwrap()
            .entry(job.id)
            .or_default()
            .push(self.name.clone());
        // A little work, so that the workers really overlap.
        tokio::task::yield_now().await;
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

fn worker(db: Db, clock: SharedClock, counter: &Arc<Counter>, name: &str) -> Worker {
    let runner = Arc::new(CountingRunner {
        counter: counter.clone(),
        name: name.to_owned(),
    });
    queue::worker(db, clock, runner, Duration::from_millis(50))
}

#[tokio::test]
async fn two_workers_on_one_database_run_each_of_1000_jobs_exactly_once() {
    for db in backends().await {
        let clock: SharedClock = Arc::new(SystemClock);
        let setup = db.migrated().await;
        let now = clock.now();
        queue::provisions(&setup, 1000, now).await;

        let counter = Arc::new(Counter::default());
        // Each worker has its own pool, as two processes would.
        let a = worker(db.connect().await, clock.clone(), &counter, "a");
        let b = worker(db.connect().await, clock.clone(), &counter, "b");
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { a.run_due().await }),
            tokio::spawn(async move { b.run_due().await })
        );
        let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
        assert_eq!(ra + rb, 1000, "{}", db.name);

        let runs = counter.runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 1000);
        let doubled: Vec<_> = runs.iter().filter(|(_, by)| by.len() != 1).collect();
        assert!(
            doubled.is_empty(),
            "{}: ran more than once: {doubled:?}",
            db.name
        );
        if db.name == "postgres" {
            // With SKIP LOCKED both really took part.
            assert!(ra > 0 && rb > 0, "a ran {ra}, b ran {rb}");
        }
        assert_eq!(
            store::jobs::count(setup.conn(), JobStatus::Done)
                .await
                .unwrap(),
            1000
        );
        setup.close().await.unwrap();
        db.close().await;
    }
}

#[tokio::test]
async fn a_background_worker_sleeps_until_woken_and_stops_on_shutdown() {
    for db in backends().await {
        let clock: SharedClock = Arc::new(SystemClock);
        let conn = db.migrated().await;
        let counter = Arc::new(Counter::default());
        let wake = Arc::new(Notify::new());
        let w = Worker::new(
            conn.clone(),
            clock.clone(),
            Arc::new(CountingRunner {
                counter: counter.clone(),
                name: "bg".into(),
            }),
            wake.clone(),
            WorkerSettings::new(
                3,
                Duration::from_secs(60),
                // Long enough that only the wake-up can explain a prompt run.
                Duration::from_secs(600),
            ),
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(w.run(stop.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;

        let now = clock.now();
        jobs::enqueue(
            conn.conn(),
            &JobSpec::Revoke {
                request: RequestId::new(7),
            },
            now,
            3,
            now,
        )
        .await
        .unwrap();
        wake.notify_one();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while counter.runs.lock().unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: the woken worker never ran the job",
                db.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("worker stops promptly")
            .unwrap();
        conn.close().await.unwrap();
        db.close().await;
    }
}

#[tokio::test]
async fn enqueueing_a_keyed_job_again_moves_it_instead_of_adding_one() {
    for db in backends().await {
        let conn = db.migrated().await;
        let clock = SystemClock;
        let now = clock.now();
        let spec = JobSpec::Revoke {
            request: RequestId::new(3),
        };
        let first = jobs::enqueue(conn.conn(), &spec, now + chrono::Duration::hours(8), 3, now)
            .await
            .unwrap();
        let second = jobs::enqueue(
            conn.conn(),
            &spec,
            now + chrono::Duration::hours(10),
            3,
            now,
        )
        .await
        .unwrap();
        assert_eq!(first, second);
        let all = store::jobs::list(conn.conn(), None).await.unwrap();
        assert_eq!(all.len(), 1, "{}", db.name);
        assert_eq!(all[0].run_at, now + chrono::Duration::hours(10));
        conn.close().await.unwrap();
        db.close().await;
    }
}

/// Panics on its first run of each job, then succeeds.
struct FlakyRunner {
    seen: Mutex<std::collections::HashSet<i64>>,
}

#[async_trait::async_trait]
impl Runner for FlakyRunner {
    async fn run(&self, _spec: &JobSpec, job: &Job) -> Result<Outcome, JobError> {
        let first = self.seen.lock().unwrap().insert(job.id);
        assert!(!first, "a bug in a job");
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_job_that_panics_is_retried_and_the_worker_carries_on() {
    for db in backends().await {
        let conn = db.migrated().await;
        let clock = gatehouse::clock::ManualClock::new(
            chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        );
        queue::provisions(&conn, 2, clock.now()).await;
        let runner = Arc::new(FlakyRunner {
            seen: Mutex::default(),
        });
        let w = queue::worker(
            conn.clone(),
            Arc::new(clock.clone()),
            runner,
            Duration::from_secs(1),
        );
        assert_eq!(
            w.run_due().await.unwrap(),
            2,
            "{}: both jobs were tried",
            db.name
        );
        let queued = store::jobs::list(conn.conn(), Some(JobStatus::Queued))
            .await
            .unwrap();
        assert_eq!(queued.len(), 2);
        assert!(
            queued[0]
                .last_error
                .as_deref()
                .unwrap()
                .starts_with("the job crashed"),
            "{:?}",
            queued[0].last_error
        );
        clock.advance(chrono::Duration::minutes(1));
        assert_eq!(w.run_due().await.unwrap(), 2);
        assert_eq!(
            store::jobs::count(conn.conn(), JobStatus::Done)
                .await
                .unwrap(),
            2
        );
        conn.close().await.unwrap();
        db.close().await;
    }
}

/// The message to `audience` that `request` was approved: a job in a lane of its own.
fn approved_notice(request: RequestId, audience: Audience) -> JobSpec {
    JobSpec::Notify {
        request,
        notice: gatehouse::workflow::Notice::Approved,
        audience,
    }
}

/// Records, per request and lane, which of its jobs ran, in what order, and whether two
/// overlapped; and counts the runs begun, so that each run can wait for the next to begin.
struct PerRequest {
    running: Mutex<HashMap<(i64, String), i64>>,
    order: Mutex<HashMap<(i64, String), Vec<i64>>>,
    overlaps: Mutex<Vec<(i64, i64, i64)>>,
    begun: tokio::sync::watch::Sender<usize>,
}

impl Default for PerRequest {
    fn default() -> Self {
        PerRequest {
            running: Mutex::default(),
            order: Mutex::default(),
            overlaps: Mutex::default(),
            begun: tokio::sync::watch::channel(0).0,
        }
    }
}

struct OrderRunner(Arc<PerRequest>);

#[async_trait::async_trait]
impl Runner for OrderRunner {
    async fn run(&self, _spec: &JobSpec, job: &Job) -> Result<Outcome, JobError> {
        let Some(request) = job.request_id else {
            return Ok(Outcome::Done);
        };
        let lane = (request, job.lane.clone());
        if let Some(other) = self.0.running.lock().unwrap().insert(lane.clone(), job.id) {
            self.0
                .overlaps
                .lock()
                .unwrap()
                .push((request, other, job.id));
        }
        self.0
            .order
            .lock()
            .unwrap()
            .entry(lane.clone())
            .or_default()
            .push(job.id);
        // Hold the run until another worker has claimed and begun a job: the claim of this
        // request's next job of the lane, were it not held back, happens while this one runs.
        // Near the end nothing else may be claimable; then a tenth of a second is enough.
        let mut begun = 0;
        self.0.begun.send_modify(|n| {
            *n += 1;
            begun = *n;
        });
        let mut next = self.0.begun.subscribe();
        let _ =
            tokio::time::timeout(Duration::from_millis(100), next.wait_for(|n| *n > begun)).await;
        self.0.running.lock().unwrap().remove(&lane);
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

#[tokio::test]
async fn four_workers_run_a_requests_jobs_one_at_a_time_and_in_order_within_each_lane() {
    for db in backends().await {
        let clock: SharedClock = Arc::new(SystemClock);
        let setup = db.migrated().await;
        // Five jobs for each of 20 requests, queued request by request, all due now.
        let specs = (1..=20).map(RequestId::new).flat_map(|request| {
            [
                JobSpec::Provision { request },
                JobSpec::Remind { request },
                JobSpec::Lapse { request },
                JobSpec::Revoke { request },
                approved_notice(request, Audience::Requester),
            ]
        });
        queue::enqueue_all(&setup, specs, clock.now()).await;

        let seen = Arc::new(PerRequest::default());
        let mut handles = Vec::new();
        for _ in 0..4 {
            let w = queue::worker(
                db.connect().await,
                clock.clone(),
                Arc::new(OrderRunner(seen.clone())),
                Duration::from_millis(50),
            );
            handles.push(tokio::spawn(async move { w.run_due().await.unwrap() }));
        }
        let mut ran = Vec::new();
        for h in handles {
            ran.push(h.await.unwrap());
        }
        // A worker that finds only blocked jobs stops early: run the rest through one of them.
        let last = queue::worker(
            db.connect().await,
            clock.clone(),
            Arc::new(OrderRunner(seen.clone())),
            Duration::from_millis(50),
        );
        let rest = last.run_due().await.unwrap();
        assert_eq!(ran.iter().sum::<usize>() + rest, 100, "{}", db.name);
        assert!(
            ran.iter().filter(|n| **n > 0).count() > 1,
            "{}: the workers shared the work: {ran:?}",
            db.name
        );

        let overlaps = seen.overlaps.lock().unwrap().clone();
        assert!(
            overlaps.is_empty(),
            "{}: two jobs of one request's lane ran at once: {overlaps:?}",
            db.name
        );
        for (request, order) in seen.order.lock().unwrap().iter() {
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(
                order, &sorted,
                "{}: request {request:?} out of order",
                db.name
            );
            // The four platform jobs in one lane, the requester's DM in its own.
            let expected = if request.1.is_empty() { 4 } else { 1 };
            assert_eq!(order.len(), expected, "{request:?}");
        }
        setup.close().await.unwrap();
        db.close().await;
    }
}

/// A platform connector, so that the app schedules its reconciliation (the fake platform stands in).
const WITH_WAREHOUSE: &str = r#"
[connectors.warehouse]
kind = "postgres"
url = { env = "UNUSED_BY_THE_FAKE_PLATFORM" }
"#;

async fn reconcile_job(db: &Db) -> Job {
    store::jobs::list(db.conn(), None)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.kind == "reconcile")
        .expect("a reconcile job")
}

#[tokio::test]
async fn a_restart_does_not_push_the_next_reconciliation_back() {
    for db in backends().await {
        let catalog = format!("{}{WITH_WAREHOUSE}", *CATALOG);
        let first = TestApp::start_with(&db, &catalog).await;
        let start = first.clock.now();
        let queued = reconcile_job(first.app.db()).await;
        assert_eq!(queued.run_at, start + TimeDelta::hours(1), "{}", db.name);
        first.stop().await;

        // Half an hour later, the app starts again on the same database.
        let clock = ManualClock::new(start + TimeDelta::minutes(30));
        let mut opts = gatehouse::AppOptions::new(Arc::new(FakePlatform::default()));
        opts.clock = Arc::new(clock.clone());
        opts.background_worker = false;
        let again = gatehouse::App::start(config_for(&db, &catalog, &[]), opts)
            .await
            .unwrap();
        let kept = reconcile_job(again.db()).await;
        assert_eq!(kept.id, queued.id);
        assert_eq!(
            kept.run_at, queued.run_at,
            "{}: still due an hour after the first start",
            db.name
        );

        // A shorter interval (a new setting at a restart) takes effect at once.
        let warehouse = ConnectorId::parse("warehouse").unwrap();
        again
            .workflow()
            .schedule_reconciliation(&[warehouse], Duration::from_secs(10 * 60))
            .await
            .unwrap();
        let sooner = reconcile_job(again.db()).await;
        assert_eq!(sooner.run_at, clock.now() + TimeDelta::minutes(10));

        // When it is due, it runs, and the next one is an interval after that run.
        clock.advance(TimeDelta::minutes(10));
        again.run_due_jobs().await.unwrap();
        let next = reconcile_job(again.db()).await;
        assert_eq!(next.status, JobStatus::Queued);
        assert_eq!(
            next.run_at,
            clock.now() + TimeDelta::hours(1),
            "{}",
            db.name
        );
        again.shutdown().await;
        db.close().await;
    }
}

/// Holds every grant until the requester's DM and the card of its request were delivered.
struct GrantAfterMessages {
    delivered: Arc<Notify>,
    messages: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl Runner for GrantAfterMessages {
    async fn run(&self, spec: &JobSpec, _job: &Job) -> Result<Outcome, JobError> {
        match spec {
            JobSpec::Provision { .. } => {
                while self.messages.load(std::sync::atomic::Ordering::SeqCst) < 2 {
                    self.delivered.notified().await;
                }
            }
            _ => {
                self.messages
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                self.delivered.notify_waiters();
            }
        }
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _spec: &JobSpec, _job: &Job, _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

/// The grant, queued first, is slow: the requester's DM and the card, queued after it, are
/// delivered meanwhile instead of waiting behind it (as they did when a request's jobs ran
/// one at a time).
#[tokio::test]
async fn a_requests_dm_and_card_do_not_wait_behind_its_grant() {
    for db in backends().await {
        let clock: SharedClock = Arc::new(SystemClock);
        let setup = db.migrated().await;
        let request = RequestId::new(1);
        let specs = [
            JobSpec::Provision { request },
            approved_notice(request, Audience::Requester),
            approved_notice(request, Audience::Channel),
        ];
        queue::enqueue_all(&setup, specs, clock.now()).await;

        let runner = Arc::new(GrantAfterMessages {
            delivered: Arc::new(Notify::new()),
            messages: Arc::default(),
        });
        let mut handles = Vec::new();
        for _ in 0..3 {
            let w = queue::worker(
                db.connect().await,
                clock.clone(),
                runner.clone(),
                Duration::from_millis(50),
            );
            handles.push(tokio::spawn(async move {
                // Each worker comes back for what became due while it ran.
                let mut n = 0;
                for _ in 0..20 {
                    n += w.run_due().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                n
            }));
        }
        let ran = tokio::time::timeout(Duration::from_secs(20), async {
            let mut ran = 0;
            for h in handles {
                ran += h.await.unwrap();
            }
            ran
        })
        .await
        .expect("the grant is not waited for by the messages queued after it");
        assert_eq!(ran, 3, "{}", db.name);
        setup.close().await.unwrap();
        db.close().await;
    }
}

/// Claims decide the order, whatever the timing: while a request's grant runs, its revocation
/// (same lane) cannot be claimed by anyone, its requester's DM (another lane) can; once the
/// grant is done, the revocation is next.
#[tokio::test]
async fn a_running_job_holds_back_its_lane_and_only_its_lane() {
    for db in backends().await {
        let clock: SharedClock = Arc::new(SystemClock);
        let conn = db.migrated().await;
        let request = RequestId::new(7);
        let specs = [
            JobSpec::Provision { request },
            JobSpec::Revoke { request },
            approved_notice(request, Audience::Requester),
        ];
        queue::enqueue_all(&conn, specs, clock.now()).await;
        let lease = TimeDelta::seconds(60);
        let claim = |who: &'static str| {
            let conn = conn.clone();
            async move {
                match store::jobs::claim(&conn, who, &SystemClock, lease)
                    .await
                    .unwrap()
                {
                    store::jobs::Claim::Job(job) => Some(job),
                    _ => None,
                }
            }
        };
        let grant = claim("w1").await.expect("the grant, queued first");
        assert_eq!(grant.kind, "provision", "{}", db.name);
        let dm = claim("w2").await.expect("the DM, in its own lane");
        assert_eq!(dm.kind, "notify", "{}", db.name);
        assert!(
            claim("w3").await.is_none(),
            "{}: the revocation waits while the grant runs",
            db.name
        );
        assert!(
            store::jobs::complete(conn.conn(), grant.id, "w1", clock.now())
                .await
                .unwrap()
        );
        let next = claim("w3")
            .await
            .expect("the revocation, once the grant is done");
        assert_eq!(next.kind, "revoke", "{}", db.name);
        conn.close().await.unwrap();
        db.close().await;
    }
}

/// An idle worker's look for work does not queue behind a write in progress. On SQLite every
/// write transaction waits for the one writer, and most looks under load find nothing (the last
/// of each drain, a worker woken for a job another took): those must not hold up a decision.
#[tokio::test]
async fn a_worker_that_finds_nothing_to_do_does_not_wait_for_a_write_in_progress() {
    for db in backends().await {
        let conn = db.migrated().await;
        let clock = SystemClock;
        let lease = TimeDelta::seconds(60);
        // A decision's transaction, still open (on SQLite: the writer is taken).
        let open = conn.begin().await.unwrap();
        let look = tokio::time::timeout(
            Duration::from_secs(5),
            store::jobs::claim(&conn, "idle", &clock, lease),
        )
        .await;
        assert!(
            matches!(look, Ok(Ok(store::jobs::Claim::Nothing))),
            "{}: nothing to do, said at once: {look:?}",
            db.name
        );
        drop(open);
        // A job there is still claimed, by the one worker that asks.
        let now = clock.now();
        let request = RequestId::new(7);
        jobs::enqueue(conn.conn(), &JobSpec::Provision { request }, now, 3, now)
            .await
            .unwrap();
        let claimed = store::jobs::claim(&conn, "idle", &clock, lease)
            .await
            .unwrap();
        assert!(
            matches!(&claimed, store::jobs::Claim::Job(j) if j.request_id == Some(7)),
            "{}: {claimed:?}",
            db.name
        );
        let again = store::jobs::claim(&conn, "other", &clock, lease)
            .await
            .unwrap();
        assert!(
            matches!(again, store::jobs::Claim::Nothing),
            "{}: {again:?}",
            db.name
        );
        conn.close().await.unwrap();
        db.close().await;
    }
}
