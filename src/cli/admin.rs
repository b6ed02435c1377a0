//! The commands that change things and exit: `migrate`, `revoke`, `identities sync`.

use std::process::ExitCode;

use anyhow::Context;

use gatehouse::App;
use gatehouse::config::Config;
use gatehouse::domain::RequestId;
use gatehouse::store::Db;

use super::output::outln;
use super::{env_lookup, offline_app, offline_app_of};

/// `gatehouse migrate`: the schema brought up to date.
pub async fn migrate(database_url: &str) -> anyhow::Result<ExitCode> {
    let db = Db::connect(database_url)
        .await
        .context("cannot open the database (DATABASE_URL)")?;
    db.migrate().await.context("migration failed")?;
    outln!("database is up to date")?;
    Ok(ExitCode::SUCCESS)
}

/// `gatehouse revoke ID --reason TEXT`: ends the access now, then runs what is due (the
/// revocation, and the messages) so that it is gone when the command returns.
pub async fn revoke(id: RequestId, reason: &str) -> anyhow::Result<ExitCode> {
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
        outln!("{line}")?;
        if !tell {
            outln!(
                "The holder was not told: Slack is not configured here, or could not be reached (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, ACCESS_REQUESTS_CHANNEL)."
            )?;
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

pub async fn sync_identities() -> anyhow::Result<ExitCode> {
    let app = offline_app().await?;
    let connectors: Vec<_> = app
        .workflow()
        .catalog()
        .connectors
        .keys()
        .cloned()
        .collect();
    let mut failed = false;
    // Once standard output cannot be written (its reader gone), the remaining connectors are
    // still synced, unsaid.
    let mut unwritten = None;
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
        if unwritten.is_none()
            && let Err(e) = bar.suspend(|| outln!("{line}"))
        {
            unwritten = Some(e);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    app.shutdown().await;
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    match unwritten {
        Some(e) => Err(e).context("cannot write to standard output"),
        None => Ok(ExitCode::SUCCESS),
    }
}
