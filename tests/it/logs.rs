//! What `gatehouse serve` writes to its log over a whole flow — request, ✅, grant on the
//! platform, relinquish, revocation, a failing connector and a failing language model — read
//! back from the real binary's output: every line about a request carries its id, JSON when
//! asked for, and not one of the secrets it was given appears, even at debug level.

use std::time::Duration;

use slack_sim::{SimConfig, SlackSim};

use crate::support::TestDb;
use crate::support::bin::{card_in_channel, connected, terminate};
use crate::support::catalog;
use crate::support::slack::{CHANNEL, eventually, workspace};
use crate::support::snowflake_fake::{KEY_FILE, SnowflakeFake};

/// Every secret the process is given, by where it came from.
struct Secrets {
    bot_token: String,
    app_token: String,
    llm_key: String,
    warehouse_password: String,
    /// The Snowflake private key's base64 lines.
    key_lines: Vec<String>,
}

impl Secrets {
    fn new() -> Secrets {
        let fresh = || uuid::Uuid::new_v4().simple().to_string();
        let pem = std::fs::read_to_string(KEY_FILE).unwrap();
        Secrets {
            bot_token: format!("xoxb-{}", fresh()),
            app_token: format!("xapp-1-{}", fresh()),
            llm_key: format!("sk-{}", fresh()),
            warehouse_password: fresh(),
            key_lines: pem
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(str::to_owned)
                .collect(),
        }
    }

    fn all(&self) -> Vec<(&str, &str)> {
        let mut all = vec![
            ("SLACK_BOT_TOKEN", self.bot_token.as_str()),
            ("SLACK_APP_TOKEN", self.app_token.as_str()),
            ("GATEHOUSE_LLM_KEY", self.llm_key.as_str()),
            ("the warehouse password", self.warehouse_password.as_str()),
        ];
        all.extend(
            self.key_lines
                .iter()
                .map(|l| ("a line of the Snowflake key", l.as_str())),
        );
        all
    }
}

fn catalog(snowflake_url: &str) -> String {
    let snowflake = format!(
        r#"
[connectors.snowflake]
kind = "snowflake"
account = "gatehouse-test"
user = "gatehouse_svc"
role = "USERADMIN"
private_key = {{ file = "{KEY_FILE}" }}
base_url = "{snowflake_url}"
"#
    );
    // The warehouse is unreachable on purpose: its identity sync fails and is logged.
    let warehouse = catalog::postgres("warehouse", "GH_LOGS_WAREHOUSE_URL");
    catalog::with(
        &(snowflake + &warehouse),
        &[
            catalog::role_on("snowflake", "snowflake-analysts", "ANALYST", &["UBOB"]),
            catalog::role("warehouse-ro", "reader", &["UBOB"]),
        ],
    )
}

/// Runs the whole flow against `gatehouse serve` with `format` (None: the default) at debug
/// level, stops it with SIGTERM, and returns everything it wrote.
async fn a_whole_flow_logged(format: Option<&str>, secrets: &Secrets) -> String {
    let sf = SnowflakeFake::start().await;
    sf.add_user("ALICE", Some("alice@example.com"));
    sf.add_role("ANALYST");
    let ws = SimConfig {
        bot_token: secrets.bot_token.clone(),
        app_token: secrets.app_token.clone(),
        ..workspace()
    };
    let sim = SlackSim::start(ws).await.unwrap();
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gatehouse.toml"), catalog(&sf.url)).unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("GATEHOUSE_CONFIG", "gatehouse.toml")
        .env("SLACK_API_URL", sim.api_url())
        .env("SLACK_BOT_TOKEN", &secrets.bot_token)
        .env("SLACK_APP_TOKEN", &secrets.app_token)
        .env("ACCESS_REQUESTS_CHANNEL", CHANNEL)
        .env(
            "GH_LOGS_WAREHOUSE_URL",
            format!(
                "postgres://gatehouse:{}@127.0.0.1:1/warehouse",
                secrets.warehouse_password
            ),
        )
        .env("GATEHOUSE_LLM_URL", "http://127.0.0.1:1/v1")
        .env("GATEHOUSE_LLM_MODEL", "any")
        .env("GATEHOUSE_LLM_KEY", &secrets.llm_key)
        .env("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0")
        .env("GATEHOUSE_LOG", "debug")
        .env_remove("GATEHOUSE_LOG_FORMAT")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(f) = format {
        cmd.env("GATEHOUSE_LOG_FORMAT", f);
    }
    let mut child = cmd.spawn().unwrap();
    let said = || std::fs::read_to_string(&log_path).unwrap_or_default();
    connected(&sim, 60).await;

    // Alice asks, Bob approves, the account holds it, Alice is told.
    let ack = sim
        .slash_command(
            "UALICE",
            CHANNEL,
            "/request-access",
            "snowflake-analysts 2h",
        )
        .await
        .unwrap();
    assert!(ack.acked, "{}", said());
    let card = card_in_channel(&sim, 1).await;
    sim.add_reaction("UBOB", CHANNEL, &card.ts, "white_check_mark")
        .await
        .unwrap();
    eventually("the grant in the account", 30, || async {
        sf.holds("ALICE", "ANALYST").then_some(())
    })
    .await;
    eventually("Alice's DM", 30, || async {
        sim.dms("UALICE")
            .into_iter()
            .find(|m| m.text.contains("now have access"))
    })
    .await;

    // Alice gives it back from App Home; the account no longer holds it.
    sim.open_app_home("UALICE").await.unwrap();
    let home = eventually("Alice's Home", 30, || async {
        sim.home_view("UALICE")
            .filter(|v| v.to_string().contains("relinquish"))
    })
    .await;
    sim.click_button_confirmed(
        "UALICE",
        slack_sim::ButtonTarget::View {
            view_id: home["id"].as_str().unwrap().to_owned(),
        },
        "relinquish",
        Some("1"),
        None,
    )
    .await
    .unwrap();
    eventually("the revocation in the account", 30, || async {
        (!sf.holds("ALICE", "ANALYST")).then_some(())
    })
    .await;

    // A question the built-in reader does not know goes to the (unreachable) model.
    sim.message_bot("UALICE", "could you kindly enumerate my entitlements, bot")
        .await
        .unwrap();
    eventually("an answer to the question", 30, || async {
        sim.dms("UALICE")
            .into_iter()
            .find(|m| !m.text.contains("Access request") && m.text.contains("model"))
    })
    .await;
    // The unreachable warehouse's identity sync fails (after the pool's 10 s wait) and is logged.
    eventually("the warehouse's failed sync in the log", 40, || async {
        said()
            .lines()
            .any(|l| l.contains("sync_identities") && (l.contains("WARN") || l.contains("ERROR")))
            .then_some(())
    })
    .await;

    terminate(&mut child, Duration::from_secs(10)).await;
    said()
}

fn assert_no_secret(log: &str, secrets: &Secrets) {
    for (what, secret) in secrets.all() {
        if let Some(at) = log.find(secret) {
            let from = log[..at].rfind('\n').map_or(0, |n| n + 1);
            let to = log[at..].find('\n').map_or(log.len(), |n| at + n);
            panic!("{what} is in the log:\n{}", &log[from..to]);
        }
    }
}

#[tokio::test]
async fn json_logs_of_a_whole_flow_carry_the_request_id_and_no_secret() {
    let secrets = Secrets::new();
    let log = a_whole_flow_logged(Some("json"), &secrets).await;
    assert_no_secret(&log, &secrets);

    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(lines.len() > 20, "{log}");
    // Every line about request #1's grant and revocation is inside a span that names it.
    let about_request = |message: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` line in:\n{log}"))
            .clone()
    };
    for message in [
        "request submitted",
        "request approved",
        "access granted",
        "access removed",
    ] {
        let line = about_request(message);
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        assert!(
            spans.iter().any(|s| s["request_id"] == 1),
            "`{message}` is not in a span with request_id 1: {line}"
        );
        assert!(
            line["timestamp"].is_string() && line["level"] == "INFO",
            "{line}"
        );
    }
    // The ✅'s approval is logged inside its request's span as well, naming the reviewer.
    let approved = about_request("request approved");
    assert_eq!(approved["span"]["request_id"], 1, "{approved}");
    assert_eq!(approved["fields"]["by"], "UBOB", "{approved}");
}

#[tokio::test]
async fn readable_logs_by_default_name_the_request_and_hold_no_secret() {
    let secrets = Secrets::new();
    let log = a_whole_flow_logged(None, &secrets).await;
    assert_no_secret(&log, &secrets);
    let granted = log
        .lines()
        .find(|l| l.contains("access granted"))
        .unwrap_or_else(|| panic!("no grant line in:\n{log}"));
    assert!(granted.contains("request_id=1"), "{granted}");
    assert!(granted.contains(" INFO "), "{granted}");
    assert!(
        serde_json::from_str::<serde_json::Value>(granted).is_err(),
        "plain text by default: {granted}"
    );
}
