//! The image and compose.yaml as people run them: two replicas of the image on one PostgreSQL,
//! against slack-sim. Both become ready; a request approved in Slack is granted once on a real
//! PostgreSQL role; SIGTERM to one replica during a burst loses and repeats nothing; the image
//! runs as an unprivileged user and holds no secret.
//!
//! Runs when `GATEHOUSE_TEST_IMAGE` names an image built from this tree (`.ci/containers`
//! builds it and sets it; `GATEHOUSE_TEST_REQUIRE_CONTAINERS=1` makes its absence a failure).
//! This machine cannot pull the registry's postgres image nor give containers a network of
//! their own, so compose.yaml is run with two changes, made here and nowhere else: the
//! replicas use the host's network (each its own HTTP port) and the host's PostgreSQL server
//! instead of the `postgres` service.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gatehouse::domain::RequestId;
use gatehouse::store;
use serde_yaml::Value;
use slack_sim::SlackSim;

use crate::support::TestDb;
use crate::support::db::postgres_server;
use crate::support::here::test_name;
use crate::support::pg::{Roles, prefix};
use crate::support::scenario::workspace_with_people;
use crate::support::slack::{CHANNEL, eventually, shown};

const PEOPLE: usize = 12;
const PORTS: [u16; 2] = [18_081, 18_082];

fn image() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_IMAGE") {
        Ok(image) if !image.is_empty() => Some(image),
        _ => {
            let required =
                std::env::var("GATEHOUSE_TEST_REQUIRE_CONTAINERS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "GATEHOUSE_TEST_REQUIRE_CONTAINERS=1 but GATEHOUSE_TEST_IMAGE is not set"
            );
            eprintln!(
                "note: the container test is SKIPPED: set GATEHOUSE_TEST_IMAGE (bash .ci/containers builds one)"
            );
            None
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// compose.yaml, with the replicas on the host's network and PostgreSQL, and `image`.
fn compose_for_ci(image: &str, database_url: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/compose.yaml"))
        .expect("compose.yaml");
    let mut compose: Value = serde_yaml::from_str(&text).expect("compose.yaml is YAML");
    compose.apply_merge().expect("compose.yaml's anchors merge");
    let services = compose["services"]
        .as_mapping_mut()
        .expect("compose.yaml has services");
    services.remove("postgres");
    services.remove("x-gatehouse");
    for (n, port) in PORTS.iter().enumerate() {
        let name = format!("gatehouse-{}", n + 1);
        let service = services
            .get_mut(name.as_str())
            .unwrap_or_else(|| panic!("compose.yaml has {name}"));
        let map = service.as_mapping_mut().expect("a service is a mapping");
        assert!(
            map.get("env_file").is_some() && map.get("volumes").is_some(),
            "{name} takes .env and the mounted catalog, as people run it"
        );
        map.remove("depends_on");
        map.remove("ports");
        map.remove("build");
        map.insert("image".into(), image.into());
        map.insert("network_mode".into(), "host".into());
        let env = map
            .get_mut("environment")
            .and_then(Value::as_mapping_mut)
            .expect("an environment");
        env.insert("DATABASE_URL".into(), database_url.into());
        env.insert(
            "GATEHOUSE_HTTP_ADDR".into(),
            format!("127.0.0.1:{port}").into(),
        );
    }
    if let Some(top) = compose.as_mapping_mut() {
        top.remove("x-gatehouse");
        top.remove("volumes");
    }
    serde_yaml::to_string(&compose).expect("YAML out")
}

/// The stack, taken down however the test ends.
struct Stack {
    dir: PathBuf,
    project: String,
}

impl Stack {
    fn compose(&self) -> Command {
        let mut cmd = Command::new("podman-compose");
        cmd.current_dir(&self.dir)
            .args(["-p", &self.project, "-f", "compose.ci.yaml"]);
        cmd
    }

    fn container(&self, n: usize) -> String {
        // podman-compose names containers PROJECT_SERVICE_1.
        format!("{}_gatehouse-{n}_1", self.project)
    }

    fn logs(&self) -> String {
        (1..=2)
            .map(|n| {
                let out = Command::new("podman")
                    .args(["logs", "--tail", "40", &self.container(n)])
                    .output();
                out.map(|o| {
                    format!(
                        "--- replica {n}\n{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose().args(["down", "-t", "5"]).output();
    }
}

async fn ready(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let client = gatehouse::platform::http::client(Duration::from_secs(2)).unwrap();
    matches!(client.get(&url).send().await, Ok(r) if r.status().is_success())
}

#[tokio::test]
async fn two_replicas_of_the_image_share_the_work_and_a_sigterm_loses_and_repeats_nothing() {
    let Some(image) = image() else { return };
    let server = postgres_server(test_name!()).expect("a PostgreSQL server");
    let db = TestDb::postgres().await.expect("a PostgreSQL database");
    let p = prefix();
    let mut roles = Roles::new(&server).await;
    roles.make(&format!("{p}_ledger"), false).await;
    for i in 0..PEOPLE {
        roles.make(&format!("{p}_u{i:02}"), true).await;
    }
    let (ws, people) = workspace_with_people(&p, PEOPLE);
    let sim = SlackSim::start(ws).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        format!(
            "admins = [\"UADA\"]\n\n[connectors.warehouse]\nkind = \"postgres\"\n\
             url = {{ env = \"WAREHOUSE_URL\" }}\nlink = \"local-part\"\n\n\
             [[resources]]\nid = \"ledger\"\nname = \"Ledger\"\nconnector = \"warehouse\"\n\
             grant = {{ role = \"{p}_ledger\" }}\nreviewers = [\"UBOB\"]\nreason_required = false\n"
        ),
    )
    .unwrap();
    // The tokens reach the replicas through .env, as compose.yaml says; never the image.
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "SLACK_API_URL={}\nSLACK_BOT_TOKEN={}\nSLACK_APP_TOKEN={}\nACCESS_REQUESTS_CHANNEL={CHANNEL}\n\
             WAREHOUSE_URL={server}\nGATEHOUSE_LOG=warn\nGATEHOUSE_SLACK_PACE=none\n\
             GATEHOUSE_JOB_LEASE_SECS=5\nGATEHOUSE_JOB_POLL_SECS=1\n",
            sim.api_url(),
            sim.bot_token(),
            sim.app_token()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("compose.ci.yaml"),
        compose_for_ci(&image, &db.url),
    )
    .unwrap();
    let stack = Stack {
        dir: dir.path().to_path_buf(),
        project: p.clone(),
    };
    let started = run(stack.compose().args(["up", "-d"]));

    // Both replicas: healthy, and ready (a Socket Mode connection open each).
    for port in PORTS {
        let up = tokio::time::timeout(Duration::from_secs(90), async {
            while !ready(port).await {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
        .await;
        assert!(
            up.is_ok(),
            "the replica on {port} never became ready:\n{started}\n{}",
            stack.logs()
        );
    }
    for n in 1..=2 {
        run(Command::new("podman").args(["healthcheck", "run", &stack.container(n)]));
    }

    // One request, approved in Slack, granted once.
    sim.slash_command("UP00", CHANNEL, "/request-access", "ledger 1h")
        .await
        .unwrap();
    let card = eventually("the first card", 60, || async {
        sim.messages(CHANNEL)
            .into_iter()
            .find(|m| shown(m).contains("Access request #1"))
    })
    .await;
    sim.add_reaction("UBOB", CHANNEL, &card.ts, "white_check_mark")
        .await
        .unwrap();
    let role = format!("{p}_ledger");
    eventually("the first grant", 60, || async {
        roles.member(&format!("{p}_u00"), &role).await.then_some(())
    })
    .await;

    // A burst, and SIGTERM to replica 1 in the middle of it. A command Slack could not deliver
    // (the replica stopping) is run again, as the person would after Slack says it failed.
    for (i, who) in people.iter().enumerate().skip(1) {
        let mut tries = 0;
        loop {
            tries += 1;
            let out = sim
                .slash_command(who, CHANNEL, "/request-access", "ledger 1h")
                .await
                .unwrap();
            let said = out
                .payload
                .as_ref()
                .and_then(|p| p["text"].as_str())
                .unwrap_or_default()
                .to_owned();
            if said.contains("is submitted") {
                break;
            }
            assert!(tries < 5, "{who} could not ask: {said:?}\n{}", stack.logs());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if i == PEOPLE / 2 {
            run(Command::new("podman").args(["stop", "-t", "15", &stack.container(1)]));
            // It drained and exited on SIGTERM, within the grace compose.yaml gives it.
            let code = run(Command::new("podman").args([
                "inspect",
                "--format",
                "{{.State.ExitCode}}",
                &stack.container(1),
            ]));
            assert_eq!(code.trim(), "0", "{}", stack.logs());
        }
    }
    // Each person's card (request numbers come from a PostgreSQL sequence, so they may skip).
    let mut numbers = Vec::new();
    for (i, who) in people.iter().enumerate() {
        // The card names its requester (it pings nobody for their own request); mentioned
        // only if Slack could not say their name.
        let (named, mention) = (format!("*Requester*\n{p}_u{i:02}"), format!("<@{who}>"));
        let card = eventually(&format!("{who}'s card"), 60, || async {
            sim.messages(CHANNEL).into_iter().find(|m| {
                let text = shown(m);
                text.contains(&named) || text.contains(&mention)
            })
        })
        .await;
        let title = shown(&card);
        let number: i64 = title
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("Access request #"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("a card title: {title}"));
        numbers.push(number);
        if who != &people[0] {
            sim.add_reaction("UBOB", CHANNEL, &card.ts, "white_check_mark")
                .await
                .unwrap();
        }
    }
    let conn = store::Db::connect(&db.url).await.unwrap();
    for i in 0..PEOPLE {
        let login = format!("{p}_u{i:02}");
        let granted = tokio::time::timeout(Duration::from_secs(90), async {
            while !roles.member(&login, &role).await {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        assert!(granted.is_ok(), "{login} never granted:\n{}", stack.logs());
    }
    // Nothing repeated: one card each, one grant each.
    let cards: Vec<String> = sim.messages(CHANNEL).iter().map(shown).collect();
    for (who, n) in people.iter().zip(&numbers) {
        let title = format!("Access request #{n}\n");
        let count = cards.iter().filter(|t| t.starts_with(&title)).count();
        assert_eq!(count, 1, "{who}'s request #{n} has {count} cards");
        let audit = store::audit::for_request(conn.conn(), *n).await.unwrap();
        let granted = audit.iter().filter(|e| e.action == "provisioned").count();
        assert_eq!(granted, 1, "{who}'s request #{n}: {granted} grants");
        let request = store::requests::get(conn.conn(), RequestId::new(*n))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(request.requester.as_str(), who.as_str());
        assert_eq!(request.decided_by.as_deref(), Some("UBOB"));
    }
    let open = cards
        .iter()
        .filter(|t| t.starts_with("Access request #"))
        .count();
    assert_eq!(open, PEOPLE, "one card a person, no more: {cards:#?}");

    // The image: an unprivileged user, and no secret in its layers or its configuration.
    let user =
        run(Command::new("podman").args(["inspect", "--format", "{{.Config.User}}", &image]));
    assert_eq!(user.trim(), "10001:10001");
    let history = run(Command::new("podman").args(["history", "--no-trunc", &image]));
    let config = run(Command::new("podman").args(["inspect", &image]));
    for secret in [
        sim.bot_token(),
        sim.app_token(),
        server.as_str(),
        "xoxb-",
        "xapp-",
    ] {
        assert!(
            !history.contains(secret) && !config.contains(secret),
            "the image holds {secret:?}"
        );
    }
    drop(stack);
    conn.close().await.unwrap();
    roles.drop_all().await;
    db.close().await;
}

/// compose.yaml as shipped: both replicas run the image, with `.env`, the catalog read-only,
/// a health check, and PostgreSQL beside them.
#[test]
fn compose_yaml_runs_two_replicas_of_the_image_beside_postgres() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("compose.yaml"))
        .unwrap();
    let mut compose: Value = serde_yaml::from_str(&text).unwrap();
    compose.apply_merge().unwrap();
    let services = &compose["services"];
    assert!(services["postgres"]["image"].as_str().is_some());
    for name in ["gatehouse-1", "gatehouse-2"] {
        let s = &services[name];
        assert_eq!(s["env_file"].as_str(), Some(".env"), "{name}");
        let volumes: Vec<&str> = s["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            volumes.contains(&"./gatehouse.toml:/etc/gatehouse/gatehouse.toml:ro"),
            "{name}: {volumes:?}"
        );
        assert!(
            s["environment"]["DATABASE_URL"]
                .as_str()
                .unwrap()
                .contains("@postgres:5432/"),
            "{name}"
        );
    }
    let containerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Containerfile"))
            .unwrap();
    for needed in [
        "USER 10001:10001",
        "HEALTHCHECK",
        "CMD [\"serve\"]",
        "EXPOSE 8080",
    ] {
        assert!(
            containerfile.contains(needed),
            "Containerfile lacks {needed}"
        );
    }
}
