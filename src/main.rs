//! The `gatehouse` command line: parse, load configuration, call the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use gatehouse::audit::{self, ExportFormat, Verdict};
use gatehouse::config::{Config, Settings};
use gatehouse::connectors::Registry;
use gatehouse::domain::RequestId;
use gatehouse::domain::question::{Question, Subject};
use gatehouse::slack::answers::{Style, render};
use gatehouse::store::Db;
use gatehouse::workflow::Asker;
use gatehouse::{App, AppOptions};
use std::sync::Arc;
use std::time::Duration;

/// Time-bound access to data platforms, requested and approved in Slack.
///
/// Settings come from the environment (and a `.env` file in the working directory); the
/// catalog of resources from the file GATEHOUSE_CONFIG names (default gatehouse.toml).
#[derive(Parser)]
#[command(name = "gatehouse", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connect to Slack and the database and handle requests until stopped.
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
    /// Check the environment and the catalog, print what was found, then exit. When the
    /// database can be read, also compare the catalog with the live grants: list those whose
    /// resource changed, and fail as `serve` would if a removed connector still holds some.
    CheckConfig {
        /// Also ask each platform, for every resource, whether the role, group, dataset… exists
        /// and Gatehouse's account may grant and revoke it; exit 1 if any cannot be.
        #[arg(long)]
        platforms: bool,
    },
    /// End a person's access now, as the operator (a connector about to leave the catalog, an
    /// incident): the platform change is made before the command returns, and the holder is
    /// told in Slack when Slack is configured.
    Revoke {
        /// The request's number (12 or #12).
        #[arg(value_parser = parse_request_id)]
        id: RequestId,
        /// Why, for the holder and the audit log (required).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Identities ingested from the platforms.
    Identities {
        #[command(subcommand)]
        command: IdentitiesCommand,
    },
    /// Verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Does USER have access to RESOURCE, and why? Asks the platform too (within 3 s).
    Check {
        /// A Slack user ID (U…), or a platform user's name or email that someone is linked to.
        user: String,
        /// A resource's id or name, or the platform role, group or dataset it grants.
        resource: String,
        /// Print JSON for scripts instead of sentences.
        #[arg(long)]
        json: bool,
    },
    /// Everything a person has access to (--user), or everyone with access to a resource
    /// (--resource).
    Access {
        #[arg(
            long,
            conflicts_with = "resource",
            required_unless_present = "resource"
        )]
        user: Option<String>,
        #[arg(long)]
        resource: Option<String>,
        /// Print JSON for scripts instead of sentences.
        #[arg(long)]
        json: bool,
    },
    /// See Gatehouse work in one command, with no accounts: a simulated Slack workspace and
    /// Gatehouse in this process, on a SQLite file in a temporary directory (removed at the
    /// end), play one access request from the form to its expiry and print what each person
    /// sees. Uses a real PostgreSQL server when one answers (roles named gatehouse_demo_…,
    /// dropped at the end), the manual connector otherwise. Needs no .env, gatehouse.toml or
    /// Slack account, and ignores the settings in them.
    Demo {
        /// After the story, keep the simulated Slack and Gatehouse running and print how to act
        /// as each person with curl, until Ctrl-C.
        #[arg(long)]
        interactive: bool,
        /// The simulated Slack's port on 127.0.0.1 (default: a free one).
        #[arg(long)]
        port: Option<u16>,
        /// The PostgreSQL server to use when it answers within 1 s.
        #[arg(
            long,
            env = "GATEHOUSE_DEMO_POSTGRES_URL",
            default_value = gatehouse::demo::DEFAULT_POSTGRES_URL,
            hide_env_values = true
        )]
        postgres_url: String,
    },
}

#[derive(Subcommand)]
enum IdentitiesCommand {
    /// List every platform connector's users, roles and groups now and store them.
    Sync,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every row's hash and link; exits 1 naming the first row changed or removed.
    Verify,
    /// Write the rows of a time range as JSON lines or CSV.
    Export {
        /// First instant included: 2026-11-01 or 2026-11-01T09:00:00Z.
        #[arg(long, value_parser = parse_instant)]
        since: Option<DateTime<Utc>>,
        /// First instant excluded.
        #[arg(long, value_parser = parse_instant)]
        until: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "`{s}` is not a date or time; write 2026-11-01 or 2026-11-01T09:00:00Z"
    ))
}

fn parse_request_id(s: &str) -> Result<RequestId, String> {
    s.parse()
        .map_err(|e: gatehouse::domain::ids::InvalidId| e.to_string())
}

fn env_lookup(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => {
            eprintln!("error: cannot read .env: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The demo makes its own settings: a broken .env must not stop it.
    if let Command::Demo {
        interactive,
        port,
        postgres_url,
    } = cli.command
    {
        return demo(interactive, port, postgres_url).await;
    }
    let settings = Settings::from_lookup(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    gatehouse::telemetry::init(settings.log_format, &settings.log_filter);
    match cli.command {
        Command::Serve => serve().await,
        Command::Migrate => {
            let db = Db::connect(&settings.database_url)
                .await
                .context("cannot open the database (DATABASE_URL)")?;
            db.migrate().await.context("migration failed")?;
            println!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { platforms } => {
            let config = Config::load(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
            let c = &config.catalog;
            println!(
                "{}: {} connector(s), {} resource(s), {} admin(s) in the catalog",
                c.path.display(),
                c.connectors.len(),
                c.resources.len(),
                c.admins.len()
            );
            for r in &c.resources {
                println!(
                    "  {} ({}) via {}: default {}, max {}",
                    r.id, r.name, r.connector, r.durations.default, r.durations.max
                );
            }
            for warning in c.warnings() {
                println!("warning: {warning}");
            }
            let grants = compare_live_grants(&config).await;
            if !platforms {
                return Ok(grants);
            }
            let asked = ask_platforms(&config).await?;
            Ok(if grants == ExitCode::SUCCESS {
                asked
            } else {
                grants
            })
        }
        Command::Revoke { id, reason } => revoke(id, reason.as_deref().unwrap_or("")).await,
        Command::Identities {
            command: IdentitiesCommand::Sync,
        } => sync_identities().await,
        Command::Check {
            user,
            resource,
            json,
        } => ask(json, Asked::Check { user, resource }).await,
        Command::Access {
            user,
            resource,
            json,
        } => match (user, resource) {
            (Some(user), _) => ask(json, Asked::AccessOf { user }).await,
            (None, Some(resource)) => ask(json, Asked::WhoHas { resource }).await,
            (None, None) => bail!("say --user USER or --resource RESOURCE"),
        },
        Command::Audit { command } => {
            let db = Db::connect(&settings.database_url)
                .await
                .context("cannot open the database (DATABASE_URL)")?;
            audit_command(&db, command).await
        }
        Command::Demo {
            interactive,
            port,
            postgres_url,
        } => demo(interactive, port, postgres_url).await,
    }
}

async fn demo(
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

async fn serve() -> anyhow::Result<ExitCode> {
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

/// `gatehouse revoke ID --reason TEXT`: ends the access now, then runs what is due (the
/// revocation, and the messages) so that it is gone when the command returns.
async fn revoke(id: RequestId, reason: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    let slack = &config.settings.slack;
    let mut tell =
        slack.bot_token.is_some() && slack.app_token.is_some() && slack.channel.is_some();
    let app = match offline_app_of(config.clone(), tell).await {
        // Access is ended even when Slack cannot be reached; only the telling is lost.
        Err(e) if tell && is_slack(&e) => {
            eprintln!("warning: {e:#}; revoking without telling anyone in Slack");
            tell = false;
            offline_app_of(config, false).await?
        }
        other => other?,
    };
    let result = revoke_now(&app, id, reason, tell).await;
    app.shutdown().await;
    let (line, ok) = result?;
    if ok {
        println!("{line}");
        if !tell {
            println!(
                "The holder was not told: Slack is not configured here, or could not be reached (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, ACCESS_REQUESTS_CHANNEL)."
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{line}");
        Ok(ExitCode::FAILURE)
    }
}

fn is_slack(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<gatehouse::StartError>(),
        Some(gatehouse::StartError::Slack(_))
    )
}

/// What became of the revocation, in one line, and whether the access is gone (or in an
/// admin's hands, for changes made by hand). `told`: Slack hears of it.
async fn revoke_now(
    app: &App,
    id: RequestId,
    reason: &str,
    told: bool,
) -> anyhow::Result<(String, bool)> {
    let wf = app.workflow();
    wf.revoke_as_operator(id, reason)
        .await
        .map_err(|e| anyhow::anyhow!("cannot revoke request {id}: {e}"))?;
    app.run_due_jobs().await.context(
        "the revocation is recorded, but its job could not run; `gatehouse serve` runs it",
    )?;
    let request = wf.request(id).await?;
    let grant = wf.grant_of(id).await?;
    if request.status == gatehouse::domain::Status::Revoked {
        let how = grant
            .and_then(|g| g.revoke_applied)
            .unwrap_or_else(|| "nothing was granted".into());
        return Ok((format!("request {id}: access removed ({how})"), true));
    }
    if let Some(error) = wf.revocation_error(id).await? {
        return Ok((
            format!(
                "request {id}: the access may still be there: the platform refused to remove it for now ({error}); `gatehouse serve` keeps retrying, and admins see it in App Home"
            ),
            false,
        ));
    }
    let by_hand = grant
        .and_then(|g| g.connector().ok())
        .and_then(|c| wf.catalog().connectors.get(&c))
        .is_some_and(|c| c.kind == gatehouse::config::ConnectorKind::Manual);
    if by_hand && told {
        return Ok((
            format!(
                "request {id}: being revoked by hand: an admin is asked in the request's Slack thread to remove the access and press Done"
            ),
            true,
        ));
    }
    if by_hand {
        return Ok((
            format!(
                "request {id}: its access is removed by hand, and Slack could not ask an admin to: remove it yourself, then close the request with `/access-admin close {id} REASON`"
            ),
            false,
        ));
    }
    Ok((
        format!(
            "request {id}: {}; `gatehouse serve` finishes it",
            request.status
        ),
        false,
    ))
}

/// `check-config`: the catalog against the live grants, when the database can be read; the
/// exit code `serve` would start with.
async fn compare_live_grants(config: &Config) -> ExitCode {
    let url = read_only(&config.settings.database_url);
    let opened = tokio::time::timeout(Duration::from_secs(5), Db::connect(&url)).await;
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            println!("live grants not compared: cannot open the database (DATABASE_URL): {e}");
            return ExitCode::SUCCESS;
        }
        Err(_) => {
            println!(
                "live grants not compared: the database (DATABASE_URL) did not answer within 5 s"
            );
            return ExitCode::SUCCESS;
        }
    };
    let edits = match gatehouse::workflow::catalog_edits(db.conn(), &config.catalog).await {
        Ok(edits) => edits,
        Err(e) => {
            println!(
                "live grants not compared: cannot read them ({e}); has `gatehouse migrate` run?"
            );
            return ExitCode::SUCCESS;
        }
    };
    if edits.changed.is_empty() {
        println!("live grants: all match the catalog");
    }
    for edited in &edits.changed {
        println!("  {edited}");
    }
    match edits.refusal() {
        Some(refusal) => {
            eprintln!("error: `gatehouse serve` would not start: {refusal}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

/// `check-config --platforms`: one line per resource, ✅ or what is missing and its fix; the
/// exit code says whether every resource can be granted and revoked.
async fn ask_platforms(config: &Config) -> anyhow::Result<ExitCode> {
    let registry =
        Registry::new(&config.catalog, &env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "platforms (each resource asked within {} s):",
        gatehouse::workflow::READINESS_LIMIT.as_secs()
    );
    let report = gatehouse::workflow::platform_readiness(
        &config.catalog,
        &registry,
        gatehouse::clock::Clock::now(&gatehouse::clock::SystemClock),
    )
    .await;
    for resource in &report.resources {
        println!("  {resource}");
    }
    println!("{}", report.summary());
    Ok(if report.problems().next().is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A SQLite URL opened read-only, so that checking never creates a database file.
fn read_only(url: &str) -> String {
    if !url.starts_with("sqlite:") {
        return url.to_owned();
    }
    if url.contains("mode=") {
        ["mode=rwc", "mode=rw"]
            .iter()
            .fold(url.to_owned(), |u, m| u.replace(m, "mode=ro"))
    } else if url.contains('?') {
        format!("{url}&mode=ro")
    } else {
        format!("{url}?mode=ro")
    }
}

/// A question as typed at the command line, people named as the operator wrote them.
enum Asked {
    Check { user: String, resource: String },
    AccessOf { user: String },
    WhoHas { resource: String },
}

/// Answers a question at the command line, as an admin would be answered in Slack.
async fn ask(json: bool, asked: Asked) -> anyhow::Result<ExitCode> {
    let app = offline_app().await?;
    let wf = app.workflow();
    let result = async {
        let question = match asked {
            Asked::Check { user, resource } => Question::Check {
                who: Subject::User(wf.find_person(&user).await?),
                resource,
            },
            Asked::AccessOf { user } => Question::AccessOf {
                who: Subject::User(wf.find_person(&user).await?),
            },
            Asked::WhoHas { resource } => Question::WhoHas { resource },
        };
        wf.answer(&Asker::CommandLine, &question).await
    }
    .await;
    app.shutdown().await;
    let answer = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{}", render(&answer, Style::Plain));
    }
    Ok(ExitCode::SUCCESS)
}

async fn sync_identities() -> anyhow::Result<ExitCode> {
    let app = offline_app().await?;
    let connectors: Vec<_> = app
        .workflow()
        .catalog()
        .connectors
        .keys()
        .cloned()
        .collect();
    let mut failed = false;
    // On a terminal, a bar over the connectors with the one being listed; hidden otherwise.
    let bar = indicatif::ProgressBar::new(connectors.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} connectors  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    for c in &connectors {
        bar.set_message(format!("listing `{c}`…"));
        let line = match app.workflow().sync_identities(c).await {
            Ok(Some(r)) => format!("{c}: {} identities, {} newly missing", r.seen, r.missing),
            Ok(None) => format!("{c}: nothing to sync (this connector lists no identities)"),
            Err(e) => {
                failed = true;
                bar.suspend(|| eprintln!("{c}: {e}"));
                bar.inc(1);
                continue;
            }
        };
        bar.suspend(|| println!("{line}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    app.shutdown().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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

async fn audit_command(db: &Db, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => match audit::verify(db)
            .await
            .context("cannot read the audit log")?
        {
            v @ Verdict::Intact { .. } => {
                println!("{v}");
                Ok(ExitCode::SUCCESS)
            }
            v @ Verdict::Broken { .. } => {
                eprintln!("{v}");
                Ok(ExitCode::FAILURE)
            }
        },
        AuditCommand::Export {
            since,
            until,
            format,
            output,
        } => {
            let format = match format {
                Format::Jsonl => ExportFormat::Jsonl,
                Format::Csv => ExportFormat::Csv,
            };
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let n = audit::export(db, since, until, format, &mut out).await?;
            out.flush()?;
            eprintln!("exported {n} audit row(s)");
            Ok(ExitCode::SUCCESS)
        }
    }
}
