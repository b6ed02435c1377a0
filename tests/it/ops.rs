//! Operating it: `/healthz`, `/readyz` and `/metrics` on the app's own port (0: a free one), and
//! what SIGTERM does to a `gatehouse serve` process with a job in hand.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use gatehouse::domain::Status;
use gatehouse::store;
use sea_orm::{ConnectionTrait, TransactionTrait};
use slack_sim::SlackSim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::app::CATALOG;
use crate::support::bin::{card_in_channel, connected, terminate};
use crate::support::db::postgres_server;
use crate::support::here::test_name;
use crate::support::made_roles::made_roles;
use crate::support::pg::{prefix, quoted};
use crate::support::platform::FakePlatform;
use crate::support::serve_env::serve_env;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, person, workspace};
use crate::support::{TestDb, backends};

const HTTP_ON_ANY_PORT: (&str, &str) = ("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0");

/// A plain HTTP/1.1 GET; returns the status code and the body.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// One sample of the text exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads the exposition's samples (the format's `name{k="v",…} value` lines).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of `name` whose labels include `labels`; None when there is no such series.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// Alice asks for analytics-ro with a reason, and Bob's ✅ makes it active (request #1).
async fn alice_gets_analytics(t: &SlackTestApp) {
    t.granted("UALICE", "analytics-ro 8h weekly numbers", 1, "UBOB")
        .await;
}

async fn with_http(db: &TestDb) -> (SlackTestApp, SocketAddr) {
    let sim = SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_env(
        db,
        &CATALOG,
        sim,
        false,
        FakePlatform::default(),
        &[HTTP_ON_ANY_PORT],
    )
    .await;
    let addr = t.app.http_addr().expect("the HTTP server is on");
    assert_ne!(addr.port(), 0, "the real port is known");
    (t, addr)
}

/// Waits until `/metrics` shows `name{labels}` at `want`; returns the exposition.
async fn metric_reaches(
    addr: SocketAddr,
    name: &str,
    labels: &[(&str, &str)],
    want: f64,
) -> String {
    eventually(&format!("{name}{labels:?} = {want}"), 30, || async {
        let (status, text) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        (value(&text, name, labels) == Some(want)).then_some(text)
    })
    .await
}

#[tokio::test]
async fn health_readiness_and_metrics_follow_a_real_request() {
    for db in backends().await {
        let (t, addr) = with_http(&db).await;
        assert_eq!(get(addr, "/healthz").await, (200, "ok\n".to_owned()));
        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 200, "{body}");
        let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ready["checks"]["database"]["ok"], true, "{ready}");
        assert_eq!(ready["checks"]["slack"]["state"], "connected", "{ready}");
        assert_eq!(get(addr, "/nothing-here").await.0, 404);

        // Alice asks, Bob ✅s, the platform grants.
        alice_gets_analytics(&t).await;
        let text = metric_reaches(addr, "gatehouse_requests", &[("state", "active")], 1.0).await;
        assert_eq!(
            value(&text, "gatehouse_requests", &[("state", "pending")]),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                "gatehouse_provisioning_seconds_count",
                &[("platform", "manual"), ("connector", "manual")]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                "gatehouse_jobs_total",
                &[("kind", "provision"), ("outcome", "done")]
            ),
            Some(1.0),
            "{text}"
        );
        let posted = value(
            &text,
            "gatehouse_slack_api_calls_total",
            &[("method", "chat.postMessage")],
        )
        .unwrap_or(0.0);
        assert!(posted >= 1.0, "{text}");
        // Alice's one-line request and Bob's ✅, each acked once, within Slack's 3 seconds.
        for envelope in ["slash_commands", "events_api"] {
            let acked = |name| value(&text, name, &[("envelope", envelope)]);
            assert!(
                acked("gatehouse_slack_ack_seconds_count") >= Some(1.0),
                "{text}"
            );
            assert_eq!(
                acked("gatehouse_slack_ack_seconds_count"),
                value(
                    &text,
                    "gatehouse_slack_ack_seconds_bucket",
                    &[("le", "2.048"), ("envelope", envelope)]
                ),
                "{text}"
            );
        }
        assert_eq!(
            value(
                &text,
                "gatehouse_slack_api_calls_total",
                &[("method", "auth.test")]
            ),
            Some(1.0),
            "{text}"
        );

        // Slack answers the next post with 429 Retry-After: 7; the job waits that long.
        t.sim.rate_limit("chat.postMessage", 1, 7);
        t.request_access("UDAVE", "finance-pii 1h").await;
        let text = metric_reaches(
            addr,
            "gatehouse_rate_limit_waits_total",
            &[("cause", "retry_after")],
            1.0,
        )
        .await;
        assert_eq!(
            value(
                &text,
                "gatehouse_rate_limit_wait_seconds_total",
                &[("cause", "retry_after")]
            ),
            Some(7.0)
        );
        assert_eq!(
            value(
                &text,
                "gatehouse_slack_api_errors_total",
                &[("method", "chat.postMessage"), ("error", "rate_limited")]
            ),
            Some(1.0),
            "{text}"
        );
        // The retried post goes out once the clock passes Retry-After.
        t.clock.advance(chrono::Duration::seconds(8));
        t.run_jobs().await;
        let msg = t.request_message(2).await;

        // Fiona approves, and the platform refuses: counted by platform and class, reported
        // in /readyz, which still says ready (one platform's trouble is not the bot's).
        t.platform.fail_next(1, false);
        t.tick("UFIONA", &msg).await;
        t.wait_for(2, Status::Failed).await;
        metric_reaches(
            addr,
            "gatehouse_connector_errors_total",
            &[
                ("platform", "manual"),
                ("connector", "manual"),
                ("class", "permanent"),
            ],
            1.0,
        )
        .await;
        metric_reaches(
            addr,
            "gatehouse_jobs_total",
            &[("kind", "provision"), ("outcome", "failed")],
            1.0,
        )
        .await;
        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 200, "{body}");
        let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
        let manual = &ready["connectors"]["manual"];
        assert_eq!(manual["state"], "failing", "{ready}");
        assert_eq!(manual["last_error_class"], "permanent", "{ready}");
        assert!(
            !body.contains("does not exist"),
            "the platform's words stay out of /readyz: {body}"
        );
        t.stop().await;
        db.close().await;
    }
}

#[tokio::test]
async fn two_apps_in_one_process_count_apart() {
    let db = TestDb::sqlite();
    let (first, first_addr) = with_http(&db).await;
    alice_gets_analytics(&first).await;
    let other_db = TestDb::sqlite();
    let (second, second_addr) = with_http(&other_db).await;
    assert_ne!(first_addr, second_addr);
    let (_, text) = get(second_addr, "/metrics").await;
    assert_eq!(
        value(
            &text,
            "gatehouse_provisioning_seconds_count",
            &[("platform", "manual")]
        ),
        None,
        "the second app granted nothing: {text}"
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn readyz_names_the_database_when_it_is_gone() {
    let Some(server) = postgres_server(test_name!()) else {
        return;
    };
    let db = TestDb::postgres().await.expect("a PostgreSQL server");
    let (t, addr) = with_http(&db).await;
    assert_eq!(get(addr, "/readyz").await.0, 200);
    // The database is dropped under the running app (its connections with it).
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let admin = sea_orm::Database::connect(server.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["checks"]["database"]["ok"], false, "{ready}");
    assert_eq!(ready["checks"]["slack"]["ok"], true, "{ready}");
    assert_eq!(ready["status"], "not ready");
    // Alive all the same: a restart would not bring the database back.
    assert_eq!(get(addr, "/healthz").await.0, 200);
    admin.close().await.ok();
    t.stop().await;
    db.close().await;
}

/// `gatehouse serve` against slack-sim, with `env`; its log goes to `log`.
fn serve(dir: &std::path::Path, env: &[(String, String)]) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn log_of(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
}

#[tokio::test]
async fn sigterm_with_nothing_in_hand_exits_promptly() {
    let sim = SlackSim::start(workspace()).await.unwrap();
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/gatehouse.example.toml");
    std::fs::copy(example, dir.path().join("gatehouse.toml")).unwrap();
    let env = serve_env(
        &db.url,
        &sim,
        &[HTTP_ON_ANY_PORT, ("GATEHOUSE_LOG", "info")],
    );
    let mut child = serve(dir.path(), &env);
    connected(&sim, 60).await;
    let (took, code) = terminate(&mut child, Duration::from_secs(20)).await;
    let log = log_of(dir.path());
    assert_eq!(code, Some(0), "{log}");
    eprintln!("SIGTERM with nothing in hand: exited in {took:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn sigterm_gives_back_a_job_stuck_on_its_platform_and_another_process_finishes_it() {
    let Some(server) = postgres_server(test_name!()) else {
        return;
    };
    let db = TestDb::postgres().await.expect("a PostgreSQL server");
    let p = prefix();
    let (roles, [who, role]) = made_roles(&server, &p, [("pat", true), ("role", false)]).await;

    let mut ws = workspace();
    ws.users.push(person("UPAT", &who, "UTC"));
    for c in &mut ws.channels {
        c.members.push("UPAT".into());
    }
    let sim = SlackSim::start(ws).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let catalog = format!(
        "admins = [\"UADA\"]\n\n[defaults]\nreason_required = false\n\n\
         [connectors.warehouse]\nkind = \"postgres\"\nurl = {{ env = \"WAREHOUSE_URL\" }}\nlink = \"local-part\"\n\n\
         [[resources]]\nid = \"wh\"\nname = \"Warehouse\"\nconnector = \"warehouse\"\n\
         grant = {{ role = \"{role}\" }}\nreviewers = [\"UBOB\"]\n"
    );
    std::fs::write(dir.path().join("gatehouse.toml"), catalog).unwrap();
    let env = serve_env(
        &db.url,
        &sim,
        &[
            ("WAREHOUSE_URL", server.as_str()),
            ("GATEHOUSE_CONFIG", "gatehouse.toml"),
            ("GATEHOUSE_SLACK_PACE", "none"),
            HTTP_ON_ANY_PORT,
            ("GATEHOUSE_LOG", "info"),
        ],
    );

    // The test grants the same membership in a transaction it keeps open: the platform's own
    // GRANT waits on that row's lock for as long as the test likes.
    let blocker = roles.admin.begin().await.unwrap();
    blocker
        .execute_unprepared(&format!("GRANT {} TO {}", quoted(&role), quoted(&who)))
        .await
        .unwrap();

    let mut first = serve(dir.path(), &env);
    connected(&sim, 60).await;
    sim.slash_command("UPAT", CHANNEL, "/request-access", "wh 1h")
        .await
        .unwrap();
    let card = card_in_channel(&sim, 1).await;
    sim.add_reaction("UBOB", CHANNEL, &card.ts, "white_check_mark")
        .await
        .unwrap();
    let conn = db.connect().await;
    let provision = || async {
        store::jobs::list(conn.conn(), None)
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.kind == "provision")
    };
    // In hand: claimed, and its GRANT waiting on the test's lock on the server.
    eventually(
        "the provision job in hand, its GRANT waiting",
        30,
        || async {
            let job = provision().await?;
            let waiting = roles
                .admin
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT count(*)::bigint AS n FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND query ILIKE 'GRANT%'",
                ))
                .await
                .ok()??
                .try_get::<i64>("", "n")
                .ok()?;
            (job.status == store::jobs::JobStatus::Running && waiting > 0).then_some(job)
        },
    )
    .await;

    let (took, code) = terminate(&mut first, Duration::from_secs(20)).await;
    let log = log_of(dir.path());
    assert_eq!(code, Some(0), "{log}");
    eprintln!("SIGTERM with a stuck job in hand: exited in {took:?}");
    let job = provision().await.unwrap();
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    assert_eq!(job.status, store::jobs::JobStatus::Running, "{job:?}");
    let lease = job.lease_until.expect("a lease");
    assert!(
        lease <= now,
        "the lease ends now, not in 5 minutes: {job:?}"
    );
    assert_eq!(
        job.attempts, 0,
        "the interrupted attempt is not counted: {job:?}"
    );
    assert!(log.contains("gave it back to the queue"), "{log}");

    // The lock goes; a second process takes the job at once (well before the 300 s lease).
    blocker.rollback().await.unwrap();
    let mut second = serve(dir.path(), &env);
    eventually("the second process to grant it", 60, || async {
        let r = store::requests::list_all(conn.conn()).await.ok()?;
        (r.first()?.status == Status::Active).then_some(())
    })
    .await;
    assert!(roles.member(&who, &role).await, "the role is granted");
    let (_, code) = terminate(&mut second, Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "{}", log_of(dir.path()));
    conn.close().await.unwrap();
    roles.drop_all().await;
    sim.shutdown().await;
    db.close().await;
}

#[tokio::test]
async fn a_taken_port_is_a_clear_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = TestDb::sqlite();
    let config = crate::support::app::config_for(&db, &CATALOG, &[("GATEHOUSE_HTTP_ADDR", &addr)]);
    let mut opts = gatehouse::AppOptions::new(std::sync::Arc::new(FakePlatform::default()));
    opts.background_worker = false;
    opts.http = true;
    let Err(err) = gatehouse::App::start(config, opts).await else {
        panic!("started on a port another socket holds");
    };
    let said = err.to_string();
    assert!(
        said.contains(&format!("GATEHOUSE_HTTP_ADDR={addr}")) && said.contains("off"),
        "{said}"
    );
}

#[tokio::test]
async fn readyz_is_503_until_socket_mode_says_hello() {
    // A Slack that accepts both tokens but whose Socket Mode address takes the connection and
    // never answers the handshake: no hello ever comes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socket_url = format!("ws://{}/link", silent.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let slack = axum::Router::new()
        .route(
            "/api/auth.test",
            axum::routing::post(|| async {
                axum::Json(
                    serde_json::json!({ "ok": true, "user_id": "U0BOT", "team_id": "T0TEAM" }),
                )
            }),
        )
        // The start-up check that Gatehouse is in the Access Requests channel.
        .route(
            "/api/conversations.history",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({ "ok": true, "messages": [] }))
            }),
        )
        .route(
            "/api/apps.connections.open",
            axum::routing::post(move || {
                let url = socket_url.clone();
                async move { axum::Json(serde_json::json!({ "ok": true, "url": url })) }
            }),
        );
    let web = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/api", web.local_addr().unwrap());
    let web = tokio::spawn(async move { axum::serve(web, slack).await });

    let db = TestDb::sqlite();
    let config = crate::support::app::config_for(
        &db,
        &CATALOG,
        &[
            ("SLACK_BOT_TOKEN", "xoxb-test-token"),
            ("SLACK_APP_TOKEN", "xapp-test-token"),
            ("SLACK_API_URL", &api_url),
            ("ACCESS_REQUESTS_CHANNEL", CHANNEL),
            HTTP_ON_ANY_PORT,
        ],
    );
    let mut opts = gatehouse::AppOptions::new(std::sync::Arc::new(FakePlatform::default()));
    opts.background_worker = false;
    opts.http = true;
    let app = gatehouse::App::start(config, opts).await.unwrap();
    assert!(!app.slack_connected(Duration::from_millis(300)).await);
    let addr = app.http_addr().unwrap();
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["checks"]["slack"]["ok"], false, "{ready}");
    assert_eq!(ready["checks"]["database"]["ok"], true, "{ready}");
    assert_eq!(get(addr, "/healthz").await.0, 200);
    app.shutdown().await;
    web.abort();
    silent.abort();
}
