//! `App::start` wires the pieces together: database, catalog, workflow, job worker. Tests start
//! the very same app, choosing the seams (clock, provisioner, directory) that production fixes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::jobs::{Worker, WorkerSettings};
use crate::ops::Metrics;
use crate::ops::http::{HttpServer, OpsState};
use crate::store::{self, Db, StoreError};
use crate::workflow::{Directory, NoGroups, Notifier, Provisioner, Workflow, WorkflowDeps};

/// The seams a caller may choose; `AppOptions::new` picks production's where there is one.
pub struct AppOptions {
    pub clock: SharedClock,
    pub provisioner: Arc<dyn Provisioner>,
    pub directory: Arc<dyn Directory>,
    pub notifier: Option<Arc<dyn Notifier>>,
    /// Connect to Slack when its settings are there (commands that only sync or read turn it off).
    pub connect_slack: bool,
    /// Once connected to Slack, take envelopes over Socket Mode. A one-shot command that only
    /// tells people (`gatehouse revoke`) turns it off: it posts through the Web API and never
    /// takes a person's click or command meant for the running Gatehouse.
    pub listen_slack: bool,
    /// On-call services for auto-approval rules, by `[oncall.<id>]` (see `oncall::from_catalog`).
    pub on_call: crate::workflow::OnCallServices,
    /// Run the job worker in the background. Tests that drive time by hand turn it off and
    /// call `App::run_due_jobs`.
    pub background_worker: bool,
    /// Serve `/healthz`, `/readyz` and `/metrics` on `GATEHOUSE_HTTP_ADDR`. `serve` turns it
    /// on; one-shot commands, embedded apps and tests leave it off (or ask for port 0), so
    /// that they never take the port of a running Gatehouse or of each other.
    pub http: bool,
    /// Refuse to start when a connector removed from the catalog still holds live grants
    /// (nothing could take them away). One-shot commands turn it off, to revoke them.
    pub refuse_stranded_grants: bool,
    /// Ask every platform whether each resource can be granted, at start and hourly, logging
    /// what cannot as warnings (App Home shows the last answer). `serve` turns it on.
    pub check_platforms: bool,
}

impl AppOptions {
    pub fn new(provisioner: Arc<dyn Provisioner>) -> Self {
        AppOptions {
            clock: Arc::new(SystemClock),
            provisioner,
            directory: Arc::new(NoGroups),
            notifier: None,
            connect_slack: true,
            listen_slack: true,
            background_worker: true,
            on_call: Default::default(),
            http: false,
            refuse_stranded_grants: true,
            check_platforms: false,
        }
    }
}

/// How often `serve` asks the platforms again whether each resource can be granted.
const PLATFORMS_EVERY: Duration = Duration::from_secs(3600);

/// Asks every platform whether its resources can be granted, now and every hour until the app
/// stops; what cannot is logged as a warning with its fix. Never stops the start.
async fn check_platforms_now_and_hourly(workflow: Arc<Workflow>, stop: CancellationToken) {
    let mut every = tokio::time::interval(PLATFORMS_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = stop.cancelled() => return,
        }
        let report = tokio::select! {
            report = workflow.check_platforms() => report,
            () = stop.cancelled() => return,
        };
        for problem in report.problems() {
            tracing::warn!("{problem}");
        }
        tracing::info!("platforms: {}", report.summary());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] StoreError),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] StoreError),
    #[error("cannot record the catalog's resources: {0}")]
    Catalog(#[source] StoreError),
    #[error("cannot compare the catalog with the live grants: {0}")]
    Grants(#[source] StoreError),
    #[error("cannot read the settings stored in the database: {0}")]
    Settings(#[source] StoreError),
    #[error("{0}")]
    Stranded(String),
    #[error(transparent)]
    Slack(#[from] crate::slack::SlackStartError),
    #[error("cannot set up the language model (GATEHOUSE_LLM_*): {0}")]
    Llm(String),
    #[error(
        "cannot listen on GATEHOUSE_HTTP_ADDR={addr}: {source}; choose a free port (e.g. 127.0.0.1:9090), or set it to off"
    )]
    Http {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// How long a stopping app lets the job in hand finish before giving it back to the queue. With
/// Slack's and the HTTP server's own short stops, the whole exit stays under 10 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

pub struct App {
    workflow: Arc<Workflow>,
    slack: Option<crate::slack::Runtime>,
    worker: Worker,
    /// The background workers and their ids (empty when turned off).
    background: Vec<(JoinHandle<()>, String)>,
    shutdown: CancellationToken,
    http: Option<HttpServer>,
    metrics: Arc<Metrics>,
    clock: SharedClock,
}

impl App {
    pub async fn start(config: Config, opts: AppOptions) -> Result<App, StartError> {
        let metrics = Arc::new(Metrics::new());
        for warning in config.catalog.warnings() {
            tracing::warn!("{warning}");
        }
        let listener = match config.settings.http_addr {
            Some(addr) if opts.http => Some((
                addr,
                HttpServer::bind(addr)
                    .await
                    .map_err(|source| StartError::Http { addr, source })?,
            )),
            _ => None,
        };
        let db = Db::connect(&config.settings.database_url)
            .await
            .map_err(StartError::Connect)?;
        db.migrate().await.map_err(StartError::Migrate)?;
        store::resources::sync(db.conn(), &config.catalog.resources, opts.clock.now())
            .await
            .map_err(StartError::Catalog)?;
        // Live grants end as they were granted; say which no longer match the catalog.
        let edits = crate::workflow::catalog_edits(db.conn(), &config.catalog)
            .await
            .map_err(StartError::Grants)?;
        for edited in &edits.changed {
            tracing::warn!("{edited}");
        }
        if let Some(refusal) = edits.refusal() {
            if opts.refuse_stranded_grants {
                return Err(StartError::Stranded(refusal));
            }
            tracing::warn!("{refusal}");
        }

        // Slack is on when all of its settings are there; its tokens are checked before anything runs.
        let s = &config.settings.slack;
        let slack = match (&s.bot_token, &s.app_token, &s.channel) {
            (Some(bot), Some(app), Some(channel)) if opts.connect_slack => {
                let parts = crate::slack::connect(s, bot, app, channel, metrics.clone()).await?;
                // Without the channel every request would fail later with not_in_channel.
                let chosen = store::settings::get(db.conn(), store::settings::REQUESTS_CHANNEL)
                    .await
                    .map_err(StartError::Settings)?;
                parts.check_requests_channel(chosen.as_deref()).await?;
                parts.check_catalog(&config.catalog).await?;
                Some(parts)
            }
            _ => None,
        };
        let directory = match &slack {
            Some(parts) => parts.directory(),
            None => opts.directory,
        };
        let notifier = match &slack {
            Some(parts) => Some(parts.notifier()),
            None => opts.notifier,
        };

        let wake = Arc::new(Notify::new());
        let provisioner = Arc::new(crate::ops::watched::Watched::new(
            opts.provisioner,
            metrics.clone(),
            opts.clock.clone(),
            &config.catalog,
        ));
        let workflow = Arc::new(Workflow::new(WorkflowDeps {
            db: db.clone(),
            catalog: Arc::new(config.catalog),
            clock: opts.clock.clone(),
            admins: config.settings.admins.clone(),
            directory,
            provisioner,
            notifier,
            max_attempts: config.settings.job_max_attempts,
            reconcile_every: config.settings.reconcile_every,
            wake: wake.clone(),
            metrics: metrics.clone(),
            on_call: opts.on_call,
        }));
        let settings = WorkerSettings::new(
            config.settings.job_max_attempts,
            config.settings.job_lease,
            config.settings.job_poll,
        );
        let new_worker = || {
            Worker::new(
                db.clone(),
                opts.clock.clone(),
                workflow.clone(),
                wake.clone(),
                settings.clone(),
            )
            .with_metrics(metrics.clone())
        };
        let slack = match slack {
            Some(parts) if opts.listen_slack => {
                let ask = match &config.settings.llm {
                    Some(c) => {
                        let settings = crate::ask::llm::LlmSettings::from_config(c);
                        Some(Arc::new(
                            crate::ask::llm::Llm::new(settings).map_err(StartError::Llm)?,
                        ))
                    }
                    None => None,
                };
                let questions = crate::slack::question_limit::QuestionLimit::new(
                    config.settings.questions_per_minute,
                    opts.clock.clone(),
                );
                Some(parts.listen(workflow.clone(), ask, questions).await?)
            }
            _ => None,
        };
        // Identities of every platform connector are synced at start (and hourly after).
        let listing: Vec<_> = workflow
            .catalog()
            .connectors
            .values()
            .filter(|c| c.kind != crate::config::ConnectorKind::Manual)
            .map(|c| c.id.clone())
            .collect();
        workflow
            .schedule_identity_syncs(&listing)
            .await
            .map_err(|e| StartError::Catalog(StoreError::Corrupt(e.to_string())))?;
        workflow
            .schedule_reconciliation(&listing, config.settings.reconcile_every)
            .await
            .map_err(|e| StartError::Catalog(StoreError::Corrupt(e.to_string())))?;
        let shutdown = CancellationToken::new();
        let http = match listener {
            Some((addr, listener)) => {
                let state = Arc::new(OpsState {
                    workflow: workflow.clone(),
                    metrics: metrics.clone(),
                    slack: slack.as_ref().map(crate::slack::Runtime::open_connections),
                    stopping: shutdown.clone(),
                });
                Some(
                    HttpServer::start(listener, state)
                        .map_err(|source| StartError::Http { addr, source })?,
                )
            }
            None => None,
        };
        let workers = if opts.background_worker {
            config.settings.job_workers
        } else {
            0
        };
        let background: Vec<(JoinHandle<()>, String)> = (0..workers)
            .map(|_| {
                let worker = new_worker();
                let id = worker.id().to_owned();
                (tokio::spawn(worker.run(shutdown.clone())), id)
            })
            .collect();
        let mut background = background;
        if opts.check_platforms {
            let task = check_platforms_now_and_hourly(workflow.clone(), shutdown.clone());
            background.push((tokio::spawn(task), "platform-readiness".into()));
        }
        tracing::info!(
            resources = workflow.catalog().resources.len(),
            postgres = db.is_postgres(),
            "gatehouse started"
        );
        let worker = new_worker();
        Ok(App {
            workflow,
            slack,
            worker,
            background,
            shutdown,
            http,
            metrics,
            clock: opts.clock,
        })
    }

    /// Where `/healthz`, `/readyz` and `/metrics` are served, when they are.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::addr)
    }

    /// This app's metrics (each app has its own).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    pub fn db(&self) -> &Db {
        self.workflow.db()
    }

    /// Runs every job due now, in this task; returns how many ran.
    pub async fn run_due_jobs(&self) -> Result<usize, StoreError> {
        self.worker.run_due().await
    }

    /// Waits until Slack's Socket Mode said hello; true at once when Slack is off.
    pub async fn slack_connected(&self, timeout: std::time::Duration) -> bool {
        match &self.slack {
            Some(rt) => rt.wait_connected(timeout).await,
            None => true,
        }
    }

    /// Stops taking envelopes, then stops the background worker: the job in hand may finish
    /// within `SHUTDOWN_GRACE`; past it, the job is given back (its lease ends now, so another
    /// process takes it at once) and the worker is dropped. The HTTP server stops last, saying
    /// "not ready" meanwhile.
    pub async fn shutdown(mut self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        self.shutdown.cancel();
        if let Some(rt) = self.slack.take()
            && tokio::time::timeout(Duration::from_secs(2), rt.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("Socket Mode did not close within 2 s; going on");
        }
        for (mut task, worker) in std::mem::take(&mut self.background) {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a job worker ended abnormally"),
                Err(_) => {
                    task.abort();
                    self.release_jobs_of(&worker).await;
                }
            }
        }
        if let Some(http) = self.http.take() {
            http.stop(Duration::from_millis(500)).await;
        }
    }

    async fn release_jobs_of(&self, worker: &str) {
        let release = crate::store::jobs::release(self.db().conn(), worker, &*self.clock);
        match tokio::time::timeout(Duration::from_secs(1), release).await {
            Ok(Ok(kinds)) => {
                for kind in &kinds {
                    self.metrics.job_ran(kind, "released");
                }
                tracing::warn!(
                    jobs = kinds.len(),
                    grace_secs = SHUTDOWN_GRACE.as_secs(),
                    "the job in hand did not finish within the grace period; gave it back to the queue"
                )
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot give the job in hand back; another process takes it when its lease ends")
            }
            Err(_) => tracing::error!(
                "the database did not answer in time to give the job in hand back; another process takes it when its lease ends"
            ),
        }
    }
}
