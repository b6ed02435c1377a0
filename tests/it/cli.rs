//! The `gatehouse` binary as a newcomer meets it: clear errors that name the file, line and
//! key, or the missing setting.
use crate::support::TestDb;
use crate::support::app::TestApp;
use crate::support::bin::scrubbed;
use crate::support::db::postgres_server;
use crate::support::here::test_name;
use crate::support::made_roles::made_roles;
use crate::support::serve_env::{pairs, serve_env};
use gatehouse::workflow::Via;
use std::process::{Command, Output};

fn gatehouse(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args);
    scrubbed(cmd, dir, env).output().unwrap()
}

/// Checks that the command exited with `code` and said `message` on stderr.
fn failed_saying(out: &Output, code: i32, message: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(stderr(out).contains(message), "{}", stderr(out));
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// With `catalog` on `db`, Alice asks for `resource` (saying `reason`) and Bob approves it; the
/// jobs that follow have run and Gatehouse has stopped when it returns, for the binary to read.
async fn alice_approved_by_bob(db: &TestDb, catalog: &str, resource: &str, reason: Option<&str>) {
    let t = TestApp::start_with(db, catalog).await;
    let r = t.submit("UALICE", resource, None, reason).await;
    t.approve(&r, "UBOB", Via::Reaction).await;
    t.run_jobs().await;
    t.stop().await;
}

#[test]
fn check_config_accepts_the_example_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/gatehouse.example.toml");
    std::fs::copy(example, dir.path().join("gatehouse.toml")).unwrap();
    let out = gatehouse(dir.path(), &["check-config"], &[]);
    let stdout = printed(&out);
    assert!(
        stdout.contains("gatehouse.toml: 1 connector(s), 2 resource(s), 1 admin(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "analytics-ro (Analytics warehouse (read-only)) via manual: default 8h, max 3d"
        )
    );
}

#[test]
fn a_malformed_catalog_is_reported_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog.toml"),
        "[connectors.manual]\nkind = \"manual\"\n\n[[resources]]\nid = \"x\"\nname = \"X\"\nconnector = \"manual\"\nmax_duration = \"forever\"\n",
    )
    .unwrap();
    let out = gatehouse(
        dir.path(),
        &["check-config"],
        &[("GATEHOUSE_CONFIG", "catalog.toml")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("catalog.toml:8: [[resources]] max_duration: `forever` is not a duration; write it like 30m, 8h or 7d"),
        "{err}"
    );
}

#[test]
fn a_missing_catalog_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(dir.path(), &["check-config"], &[]);
    failed_saying(&out, 1, "gatehouse.toml: cannot read the catalog");
    assert!(stderr(&out).contains("copy gatehouse.example.toml"));
}

#[test]
fn serve_without_slack_tokens_names_the_missing_setting() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/gatehouse.example.toml");
    std::fs::copy(example, dir.path().join("gatehouse.toml")).unwrap();
    let out = gatehouse(dir.path(), &["serve"], &[]);
    failed_saying(&out, 1, "SLACK_BOT_TOKEN is not set");

    let out = gatehouse(
        dir.path(),
        &["serve"],
        &[("SLACK_BOT_TOKEN", "xoxp-user-token-secret-123")],
    );
    failed_saying(&out, 1, "SLACK_BOT_TOKEN: is not a bot token");
    assert!(
        !stderr(&out).contains("secret-123"),
        "the token is never printed"
    );
}

#[test]
fn migrate_creates_the_schema_and_can_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    for _ in 0..2 {
        let out = gatehouse(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]);
        assert_eq!(printed(&out).trim(), "database is up to date");
    }
    let out = gatehouse(dir.path(), &["audit", "verify"], &[("DATABASE_URL", &url)]);
    assert!(printed(&out).starts_with("audit log intact: 0 rows"));
}

#[test]
fn bad_export_dates_say_how_to_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(
        dir.path(),
        &["audit", "export", "--since", "last tuesday"],
        &[],
    );
    failed_saying(&out, 2, "write 2026-11-01 or 2026-11-01T09:00:00Z");
}

#[tokio::test]
async fn check_and_access_answer_at_the_command_line_in_words_and_json() {
    use crate::support::app::CATALOG;
    let db = crate::support::TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gatehouse.toml"), &*CATALOG).unwrap();
    alice_approved_by_bob(&db, &CATALOG, "analytics-ro", Some("weekly numbers")).await;
    let env = [("DATABASE_URL", db.url.as_str())];

    let out = gatehouse(dir.path(), &["check", "UALICE", "analytics-ro"], &env);
    let text = printed(&out);
    assert!(
        text.starts_with("✅ Yes: UALICE has access to Analytics (read-only) (`analytics-ro`).\n• Gatehouse: request #1 (active), approved by UBOB"),
        "{text}"
    );
    assert!(
        text.contains("not checked on the platform: changes to it are made by hand"),
        "{text}"
    );

    let out = gatehouse(
        dir.path(),
        &["access", "--resource", "analytics-ro", "--json"],
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["question"], "who_has");
    assert_eq!(v["holders"][0]["user"], "UALICE");
    assert_eq!(v["holders"][0]["grant"]["request"], 1);
    assert_eq!(v["holders"][0]["has_access"], true);

    let out = gatehouse(dir.path(), &["access", "--user", "UALICE", "--json"], &env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"][0]["resource"]["id"], "analytics-ro", "{v}");

    let out = gatehouse(dir.path(), &["check", "UALICE", "analytcs-ro"], &env);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("there is no resource `analytcs-ro`; did you mean `analytics-ro`?"),
        "{}",
        stderr(&out)
    );
    let out = gatehouse(dir.path(), &["check", "nobody", "analytics-ro"], &env);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("I don't know anyone called `nobody`"),
        "{}",
        stderr(&out)
    );
}

/// `gatehouse` with these arguments and settings, off the test's runtime (which may be serving
/// slack-sim to it).
async fn gatehouse_async(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        gatehouse(&dir, &args, &env)
    })
    .await
    .unwrap()
}

/// Checks that the command exited 0 (showing what it said on stderr if not); what it printed.
fn printed(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn the_operator_revokes_access_at_the_command_line_and_the_holder_is_told_why() {
    use crate::support::pg::prefix;
    use crate::support::slack::{CHANNEL, SlackTestApp, eventually, shown, workspace};
    use gatehouse::domain::Status;
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    for db in crate::support::backends().await {
        let wanted = [("alice", true), ("fin", false)];
        let p = prefix();
        let (roles, [alice, role]) = made_roles(&url, &p, wanted).await;
        let catalog = format!(
            "admins = [\"UADA\"]\n\n[connectors.warehouse]\nkind = \"postgres\"\nurl = {{ env = \"GATEHOUSE_TEST_POSTGRES_URL\" }}\n\n[[resources]]\nid = \"finance\"\nname = \"Finance\"\nconnector = \"warehouse\"\ngrant = {{ role = \"{role}\" }}\nreviewers = [\"UBOB\"]\nreason_required = false\n"
        );
        let sim = slack_sim::SlackSim::start(workspace()).await.unwrap();
        let t = SlackTestApp::start_registry(&db, &catalog, sim).await;
        // The command runs on the real clock: the grant is made on it too, so that it has not
        // ended by then.
        t.clock.set(chrono::DateTime::<chrono::Utc>::from(
            std::time::SystemTime::now(),
        ));
        let msg = t.ask("UALICE", "finance 2h", 1).await;
        let form = t.approve_and_open_picker_of(1, &msg, "UBOB").await;
        t.pick(&form, "UBOB", &alice).await;
        t.wait_for(1, Status::Active).await;
        t.dm_for("UALICE", "You now have access to *Finance*").await;
        assert!(roles.member(&alice, &role).await);
        // Gatehouse is stopped; the operator is at the command line.
        let sim = t.restart_later().await;

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gatehouse.toml"), &catalog).unwrap();
        let env = serve_env(&db.url, &sim, &[]);
        let env = pairs(&env);
        // What is typed, the exit code, and what the operator reads.
        let refused: [(&[&str], i32, &str); 3] = [
            (
                &["revoke", "1"],
                1,
                "cannot revoke request #1: revoking access needs a reason (--reason TEXT)",
            ),
            (
                &["revoke", "99", "--reason", "x"],
                1,
                "cannot revoke request #99: there is no request #99",
            ),
            (
                &["revoke", "one", "--reason", "x"],
                2,
                "`one` is not a request number; write it like 42 or #42",
            ),
        ];
        for (args, code, message) in refused {
            let out = gatehouse_async(dir.path(), args, &env).await;
            failed_saying(&out, code, message);
        }
        assert!(roles.member(&alice, &role).await, "nothing changed yet");

        let why = "the warehouse connector is retired";
        let out = gatehouse_async(dir.path(), &["revoke", "#1", "--reason", why], &env).await;
        assert_eq!(
            printed(&out).trim(),
            format!("request #1: access removed (REVOKE \"{role}\" FROM \"{alice}\")"),
            "{}",
            db.name
        );
        assert!(
            !roles.member(&alice, &role).await,
            "gone when the command returns"
        );
        let told = sim
            .dms("UALICE")
            .iter()
            .map(shown)
            .find(|d| d.contains("removed your access"))
            .unwrap_or_default();
        assert_eq!(
            told,
            format!(
                "🔒 The Gatehouse operator removed your access to *Finance* (request #1): {why}"
            )
        );
        let card = eventually("the card", 5, || async {
            sim.messages(CHANNEL)
                .into_iter()
                .map(|m| shown(&m))
                .find(|m| m.contains("Access request #1"))
        })
        .await;
        assert!(
            card.contains(&format!(
                "🔒 *Revoked* by the Gatehouse operator: {why} — access removed"
            )),
            "{card}"
        );
        let check = gatehouse::store::Db::connect(&db.url).await.unwrap();
        let audit: Vec<(String, String)> = gatehouse::store::audit::for_request(check.conn(), 1)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action))
            .collect();
        assert!(
            audit.ends_with(&[
                ("command-line".into(), "revoking".into()),
                ("gatehouse".into(), "revoked".into())
            ]),
            "{audit:?}"
        );
        check.conn().clone().close().await.ok();

        let out = gatehouse_async(dir.path(), &["revoke", "1", "--reason", why], &env).await;
        failed_saying(
            &out,
            1,
            "cannot revoke request #1: this request cannot be revoked because it has been revoked",
        );
        sim.shutdown().await;
        roles.drop_all().await;
        db.close().await;
    }
}

/// A catalog with two manual connectors; `keys` is granted through `vault` as `task`, unless
/// `vault` is None (the connector and its resource removed).
fn vault_catalog(vault: Option<&str>) -> String {
    let mut c = String::from(
        "admins = [\"UADA\"]\n\n[connectors.desk]\nkind = \"manual\"\n\n[[resources]]\nid = \"badge\"\nname = \"Badge\"\nconnector = \"desk\"\ngrant = { task = \"print a badge\" }\nreviewers = [\"UBOB\"]\nreason_required = false\n",
    );
    if let Some(task) = vault {
        c += &format!(
            "\n[connectors.vault]\nkind = \"manual\"\n\n[[resources]]\nid = \"keys\"\nname = \"Keys\"\nconnector = \"vault\"\ngrant = {{ task = \"{task}\" }}\nreviewers = [\"UBOB\"]\nreason_required = false\n"
        );
    }
    c
}

#[tokio::test]
async fn check_config_lists_live_grants_the_catalog_changed_and_fails_on_a_stranded_connector() {
    let db = crate::support::TestDb::sqlite();
    alice_approved_by_bob(&db, &vault_catalog(Some("hand over key A")), "keys", None).await;
    let dir = tempfile::tempdir().unwrap();
    let check = |catalog: String| {
        std::fs::write(dir.path().join("gatehouse.toml"), catalog).unwrap();
        gatehouse(
            dir.path(),
            &["check-config"],
            &[("DATABASE_URL", db.url.as_str())],
        )
    };

    let out = check(vault_catalog(Some("hand over key A")));
    assert!(
        printed(&out).contains("live grants: all match the catalog"),
        "{}",
        stdout(&out)
    );

    let out = check(vault_catalog(Some("hand over key B")));
    assert!(
        printed(&out).contains("1 live grant of `keys` grant task “hand over key A” on `vault` (the catalog now says task “hand over key B” on `vault`); they end as granted"),
        "{}",
        stdout(&out)
    );

    let out = check(vault_catalog(None));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("1 live grant of `keys`")
            && stdout(&out).contains("the resource is no longer in the catalog"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("`gatehouse serve` would not start: connector `vault` is no longer in the catalog, but live grants made through it must still be taken away (requests #1)")
            && err.contains("gatehouse revoke ID --reason TEXT"),
        "{err}"
    );

    // No database there: said in one line, the catalog still checked, and no file made.
    let out = gatehouse(dir.path(), &["check-config"], &[]);
    let said: Vec<String> = printed(&out)
        .lines()
        .filter(|l| l.contains("live grants"))
        .map(str::to_owned)
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("live grants not compared: cannot open the database (DATABASE_URL)"),
        "{said:?}"
    );
    assert!(!dir.path().join("gatehouse.db").exists());
}

#[tokio::test]
async fn an_operator_revoke_of_access_made_by_hand_asks_an_admin_and_goes_ahead_without_slack() {
    use crate::support::app::CATALOG;
    use crate::support::slack::{CHANNEL, SlackTestApp, eventually, shown};
    use gatehouse::domain::Status;
    let db = crate::support::TestDb::sqlite();
    let t = SlackTestApp::start(&db).await;
    // The command runs on the real clock: the grants are made on it too, so that neither has
    // ended by then.
    t.clock.set(chrono::DateTime::<chrono::Utc>::from(
        std::time::SystemTime::now(),
    ));
    for (n, who, reviewer, ask) in [
        (1, "UALICE", "UBOB", "analytics-ro 8h month end"),
        (2, "UDAVE", "UFIONA", "finance-pii 2h"),
    ] {
        t.granted(who, ask, n, reviewer).await;
    }
    let card = t.request_message(1).await;
    let sim = t.restart_later().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gatehouse.toml"), &*CATALOG).unwrap();
    let api_url = sim.api_url();
    let mut env = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("SLACK_BOT_TOKEN", sim.bot_token()),
        ("SLACK_APP_TOKEN", sim.app_token()),
        ("SLACK_API_URL", api_url.as_str()),
        ("ACCESS_REQUESTS_CHANNEL", CHANNEL),
    ];
    let args = ["revoke", "1", "--reason", "incident 4411"];
    let out = gatehouse_async(dir.path(), &args, &env).await;
    assert_eq!(
        printed(&out).trim(),
        "request #1: being revoked by hand: an admin is asked in the request's Slack thread to remove the access and press Done"
    );
    eventually("the admin's task in the thread", 5, || async {
        sim.thread(CHANNEL, &card.ts)
            .iter()
            .map(shown)
            .find(|m| m.contains("By hand, for an admin* (") && m.contains("undo this for"))
    })
    .await;

    // Slack cannot be reached: the access is still ended, and the operator is told what is left.
    // A notice `serve` queued meanwhile is left for it, not counted as delivered.
    let check = gatehouse::store::Db::connect(&db.url).await.unwrap();
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let spec = gatehouse::jobs::JobSpec::Notify {
        request: gatehouse::domain::RequestId::new(2),
        notice: gatehouse::workflow::Notice::ExpiringSoon,
        audience: gatehouse::workflow::Audience::Requester,
    };
    let queued = gatehouse::jobs::enqueue(check.conn(), &spec, now, 3, now)
        .await
        .unwrap();
    env[3] = ("SLACK_API_URL", "http://127.0.0.1:9/api");
    let args = ["revoke", "2", "--reason", "incident 4411"];
    let out = gatehouse_async(dir.path(), &args, &env).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("warning: cannot reach Slack at SLACK_API_URL")
            && err.contains("revoking without telling anyone in Slack"),
        "{err}"
    );
    assert!(
        err.contains("request #2: its access is removed by hand, and Slack could not ask an admin to: remove it yourself, then close the request with `/access-admin close #2 REASON`"),
        "{err}"
    );
    assert!(!err.contains(sim.bot_token()), "no token in the output");
    let left = gatehouse::store::jobs::for_request(check.conn(), 2)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.id == queued)
        .unwrap();
    assert_eq!(left.status, gatehouse::store::jobs::JobStatus::Queued);
    let status =
        gatehouse::store::requests::get(check.conn(), gatehouse::domain::RequestId::new(2))
            .await
            .unwrap()
            .unwrap()
            .status;
    assert_eq!(status, Status::Revoking);
    sim.shutdown().await;
}

/// `check-config --platforms` on the real PostgreSQL: one line per resource — a role that
/// exists, one that does not, a service account without the right, a server that does not
/// answer, a task done by hand — and exit 1 until every resource can be granted.
#[tokio::test]
async fn check_config_platforms_says_what_each_resource_lacks_and_fails_until_all_can_be_granted() {
    use crate::support::pg::{prefix, quoted};
    use sea_orm::ConnectionTrait;
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    let wanted = [("analysts", false), ("svc", true)];
    let p = prefix();
    let (roles, [analysts, svc]) = made_roles(&url, &p, wanted).await;
    let run = |sql: String| {
        let admin = &roles.admin;
        async move { admin.execute_unprepared(&sql).await.unwrap() }
    };
    run(format!("ALTER ROLE {} PASSWORD 'svc-pw'", quoted(&svc))).await;
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let weak_url = format!("{scheme}://{svc}:svc-pw@{host}");
    let resource = |id: &str, connector: &str, grant: &str| {
        format!(
            "\n[[resources]]\nid = \"{id}\"\nname = \"{id}\"\nconnector = \"{connector}\"\ngrant = {grant}\nreviewers = [\"UBOB\"]\nreason_required = false\n"
        )
    };
    let mut catalog = String::from("admins = [\"UADA\"]\n");
    for (id, env) in [
        ("warehouse", "WAREHOUSE_URL"),
        ("weak", "WEAK_URL"),
        ("down", "DOWN_URL"),
    ] {
        catalog +=
            &format!("\n[connectors.{id}]\nkind = \"postgres\"\nurl = {{ env = \"{env}\" }}\n");
    }
    catalog += "\n[connectors.desk]\nkind = \"manual\"\n";
    let role = |name: &str| format!("{{ role = \"{name}\" }}");
    let fine = resource("analysts", "warehouse", &role(&analysts))
        + &resource("weak-analysts", "weak", &role(&analysts))
        + &resource("badge", "desk", "{ task = \"print a badge\" }");
    let broken = resource("ghost", "warehouse", &role(&format!("{p}_ghost")))
        + &resource("far", "down", &role(&analysts));
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("WAREHOUSE_URL", url.as_str()),
        ("WEAK_URL", weak_url.as_str()),
        ("DOWN_URL", "postgres://nobody:down-pw@127.0.0.1:1/none"),
    ];
    let check = |resources: String| {
        std::fs::write(
            dir.path().join("gatehouse.toml"),
            format!("{catalog}{resources}"),
        )
        .unwrap();
        gatehouse_async(dir.path(), &["check-config", "--platforms"], &env)
    };

    let out = check(format!("{fine}{broken}")).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stdout(&out);
    let line = |start: &str| {
        said.lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start}: {said}"))
            .trim()
            .to_owned()
    };
    // The test's login made the role: a superuser here, CREATEROLE in CI.
    assert!(
        line("✅ `analysts`").starts_with(&format!(
            "✅ `analysts`: role `{analysts}` on `warehouse`: role `{analysts}` exists; the service account `"
        )),
        "{said}"
    );
    assert_eq!(
        line("❌ `ghost`"),
        format!(
            "❌ `ghost`: role `{p}_ghost` on `warehouse`: role `{p}_ghost` does not exist on the server. Fix: create it (`CREATE ROLE \"{p}_ghost\" NOLOGIN`) and give it its privileges, or correct `grant` in the catalog"
        )
    );
    let weak = line("❌ `weak-analysts`");
    assert!(
        weak.contains(&format!(
            "the service account `{svc}` may not grant role `{analysts}`. Fix: "
        )) && weak.contains(&format!(
            "GRANT \"{analysts}\" TO \"{svc}\" WITH ADMIN OPTION"
        )),
        "{weak}"
    );
    assert!(
        line("⚠️ `far`").contains("the platform could not be asked: cannot reach PostgreSQL"),
        "{said}"
    );
    assert_eq!(
        line("✋ `badge`"),
        "✋ `badge`: task “print a badge” on `desk`: made by hand, nothing to ask"
    );
    assert!(
        said.contains("2 of 5 resource(s) can be granted and revoked"),
        "{said}"
    );
    assert!(
        !said.contains("svc-pw") && !said.contains("down-pw"),
        "{said}"
    );

    // Fixed as the line said, and the broken resources taken out: every resource can be granted.
    run(format!(
        "GRANT {} TO {} WITH ADMIN OPTION",
        quoted(&analysts),
        quoted(&svc)
    ))
    .await;
    let out = check(fine).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("3 of 3 resource(s) can be granted and revoked"));
    roles.drop_all().await;
}

/// `gatehouse ARGS 2>&1`: what a person at a terminal sees, both streams in one.
fn gatehouse_2_to_1(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"exec "$0" "$@" 2>&1"#,
        env!("CARGO_BIN_EXE_gatehouse"),
    ])
    .args(args);
    scrubbed(cmd, dir, env).output().unwrap()
}

/// A directory with the test catalog and a SQLite file the binary has migrated; the file's
/// URL.
fn migrated_sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        &*crate::support::app::CATALOG,
    )
    .unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let out = gatehouse(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, url)
}

/// The names of the tables in a SQLite database.
async fn sqlite_tables(url: &str) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let db = gatehouse::store::Db::connect(url).await.unwrap();
    let rows = db
        .conn()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        ))
        .await
        .unwrap();
    let names = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect();
    db.close().await.unwrap();
    names
}

#[test]
fn a_query_prints_its_answer_alone_even_with_info_logging() {
    let (dir, url) = migrated_sqlite();
    // As `.env.example` sets it: the queries still log nothing below a warning.
    let env = [("DATABASE_URL", url.as_str()), ("GATEHOUSE_LOG", "info")];
    let answer = "❌ No: UALICE does not have access to Analytics (read-only) (`analytics-ro`).\n\
        • Gatehouse: no grant of this access is live\n\
        • Platform (`manual`): not checked on the platform: changes to it are made by hand, so there is no platform to ask\n";
    let out = gatehouse(dir.path(), &["check", "UALICE", "analytics-ro"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "nothing but the answer");
    assert_eq!(stdout(&out), answer);
    let both = gatehouse_2_to_1(dir.path(), &["check", "UALICE", "analytics-ro"], &env);
    assert!(both.status.success());
    assert_eq!(stdout(&both), answer, "no log line among the answer's");

    for args in [
        &["access", "--resource", "analytics-ro", "--json"][..],
        &["access", "--user", "UALICE"],
        &["audit", "verify"],
        &["audit", "export"],
        &["check-config"],
    ] {
        let out = gatehouse(dir.path(), args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
        assert!(!stdout(&out).is_empty(), "{args:?}");
        let both = gatehouse_2_to_1(dir.path(), args, &env);
        let lines = |o: &Output| stdout(o).lines().count();
        assert_eq!(lines(&both), lines(&out), "{args:?}: {}", stdout(&both));
        assert!(!stdout(&both).contains("INFO"), "{args:?}");
    }
    // The two checks were audited: the export is those rows, in JSON lines, and nothing else.
    let out = gatehouse(dir.path(), &["audit", "export"], &env);
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 2, "{}", stdout(&out));
    assert!(rows.iter().all(|r| r["seq"].is_i64()), "{}", stdout(&out));
}

#[tokio::test]
async fn a_query_refuses_a_database_whose_schema_is_behind_and_leaves_it_so() {
    let behind = "error: the database schema is out of date: run `gatehouse migrate` first";
    let queries = [
        &["check", "UALICE", "analytics-ro"][..],
        &["access", "--user", "UALICE"],
        &["access", "--resource", "analytics-ro"],
        &["audit", "verify"],
        &["audit", "export"],
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        &*crate::support::app::CATALOG,
    )
    .unwrap();

    // An empty file: every migration is pending.
    let file = dir.path().join("empty.db");
    std::fs::File::create(&file).unwrap();
    let url = format!("sqlite://{}?mode=rwc", file.display());
    for args in queries {
        let out = gatehouse_async(dir.path(), args, &[("DATABASE_URL", &url)]).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&out).trim(), behind, "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert_eq!(
        sqlite_tables(&url).await,
        Vec::<String>::new(),
        "no table made"
    );

    // Migrated by an older Gatehouse: the last migration not yet recorded as applied.
    let (dir, url) = migrated_sqlite();
    {
        use sea_orm::ConnectionTrait;
        let db = gatehouse::store::Db::connect(&url).await.unwrap();
        db.conn()
            .execute_unprepared(
                "DELETE FROM seaql_migrations WHERE version = (SELECT MAX(version) FROM seaql_migrations)",
            )
            .await
            .unwrap();
        db.close().await.unwrap();
    }
    let pending = || async {
        let db = gatehouse::store::Db::connect(&url).await.unwrap();
        let pending = db.pending_migrations().await.unwrap();
        db.close().await.unwrap();
        pending
    };
    assert_eq!(pending().await.len(), 1);
    for args in queries {
        let out = gatehouse_async(dir.path(), args, &[("DATABASE_URL", &url)]).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&out).trim(), behind, "{args:?}");
    }
    assert_eq!(
        pending().await.len(),
        1,
        "still behind: the queries migrated nothing"
    );
    let out = gatehouse_async(dir.path(), &["check-config"], &[("DATABASE_URL", &url)]).await;
    assert!(
        printed(&out).contains(
            "live grants not compared: the database schema is out of date: run `gatehouse migrate` first"
        ),
        "{}",
        stdout(&out)
    );
    // No file at all: said so, and none is made.
    let missing = dir.path().join("missing.db");
    let url = format!("sqlite://{}?mode=rwc", missing.display());
    let out = gatehouse_async(dir.path(), &["audit", "verify"], &[("DATABASE_URL", &url)]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: there is no database at {} (DATABASE_URL): run `gatehouse migrate` first",
            missing.display()
        )
    );
    assert!(!missing.exists());
}

#[tokio::test]
async fn an_export_whose_reader_stops_after_one_line_ends_quietly() {
    use std::io::BufRead;
    let (dir, url) = migrated_sqlite();
    // Far more than a pipe holds (64 KiB), so that the export is still writing when its reader
    // goes.
    {
        let db = gatehouse::store::Db::connect(&url).await.unwrap();
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let tx = db.begin().await.unwrap();
        for n in 0..2000 {
            gatehouse::audit::record(
                &tx,
                at + chrono::Duration::seconds(n),
                gatehouse::audit::Entry {
                    actor: &gatehouse::audit::Actor::System,
                    action: "test_row",
                    request: None,
                    details: serde_json::json!({ "n": n, "padding": "x".repeat(200) }),
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        db.close().await.unwrap();
    }
    for format in ["jsonl", "csv"] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(["audit", "export", "--format", format]);
        let mut child = scrubbed(cmd, dir.path(), &[("DATABASE_URL", &url)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        {
            let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
            reader.read_line(&mut first).unwrap();
        } // as `head -1` does: one line, then the pipe closed
        assert!(first.len() > 10, "{format}: {first}");
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stderr(&out), "", "{format}");
        assert_eq!(out.status.code(), Some(0), "{format}");
    }
}
