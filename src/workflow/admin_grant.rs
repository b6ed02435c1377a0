//! `/access-admin grant`: an admin gives someone access without a request of theirs. It is
//! recorded as a request the admin made on the person's behalf and approved at once, so the
//! grant, its expiry, the DMs and the audit log are those of any other request.

use serde_json::json;

use super::requests::Via;
use super::{Step, Workflow, WorkflowError};
use crate::audit::Actor;
use crate::domain::{Event, GrantDuration, SlackUserId};
use crate::jobs::JobSpec;
use crate::store::requests::{Changes, NewRequest, Request};

impl Workflow {
    /// Grants `person` the resource typed as `resource` for `duration` (the resource's default
    /// when None, within its bounds), with the admin's reason, which is required.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = tracing::field::Empty))]
    pub async fn admin_grant(
        &self,
        by: &SlackUserId,
        person: &SlackUserId,
        resource: &str,
        duration: Option<GrantDuration>,
        reason: &str,
    ) -> Result<Request, WorkflowError> {
        self.require_admin(by).await?;
        let resource = self.resource_named(resource)?;
        let duration = resource.durations.resolve(duration)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(WorkflowError::ReasonRequired(resource.id.clone()));
        }
        if reason.chars().count() > super::errors::MAX_REASON {
            return Err(WorkflowError::ReasonTooLong(reason.chars().count()));
        }
        let now = self.clock.now();
        let new = NewRequest {
            requester: person,
            resource: &resource.id,
            connector: &resource.connector,
            duration,
            reason: Some(reason),
            identity: None,
        };
        let actor = Actor::User(by.clone());
        let details = json!({ "on_behalf_of": person, "via": Via::AdminGrant.as_str() });
        let (tx, request) = self.open_request(new, &actor, details, now).await?;
        let granted = self
            .apply(
                &tx,
                &request,
                Step {
                    actor: &actor,
                    event: Event::Approve,
                    changes: Changes {
                        decided_by: Some(by.to_string()),
                        decided_at: Some(now),
                        ..Changes::default()
                    },
                    details: json!({ "via": Via::AdminGrant.as_str(), "approvers": [by] }),
                    jobs: vec![(
                        JobSpec::Provision {
                            request: request.id,
                        },
                        now,
                    )],
                },
            )
            .await?;
        self.commit(tx, true).await?;
        tracing::info!(by = %by, resource = %resource.id, "access granted by an admin");
        Ok(granted)
    }
}
