//! Foundation benchmark: how fast the job queue drains, how many requests a second go through
//! their whole life, and how fast `audit verify` reads the chain — on SQLite, and on PostgreSQL
//! when GATEHOUSE_TEST_POSTGRES_URL names a server. Prints a table; asserts nothing.
//!
//! Run: `cargo bench --bench foundation` (add GATEHOUSE_TEST_POSTGRES_URL for PostgreSQL).
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot go on should stop"
)]

mod common;
// The tests' queue helpers: the same workers and bulk-queued jobs the job tests use.
#[path = "../tests/it/support/queue.rs"]
mod queue;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::clock::{ManualClock, SharedClock};
use gatehouse::config::{Catalog, Config, Settings};
use gatehouse::domain::SlackUserId;
use gatehouse::jobs::{JobError, JobSpec, Outcome, Runner};
use gatehouse::store::Db;
use gatehouse::store::jobs::Job;
use gatehouse::workflow::{Applied, ExternalError, Provisioner, Target, Undo};
use gatehouse::{App, AppOptions};

struct Noop;

#[async_trait::async_trait]
impl Runner for Noop {
    async fn run(&self, _: &JobSpec, _: &Job) -> Result<Outcome, JobError> {
        Ok(Outcome::Done)
    }
    async fn gave_up(&self, _: &JobSpec, _: &Job, _: &str) -> Result<(), JobError> {
        Ok(())
    }
}

struct AlwaysSucceeds;

#[async_trait::async_trait]
impl Provisioner for AlwaysSucceeds {
    async fn grant(&self, target: Target<'_>) -> Result<Applied, ExternalError> {
        Ok(common::applied(&target, "granted"))
    }
    async fn revoke(&self, target: Target<'_>, _: Undo<'_>) -> Result<Applied, ExternalError> {
        Ok(common::applied(&target, "revoked"))
    }
}

/// A fresh database URL per measurement.
async fn fresh(backend: &str, n: usize) -> (String, Option<tempfile::TempDir>) {
    let name = format!("gatehouse_test_bench_{}_{n}", std::process::id());
    common::fresh(backend, &name).await
}

async fn queue_drain(url: &str, jobs_n: i64, workers: usize) -> f64 {
    let clock: SharedClock = Arc::new(gatehouse::clock::SystemClock);
    let db = Db::connect(url).await.unwrap();
    db.migrate().await.unwrap();
    let now = clock.now();
    queue::provisions(&db, jobs_n, now).await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let db = Db::connect(url).await.unwrap();
        let w = queue::worker(db, clock.clone(), Arc::new(Noop), Duration::from_secs(1));
        tasks.push(tokio::spawn(async move { w.run_due().await.unwrap() }));
    }
    let mut ran = 0;
    for t in tasks {
        ran += t.await.unwrap();
    }
    assert_eq!(ran as i64, jobs_n);
    jobs_n as f64 / start.elapsed().as_secs_f64()
}

async fn lifecycles(url: &str, n: usize) -> (f64, f64) {
    let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
    let settings =
        Settings::from_lookup(&|k| (k == "DATABASE_URL").then(|| url.to_owned())).unwrap();
    let catalog = Catalog::parse(Path::new("bench.toml"), common::CATALOG).unwrap();
    let mut opts = AppOptions::new(Arc::new(AlwaysSucceeds));
    opts.clock = Arc::new(clock.clone());
    opts.background_worker = false;
    let app = App::start(Config { settings, catalog }, opts)
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..n {
        let who = SlackUserId::parse(&format!("U{i:08}")).unwrap();
        common::approved_hour(&app, &who).await;
        app.run_due_jobs().await.unwrap();
    }
    clock.advance(chrono::Duration::hours(2));
    app.run_due_jobs().await.unwrap();
    let per_second = n as f64 / start.elapsed().as_secs_f64();
    let verify_start = Instant::now();
    let verdict = gatehouse::audit::verify(app.db()).await.unwrap();
    let rows = match verdict {
        gatehouse::audit::Verdict::Intact { rows, .. } => rows,
        broken => panic!("{broken}"),
    };
    let rows_per_second = rows as f64 / verify_start.elapsed().as_secs_f64();
    app.shutdown().await;
    (per_second, rows_per_second)
}

#[tokio::main]
async fn main() {
    let mut backends = vec!["sqlite"];
    if std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok() {
        backends.push("postgres");
    } else {
        eprintln!("note: PostgreSQL skipped; set GATEHOUSE_TEST_POSTGRES_URL to include it");
    }
    println!(
        "| backend | queue drain, 1 worker | queue drain, 2 workers | whole lifecycles | audit verify |"
    );
    println!("|---|---|---|---|---|");
    for (i, b) in backends.iter().enumerate() {
        let (u1, _d1) = fresh(b, i * 10 + 1).await;
        let one = queue_drain(&u1, 2000, 1).await;
        let (u2, _d2) = fresh(b, i * 10 + 2).await;
        let two = queue_drain(&u2, 2000, 2).await;
        let (u3, _d3) = fresh(b, i * 10 + 3).await;
        let (life, verify) = lifecycles(&u3, 300).await;
        println!(
            "| {b} | {one:.0} jobs/s | {two:.0} jobs/s | {life:.0} requests/s | {verify:.0} rows/s |"
        );
    }
    println!(
        "\n(2,000 no-op jobs; 300 requests each submitted, approved, provisioned and expired: 6 audit rows apiece)"
    );
}
