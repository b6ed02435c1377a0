//! The model's tools, run by Gatehouse for one asker: each goes through `Workflow::answer`, so
//! the same rule on who may ask what applies, and the model sees only the facts it returns.

use serde_json::{Value, json};

use super::llm::AccessTools;
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

    /// A person as the model named them: a Slack ID, or a platform user someone is linked to.
    async fn person(&self, user: &str) -> Result<Subject, Value> {
        self.workflow
            .find_person(user)
            .await
            .map(Subject::User)
            .map_err(|e| json!({ "error": e.to_string() }))
    }
}

#[async_trait::async_trait]
impl AccessTools for WorkflowTools<'_> {
    async fn check_access(&self, user: &str, resource: &str) -> Value {
        match self.person(user).await {
            Ok(who) => {
                self.ask(Question::Check {
                    who,
                    resource: resource.to_owned(),
                })
                .await
            }
            Err(e) => e,
        }
    }

    async fn list_access(&self, user: &str) -> Value {
        match self.person(user).await {
            Ok(who) => self.ask(Question::AccessOf { who }).await,
            Err(e) => e,
        }
    }

    async fn who_has(&self, resource: &str) -> Value {
        self.ask(Question::WhoHas {
            resource: resource.to_owned(),
        })
        .await
    }
}
