//! What every Slack handler can reach, shared by every envelope's task.

use std::sync::Arc;

use tokio::sync::watch;

use super::api::SlackApi;
use super::notifier::Channel;
use super::views::mention;
use crate::domain::{RequestId, SlackUserId};
use crate::workflow::{Directory, Scope, Workflow};

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
    /// The ❌s whose reviewer this process asked why: the catch-up does not ask again.
    pub denials_asked: DenialsAsked,
}

impl SlackContext {
    /// The catalog's reviewers of `resource` and those added in Slack, as Slack shows them.
    pub async fn reviewer_mentions(&self, resource: &crate::config::Resource) -> Vec<String> {
        let mut all = resource.all_reviewers();
        // A read; if it fails the catalog's names are still right, only incomplete.
        if let Ok(added) = self
            .workflow
            .reviewers_added(&Scope::Resource(resource.id.clone()))
            .await
        {
            for g in added {
                if !all.contains(&g.principal) {
                    all.push(g.principal);
                }
            }
        }
        all.iter().map(mention).collect()
    }
}

/// Who was asked, for which request, after a ❌. Shared with the task that posts the question,
/// which forgets a question Slack did not take, so that the catch-up asks it again.
#[derive(Default, Clone)]
pub struct DenialsAsked(Arc<std::sync::Mutex<std::collections::HashSet<(RequestId, String)>>>);

impl DenialsAsked {
    /// Records that `user` is being asked about `id`; false if they had been already.
    pub fn first_time(&self, id: RequestId, user: &SlackUserId) -> bool {
        let mut asked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        asked.insert((id, user.to_string()))
    }

    /// The question did not reach `user`: they have not been asked after all.
    pub fn forget(&self, id: RequestId, user: &SlackUserId) {
        let mut asked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        asked.remove(&(id, user.to_string()));
    }
}
