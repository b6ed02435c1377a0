//! The query commands — `check`, `access`, `audit verify`, `audit export` — which read the
//! database and print their answer: they never migrate it, and refuse one whose schema is
//! behind this binary's.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};

use gatehouse::audit::{self, ExportFormat, Verdict};
use gatehouse::config::Config;
use gatehouse::domain::question::{Question, Subject};
use gatehouse::slack::answers::{Style, render};
use gatehouse::store::Db;
use gatehouse::workflow::Asker;

use super::args::{AuditCommand, Format};
use super::output::{self, outln};
use super::{env_lookup, offline_app_of};

/// What a query says, in one line, of a database that `gatehouse migrate` has not brought up to
/// date.
pub const SCHEMA_BEHIND: &str = "the database schema is out of date: run `gatehouse migrate` first";

/// Opens the database for a query, without creating it, and refuses it when this binary has
/// migrations it has not had: changing the schema is `migrate`'s work (and `serve`'s), never a
/// query's.
pub async fn open_current(url: &str) -> anyhow::Result<Db> {
    if let Some(path) = sqlite_file(url)
        && !std::path::Path::new(path).exists()
    {
        bail!("there is no database at {path} (DATABASE_URL): run `gatehouse migrate` first");
    }
    let db = Db::connect(&no_create(url))
        .await
        .context("cannot open the database (DATABASE_URL)")?;
    let pending = db
        .pending_migrations()
        .await
        .context("cannot read the database schema's version")?;
    if !pending.is_empty() {
        db.close().await.ok();
        bail!(SCHEMA_BEHIND);
    }
    Ok(db)
}

/// The file a SQLite URL names (None for PostgreSQL and in-memory databases).
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    let in_memory = path.is_empty() || path.contains(":memory:") || url.contains("mode=memory");
    (!in_memory).then_some(path)
}

/// A SQLite URL that opens the file only if it is there: a query never makes an empty
/// database.
fn no_create(url: &str) -> String {
    if url.starts_with("sqlite:") {
        url.replace("mode=rwc", "mode=rw")
    } else {
        url.to_owned()
    }
}

/// A question as typed at the command line, people named as the operator wrote them.
pub enum Asked {
    Check { user: String, resource: String },
    AccessOf { user: String },
    WhoHas { resource: String },
}

/// Answers a question at the command line, as an admin would be answered in Slack.
pub async fn ask(json: bool, asked: Asked) -> anyhow::Result<ExitCode> {
    let config = Config::load(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Checked before the app starts, since starting it brings the schema up to date.
    open_current(&config.settings.database_url)
        .await?
        .close()
        .await
        .ok();
    let app = offline_app_of(config, false).await?;
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
        outln!("{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        outln!("{}", render(&answer, Style::Plain))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit_command(db: &Db, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => match audit::verify(db)
            .await
            .context("cannot read the audit log")?
        {
            v @ Verdict::Intact { .. } => {
                outln!("{v}")?;
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
                None => Box::new(std::io::BufWriter::new(output::Stdout)),
            };
            let n = audit::export(db, since, until, format, &mut out).await?;
            out.flush()?;
            // On standard output the rows are the answer; in a file, how many were written.
            if let Some(path) = &output {
                outln!("exported {n} audit row(s) to {}", path.display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
