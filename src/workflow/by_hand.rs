//! The `manual` connector's side of the workflow: Gatehouse asks an admin in the thread to
//! make the change by hand, and the admin's Done (or Failed) moves the request on.

use serde_json::json;

use super::{Applied, Notice, Step, Workflow, WorkflowError};
use crate::audit::Actor;
use crate::domain::{Event, RequestId, Status};
use crate::store::requests::Request;

/// Which change a person was asked to make by hand; their Done or Failed is for that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Grant,
    Revoke,
}

impl Workflow {
    /// Records that a person was asked to make the change, and asks them (a thread message
    /// with Done and Failed buttons). The request waits in `provisioning` or `revoking`.
    pub(super) async fn ask_by_hand(
        &self,
        current: &Request,
        notice: Notice,
    ) -> Result<(), WorkflowError> {
        let action = if notice == Notice::GrantByHand {
            "grant_requested_by_hand"
        } else {
            "revoke_requested_by_hand"
        };
        self.ask(current, notice, action).await
    }

    /// An admin confirms a change made by hand: `done`, or it could not be done. The button
    /// says which task it answers: a grant's Done pressed once the access is being removed
    /// would otherwise record a removal nobody made.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn confirm_by_hand(
        &self,
        id: RequestId,
        by: &crate::domain::SlackUserId,
        task: Task,
        done: bool,
    ) -> Result<Request, WorkflowError> {
        self.require_admin(by).await?;
        let current = self.request(id).await?;
        let waiting = match task {
            Task::Grant => Status::Provisioning,
            Task::Revoke => Status::Revoking,
        };
        if current.status != waiting {
            let what = match task {
                Task::Grant => "grant the access",
                Task::Revoke => "remove the access",
            };
            return Err(WorkflowError::Stale(format!(
                "this task was to {what}, and the request is {} now; nothing was recorded (use the newest task in the thread, if any)",
                current.status
            )));
        }
        let done_by_hand = |grant: &crate::store::grants::Grant| Applied {
            identity: grant.identity.clone(),
            action: format!("done by hand, confirmed by {by}"),
            receipt: None,
        };
        match (current.status, done) {
            (Status::Provisioning, true) => {
                let grant = self.record_of(&current).await?;
                self.provisioned(&current, &grant, &done_by_hand(&grant))
                    .await
            }
            (Status::Revoking, true) => {
                let grant = self.record_of(&current).await?;
                self.revocation_done(&current, &grant, &done_by_hand(&grant))
                    .await
            }
            (Status::Provisioning, false) => {
                let error = format!("{by} could not make the grant by hand");
                let step = Step::new(&Actor::System, Event::ProvisioningFailed)
                    .details(json!({ "error": error }));
                self.system_step(&current, step).await
            }
            (Status::Revoking, false) => {
                self.revocation_gave_up(id, &format!("{by} could not remove the access by hand"))
                    .await?;
                Ok(current)
            }
            (status, _) => Err(WorkflowError::NothingToConfirm(status)),
        }
    }
}
