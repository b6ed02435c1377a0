//! `gatehouse demo`: the whole story of one access request, in one process and with no
//! accounts — slack-sim as the Slack workspace, the real Gatehouse app on a SQLite file in a
//! temporary directory, the `manual` connector, and a real PostgreSQL server when one answers.
//! It acts as each person through slack-sim and prints what each would see.

/// `println!` that ignores a closed stdout (`gatehouse demo | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod postgres;
mod story;
mod transcript;
mod workspace;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use slack_sim::{SimHandle, SlackSim};

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{Catalog, Config, Settings};
use crate::connectors::Registry;
use crate::{App, AppOptions};

pub use postgres::DEFAULT_URL as DEFAULT_POSTGRES_URL;
use workspace::{CHANNEL, CHANNEL_NAME, PEOPLE, PG_URL_VAR};

/// What the command line chose.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep slack-sim and Gatehouse running after the story, until Ctrl-C.
    pub interactive: bool,
    /// slack-sim's port on 127.0.0.1; a free one when None.
    pub port: Option<u16>,
    /// The PostgreSQL server to use when it answers.
    pub postgres_url: String,
}

/// Runs the demo; everything it made (temporary directory, roles) is gone when it returns.
pub async fn run(opts: DemoOptions, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-demo-")
        .tempdir()
        .map_err(|e| {
            anyhow!(
                "cannot create a temporary directory in {}: {e}; point TMPDIR at a writable directory",
                std::env::temp_dir().display()
            )
        })?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut pg = match postgres::setup(&opts.postgres_url, &run_id).await {
        postgres::Setup::Ready(roles) => {
            outln!(
                "PostgreSQL: using {} with a demo role {} and login {} (both dropped at the end)",
                roles.place,
                roles.role,
                roles.login
            );
            Some(roles)
        }
        postgres::Setup::Without(line) => {
            outln!("{line}");
            None
        }
    };
    // Ctrl-C ends the interactive part, and stops the story too: either way, clean up.
    let story_told = std::cell::Cell::new(false);
    let result = tokio::select! {
        r = start_and_play(&opts, dir.path(), pg.as_mut(), &story_told) => r,
        () = stop => {
            outln!("\nStopping.");
            if story_told.get() { Ok(()) } else { Err(anyhow!("interrupted before the story ended")) }
        }
    };
    if let Some(mut roles) = pg {
        if let Some(problem) = roles.drop_roles().await {
            eprintln!("warning: {problem}");
        } else {
            outln!("Dropped the demo roles {} and {}.", roles.login, roles.role);
        }
        roles.close().await;
    }
    let shown = dir.path().display().to_string();
    match dir.close() {
        Ok(()) => outln!("Removed {shown}."),
        Err(e) => eprintln!("warning: could not remove {shown}: {e}"),
    }
    result
}

/// Starts slack-sim and Gatehouse, plays the story, and (interactive) keeps them running.
async fn start_and_play(
    opts: &DemoOptions,
    dir: &Path,
    mut pg: Option<&mut postgres::DemoRoles>,
    story_told: &std::cell::Cell<bool>,
) -> anyhow::Result<()> {
    let sim = SlackSim::start(workspace::sim_config(opts.port))
        .await
        .map_err(|e| match e {
            slack_sim::StartError::Bind { port, source } => anyhow!(
                "cannot start the simulated Slack on 127.0.0.1:{port}: {source}{}",
                if port == 0 {
                    String::new()
                } else {
                    "; choose another port with --port, or leave it out to use a free one".into()
                }
            ),
        })?;
    let db = dir.join("gatehouse.db");
    outln!(
        "Slack: slack-sim on {} (a workspace with {})",
        sim.api_url(),
        PEOPLE
            .iter()
            .map(|p| format!("{} — {}, {}", p.name, p.role, p.tz))
            .collect::<Vec<_>>()
            .join("; ")
    );
    outln!("Database: SQLite at {} (removed at the end)", db.display());

    let catalog_text = workspace::catalog(pg.as_deref().map(|r| r.role.as_str()));
    let catalog = Catalog::parse(Path::new("(the demo's built-in catalog)"), &catalog_text)
        .map_err(|e| anyhow!("the demo's catalog: {e}"))?;
    let pg_url = pg.as_deref().map(|r| r.url.clone());
    let secrets = move |k: &str| (k == PG_URL_VAR).then(|| pg_url.clone()).flatten();
    let registry = Arc::new(Registry::new(&catalog, &secrets).map_err(|e| anyhow!("{e}"))?);

    let api_url = sim.api_url();
    let env: HashMap<&str, String> = HashMap::from([
        (
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.display()),
        ),
        ("SLACK_BOT_TOKEN", sim.bot_token().to_owned()),
        ("SLACK_APP_TOKEN", sim.app_token().to_owned()),
        ("SLACK_API_URL", api_url),
        ("ACCESS_REQUESTS_CHANNEL", CHANNEL.to_owned()),
        ("GATEHOUSE_SLACK_PACE", "none".to_owned()),
    ]);
    let settings = Settings::from_lookup(&|k| env.get(k).cloned())
        .map_err(|e| anyhow!("the demo's settings: {e}"))?;

    // The story moves this clock instead of waiting 8 hours.
    let clock = ManualClock::new(SystemClock.now());
    let mut app_opts = AppOptions::new(registry);
    app_opts.clock = Arc::new(clock.clone());
    let app = App::start(Config { settings, catalog }, app_opts)
        .await
        .context("cannot start Gatehouse")?;
    let played = async {
        if !app.slack_connected(Duration::from_secs(10)).await {
            return Err(anyhow!(
                "Gatehouse did not connect to the simulated Slack within 10 s"
            ));
        }
        let sim_view = sim.sim();
        let story = story::Story {
            app: &app,
            sim: &sim,
            clock: &clock,
            pg: pg.as_deref_mut(),
            transcript: transcript::Transcript::new(sim_view),
        };
        let summary = story.play().await?;
        outln!("\n{summary}");
        let verdict = crate::audit::verify(app.db())
            .await
            .context("cannot read the audit log")?;
        outln!("Audit: {verdict} (gatehouse::audit::verify)");
        if let crate::audit::Verdict::Broken { .. } = verdict {
            return Err(anyhow!("the audit chain does not verify"));
        }
        story_told.set(true);
        if opts.interactive {
            interactive(&sim, &clock).await;
        }
        Ok(())
    }
    .await;
    app.shutdown().await;
    sim.shutdown().await;
    played
}

/// Leaves everything running, with the demo's clock moving at real speed from where the
/// story left it, and prints how to act as each person; never returns (Ctrl-C ends it).
async fn interactive(sim: &SimHandle, clock: &ManualClock) {
    let _ticking = AbortOnDrop({
        let clock = clock.clone();
        let (from, started) = (clock.now(), Instant::now());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let elapsed = chrono::TimeDelta::from_std(started.elapsed()).unwrap_or_default();
                clock.set(from + elapsed);
            }
        })
    });
    let c = sim.control_url();
    let json = "-H 'content-type: application/json'";
    let [maya, ravi, ada] = PEOPLE;
    outln!(
        "\nInteractive: slack-sim and Gatehouse keep running. The demo's clock now runs at real speed\n\
         from where the story left it (8 hours ahead). Act as each person through slack-sim's control\n\
         API (slack-sim/README.md lists every call):\n"
    );
    outln!("  C={c}");
    for p in PEOPLE {
        outln!("  # {}: {} ({}, {})", p.name, p.id, p.role, p.tz);
    }
    outln!("  # #{CHANNEL_NAME}: {CHANNEL}\n");
    outln!(
        "  # {} asks for the finance dashboards for 2 minutes (or with no text, for the form):",
        maya.name
    );
    outln!(
        "  curl -s $C/slash_command {json} -d '{{\"user_id\":\"{}\",\"channel_id\":\"{CHANNEL}\",\"command\":\"/request-access\",\"text\":\"finance-dashboards 2m\"}}'",
        maya.id
    );
    outln!("  # The channel's messages, with their ts, replies and reactions:");
    outln!("  curl -s \"$C/messages?channel={CHANNEL}\"");
    outln!(
        "  # {} approves with ✅ (put the request message's ts for TS):",
        ravi.name
    );
    outln!(
        "  curl -s $C/add_reaction {json} -d '{{\"user_id\":\"{}\",\"channel\":\"{CHANNEL}\",\"ts\":\"TS\",\"name\":\"white_check_mark\"}}'",
        ravi.id
    );
    outln!("  # …or presses Approve on it:");
    outln!(
        "  curl -s $C/click_button {json} -d '{{\"user_id\":\"{}\",\"target\":{{\"type\":\"message\",\"channel\":\"{CHANNEL}\",\"ts\":\"TS\"}},\"action_id\":\"approve\"}}'",
        ravi.id
    );
    outln!(
        "  # {} presses Done on the by-hand task in the thread (its ts from $C/thread?channel={CHANNEL}&ts=TS):",
        ada.name
    );
    outln!(
        "  curl -s $C/click_button {json} -d '{{\"user_id\":\"{}\",\"target\":{{\"type\":\"message\",\"channel\":\"{CHANNEL}\",\"ts\":\"TASK_TS\"}},\"action_id\":\"by_hand_done\"}}'",
        ada.id
    );
    outln!("  # What {} was told, and her App Home:", maya.name);
    outln!("  curl -s \"$C/dms?user={}\"", maya.id);
    outln!(
        "  curl -s $C/open_app_home {json} -d '{{\"user_id\":\"{}\"}}' && curl -s \"$C/home?user={}\"",
        maya.id,
        maya.id
    );
    outln!("\nPress Ctrl-C to stop; the temporary directory and any demo roles are then removed.");
    std::future::pending::<()>().await;
}

/// Stops the clock's task when the interactive part is stopped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
