//! `gatehouse demo` as a newcomer runs it: the real binary in an empty directory, the whole
//! story printed in order, exit 0, and nothing left behind (its temporary directory, and on
//! PostgreSQL its roles).

use std::path::Path;
use std::process::{Command, Output};

use sea_orm::{ConnectionTrait, Database};

use crate::support::bin::scrubbed;
use crate::support::db::postgres_server;
use crate::support::here::test_name;

/// Nothing listens on port 1 of loopback: the demo goes on without PostgreSQL.
const NO_POSTGRES: &str = "postgres://postgres@127.0.0.1:1/postgres";

/// Runs `gatehouse demo` in `dir` with its temporary files under `dir/tmp`.
fn demo(dir: &Path, postgres_url: &str) -> Output {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    demo_with(dir, postgres_url, &[], &tmp)
}

fn demo_with(dir: &Path, postgres_url: &str, args: &[&str], tmp: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("demo").args(args);
    let tmp = tmp.to_str().unwrap();
    let env = [
        ("TMPDIR", tmp),
        ("GATEHOUSE_DEMO_POSTGRES_URL", postgres_url),
    ];
    scrubbed(cmd, dir, &env).output().unwrap()
}

/// Asserts that `needles` appear in `text` in this order; returns where each was found.
fn in_order(text: &str, needles: &[&str]) -> Vec<usize> {
    let mut from = 0;
    needles
        .iter()
        .map(|n| {
            let at = text[from..].find(n).map(|i| from + i).unwrap_or_else(|| {
                panic!("{n:?} is not in the transcript after byte {from}:\n{text}")
            });
            from = at + n.len();
            at
        })
        .collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_demo_plays_the_whole_story_on_the_manual_connector_without_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = demo(dir.path(), NO_POSTGRES);
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    in_order(
        &stdout,
        &[
            "PostgreSQL: none reachable at 127.0.0.1:1",
            "the story uses the manual connector only",
            "Database: SQLite at ",
            "1. Maya Chen asks for access with /request-access",
            "Maya Chen — a form opens:",
            "│ Request access",
            "│ Resource",
            "the form offers: Analytics warehouse (read-only) (analytics-ro)",
            "#access-requests — Gatehouse posts:",
            "│ Access request #1",
            "│ Quarterly revenue report",
            "🔔 Slack notifies Ravi Patel (mentioned in #access-requests)",
            "2. Maya Chen tries to approve her own request with ✅",
            "Maya Chen — a note only Maya sees:",
            "you cannot approve or deny your own request",
            "3. Ravi Patel approves with ✅",
            "Approved by @Ravi Patel",
            "│ ✅ Approved by Ravi Patel",
            "By hand, for an admin (@Ada Okafor): Add the person to the ANALYTICS_RO role",
            "Maya Chen — a DM from Gatehouse:",
            "@Ravi Patel approved your request #1 for Analytics warehouse (read-only)",
            "4. Ada Okafor makes the change by hand and presses Done",
            "🟢 Active until",
            "Maya Chen — a DM from Gatehouse:",
            "You now have access to Analytics warehouse (read-only) until",
            "(Europe/Paris)",
            "5. 7 hours later: the reminder before the end",
            "Maya Chen — a DM from Gatehouse:",
            "Need more time?",
            "6. 1 hour later: the access expires and is removed",
            "undo this for `U0MAYA`",
            "7. Ada Okafor removes it by hand and presses Done",
            "⌛ Expired",
            "Maya Chen — a DM from Gatehouse:",
            "has expired and was removed",
            "Summary: request #1 (analytics-ro, 8h)",
            "4 DMs",
            "Audit: audit log intact: ",
            "Removed ",
        ],
    );
    // The reviewer is pinged once, when the request is posted; the requester never is (her
    // DMs are her notices), nor is the admin asked by hand after the first time.
    assert_eq!(
        stdout.matches("🔔 Slack notifies Ravi Patel").count(),
        1,
        "{stdout}"
    );
    assert!(!stdout.contains("🔔 Slack notifies Maya Chen"), "{stdout}");
    assert!(
        !stdout.contains("\u{1b}["),
        "no terminal colours when stdout is not a terminal"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "the temporary directory is removed: {:?}",
        leftovers(dir.path())
    );
    eprintln!("the demo took {took:?} (benches/process.rs measures it against its target)");
}

#[tokio::test]
async fn the_demo_grants_and_removes_a_real_postgres_role_and_drops_its_roles() {
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = {
        let (dir, url) = (dir.path().to_owned(), url.clone());
        tokio::task::spawn_blocking(move || demo(&dir, &url))
            .await
            .unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The first line names this run's roles.
    let first = stdout.lines().next().unwrap();
    let names: Vec<&str> = first
        .split_whitespace()
        .filter(|w| w.starts_with("gatehouse_demo_"))
        .collect();
    let [role, login] = names[..] else {
        panic!("the first line names the role and the login: {first}")
    };
    let run = login.trim_end_matches("_maya");
    assert!(
        role.starts_with(run) && role.ends_with("_analysts"),
        "{first}"
    );
    let has_role = format!("SELECT pg_has_role('{login}', '{role}', 'MEMBER')");
    in_order(
        &stdout,
        &[
            "Ada Okafor links Maya Chen's Slack account to her PostgreSQL login",
            &format!("is `{login}` on `demo-postgres`"),
            "Maya Chen asks for access with /request-access",
            "Warehouse analysts (PostgreSQL) (warehouse-analysts)",
            "a note only Maya sees:",
            "Ravi Patel approves with ✅",
            &format!("`{login}`"),
            "🟢 Active until",
            "You now have access to Warehouse analysts (PostgreSQL)",
            &format!("{has_role} → true"),
            "7 hours later",
            "Need more time?",
            "the access expires and is removed",
            "has expired and was removed",
            &format!("{has_role} → false"),
            "granted and removed on PostgreSQL",
            "Audit: audit log intact",
            &format!("Dropped the demo roles {login} and {role}."),
        ],
    );
    let server = Database::connect(&url).await.unwrap();
    let left = server
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT rolname::text FROM pg_roles WHERE rolname LIKE '{run}%'"),
        ))
        .await
        .unwrap();
    assert!(left.is_empty(), "no role of this run is left on the server");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn a_port_in_use_and_an_unwritable_temporary_directory_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = demo_with(dir.path(), NO_POSTGRES, &["--port", &port], &tmp);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: cannot start the simulated Slack on 127.0.0.1:{port}: "
        )) && stderr.contains("choose another port with --port"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        leftovers(dir.path()).is_empty(),
        "cleaned up after the error"
    );

    let missing = dir.path().join("missing");
    let out = demo_with(dir.path(), NO_POSTGRES, &[], &missing);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: cannot create a temporary directory in {}",
            missing.display()
        )) && stderr.contains("point TMPDIR at a writable directory"),
        "{stderr}"
    );
}
