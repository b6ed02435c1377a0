//! The query commands — `check`, `access`, `audit verify`, `audit export` — which read the
//! database and print their answer.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use gatehouse::audit::{self, ExportFormat, Verdict};
use gatehouse::domain::question::{Question, Subject};
use gatehouse::slack::answers::{Style, render};
use gatehouse::store::Db;
use gatehouse::workflow::Asker;

use super::args::{AuditCommand, Format};
use super::offline_app;

/// A question as typed at the command line, people named as the operator wrote them.
pub enum Asked {
    Check { user: String, resource: String },
    AccessOf { user: String },
    WhoHas { resource: String },
}

/// Answers a question at the command line, as an admin would be answered in Slack.
pub async fn ask(json: bool, asked: Asked) -> anyhow::Result<ExitCode> {
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

pub async fn audit_command(db: &Db, command: AuditCommand) -> anyhow::Result<ExitCode> {
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
