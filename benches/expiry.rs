//! Expiry benchmark: many active grants whose expiries are spread over a window, revoked by the
//! real background worker on the real clock. Prints the revocation lag (when the platform lost
//! the access minus the expiry), the CPU time while nothing is due and the resident memory — on
//! SQLite, and on PostgreSQL when GATEHOUSE_TEST_POSTGRES_URL names a server. Asserts nothing.
//!
//! Run: `cargo bench --bench expiry` (100,000 grants over 600 s: about 11 minutes per backend).
//! `GATEHOUSE_BENCH_GRANTS` and `GATEHOUSE_BENCH_SPREAD_SECS` make a quicker run;
//! `GATEHOUSE_BENCH_BACKEND=sqlite|postgres` runs one backend only.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot go on should stop"
)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use gatehouse::clock::{Clock, SystemClock};
use gatehouse::config::{Catalog, Config, Settings};
use gatehouse::domain::SlackUserId;
use gatehouse::store::{self, Db};
use gatehouse::workflow::{Applied, ExternalError, Provisioner, Target, Undo};
use gatehouse::{App, AppOptions};
use sea_orm::{ConnectionTrait, Database, Statement, Value};

/// Quiet time before the first expiry, in which idle CPU is measured.
const QUIET: Duration = Duration::from_secs(10);
/// Rows per INSERT: under SQLite's bound-parameter limit with the widest row (grants, 10).
const BATCH: usize = 1000;

/// Records when each revocation reached "the platform": the moment the access was lost.
#[derive(Default)]
struct Recorder {
    /// By identity: each copy's is its own.
    revoked: Mutex<HashMap<String, DateTime<Utc>>>,
}

#[async_trait::async_trait]
impl Provisioner for Recorder {
    async fn grant(&self, target: Target<'_>) -> Result<Applied, ExternalError> {
        Ok(common::applied(&target, "granted"))
    }
    async fn revoke(&self, target: Target<'_>, _: Undo<'_>) -> Result<Applied, ExternalError> {
        let at = now();
        // Each copy grants to an identity of its own (its requester's id).
        self.revoked
            .lock()
            .unwrap()
            .insert(target.identity.to_owned(), at);
        Ok(common::applied(&target, "revoked"))
    }
}

/// The real clock: this benchmark is about real time.
fn now() -> DateTime<Utc> {
    SystemClock.now()
}

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES_URL").unwrap()
}

fn pg_name() -> String {
    format!("gatehouse_test_expiry_{}", std::process::id())
}

/// User + system CPU time of the whole process (all threads).
fn cpu_time() -> Duration {
    common::cpu_time_from("/proc/self/stat")
}

/// VmRSS and VmHWM (peak) in MB.
fn memory() -> (f64, f64) {
    common::memory_from("/proc/self/status")
}

fn user(i: usize) -> SlackUserId {
    SlackUserId::parse(&format!("U{i:08}")).unwrap()
}

async fn start(url: &str, provisioner: Arc<Recorder>, background: bool) -> App {
    let settings = Settings::from_lookup(&|k| match k {
        "DATABASE_URL" => Some(url.to_owned()),
        "GATEHOUSE_JOB_WORKERS" => std::env::var(k).ok(),
        _ => None,
    })
    .unwrap();
    let catalog = Catalog::parse(Path::new("bench.toml"), common::CATALOG).unwrap();
    let mut opts = AppOptions::new(provisioner);
    opts.background_worker = background;
    App::start(Config { settings, catalog }, opts)
        .await
        .unwrap()
}

async fn exec(db: &Db, sql: &str, values: Vec<Value>) {
    let backend = db.conn().get_database_backend();
    // PostgreSQL numbers its placeholders; the SQL is written with `?`.
    let sql = if db.is_postgres() {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_owned()
    };
    db.conn()
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap();
}

/// Makes one request active through the real workflow, then copies its rows (request, live
/// grant, revoke job) `n` times with their own requester and expiry: 100,000 submissions would
/// take far longer than the benchmark. Returns the copies' (request id, expiry).
async fn populate(
    url: &str,
    n: usize,
    expiry: impl Fn(usize) -> DateTime<Utc>,
) -> Vec<(String, DateTime<Utc>)> {
    let app = start(url, Arc::new(Recorder::default()), false).await;
    let db = app.db().clone();
    let template_user = user(0);
    let id = common::approved_hour(&app, &template_user).await;
    app.run_due_jobs().await.unwrap();
    let t = store::requests::get(db.conn(), id).await.unwrap().unwrap();
    let t_grant = store::grants::live_for_request(db.conn(), t.id.get())
        .await
        .unwrap()
        .unwrap();
    let t_jobs = store::jobs::for_request(db.conn(), t.id.get())
        .await
        .unwrap();
    let t_revoke = t_jobs.iter().find(|j| j.kind == "revoke").unwrap();
    println!(
        "template request {}: {} jobs ({}); only its revoke job is copied",
        t.id.get(),
        t_jobs.len(),
        t_jobs
            .iter()
            .map(|j| format!("{} {}", j.kind, j.status))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let t_name = template_user.to_string();

    let copies: Vec<(i64, DateTime<Utc>)> = (1..=n)
        .map(|i| (t.id.get() + i as i64, expiry(i - 1)))
        .collect();
    for chunk in copies.chunks(BATCH) {
        let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut vals: Vec<Value> = Vec::new();
        for &(id, at) in chunk {
            let who = user((id - t.id.get()) as usize).to_string();
            vals.extend([
                id.into(),
                who.clone().into(),
                format!("{who}/warehouse").into(),
                who.into(),
                at.into(),
            ]);
        }
        exec(
            &db,
            &format!(
                "INSERT INTO requests (id, requester, open_key, identity, expires_at, \
                 duration_secs, resource_id, connector_id, reason, status, version, end_reason, decided_by, \
                 decision_note, created_at, updated_at, decided_at, active_since, ended_at, \
                 slack_channel, slack_ts) \
                 SELECT v.column1, v.column2, v.column3, v.column4, v.column5, \
                 t.duration_secs, t.resource_id, t.connector_id, t.reason, t.status, t.version, t.end_reason, \
                 t.decided_by, t.decision_note, t.created_at, t.updated_at, t.decided_at, \
                 t.active_since, t.ended_at, t.slack_channel, t.slack_ts \
                 FROM (VALUES {rows}) AS v, requests AS t WHERE t.id = {}",
                t.id.get()
            ),
            vals,
        )
        .await;

        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut vals: Vec<Value> = Vec::new();
        for &(id, _) in chunk {
            let who = user((id - t.id.get()) as usize).to_string();
            let g = &t_grant;
            vals.extend([
                id.into(),
                g.connector_id.clone().into(),
                g.identity.replace(&t_name, &who).into(),
                g.spec.replace(&t_name, &who).into(),
                g.applied.replace(&t_name, &who).into(),
                g.granted_at.into(),
                g.revoked_at.into(),
                g.revoke_applied.clone().into(),
                g.receipt.clone().into(),
                g.held_before.into(),
            ]);
        }
        exec(
            &db,
            &format!(
                "INSERT INTO grants (request_id, connector_id, identity, spec, applied, \
                 granted_at, revoked_at, revoke_applied, receipt, held_before) VALUES {rows}"
            ),
            vals,
        )
        .await;

        let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut vals: Vec<Value> = Vec::new();
        for &(id, at) in chunk {
            vals.extend([
                format!(r#"{{"kind":"revoke","request":{id}}}"#).into(),
                at.into(),
                format!("revoke:{id}").into(),
                id.into(),
            ]);
        }
        exec(
            &db,
            &format!(
                "INSERT INTO jobs (payload, run_at, dedupe_key, request_id, kind, status, \
                 attempts, max_attempts, lease_until, locked_by, last_error, created_at, \
                 updated_at, finished_at) \
                 SELECT v.column1, v.column2, v.column3, v.column4, t.kind, t.status, \
                 t.attempts, t.max_attempts, t.lease_until, t.locked_by, t.last_error, \
                 t.created_at, t.updated_at, t.finished_at \
                 FROM (VALUES {rows}) AS v, jobs AS t WHERE t.id = {}",
                t_revoke.id
            ),
            vals,
        )
        .await;
    }
    if db.is_postgres() {
        // The copies took their ids by hand; later inserts must not collide with them.
        exec(
            &db,
            "SELECT setval(pg_get_serial_sequence('requests', 'id'), (SELECT MAX(id) FROM requests))",
            vec![],
        )
        .await;
    }

    // A copy must look like a real grant, column for column, but for ids, requester and times.
    let (cid, cat) = copies[0];
    let who = user(1);
    let mut c = store::requests::get(db.conn(), gatehouse::domain::RequestId::new(cid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.requester, who);
    assert_eq!(c.expires_at, Some(cat));
    assert_eq!(c.identity.as_deref(), Some(who.as_str()));
    c.id = t.id;
    c.requester = t.requester.clone();
    c.identity = t.identity.clone();
    // The granted length stays the template's (an hour); only the expiry differs.
    c.expires_at = t.expires_at;
    assert_eq!(format!("{c:?}"), format!("{t:?}"), "copied request differs");
    assert!(
        store::requests::find_open(
            db.conn(),
            &who,
            &gatehouse::domain::ResourceId::parse("warehouse").unwrap()
        )
        .await
        .unwrap()
        .is_some(),
        "copied request has no open key"
    );
    let mut g = store::grants::live_for_request(db.conn(), cid)
        .await
        .unwrap()
        .unwrap();
    g.id = t_grant.id;
    g.request_id = t_grant.request_id;
    g.identity = t_grant.identity.clone();
    g.spec = g.spec.replace(who.as_str(), &t_name);
    g.applied = g.applied.replace(who.as_str(), &t_name);
    assert_eq!(g, t_grant, "copied grant differs");
    let jobs = store::jobs::for_request(db.conn(), cid).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let mut j = jobs[0].clone();
    assert_eq!(j.payload, format!(r#"{{"kind":"revoke","request":{cid}}}"#));
    assert_eq!(j.run_at, cat);
    assert_eq!(
        j.dedupe_key.as_deref(),
        Some(format!("revoke:{cid}").as_str())
    );
    j.id = t_revoke.id;
    j.payload = t_revoke.payload.clone();
    j.run_at = t_revoke.run_at;
    j.dedupe_key = t_revoke.dedupe_key.clone();
    j.request_id = t_revoke.request_id;
    assert_eq!(&j, t_revoke, "copied revoke job differs");
    app.shutdown().await;
    // The revocations are recorded by identity: each copy's is its requester's id.
    copies
        .into_iter()
        .map(|(id, at)| (user((id - t.id.get()) as usize).to_string(), at))
        .collect()
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn measure(backend: &str, n: usize, spread: Duration) {
    let (url, _dir) = common::fresh(backend, &pg_name()).await;
    let setup = Instant::now();
    // Insertion takes a while: start the expiries after it (estimated at 5,000 grants a second,
    // checked below) and a quiet window.
    // Whole milliseconds: PostgreSQL keeps microseconds, and the copies are checked exactly.
    let first = (now()
        + chrono::Duration::from_std(QUIET + Duration::from_secs(5 + n as u64 / 5000)).unwrap())
    .trunc_subsecs(3);
    let spread_ms = spread.as_millis() as i64;
    let expiry =
        move |i: usize| first + chrono::Duration::milliseconds(spread_ms * i as i64 / n as i64);
    let copies = populate(&url, n, expiry).await;
    let last = copies.last().unwrap().1;
    let (rss_setup, _) = memory();
    println!(
        "{backend}: {n} grants inserted in {:.1} s; first expiry in {:.1} s",
        setup.elapsed().as_secs_f64(),
        (first - now()).num_milliseconds() as f64 / 1000.0
    );

    let recorder = Arc::new(Recorder::default());
    let app = start(&url, recorder.clone(), true).await;

    // Idle: the worker has nothing due until the first expiry.
    let idle_end = (first - chrono::Duration::seconds(1)).min(now() + QUIET);
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    tokio::time::sleep((idle_end - now()).to_std().unwrap_or_default()).await;
    let idle_wall = t0.elapsed().as_secs_f64();
    let idle_cpu = (cpu_time() - cpu0).as_secs_f64();
    let revoked_early = recorder.revoked.lock().unwrap().len();

    let deadline = last + chrono::Duration::seconds(60);
    loop {
        let done = recorder.revoked.lock().unwrap().len();
        if done >= n || now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (rss_end, hwm_end) = memory();
    let revoked = recorder.revoked.lock().unwrap().clone();

    let mut lags: Vec<i64> = copies
        .iter()
        .filter_map(|(who, at)| revoked.get(who).map(|r| (*r - *at).num_milliseconds()))
        .collect();
    lags.sort_unstable();
    let late = lags.iter().filter(|&&l| l > 1000).count();
    println!(
        "{backend}: revoked {}/{n} (deadline: last expiry + 60 s); lag p50 {} ms, p99 {} ms, max {} ms, min {} ms; late by > 1 s: {late}",
        lags.len(),
        percentile(&lags, 0.50),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0),
        lags.first().copied().unwrap_or(0),
    );
    println!(
        "{backend}: idle CPU {:.2} s over {idle_wall:.1} s = {:.2}% of one core ({revoked_early} revoked meanwhile)",
        idle_cpu,
        100.0 * idle_cpu / idle_wall
    );
    println!(
        "{backend}: resident memory after setup {rss_setup:.1} MB, at the end {rss_end:.1} MB, peak (VmHWM) {hwm_end:.1} MB"
    );
    // The worker stops after the job in hand; a stuck one would show here.
    if tokio::time::timeout(Duration::from_secs(10), app.shutdown())
        .await
        .is_err()
    {
        println!("{backend}: the worker did not stop within 10 s");
        return;
    }
    if backend != "sqlite" {
        let admin = Database::connect(admin_url().as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                pg_name()
            ))
            .await
            .unwrap();
    }
}

#[tokio::main]
async fn main() {
    let n = env_num("GATEHOUSE_BENCH_GRANTS", 100_000) as usize;
    let spread = Duration::from_secs(env_num("GATEHOUSE_BENCH_SPREAD_SECS", 600));
    println!(
        "{n} active grants (GATEHOUSE_BENCH_GRANTS), expiries spread uniformly over {} s (GATEHOUSE_BENCH_SPREAD_SECS), real clock, {} job workers (GATEHOUSE_JOB_WORKERS)",
        spread.as_secs(),
        std::env::var("GATEHOUSE_JOB_WORKERS").unwrap_or_else(|_| "4".into())
    );
    let mut backends = vec!["sqlite"];
    if std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok() {
        backends.push("postgres");
    } else {
        eprintln!("note: PostgreSQL skipped; set GATEHOUSE_TEST_POSTGRES_URL to include it");
    }
    // GATEHOUSE_BENCH_BACKEND=sqlite or postgres runs one of them only.
    let only = std::env::var("GATEHOUSE_BENCH_BACKEND").ok();
    for b in backends {
        if only.as_deref().is_none_or(|o| o == b) {
            measure(b, n, spread).await;
        }
    }
}
