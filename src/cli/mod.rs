//! The command line: which command runs with which logging, and the app that one-shot
//! commands share. Query commands (`check`, `access`, `audit`, `check-config`) print their
//! answer alone: they log only warnings and errors, and never migrate the database.

mod admin;
pub mod args;
mod check_config;
mod healthcheck;
pub mod output;
mod query;
mod serve;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;

use gatehouse::config::{Config, Settings};
use gatehouse::connectors::Registry;
use gatehouse::{App, AppOptions};

use args::{Cli, Command, IdentitiesCommand};
use query::Asked;

fn env_lookup(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Whether the command's output is an answer to read (or pipe): it logs only warnings and
/// errors, and leaves the schema as it finds it.
fn is_query(command: &Command) -> bool {
    matches!(
        command,
        Command::Check { .. }
            | Command::Access { .. }
            | Command::Audit { .. }
            | Command::CheckConfig { .. }
    )
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The demo makes its own settings: a broken .env must not stop it.
    if let Command::Demo {
        interactive,
        port,
        postgres_url,
    } = cli.command
    {
        return serve::demo(interactive, port, postgres_url).await;
    }
    // A container's health check runs with the container's environment, needing none of it.
    if let Command::Healthcheck = cli.command {
        return healthcheck::healthcheck().await;
    }
    let settings = Settings::from_lookup(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    if is_query(&cli.command) {
        gatehouse::telemetry::init_quiet(settings.log_format, &settings.log_filter);
    } else {
        gatehouse::telemetry::init(settings.log_format, &settings.log_filter);
    }
    match cli.command {
        Command::Serve => serve::serve().await,
        Command::Migrate => admin::migrate(&settings.database_url).await,
        Command::CheckConfig { platforms } => check_config::check_config(platforms).await,
        Command::Revoke { id, reason } => admin::revoke(id, reason.as_deref().unwrap_or("")).await,
        Command::Identities {
            command: IdentitiesCommand::Sync,
        } => admin::sync_identities().await,
        Command::Check {
            user,
            resource,
            json,
        } => query::ask(json, Asked::Check { user, resource }).await,
        Command::Access {
            user,
            resource,
            json,
        } => match (user, resource) {
            (Some(user), _) => query::ask(json, Asked::AccessOf { user }).await,
            (None, Some(resource)) => query::ask(json, Asked::WhoHas { resource }).await,
            (None, None) => bail!("say --user USER or --resource RESOURCE"),
        },
        Command::Audit { command } => {
            let db = query::open_current(&settings.database_url).await?;
            query::audit_command(&db, command).await
        }
        Command::Demo {
            interactive,
            port,
            postgres_url,
        } => serve::demo(interactive, port, postgres_url).await,
        Command::Healthcheck => healthcheck::healthcheck().await,
    }
}

/// The app with its real connectors but without Slack or a background worker, for commands
/// that do one thing and exit.
async fn offline_app() -> anyhow::Result<App> {
    let config = Config::load(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    offline_app_of(config, false).await
}

/// `tell`: with Slack's Web API (not Socket Mode) when Slack is configured, so that people
/// hear what the command did.
async fn offline_app_of(config: Config, tell: bool) -> anyhow::Result<App> {
    let registry =
        Arc::new(Registry::new(&config.catalog, &env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?);
    let mut opts = AppOptions::new(registry);
    opts.connect_slack = tell;
    opts.listen_slack = false;
    opts.background_worker = false;
    // A connector removed while it holds live grants is reported, not a reason to stop: these
    // commands are how those grants are looked at and revoked.
    opts.refuse_stranded_grants = false;
    Ok(App::start(config, opts).await?)
}
