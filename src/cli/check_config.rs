//! `gatehouse check-config`: the environment and the catalog, compared with the live grants
//! when the database can be read, and with the platforms when asked. Reads only.

use std::process::ExitCode;
use std::time::Duration;

use gatehouse::config::Config;
use gatehouse::connectors::Registry;
use gatehouse::store::Db;

use super::env_lookup;
use super::output::outln;
use super::query::SCHEMA_BEHIND;

/// What was found, then the live grants, then (`platforms`) what each platform says.
pub async fn check_config(platforms: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(&env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    let c = &config.catalog;
    outln!(
        "{}: {} connector(s), {} resource(s), {} admin(s) in the catalog",
        c.path.display(),
        c.connectors.len(),
        c.resources.len(),
        c.admins.len()
    )?;
    for r in &c.resources {
        outln!(
            "  {} ({}) via {}: default {}, max {}",
            r.id,
            r.name,
            r.connector,
            r.durations.default,
            r.durations.max
        )?;
    }
    for warning in c.warnings() {
        outln!("warning: {warning}")?;
    }
    let grants = compare_live_grants(&config).await?;
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

/// `check-config`: the catalog against the live grants, when the database can be read; the
/// exit code `serve` would start with.
async fn compare_live_grants(config: &Config) -> anyhow::Result<ExitCode> {
    let url = read_only(&config.settings.database_url);
    let opened = tokio::time::timeout(Duration::from_secs(5), Db::connect(&url)).await;
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            outln!("live grants not compared: cannot open the database (DATABASE_URL): {e}")?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(_) => {
            outln!(
                "live grants not compared: the database (DATABASE_URL) did not answer within 5 s"
            )?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    // `serve` would migrate it; tables read as this binary knows them may not be there yet.
    match db.pending_migrations().await {
        Ok(pending) if pending.is_empty() => {}
        Ok(_) => {
            outln!("live grants not compared: {SCHEMA_BEHIND}")?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            outln!("live grants not compared: cannot read the database schema's version ({e})")?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let edits = match gatehouse::workflow::catalog_edits(db.conn(), &config.catalog).await {
        Ok(edits) => edits,
        Err(e) => {
            outln!(
                "live grants not compared: cannot read them ({e}); has `gatehouse migrate` run?"
            )?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    if edits.changed.is_empty() {
        outln!("live grants: all match the catalog")?;
    }
    for edited in &edits.changed {
        outln!("  {edited}")?;
    }
    match edits.refusal() {
        Some(refusal) => {
            eprintln!("error: `gatehouse serve` would not start: {refusal}");
            Ok(ExitCode::FAILURE)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `check-config --platforms`: one line per resource, ✅ or what is missing and its fix; the
/// exit code says whether every resource can be granted and revoked.
async fn ask_platforms(config: &Config) -> anyhow::Result<ExitCode> {
    let registry =
        Registry::new(&config.catalog, &env_lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    outln!(
        "platforms (each resource asked within {} s):",
        gatehouse::workflow::READINESS_LIMIT.as_secs()
    )?;
    let report = gatehouse::workflow::platform_readiness(
        &config.catalog,
        &registry,
        gatehouse::clock::Clock::now(&gatehouse::clock::SystemClock),
    )
    .await;
    for resource in &report.resources {
        outln!("  {resource}")?;
    }
    outln!("{}", report.summary())?;
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
