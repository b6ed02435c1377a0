//! The model's tools, run by Gatehouse for one asker: each goes through `Workflow::answer`, so
//! the same rule on who may ask what applies, and the model sees only the facts it returns.

use serde_json::{Value, json};

use super::llm::AccessTools;
use crate::domain::SlackUserId;
use crate::domain::question::{Question, Subject};
use crate::workflow::{Asker, Workflow};

pub struct WorkflowTools<'a> {
    pub workflow: &'a Workflow,
    pub asker: Asker,
}

impl WorkflowTools<'_> {
    async fn ask(&self, question: Question) -> Value {
        match self.workflow.answer(&self.asker, &question).await {
            Ok(answer) => {
                serde_json::to_value(answer).unwrap_or_else(|e| json!({ "error": e.to_string() }))
            }
            Err(e) if e.is_internal() => {
                json!({ "error": "Gatehouse could not answer this just now" })
            }
            Err(e) => json!({ "error": e.to_string() }),
        }
    }
}

/// A person as the model named them: a Slack ID, or a name that `Workflow::answer` resolves
/// only once the asker may ask about others (so the model, like the asker, learns nothing of
/// who exists from a refused question).
fn person(user: &str) -> Subject {
    match SlackUserId::parse(user.trim()) {
        Ok(id) => Subject::User(id),
        Err(_) => Subject::Named(user.trim().to_owned()),
    }
}

#[async_trait::async_trait]
impl AccessTools for WorkflowTools<'_> {
    async fn check_access(&self, user: &str, resource: &str) -> Value {
        self.ask(Question::Check {
            who: person(user),
            resource: resource.to_owned(),
        })
        .await
    }

    async fn list_access(&self, user: &str) -> Value {
        self.ask(Question::AccessOf { who: person(user) }).await
    }

    async fn who_has(&self, resource: &str) -> Value {
        self.ask(Question::WhoHas {
            resource: resource.to_owned(),
        })
        .await
    }
}
