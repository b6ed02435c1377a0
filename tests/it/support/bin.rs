//! The real `gatehouse` binary as the tests run it: in a directory of their own, with none of
//! Gatehouse's settings from the test's environment, watched through slack-sim and stopped the
//! way an operator stops it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use slack_sim::SimHandle;

use super::slack::{CHANNEL, eventually};

/// Gatehouse's settings that a developer's environment may hold; none of them may reach the
/// binary unless the test sets it.
const SETTINGS: [&str; 8] = [
    "DATABASE_URL",
    "GATEHOUSE_CONFIG",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "ACCESS_REQUESTS_CHANNEL",
    "GATEHOUSE_ADMINS",
    "GATEHOUSE_LOG",
    "GATEHOUSE_LOG_FORMAT",
];

/// `cmd` in `dir` with only the settings in `env` (none from the test's environment).
pub fn scrubbed(mut cmd: Command, dir: &Path, env: &[(&str, &str)]) -> Command {
    cmd.current_dir(dir);
    for var in SETTINGS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Waits up to `secs` seconds for a process to connect to `sim` over Socket Mode: it started,
/// and is listening.
pub async fn connected(sim: &SimHandle, secs: u64) {
    eventually("the process to connect to Socket Mode", secs, || async {
        (sim.connection_count() > 0).then_some(())
    })
    .await;
}

/// Request `n`'s card in the Access Requests channel of `sim`, once posted.
pub async fn card_in_channel(sim: &SimHandle, n: i64) -> slack_sim::Message {
    let title = format!("Access request #{n}");
    eventually(&format!("request #{n} in the channel"), 30, || async {
        sim.messages(CHANNEL)
            .into_iter()
            .find(|m| m.text.starts_with(&title))
    })
    .await
}

/// SIGTERM, as an operator or the service manager stops Gatehouse; how long the process took to
/// exit (at most `within`) and its exit code.
pub async fn terminate(
    child: &mut tokio::process::Child,
    within: Duration,
) -> (Duration, Option<i32>) {
    let pid = child.id().unwrap().to_string();
    let started = Instant::now();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(within, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the process exits within {within:?} of SIGTERM"))
        .unwrap();
    (started.elapsed(), status.code())
}
