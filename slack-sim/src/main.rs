//! `slack-sim [--config FILE] [--port N]`: runs the simulator until Ctrl-C and prints how to reach it.

use slack_sim::{SimConfig, SlackSim};
use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: slack-sim [--config FILE.toml|FILE.json] [--port N]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "slack_sim=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config_path: Option<PathBuf> = None;
    let mut port: Option<u16> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => match args.next() {
                Some(p) => config_path = Some(p.into()),
                None => return usage(),
            },
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = Some(p),
                None => return usage(),
            },
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let mut cfg = match config_path {
        Some(p) => match SimConfig::load(&p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("slack-sim: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => SimConfig::demo(),
    };
    if port.is_some() {
        cfg.port = port;
    }
    let sim = match SlackSim::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("slack-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("SLACK_API_URL={}", sim.api_url());
    println!("SLACK_SIM_CONTROL_URL={}", sim.control_url());
    println!("SLACK_BOT_TOKEN={}", sim.bot_token());
    println!("SLACK_APP_TOKEN={}", sim.app_token());
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}
