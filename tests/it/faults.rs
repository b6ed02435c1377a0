//! Fault tests. Gatehouse must lose nothing and repeat nothing when its processes are killed
//! at random points, when two of them share one database, when Slack drops the socket, and when
//! a platform fails a third of its calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gatehouse::app::{App, AppOptions};
use gatehouse::clock::ManualClock;
use gatehouse::domain::{GrantDuration, Status};
use gatehouse::store;
use gatehouse::workflow::{NoGroups, Submission, Via};
use rand::Rng;
use slack_sim::{SimHandle, SlackSim};

use crate::support::app::{at, config_for};
use crate::support::db::{backends, postgres_server};
use crate::support::here::test_name;
use crate::support::pg::{Roles, prefix};
use crate::support::platform::FakePlatform;
use crate::support::scenario::workspace_with_people;
use crate::support::serve_env::serve_env;
use crate::support::slack::{CHANNEL, eventually_saying, shown, workspace};
use crate::support::{TestDb, u};

const PEOPLE: usize = 20;
const RESOURCES: usize = 10;

/// Ten resources on one platform, each granting `unit(j)`; anyone may ask for a minute or more.
fn catalog(connector: &str, unit: impl Fn(usize) -> String) -> String {
    let mut c = format!(
        "admins = [\"UADA\"]\n\n[defaults]\nmin_duration = \"1m\"\nreason_required = false\n\n{connector}\n"
    );
    for j in 0..RESOURCES {
        c += &format!(
            "[[resources]]\nid = \"r{j}\"\nname = \"Role {j}\"\nconnector = \"warehouse\"\n\
             grant = {}\nreviewers = [\"UBOB\"]\n\n",
            unit(j)
        );
    }
    c
}

#[tokio::test]
async fn a_platform_failing_a_third_of_its_calls_still_gets_every_grant_and_revocation_once() {
    for db in backends().await {
        let platform = FakePlatform::default();
        platform.flaky(0.3);
        let clock = ManualClock::new(at(2026, 11, 28, 9, 0));
        let mut opts = AppOptions::new(Arc::new(platform.clone()));
        opts.directory = Arc::new(NoGroups);
        opts.clock = Arc::new(clock.clone());
        opts.background_worker = false;
        let catalog = catalog("[connectors.warehouse]\nkind = \"manual\"", |j| {
            format!("{{ task = \"ROLE_{j}\" }}")
        });
        let config = config_for(&db, &catalog, &[("GATEHOUSE_JOB_MAX_ATTEMPTS", "10")]);
        let app = App::start(config, opts).await.unwrap();
        let wf = app.workflow();
        let mut ids = Vec::new();
        for i in 0..PEOPLE {
            for j in 0..RESOURCES {
                let who = u(&format!("UP{i:02}"));
                let minutes = 30 + u32::try_from(i * RESOURCES + j).unwrap();
                let r = wf
                    .submit(Submission {
                        requester: &who,
                        resource: &format!("r{j}"),
                        duration: GrantDuration::from_minutes(i64::from(minutes)),
                        reason: None,
                        identity: None,
                        start: None,
                    })
                    .await
                    .unwrap();
                wf.approve(r.id, &u("UBOB"), Via::Reaction).await.unwrap();
                ids.push(r.id);
            }
        }
        // Time passes in minutes; retries back off up to an hour, so give it a day.
        for _ in 0..(24 * 60 / 5) {
            app.run_due_jobs().await.unwrap();
            clock.advance(chrono::Duration::minutes(5));
        }
        app.run_due_jobs().await.unwrap();
        for id in &ids {
            let r = wf.request(*id).await.unwrap();
            assert_eq!(r.status, Status::Expired, "request {id}");
            let who = r.requester.as_str().to_lowercase();
            let what = format!("ROLE_{}", &r.resource.as_str()[1..]);
            assert_eq!(
                platform.changes(&who, &what),
                (1, 1),
                "{who} {what}: granted once and revoked once"
            );
            assert!(!platform.holds(&who, &what));
        }
        let (grants, revokes) = platform.calls();
        assert!(
            grants > ids.len() && revokes > ids.len(),
            "the platform did fail calls: {grants} grants, {revokes} revocations"
        );
        app.shutdown().await;
        db.close().await;
    }
}

/// `gatehouse serve` processes, killed and replaced at will; each starts with the next of
/// `catalogs` (an admin editing the catalog between restarts).
struct Fleet {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    running: Vec<tokio::process::Child>,
    started: usize,
    catalogs: Vec<String>,
}

impl Fleet {
    /// `gatehouse serve` processes on `db_url` and `sim`, with `env` besides, run in a folder of
    /// their own where each start writes the next of `catalogs`; and the log they share.
    fn new(
        db_url: &str,
        sim: &SimHandle,
        env: &[(&str, &str)],
        catalogs: Vec<String>,
    ) -> (Fleet, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let env = serve_env(db_url, sim, env);
        let fleet = Fleet {
            dir,
            env,
            running: Vec::new(),
            started: 0,
            catalogs,
        };
        (fleet, log)
    }

    fn spawn(&mut self) {
        let catalog = &self.catalogs[self.started % self.catalogs.len()];
        std::fs::write(self.dir.path().join("gatehouse.toml"), catalog).unwrap();
        self.started += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.running.push(child);
    }

    /// SIGKILL: no shutdown, no cleanup, whatever the process was doing.
    async fn kill_one(&mut self, which: usize) {
        let mut child = self.running.swap_remove(which % self.running.len());
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
}

/// The end of the processes' log, for a failure message.
fn tail(path: &std::path::Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let cut = log.len().saturating_sub(4000);
    log.get(cut..).unwrap_or(&log).to_owned()
}

/// Polls `check` until it returns Some; after `secs` fails with the processes' log.
async fn within<T, F, Fut>(what: &str, secs: u64, log: &std::path::Path, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let said = || format!("; the processes said:\n{}", tail(log));
    eventually_saying(what, secs, said, check).await
}

#[tokio::test]
async fn processes_killed_at_random_while_200_requests_run_lose_nothing_and_repeat_nothing() {
    let Some(server) = postgres_server(test_name!()) else {
        return;
    };
    let db = TestDb::postgres().await.expect("a PostgreSQL server");
    let p = prefix();
    let mut roles = Roles::new(&server).await;
    for i in 0..PEOPLE {
        roles.make(&format!("{p}_u{i:02}"), true).await;
    }
    for j in 0..RESOURCES {
        roles.make(&format!("{p}_r{j}"), false).await;
    }

    // Each person's Slack email local part is their server login: linked by rule, no picker.
    let (ws, people) = workspace_with_people(&p, PEOPLE);
    let sim = SlackSim::start(ws).await.unwrap();

    // Every restart edits the catalog: each resource's role moves to the next one and back, so
    // live grants outlive the catalog that granted them (and two of a person's grants may give
    // the same role, ending at the same moment).
    let warehouse = "[connectors.warehouse]\nkind = \"postgres\"\nurl = { env = \"GATEHOUSE_TEST_POSTGRES_URL\" }\nlink = { rule = \"local-part\", domains = [\"example.com\"] }";
    let catalogs = vec![
        catalog(warehouse, |j| format!("{{ role = \"{p}_r{j}\" }}")),
        catalog(warehouse, |j| {
            format!("{{ role = \"{p}_r{}\" }}", (j + 1) % RESOURCES)
        }),
    ];
    let (mut fleet, log) = Fleet::new(
        &db.url,
        &sim,
        &[
            ("GATEHOUSE_TEST_POSTGRES_URL", server.as_str()),
            ("GATEHOUSE_CONFIG", "gatehouse.toml"),
            // A killed process's job comes back to the others quickly.
            ("GATEHOUSE_JOB_LEASE_SECS", "5"),
            ("GATEHOUSE_JOB_POLL_SECS", "1"),
            ("GATEHOUSE_LOG", "warn"),
            // Two processes at once, beside other tests: each takes a free port for /healthz.
            ("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0"),
            // 200 requests in one channel within minutes is more than Slack's one message a second
            // there; slack-sim does not mind, and this test is about crashes, not pacing.
            ("GATEHOUSE_SLACK_PACE", "none"),
        ],
        catalogs,
    );
    // Two processes on one database, the second once the first has migrated it.
    fleet.spawn();
    within("the first process to connect", 60, &log, || async {
        (sim.connection_count() > 0).then_some(())
    })
    .await;
    fleet.spawn();

    let stop = Arc::new(AtomicBool::new(false));
    // The kills' timing is random but reproducible: GATEHOUSE_TEST_SEED replays a failed run.
    let seed = std::env::var("GATEHOUSE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("kills at random with GATEHOUSE_TEST_SEED={seed}");
    let killer = {
        let (stop, sim) = (stop.clone(), sim.clone());
        tokio::spawn(async move {
            let mut kills = 0;
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
            while !stop.load(Ordering::Relaxed) {
                let (wait, which, drop_socket) = (
                    rng.random_range(700..2500),
                    rng.random_range(0..2),
                    rng.random_bool(0.2),
                );
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if drop_socket {
                    // Slack asks the app to reconnect; envelopes in flight are redelivered.
                    sim.disconnect("refresh_requested", None);
                    continue;
                }
                fleet.kill_one(which).await;
                kills += 1;
                fleet.spawn();
            }
            (fleet, kills)
        })
    };

    // Everyone asks for every role, for a minute; each ask is retried until Slack got an answer
    // (a person whose command failed asks again).
    for asker in &people {
        for j in 0..RESOURCES {
            let ask = format!("r{j} 1m");
            within("an answer to /request-access", 120, &log, || async {
                let out = sim
                    .slash_command(asker, CHANNEL, "/request-access", &ask)
                    .await
                    .ok()?;
                (out.acked && out.payload.is_some()).then_some(())
            })
            .await;
        }
    }
    let total = (PEOPLE * RESOURCES) as i64;
    let conn = gatehouse::store::Db::connect(&db.url).await.unwrap();
    // Request numbers come from a PostgreSQL sequence: a process killed inside a submission's
    // transaction leaves a gap, so the requests are read back rather than counted from 1.
    let ids: Vec<i64> = store::requests::list_all(conn.conn())
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.get())
        .collect();
    assert_eq!(ids.len() as i64, total, "one request per ask: {ids:?}");
    for n in ids {
        let title = format!("Access request #{n}:");
        let card = within(
            &format!("request #{n} in the channel"),
            120,
            &log,
            || async {
                sim.messages(CHANNEL)
                    .into_iter()
                    .find(|m| m.text.starts_with(&title))
            },
        )
        .await;
        sim.add_reaction("UBOB", CHANNEL, &card.ts, "white_check_mark")
            .await
            .unwrap();
    }

    // On a timeout, the requests still short of expired and the jobs not done say where it stuck.
    let short = std::sync::Mutex::new(String::new());
    let expired = || async {
        let all = store::requests::list_all(conn.conn()).await.ok()?;
        let left: Vec<String> = all
            .iter()
            .filter(|r| r.status != Status::Expired)
            .map(|r| format!("#{} {:?}", r.id, r.status))
            .collect();
        if left.is_empty() {
            return Some(all);
        }
        let jobs = store::jobs::list(conn.conn(), None).await.ok()?;
        let open: Vec<String> = jobs
            .iter()
            .filter(|j| j.status != store::jobs::JobStatus::Done)
            .map(|j| {
                format!(
                    "{} #{:?} {} run at {} attempts {} ({:?})",
                    j.kind, j.request_id, j.status, j.run_at, j.attempts, j.last_error
                )
            })
            .collect();
        *short.lock().unwrap() = format!("\nnot expired: {left:?}\njobs not done: {open:?}");
        None
    };
    let said = || {
        format!(
            "{}; the processes said:\n{}",
            short.lock().unwrap(),
            tail(&log)
        )
    };
    let all = eventually_saying("every request to be granted and expire", 300, said, expired).await;
    stop.store(true, Ordering::Relaxed);
    let (fleet, kills) = killer.await.unwrap();
    assert!(kills >= 10, "only {kills} kills");

    // On the server: nobody holds any of the roles any more.
    for i in 0..PEOPLE {
        for j in 0..RESOURCES {
            let (who, role) = (format!("{p}_u{i:02}"), format!("{p}_r{j}"));
            assert!(!roles.member(&who, &role).await, "{who} still in {role}");
        }
    }
    // In Gatehouse: one grant per request, made once and removed once.
    for r in &all {
        let grants = store::grants::for_request(conn.conn(), r.id.get())
            .await
            .unwrap();
        assert_eq!(grants.len(), 1, "request {}", r.id);
        assert!(grants[0].revoked_at.is_some());
        let actions: Vec<_> = store::audit::for_request(conn.conn(), r.id.get())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for once in ["requested", "approved", "provisioned", "expired"] {
            assert_eq!(
                actions.iter().filter(|a| *a == once).count(),
                1,
                "request {}: {actions:?}",
                r.id
            );
        }
    }
    assert!(matches!(
        gatehouse::audit::verify(&conn).await.unwrap(),
        gatehouse::audit::Verdict::Intact { .. }
    ));
    // In Slack: once every message has gone out, each person heard each step of each
    // request exactly once.
    within("every message to go out", 120, &log, || async {
        let jobs = store::jobs::list(conn.conn(), None).await.ok()?;
        let pending = jobs.iter().any(|j| {
            j.kind == "notify"
                && matches!(
                    j.status,
                    store::jobs::JobStatus::Queued | store::jobs::JobStatus::Running
                )
        });
        (!pending).then_some(())
    })
    .await;
    for (i, person) in people.iter().enumerate() {
        let dms: Vec<String> = sim.dms(person).iter().map(shown).collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for j in 0..RESOURCES {
            for step in [
                format!("You now have access to *Role {j}*"),
                format!("Your access to *Role {j}* has expired"),
            ] {
                let n = dms.iter().filter(|d| d.contains(&step)).count();
                counts.insert(step, n);
            }
        }
        assert!(
            counts.values().all(|n| *n == 1),
            "person {i}: {counts:?}\n{}",
            tail(&log)
        );
    }
    drop(fleet);
    conn.close().await.unwrap();
    roles.drop_all().await;
    db.close().await;
}

/// A ✅ Slack delivered, and Gatehouse acked, is not redelivered: if the process dies between
/// the ack and the decision, only the catch-up (reactions read back at the next start) can
/// apply it. Slack answering `users.info` slowly holds the decision open for the SIGKILL.
#[tokio::test]
async fn a_check_mark_acked_just_before_a_sigkill_is_applied_after_the_restart() {
    let db = TestDb::sqlite();
    let sim = SlackSim::start(workspace()).await.unwrap();
    let (mut fleet, log) = Fleet::new(
        &db.url,
        &sim,
        &[
            ("GATEHOUSE_CONFIG", "gatehouse.toml"),
            ("GATEHOUSE_LOG", "info"),
            ("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0"),
            ("GATEHOUSE_SLACK_CONNECTIONS", "1"),
        ],
        vec![crate::support::catalog::desk_ledger("UADA", "UBOB")],
    );
    fleet.spawn();
    within("the process to connect", 60, &log, || async {
        (sim.connection_count() > 0).then_some(())
    })
    .await;
    let ack = sim
        .slash_command("UALICE", CHANNEL, "/request-access", "ledger 1h")
        .await
        .unwrap();
    assert!(
        ack.payload.unwrap()["text"]
            .as_str()
            .unwrap_or_default()
            .contains("is submitted")
    );
    let card = within("the request's card", 30, &log, || async {
        sim.messages(CHANNEL)
            .into_iter()
            .find(|m| shown(m).contains("Access request #1"))
    })
    .await;

    // Bob's ✅ is acked at once; deciding it asks Slack about people (users.info), slowly now.
    sim.sim().slow_down("users.info", Duration::from_secs(30));
    let out = sim
        .add_reaction("UBOB", CHANNEL, &card.ts, "white_check_mark")
        .await
        .unwrap()
        .expect("the event is sent");
    assert!(out.acked, "the ✅ is acked");
    // The decision waits on Slack (whose answer the app gives up on after 10 s): kill it there.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let wf_db = store::Db::connect(&db.url).await.unwrap();
    let pending = store::requests::get(wf_db.conn(), gatehouse::domain::RequestId::new(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.status, Status::Pending, "killed before deciding");
    fleet.kill_one(0).await;

    // Slack is quick again; the ✅ event is never sent again. The next process reads it back.
    sim.sim().slow_down("users.info", Duration::ZERO);
    fleet.spawn();
    let decided = within("the ✅ applied after the restart", 30, &log, || async {
        let r = store::requests::get(wf_db.conn(), gatehouse::domain::RequestId::new(1))
            .await
            .unwrap()
            .unwrap();
        (r.status != Status::Pending).then_some(r)
    })
    .await;
    assert_eq!(decided.decided_by.as_deref(), Some("UBOB"));
    let approvals =
        store::approvals::of_request(wf_db.conn(), gatehouse::domain::RequestId::new(1))
            .await
            .unwrap();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    within("Alice's DM that Bob approved", 30, &log, || async {
        sim.dms("UALICE")
            .iter()
            .map(shown)
            .find(|t| t.contains("approved your request #1"))
    })
    .await;
    let sent: Vec<_> = sim
        .envelopes()
        .into_iter()
        .filter(|e| e.event_id.as_deref() == Some(out.event_id.as_str()))
        .collect();
    assert_eq!(sent.len(), 1, "Slack sent the ✅ once: {sent:?}");
    fleet.kill_one(0).await;
    db.close().await;
}
