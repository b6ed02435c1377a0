//! How long the whole process takes to do what people wait for at the terminal or in a deploy:
//! `gatehouse demo` from start to its last line, and `gatehouse serve` from SIGTERM to its exit
//! with nothing in hand. Prints each figure beside its target; asserts nothing (the tests check
//! that these happen and how, not how fast).
//!
//! `cargo bench --bench process` (`GATEHOUSE_BENCH_RUNS`, default 5, runs of each).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark that cannot go on should stop"
)]

use std::time::{Duration, Instant};

use slack_sim::{SimConfig, SlackSim};

// The tests' catalog builder: the same ledger the tests' killed processes serve.
#[allow(dead_code, reason = "the benchmark uses one of its catalogs")]
#[path = "../tests/it/support/catalog.rs"]
mod catalog;

fn runs() -> usize {
    std::env::var("GATEHOUSE_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

fn report(what: &str, mut took: Vec<Duration>, target: Duration) {
    took.sort();
    let (p50, max) = (took[took.len() / 2], took[took.len() - 1]);
    let verdict = if max <= target { "met" } else { "MISSED" };
    println!(
        "{what}: median {:.2} s, slowest {:.2} s over {} runs — target under {} s: {verdict}",
        p50.as_secs_f64(),
        max.as_secs_f64(),
        took.len(),
        target.as_secs()
    );
}

/// `gatehouse demo`, start to exit.
fn demo() -> Vec<Duration> {
    (0..runs())
        .map(|_| {
            let started = Instant::now();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .arg("demo")
                .output()
                .expect("gatehouse demo runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            started.elapsed()
        })
        .collect()
}

/// `gatehouse serve` on SQLite, connected to slack-sim, then SIGTERM: until it exits.
async fn sigterm() -> Vec<Duration> {
    let mut took = Vec::new();
    for _ in 0..runs() {
        let sim = SlackSim::start(SimConfig::demo()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ledger = catalog::desk_ledger("U0BOB", "U0BOB");
        std::fs::write(dir.path().join("gatehouse.toml"), ledger).unwrap();
        let db = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gatehouse.db").display()
        );
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .current_dir(dir.path())
            .envs([
                ("DATABASE_URL", db.as_str()),
                ("GATEHOUSE_CONFIG", "gatehouse.toml"),
                ("SLACK_API_URL", &sim.api_url()),
                ("SLACK_BOT_TOKEN", sim.bot_token()),
                ("SLACK_APP_TOKEN", sim.app_token()),
                ("ACCESS_REQUESTS_CHANNEL", "C0ACCESS"),
                ("GATEHOUSE_HTTP_ADDR", "127.0.0.1:0"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while sim.connection_count() == 0 {
            assert!(
                Instant::now() < deadline,
                "serve did not connect: {}",
                std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = child.id().unwrap().to_string();
        let started = Instant::now();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = child.wait().await.unwrap();
        took.push(started.elapsed());
        assert!(status.success(), "serve exited with {status}");
        sim.shutdown().await;
    }
    took
}

#[tokio::main]
async fn main() {
    report("gatehouse demo", demo(), Duration::from_secs(30));
    report(
        "gatehouse serve, SIGTERM with nothing in hand to exit",
        sigterm().await,
        Duration::from_secs(3),
    );
    println!(
        "(a stuck job in hand is bounded by the 8 s grace: tests/it/ops.rs prints that case's time)"
    );
}
