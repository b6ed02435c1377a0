//! What every Slack handler can reach, shared by every envelope's task.

use std::sync::Arc;

use tokio::sync::watch;

use super::api::SlackApi;
use super::notifier::Channel;
use crate::workflow::{Directory, Workflow};

pub struct SlackContext {
    pub workflow: Arc<Workflow>,
    /// The directory `workflow` decides with, told when Slack says groups or people changed.
    pub directory: Arc<dyn Directory>,
    pub api: SlackApi,
    pub channel: Channel,
    /// The bot's own user id (from auth.test), to ignore its own reactions.
    pub bot_user: String,
    /// The language model for free-form questions, when one is configured.
    pub ask: Option<Arc<crate::ask::llm::Llm>>,
    /// How many questions each person may ask a minute.
    pub questions: super::question_limit::QuestionLimit,
    /// Socket Mode connections open now: counted from their `hello` until they close.
    pub open: watch::Sender<u32>,
}
