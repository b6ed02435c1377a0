//! The long-running commands: `serve` (Slack and the database until stopped) and `demo`; both
//! log as a service does.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use gatehouse::config::Config;
use gatehouse::connectors::Registry;
use gatehouse::{App, AppOptions};

use super::env_lookup;

pub async fn demo(
    interactive: bool,
    port: Option<u16>,
    postgres_url: String,
) -> anyhow::Result<ExitCode> {
    // Quiet by default, so that the transcript reads cleanly; GATEHOUSE_LOG still says more.
    let filter = env_lookup("GATEHOUSE_LOG").unwrap_or_else(|| "warn".to_owned());
    gatehouse::telemetry::init(gatehouse::config::LogFormat::Pretty, &filter);
    let opts = gatehouse::demo::DemoOptions {
        interactive,
        port,
        postgres_url,
    };
    gatehouse::demo::run(opts, wait_for_stop_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn serve() -> anyhow::Result<ExitCode> {
    let config = Config::load(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    let slack = &config.settings.slack;
    let needed = [
        (
            "SLACK_BOT_TOKEN",
            slack.bot_token.is_some(),
            "the bot token (xoxb-…) from OAuth & Permissions",
        ),
        (
            "SLACK_APP_TOKEN",
            slack.app_token.is_some(),
            "an app-level token (xapp-…, scope connections:write) from Basic Information",
        ),
        (
            "ACCESS_REQUESTS_CHANNEL",
            slack.channel.is_some(),
            "the ID of the channel where requests are posted (C…)",
        ),
    ];
    for (var, present, what) in needed {
        if !present {
            bail!(
                "{var} is not set; put {what} in .env (see .env.example and the README's Slack setup)"
            );
        }
    }
    let registry =
        Arc::new(Registry::new(&config.catalog, &env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?);
    let mut opts = AppOptions::new(registry);
    opts.http = true;
    opts.check_platforms = true;
    opts.on_call = gatehouse::oncall::from_catalog(&config.catalog, &env_lookup)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::start(config, opts).await?;
    // Listening for SIGTERM from here on, also while waiting for Slack's hello: a signal in
    // those seconds still stops gracefully.
    let stop = wait_for_stop_signal();
    tokio::pin!(stop);
    tokio::select! {
        connected = app.slack_connected(Duration::from_secs(30)) => {
            if !connected {
                tracing::warn!("no hello from Slack yet; still trying to connect");
            }
            stop.await;
        }
        () = &mut stop => {}
    }
    tracing::info!("stopping");
    app.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (from a service manager) or Ctrl-C.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
