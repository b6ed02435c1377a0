//! End-to-end benchmark: slack-sim drives the real `gatehouse serve` process open-loop at a
//! steady rate of Socket Mode envelopes — one-line requests, the request form opened and
//! submitted, reviewers' ✅ and Approve clicks, and requesters' own ✅ (refused) — while
//! Gatehouse grants real PostgreSQL roles. Prints the ack latency slack-sim measured, the time
//! from a ✅ to the grant on the server and to the requester's DM, the throughput, and
//! Gatehouse's CPU and memory, each beside its target. Asserts nothing.
//!
//! Run: `GATEHOUSE_BENCH_BACKEND=sqlite cargo bench --bench e2e` (or `postgres`; unset runs
//! both). Gatehouse's database is a SQLite file or a fresh PostgreSQL database; the platform is
//! always the PostgreSQL server at GATEHOUSE_TEST_POSTGRES_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres), which must be reachable.
//! `GATEHOUSE_BENCH_RATE` (envelopes a second, 200) and `GATEHOUSE_BENCH_SECS` (30) size it;
//! `GATEHOUSE_BENCH_SECS=3 GATEHOUSE_BENCH_RATE=20` is a quick smoke run.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot go on should stop"
)]

// The crate root is benches/e2e.rs, so its modules are named by path.
#[path = "common/mod.rs"]
mod common;
#[path = "e2e/load.rs"]
mod load;
#[path = "e2e/platform.rs"]
mod platform;
#[path = "e2e/process.rs"]
mod process;
#[path = "e2e/report.rs"]
mod report;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use load::{CHANNEL, Kind, Load, REVIEWERS, person_id};
use platform::Platform;
use process::Gatehouse;
use report::{spread, verdict};
use slack_sim::{ChannelSeed, SimConfig, SlackSim, UserSeed};

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Slack's deadline for an ack; slack-sim's too.
const ACK_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle before the load (resident memory then) and after it settles.
const IDLE: Duration = Duration::from_secs(10);
/// How long after the last envelope the grants and DMs may take before the run gives up.
const DRAIN: Duration = Duration::from_secs(120);

struct Settings {
    rate: f64,
    secs: u64,
    server: String,
    /// The catalog's `rate_per_second` for the platform connector.
    platform_rate: u32,
}

/// The server URL without its password, for printing.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or(user);
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn person(id: &str, name: &str) -> UserSeed {
    UserSeed {
        id: id.into(),
        name: name.into(),
        real_name: name.into(),
        email: Some(format!("{name}@example.com")),
        tz: "Europe/Paris".into(),
        tz_offset: 3600,
        ..UserSeed::default()
    }
}

/// The people (each one's email local part is their server login: linked by rule), the
/// reviewers and the Access Requests channel.
fn workspace(platform: &Platform, people: usize) -> SimConfig {
    let mut c = SimConfig::demo();
    c.ack_timeout_ms = ACK_TIMEOUT.as_millis() as u64;
    c.users = (0..people)
        .map(|i| person(&person_id(i), &platform.login(i)))
        .collect();
    c.users.extend(
        REVIEWERS
            .iter()
            .map(|r| person(r, &format!("reviewer-{}", r.to_lowercase()))),
    );
    c.users.push(UserSeed {
        is_bot: true,
        ..person(&c.bot_user_id, "gatehouse")
    });
    let mut members: Vec<String> = c.users.iter().map(|u| u.id.clone()).collect();
    members.sort();
    c.channels = vec![ChannelSeed {
        id: CHANNEL.into(),
        name: "access-requests".into(),
        is_private: false,
        members,
    }];
    c.usergroups = Vec::new();
    c
}

/// A resource per server role, reviewed by every reviewer; 8 h grants, no reason needed.
fn catalog(platform: &Platform, roles: usize, rate: u32) -> String {
    let reviewers = REVIEWERS.map(|r| format!("\"{r}\"")).join(", ");
    let mut c = format!(
        "[defaults]\nreason_required = false\ndefault_duration = \"8h\"\n\n\
         [connectors.warehouse]\nkind = \"postgres\"\nurl = {{ env = \"GATEHOUSE_BENCH_PLATFORM_URL\" }}\n\
         link = \"local-part\"\nrate_per_second = {rate}\n\n"
    );
    for j in 0..roles {
        c += &format!(
            "[[resources]]\nid = \"r{j}\"\nname = \"Role {j}\"\nconnector = \"warehouse\"\n\
             grant = {{ role = \"{}\" }}\nreviewers = [{reviewers}]\n\n",
            platform.role(j)
        );
    }
    c
}

/// Gatehouse's own database: a SQLite file in `dir`, or a fresh database on the server.
async fn database(backend: &str, s: &Settings, dir: &Path) -> String {
    if backend == "sqlite" {
        return format!("sqlite://{}?mode=rwc", dir.join("gatehouse.db").display());
    }
    let admin = platform::connect(&s.server).await.unwrap();
    let name = pg_name();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    admin.close().await;
    let base = s.server.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

fn pg_name() -> String {
    format!("gatehouse_bench_e2e_{}", std::process::id())
}

/// Waits until Gatehouse is connected to slack-sim and has listed the server's logins (so each
/// approval is linked by rule); stops the bench with its log if it stopped instead.
async fn ready(gh: &mut Gatehouse, sim: &slack_sim::Sim, db_url: &str, last_login: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = gh.exited() {
            eprintln!(
                "gatehouse serve stopped ({status}) before it was ready; it said:\n{}",
                gh.tail()
            );
            std::process::exit(1);
        }
        if sim.connection_count() > 0 {
            let db = gatehouse::store::Db::connect(db_url).await.unwrap();
            let synced = gatehouse::store::identities::find(db.conn(), "warehouse", last_login)
                .await
                .ok()
                .flatten()
                .is_some();
            db.close().await.unwrap();
            if synced {
                return;
            }
        }
        if Instant::now() > deadline {
            eprintln!(
                "gatehouse serve was not ready within 120 s; it said:\n{}",
                gh.tail()
            );
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn measure(backend: &str, s: &Settings) {
    let total = (s.rate * s.secs as f64).round() as usize;
    // Every request is for a (person, role) pair used once: none collides with an open one.
    // An envelope makes at most one request (a planned ✅ with no card yet makes one instead),
    // so there are never more requests than envelopes, however far Gatehouse falls behind.
    let pairs = total + 40;
    let people = ((pairs as f64).sqrt().ceil() as usize).max(10);
    let roles = pairs.div_ceil(people);
    let pool = platform::connect(&s.server).await.unwrap();
    let platform = Arc::new(Platform::make(pool, people, roles).await);
    let sim = SlackSim::start(workspace(&platform, people)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        catalog(&platform, roles, s.platform_rate),
    )
    .unwrap();
    let db_url = database(backend, s, dir.path()).await;
    // GATEHOUSE_BENCH_LOG widens what the process logs (to find where its time goes); its log
    // is then kept as serve.log in the current directory.
    let log_filter = std::env::var("GATEHOUSE_BENCH_LOG").unwrap_or_else(|_| "warn".into());
    // A port of our own for /metrics (the process would pick one, but not say which here).
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .to_string();
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", db_url.as_str()),
        ("GATEHOUSE_CONFIG", "gatehouse.toml"),
        ("GATEHOUSE_BENCH_PLATFORM_URL", &s.server),
        ("SLACK_API_URL", &sim.api_url()),
        ("SLACK_BOT_TOKEN", sim.bot_token()),
        ("SLACK_APP_TOKEN", sim.app_token()),
        ("ACCESS_REQUESTS_CHANNEL", CHANNEL),
        ("GATEHOUSE_SLACK_PACE", "none"),
        ("GATEHOUSE_HTTP_ADDR", http.as_str()),
        ("GATEHOUSE_LOG", &log_filter),
        ("GATEHOUSE_LOG_FORMAT", "json"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    println!(
        "{backend}: {people} people × {roles} server roles ({} requests possible without a collision), 5 reviewers; gatehouse serve on {}",
        people * roles,
        if backend == "sqlite" {
            "a SQLite file"
        } else {
            "a fresh PostgreSQL database"
        }
    );
    let mut gh = Gatehouse::spawn(dir.path(), &env);
    ready(&mut gh, &sim, &db_url, &platform.login(people - 1)).await;
    tokio::time::sleep(IDLE).await;
    let (rss_before, _) = gh.memory();

    let load = Arc::new(Load {
        sim: sim.sim(),
        people,
        roles,
        book: Default::default(),
    });
    let follower = tokio::spawn(load.clone().follow(sim.subscribe_posts()));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(load.clone().poll_grants(platform.clone(), stop.clone()));

    let start = Instant::now() + Duration::from_millis(50);
    let cpu0 = gh.cpu();
    load.run(start, s.rate, total).await;
    let sent_for = Duration::from_secs_f64((total.max(1) - 1) as f64 / s.rate);
    let drain_until = Instant::now() + DRAIN;
    while !load.settled() && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settled_at = Instant::now();
    let cpu_load = gh.cpu() - cpu0;
    let load_wall = settled_at - start;
    let (_, hwm) = gh.memory();

    let cpu1 = gh.cpu();
    tokio::time::sleep(IDLE).await;
    let idle_cpu = gh.cpu() - cpu1;
    let (rss_after, hwm_after) = gh.memory();
    stop.store(true, Ordering::Relaxed);
    poller.await.unwrap();
    follower.abort();

    // Ack latencies, by the first delivery's envelope id.
    let acks: std::collections::HashMap<String, (Duration, bool)> = sim
        .acks()
        .into_iter()
        .map(|a| {
            (
                a.envelope_id,
                (Duration::from_micros(a.latency_us), a.in_time),
            )
        })
        .collect();
    let book = std::mem::take(&mut *load.book.lock().unwrap());
    let mut latencies = Vec::new();
    let mut by_kind: std::collections::BTreeMap<Kind, Vec<Duration>> = Default::default();
    let (mut late, mut never) = (0, 0);
    for e in &book.sent {
        match e.envelope.as_ref().and_then(|id| acks.get(id)) {
            Some(&(d, in_time)) => {
                latencies.push(d);
                by_kind.entry(e.kind).or_default().push(d);
                if !in_time || !e.acked {
                    late += 1;
                }
            }
            None => never += 1,
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    for e in &book.sent {
        *counts.entry(e.kind).or_insert(0usize) += 1;
    }
    let mix: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("{} {}", counts.get(k).copied().unwrap_or(0), k.label()))
        .collect();
    let problems: Vec<&String> = book
        .sent
        .iter()
        .filter_map(|e| e.problem.as_ref())
        .collect();
    let last_ack = book.sent.iter().map(|e| e.returned).max().unwrap_or(start);
    let acked = book.sent.iter().filter(|e| e.acked).count();

    let approvals: Vec<_> = book.approvals.values().collect();
    let mut to_grant: Vec<Duration> = approvals
        .iter()
        .filter_map(|a| a.grant.map(|g| g.saturating_duration_since(a.sent)))
        .collect();
    let mut to_dm: Vec<Duration> = approvals
        .iter()
        .filter_map(|a| a.dm.map(|g| g.saturating_duration_since(a.sent)))
        .collect();
    let mut to_approved_dm: Vec<Duration> = approvals
        .iter()
        .filter_map(|a| a.approved_dm.map(|g| g.saturating_duration_since(a.sent)))
        .collect();
    let last_grant = approvals.iter().filter_map(|a| a.grant).max();

    println!(
        "{backend}: sent {} envelopes over {:.1} s ({:.1}/s, open loop): {}; {} planned approvals or form submissions found nothing ready and made a request instead",
        book.sent.len(),
        sent_for.as_secs_f64(),
        book.sent.len() as f64 / sent_for.as_secs_f64().max(0.001),
        mix.join(", "),
        book.fallbacks
    );
    latencies.sort_unstable();
    let p99 = report::percentile(&latencies, 0.99);
    // Issue 19's targets: 5 ms at 100 envelopes a second, 10 ms at 200.
    let ack_target = Duration::from_millis(if s.rate <= 100.0 { 5 } else { 10 });
    println!(
        "{backend}: ack latency (slack-sim, µs resolution) {} — target p99 < {} ms: {}",
        spread(&mut latencies),
        ack_target.as_millis(),
        verdict(p99 < ack_target)
    );
    let kinds: Vec<String> = by_kind
        .iter_mut()
        .map(|(k, v)| {
            v.sort_unstable();
            format!(
                "{} p50 {} / p99 {}",
                k.label(),
                report::ms(report::percentile(v, 0.5)),
                report::ms(report::percentile(v, 0.99))
            )
        })
        .collect();
    println!("{backend}: ack latency by kind: {}", kinds.join("; "));
    // What Gatehouse itself counts, from each envelope read to its ack handed to the socket:
    // beside slack-sim's figures it tells time inside the process from time on the way (the
    // socket, and the two cores the sender, slack-sim and PostgreSQL share with it).
    let over = |bound: Duration| latencies.iter().filter(|d| **d > bound).count();
    match report::get_metrics(&http).await {
        Ok(text) => {
            let buckets = report::ack_buckets(&text);
            let within = |bound: f64| buckets.iter().find(|b| b.0 == bound).map_or(0, |b| b.1);
            let all = buckets.iter().map(|b| b.1).max().unwrap_or(0) as usize;
            println!(
                "{backend}: ack time inside Gatehouse (gatehouse_slack_ack_seconds): {}; over 8 ms: {} of {all} inside, {} of {} at slack-sim",
                report::ack_shares(&buckets, 0.0009, 0.009),
                all - within(0.008) as usize,
                over(Duration::from_millis(8)),
                latencies.len()
            );
        }
        Err(e) => println!("{backend}: cannot read Gatehouse's /metrics: {e}"),
    }
    println!(
        "{backend}: not acked within 3 s: {} ({late} late, {never} never) — target none: {}",
        late + never,
        verdict(late + never == 0)
    );
    let millis = Duration::from_millis;
    let of = approvals.len();
    let what = "the requester's DM saying it is approved, at slack-sim";
    let line = report::after_approval(backend, what, &mut to_approved_dm, of, millis(20), false);
    println!("{line}");
    let what = "grant on the server (polled every 5 ms)";
    let line = report::after_approval(backend, what, &mut to_grant, of, millis(50), false);
    println!("{line}");
    let what = "\"you now have access\" DM at slack-sim";
    let line = report::after_approval(backend, what, &mut to_dm, of, millis(60), true);
    println!("{line}");
    let grants_per_s = match last_grant {
        Some(g) => to_grant.len() as f64 / (g - start).as_secs_f64(),
        None => 0.0,
    };
    println!(
        "{backend}: throughput: {:.1} envelopes/s sent, {:.1}/s acked ({acked} acked by {:.1} s), {grants_per_s:.1} grants/s",
        book.sent.len() as f64 / sent_for.as_secs_f64().max(0.001),
        acked as f64 / (last_ack - start).as_secs_f64(),
        (last_ack - start).as_secs_f64()
    );
    println!(
        "{backend}: Gatehouse CPU {:.1} s over the {:.1} s from the first envelope to the last DM = {:.0}% of one core; {:.2} s over the next {} s idle",
        cpu_load.as_secs_f64(),
        load_wall.as_secs_f64(),
        100.0 * cpu_load.as_secs_f64() / load_wall.as_secs_f64(),
        idle_cpu.as_secs_f64(),
        IDLE.as_secs()
    );
    println!(
        "{backend}: Gatehouse resident memory: idle before {rss_before:.1} MB, peak (VmHWM) {:.1} MB, idle {} s after the load settled {rss_after:.1} MB — target < 50 MB idle: {}",
        hwm.max(hwm_after),
        IDLE.as_secs(),
        verdict(rss_before < 50.0 && rss_after < 50.0)
    );
    if !problems.is_empty() || book.stray_dms > 0 || book.lagged > 0 {
        println!(
            "{backend}: {} envelopes did not do what they should (first: {:?}); {} DMs matched no approval; {} posts missed by the bench",
            problems.len(),
            problems.first(),
            book.stray_dms,
            book.lagged
        );
    }
    let explained: usize = (0..people)
        .map(|i| {
            sim.ephemerals(&person_id(i))
                .iter()
                .filter(|e| e.text.contains("did nothing"))
                .count()
        })
        .sum();
    println!(
        "{backend}: requesters' own ✅ explained to them alone: {explained} of {}",
        counts.get(&Kind::OwnCheck).copied().unwrap_or(0)
    );
    // Where the work went: Gatehouse's Web API calls and jobs, per method and kind.
    let mut calls = std::collections::BTreeMap::new();
    for c in sim.api_calls() {
        *calls.entry(c.method).or_insert(0usize) += 1;
    }
    let calls: Vec<String> = calls.iter().map(|(m, n)| format!("{n} {m}")).collect();
    let db = gatehouse::store::Db::connect(&db_url).await.unwrap();
    let mut jobs = std::collections::BTreeMap::new();
    for j in gatehouse::store::jobs::list(db.conn(), None).await.unwrap() {
        *jobs
            .entry(format!("{} {}", j.kind, j.status.as_str()))
            .or_insert(0usize) += 1;
    }
    db.close().await.unwrap();
    let jobs: Vec<String> = jobs.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "{backend}: Gatehouse's Slack Web API calls: {}; its jobs: {}",
        calls.join(", "),
        jobs.join(", ")
    );
    if std::env::var_os("GATEHOUSE_BENCH_LOG").is_some() {
        std::fs::copy(&gh.log, "serve.log").unwrap();
    }
    let complaints = gh.complaints();
    if !complaints.is_empty() {
        println!(
            "{backend}: gatehouse logged {} warnings or errors; the first: {}",
            complaints.len(),
            complaints[0]
        );
    }
    gh.kill().await;
    sim.shutdown().await;
    if let Ok(p) = Arc::try_unwrap(platform) {
        p.drop_all().await;
    }
    if backend != "sqlite" {
        let admin = platform::connect(&s.server).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg_name());
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}

#[tokio::main]
async fn main() {
    let s = Settings {
        rate: env_num("GATEHOUSE_BENCH_RATE", 200) as f64,
        secs: env_num("GATEHOUSE_BENCH_SECS", 30),
        server: std::env::var("GATEHOUSE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_SERVER.to_owned()),
        platform_rate: env_num("GATEHOUSE_BENCH_PLATFORM_RATE", 1000) as u32,
    };
    if let Err(e) = platform::connect(&s.server).await {
        eprintln!(
            "error: the PostgreSQL server at GATEHOUSE_TEST_POSTGRES_URL ({}) is not reachable: {e}.\n\
             This benchmark grants real roles on it (and, for the postgres backend, keeps Gatehouse's \
             database there); start it or point GATEHOUSE_TEST_POSTGRES_URL at one.",
            shown(&s.server)
        );
        std::process::exit(1);
    }
    println!(
        "{} envelopes/s (GATEHOUSE_BENCH_RATE) for {} s (GATEHOUSE_BENCH_SECS), open loop; platform: PostgreSQL roles at {}, connector rate_per_second = {} (GATEHOUSE_BENCH_PLATFORM_RATE); GATEHOUSE_SLACK_PACE=none",
        s.rate,
        s.secs,
        shown(&s.server),
        s.platform_rate
    );
    let only = std::env::var("GATEHOUSE_BENCH_BACKEND").ok();
    for b in ["sqlite", "postgres"] {
        if only.as_deref().is_none_or(|o| o == b) {
            measure(b, &s).await;
        }
    }
}
