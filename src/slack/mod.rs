//! Slack: Socket Mode, the Web API, views, handlers and notifications. The only code that
//! imports slack-morphism.

pub mod answers;
pub mod api;
pub mod catch_up;
pub mod context;
pub mod directory;
pub mod dms;
pub mod ended;
pub mod handlers;
pub mod home;
pub mod limits;
pub mod modals;
pub mod mrkdwn;
pub mod notes;
pub mod notifier;
pub mod preflight;
pub mod question_limit;
mod remembered;
pub mod socket;
pub mod socket_mode;
pub mod views;

use std::sync::Arc;

use slack_morphism::prelude::SlackHyperClient;
use tokio::sync::watch;

use crate::config::{Secret, SlackSettings};
use crate::workflow::{Directory, Notifier, Workflow};
use api::{BotInfo, SlackApi, SlackError};
use notifier::Channel;

/// Why Slack could not be started, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SlackStartError {
    #[error(
        "Slack refused SLACK_BOT_TOKEN ({0}); copy the Bot User OAuth Token (xoxb-…) from OAuth & Permissions again"
    )]
    BotToken(String),
    #[error(
        "Slack refused SLACK_APP_TOKEN ({0}); create an app-level token (xapp-…) with connections:write under Basic Information"
    )]
    AppToken(String),
    #[error("cannot reach Slack at SLACK_API_URL: {0}")]
    Unreachable(SlackError),
    #[error("the catalog does not fit the Slack workspace:\n  - {}", .0.join("\n  - "))]
    Catalog(Vec<String>),
    #[error("{0}")]
    RequestsChannel(String),
}

/// Everything needed to talk to Slack, checked before anything else starts.
pub struct SlackParts {
    client: Arc<SlackHyperClient>,
    pub api: SlackApi,
    pub channel: Channel,
    pub bot: BotInfo,
    app_token: Secret,
    connections: u32,
    /// One directory for the workflow and the events that invalidate what it remembers.
    directory: Arc<directory::SlackDirectory>,
}

fn classify(e: SlackError, refused: fn(String) -> SlackStartError) -> SlackStartError {
    match e {
        SlackError::Api { code, .. } => refused(code),
        other => SlackStartError::Unreachable(other),
    }
}

/// Builds the client and checks both tokens (slack-morphism itself would only log failed connects).
pub async fn connect(
    settings: &SlackSettings,
    bot_token: &Secret,
    app_token: &Secret,
    channel: &str,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<SlackParts, SlackStartError> {
    let client = api::hyper_client(&settings.api_url).map_err(SlackStartError::Unreachable)?;
    let api = SlackApi::new(client.clone(), bot_token, settings.pace, metrics)
        .with_api_url(&settings.api_url);
    let bot = api
        .auth_test()
        .await
        .map_err(|e| classify(e, SlackStartError::BotToken))?;
    api.check_app_token(app_token)
        .await
        .map_err(|e| classify(e, SlackStartError::AppToken))?;
    let home = directory::Home {
        team_id: bot.team_id.clone(),
        enterprise_id: bot.enterprise_id.clone(),
    };
    Ok(SlackParts {
        client,
        directory: Arc::new(directory::SlackDirectory::new(api.clone(), home)),
        api,
        channel: Channel::new(channel.to_owned()),
        bot,
        app_token: app_token.clone(),
        connections: settings.connections,
    })
}

impl SlackParts {
    /// Checks that Gatehouse can post in the Access Requests channel: the one an admin chose
    /// in Slack (`chosen`), else ACCESS_REQUESTS_CHANNEL.
    pub async fn check_requests_channel(
        &self,
        chosen: Option<&str>,
    ) -> Result<(), SlackStartError> {
        let (channel, source) = match chosen {
            Some(c) => (c.to_owned(), preflight::ChannelSource::ChosenInSlack),
            None => (self.channel.get(), preflight::ChannelSource::Environment),
        };
        match preflight::requests_channel(&self.api, &channel, source).await {
            Ok(None) => Ok(()),
            Ok(Some(problem)) => Err(SlackStartError::RequestsChannel(problem)),
            Err(e) => Err(SlackStartError::Unreachable(e)),
        }
    }

    /// Checks the catalog's channels, user groups and approval stages against the workspace.
    pub async fn check_catalog(
        &self,
        catalog: &crate::config::Catalog,
    ) -> Result<(), SlackStartError> {
        match preflight::check(&self.api, catalog).await {
            Ok(problems) if problems.is_empty() => Ok(()),
            Ok(problems) => Err(SlackStartError::Catalog(problems)),
            Err(e) => Err(SlackStartError::Unreachable(e)),
        }
    }

    pub fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::new(notifier::SlackNotifier::new(
            self.api.clone(),
            self.channel.clone(),
        ))
    }

    pub fn directory(&self) -> Arc<dyn Directory> {
        self.directory.clone()
    }

    /// Connects Socket Mode and starts handling envelopes.
    pub async fn listen(
        self,
        workflow: Arc<Workflow>,
        ask: Option<Arc<crate::ask::llm::Llm>>,
        questions: question_limit::QuestionLimit,
    ) -> Result<Runtime, SlackStartError> {
        if let Ok(Some(chosen)) = workflow.requests_channel().await {
            self.channel.set(chosen);
        }
        let (open, watcher) = watch::channel(0u32);
        let ctx = Arc::new(context::SlackContext {
            workflow,
            directory: self.directory,
            api: self.api,
            channel: self.channel,
            bot_user: self.bot.user_id,
            ask,
            questions,
            open,
            denials_asked: context::DenialsAsked::default(),
        });
        let listener = socket::listen(self.client, &self.app_token, self.connections, ctx.clone());
        let catching_up = tokio::spawn(catch_up_every(ctx, watcher.clone()));
        Ok(Runtime {
            listener,
            open: watcher,
            catching_up,
        })
    }
}

/// Once a connection is open, and every 30 seconds after, applies the ✅ and ❌ Gatehouse never heard.
async fn catch_up_every(ctx: Arc<context::SlackContext>, mut open: watch::Receiver<u32>) {
    if open.wait_for(|n| *n > 0).await.is_err() {
        return;
    }
    let tried = catch_up::Tried::default();
    let mut every = tokio::time::interval(catch_up::CATCH_UP_EVERY);
    // A long round (many pending requests, paced reads) is followed by a full wait, not a burst.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        catch_up::catch_up(&ctx, &tried).await;
    }
}

/// The running Socket Mode connections, and the catch-up on reactions they may have missed.
pub struct Runtime {
    listener: socket_mode::Listener,
    open: watch::Receiver<u32>,
    catching_up: tokio::task::JoinHandle<()>,
}

impl Runtime {
    /// Waits until a connection is open, i.e. Slack said hello on it (at most `timeout`);
    /// false if none is.
    pub async fn wait_connected(&self, timeout: std::time::Duration) -> bool {
        let mut rx = self.open.clone();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n > 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// How many Socket Mode connections are open now, for the readiness check.
    pub fn open_connections(&self) -> watch::Receiver<u32> {
        self.open.clone()
    }

    /// Closes every connection and stops reconnecting.
    pub async fn shutdown(self) {
        self.catching_up.abort();
        self.listener.shutdown().await;
    }
}
