//! `App::start` wires the pieces together: database, catalog, workflow, job worker. Tests start
//! the very same app, choosing the seams (clock, provisioner, directory) that production fixes.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::jobs::{Worker, WorkerSettings};
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
    /// Run the job worker in the background. Tests that drive time by hand turn it off and
    /// call `App::run_due_jobs`.
    pub background_worker: bool,
}

impl AppOptions {
    pub fn new(provisioner: Arc<dyn Provisioner>) -> Self {
        AppOptions {
            clock: Arc::new(SystemClock),
            provisioner,
            directory: Arc::new(NoGroups),
            notifier: None,
            connect_slack: true,
            background_worker: true,
        }
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
    #[error(transparent)]
    Slack(#[from] crate::slack::SlackStartError),
    #[error("cannot set up the language model (GATEHOUSE_LLM_*): {0}")]
    Llm(String),
}

pub struct App {
    workflow: Arc<Workflow>,
    slack: Option<crate::slack::Runtime>,
    worker: Worker,
    background: Option<JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl App {
    pub async fn start(config: Config, opts: AppOptions) -> Result<App, StartError> {
        let db = Db::connect(&config.settings.database_url)
            .await
            .map_err(StartError::Connect)?;
        db.migrate().await.map_err(StartError::Migrate)?;
        store::resources::sync(db.conn(), &config.catalog.resources, opts.clock.now())
            .await
            .map_err(StartError::Catalog)?;

        // Slack is on when all of its settings are there; its tokens are checked before anything runs.
        let s = &config.settings.slack;
        let slack = match (&s.bot_token, &s.app_token, &s.channel) {
            (Some(bot), Some(app), Some(channel)) if opts.connect_slack => {
                Some(crate::slack::connect(s, bot, app, channel).await?)
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
        let workflow = Arc::new(Workflow::new(WorkflowDeps {
            db: db.clone(),
            catalog: Arc::new(config.catalog),
            clock: opts.clock.clone(),
            admins: config.settings.admins.clone(),
            directory,
            provisioner: opts.provisioner,
            notifier,
            max_attempts: config.settings.job_max_attempts,
            reconcile_every: config.settings.reconcile_every,
            wake: wake.clone(),
        }));
        let settings = WorkerSettings {
            max_attempts: config.settings.job_max_attempts,
            lease: config.settings.job_lease,
            poll: config.settings.job_poll,
        };
        let new_worker = || {
            Worker::new(
                db.clone(),
                opts.clock.clone(),
                workflow.clone(),
                wake.clone(),
                settings.clone(),
            )
        };
        let slack = match slack {
            Some(parts) => {
                let ask = match &config.settings.llm {
                    Some(c) => {
                        let settings = crate::ask::llm::LlmSettings::from_config(c);
                        Some(Arc::new(
                            crate::ask::llm::Llm::new(settings).map_err(StartError::Llm)?,
                        ))
                    }
                    None => None,
                };
                Some(parts.listen(workflow.clone(), ask).await?)
            }
            None => None,
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
        let background = opts
            .background_worker
            .then(|| tokio::spawn(new_worker().run(shutdown.clone())));
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
        })
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

    /// Stops taking envelopes, then stops the background worker, letting a running job finish.
    pub async fn shutdown(mut self) {
        if let Some(rt) = self.slack.take() {
            rt.shutdown().await;
        }
        self.shutdown.cancel();
        if let Some(task) = self.background.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the job worker ended abnormally");
        }
    }
}
