//! `gatehouse serve` as an operator runs it: the real binary, against slack-sim.

use std::time::Duration;

use slack_sim::SlackSim;

use crate::support::TestDb;
use crate::support::bin::{card_in_channel, connected, terminate};
use crate::support::slack::{CHANNEL, workspace};

fn serve_command(
    dir: &std::path::Path,
    db: &TestDb,
    api_url: &str,
    bot: &str,
    app: &str,
) -> tokio::process::Command {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/gatehouse.example.toml");
    std::fs::copy(example, dir.join("gatehouse.toml")).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("serve")
        .current_dir(dir)
        .env("DATABASE_URL", &db.url)
        .env("SLACK_API_URL", api_url)
        .env("SLACK_BOT_TOKEN", bot)
        .env("SLACK_APP_TOKEN", app)
        .env("ACCESS_REQUESTS_CHANNEL", CHANNEL)
        .env("GATEHOUSE_LOG", "warn")
        // Tests run in parallel: never the default port.
        .env("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0")
        .env_remove("GATEHOUSE_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd`, which must refuse to start (exit 1); what it said on stderr.
async fn refusal(cmd: &mut tokio::process::Command) -> String {
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn serve_connects_handles_a_request_and_stops_cleanly_on_sigterm() {
    let sim = SlackSim::start(workspace()).await.unwrap();
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve_command(
        dir.path(),
        &db,
        &sim.api_url(),
        sim.bot_token(),
        sim.app_token(),
    )
    .spawn()
    .unwrap();
    connected(&sim, 30).await;

    let ack = sim
        .slash_command(
            "UALICE",
            CHANNEL,
            "/request-access",
            "analytics-ro 8h weekly numbers",
        )
        .await
        .unwrap();
    let reply = ack.payload.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(reply.contains("Request #1"), "{reply}");
    card_in_channel(&sim, 1).await;

    let (_, code) = terminate(&mut child, Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "serve exits cleanly");
}

#[tokio::test]
async fn serve_with_a_refused_token_says_which_and_never_prints_it() {
    let sim = SlackSim::start(workspace()).await.unwrap();
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    // The token that is wrong, which setting it is, and its secret part.
    let bot = ("xoxb-wrong-secret-value", sim.app_token());
    let app = (sim.bot_token(), "xapp-1-wrong-app-secret");
    let cases = [
        (bot, "SLACK_BOT_TOKEN", "wrong-secret-value"),
        (app, "SLACK_APP_TOKEN", "wrong-app-secret"),
    ];
    for ((bot, app), setting, secret) in cases {
        let mut cmd = serve_command(dir.path(), &db, &sim.api_url(), bot, app);
        let err = refusal(&mut cmd).await;
        let says = format!("Slack refused {setting} (invalid_auth)");
        assert!(err.contains(&says), "{err}");
        assert!(!err.contains(secret), "{err}");
    }
}

#[tokio::test]
async fn serve_refuses_to_start_without_the_access_requests_channel_and_says_how_to_fix_it() {
    // Gatehouse was never invited to #access-requests.
    let mut ws = workspace();
    ws.channels[0]
        .members
        .retain(|m| m != crate::support::slack::BOT);
    let sim = SlackSim::start(ws).await.unwrap();
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(
        dir.path(),
        &db,
        &sim.api_url(),
        sim.bot_token(),
        sim.app_token(),
    );
    let err = refusal(&mut cmd).await;
    assert!(
        err.contains(&format!(
            "Gatehouse is not a member of the Access Requests channel {CHANNEL} (ACCESS_REQUESTS_CHANNEL), so no request could be posted; `/invite @Gatehouse` in that channel, or set ACCESS_REQUESTS_CHANNEL to the ID of a channel Gatehouse is in"
        )),
        "{err}"
    );
    assert_eq!(sim.connection_count(), 0, "it never listened");

    // A channel that does not exist (or is private and Gatehouse was not invited).
    let err = refusal(cmd.env("ACCESS_REQUESTS_CHANNEL", "C0NOSUCH")).await;
    assert!(
        err.contains("Gatehouse cannot see the Access Requests channel C0NOSUCH (ACCESS_REQUESTS_CHANNEL); check the ID"),
        "{err}"
    );
}

#[tokio::test]
async fn the_channel_an_admin_chose_in_slack_is_the_one_checked_at_start() {
    let db = TestDb::sqlite();
    let t = crate::support::slack::SlackTestApp::start(&db).await;
    let ada = gatehouse::domain::SlackUserId::parse("UADA").unwrap();
    // Chosen while Gatehouse was in it; it has since been removed from it (Gatehouse is not
    // in #general).
    t.app
        .workflow()
        .set_requests_channel(&ada, "C0GENERAL")
        .await
        .unwrap();
    let crate::support::slack::SlackTestApp { app, sim, .. } = t;
    app.shutdown().await;
    let err =
        crate::support::serve_env::start_refusal(&db, &crate::support::app::CATALOG, &sim).await;
    assert_eq!(
        err,
        "Gatehouse is not a member of the Access Requests channel C0GENERAL (chosen with `/access-admin channel`, which takes precedence over ACCESS_REQUESTS_CHANNEL), so no request could be posted; `/invite @Gatehouse` in that channel, then start Gatehouse again"
    );
}
