//! What the foundation and expiry benchmarks share: their catalog, a fresh database per run,
//! a platform that always succeeds, and the process's CPU time and memory from /proc.
#![allow(
    dead_code,
    reason = "each benchmark builds this module on its own and uses only part of it"
)]

use std::time::Duration;

use gatehouse::App;
use gatehouse::domain::{GrantDuration, RequestId, SlackUserId};
use gatehouse::workflow::{Applied, Submission, Target, Via};
use sea_orm::{ConnectionTrait, Database};

/// One by-hand resource that anyone may ask for without a reason.
pub const CATALOG: &str = r#"
[connectors.manual]
kind = "manual"
[[resources]]
id = "warehouse"
name = "Warehouse"
connector = "manual"
reviewers = ["UREVIEWER"]
reason_required = false
"#;

/// A fresh database URL: a SQLite file in a temp dir (kept alive by the returned dir), or a
/// new PostgreSQL database `name` on GATEHOUSE_TEST_POSTGRES_URL's server.
pub async fn fresh(backend: &str, name: &str) -> (String, Option<tempfile::TempDir>) {
    if backend == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        (
            format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()),
            Some(dir),
        )
    } else {
        let admin_url = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").unwrap();
        let admin = Database::connect(admin_url.as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').unwrap().0.to_owned();
        (format!("{base}/{name}"), None)
    }
}

/// `who` asks for an hour of the warehouse and UREVIEWER approves it; the request's id.
pub async fn approved_hour(app: &App, who: &SlackUserId) -> RequestId {
    let r = app
        .workflow()
        .submit(Submission {
            requester: who,
            resource: "warehouse",
            duration: Some(GrantDuration::parse("1h").unwrap()),
            reason: None,
            identity: None,
            start: None,
        })
        .await
        .unwrap();
    let reviewer = SlackUserId::parse("UREVIEWER").unwrap();
    app.workflow()
        .approve(r.id, &reviewer, Via::Reaction)
        .await
        .unwrap();
    r.id
}

/// What a platform that always succeeds answers: `action` done to the target's identity.
pub fn applied(target: &Target<'_>, action: &str) -> Applied {
    Applied {
        identity: target.identity.to_owned(),
        action: action.into(),
        receipt: None,
    }
}

/// User + system CPU time of a process (all threads), from its `/proc/…/stat` file.
pub fn cpu_time_from(stat_file: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_file).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux userspace ABI; reading it needs libc's sysconf.
    Duration::from_millis(ticks * 10)
}

/// VmRSS and VmHWM (peak) in MB, from a process's `/proc/…/status` file.
pub fn memory_from(status_file: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(status_file).unwrap();
    let kb = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}
