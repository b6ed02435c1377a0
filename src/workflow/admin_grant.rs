//! `/access-admin grant`: an admin gives someone access without a request of theirs. It is
//! recorded as a request the admin made on the person's behalf and approved at once, so the
//! grant, its expiry, the DMs and the audit log are those of any other request.

use serde_json::json;

use super::requests::{Start, Via};
use super::{Step, Workflow, WorkflowError};
use crate::audit::Actor;
use crate::domain::{Event, GrantDuration, SlackUserId, Status};
use crate::jobs::JobSpec;
use crate::store::requests::{Changes, NewRequest, Request};

/// What an admin grants, as typed.
#[derive(Debug, Clone, Copy)]
pub struct AdminGrant<'a> {
    pub person: &'a SlackUserId,
    /// As typed; matched against the catalog's ids.
    pub resource: &'a str,
    /// None: the resource's default, within its bounds.
    pub duration: Option<GrantDuration>,
    /// None: at once. Words are read in the admin's time zone: the admin wrote them.
    pub start: Option<Start>,
    /// Required: it is kept in the audit log and shown to the person.
    pub reason: &'a str,
}

/// What an admin's grant did.
#[derive(Debug)]
pub enum AdminGranted {
    /// A new grant, approved by the admin.
    New(Request),
    /// The person already held this access: it now lasts `duration` longer.
    Extended(Request),
}

impl Workflow {
    /// Grants `g.person` the resource, approved by the admin `by` at once. Access they already
    /// hold is extended instead (an admin needs nobody's approval for more time).
    #[tracing::instrument(name = "request", skip_all, fields(request_id = tracing::field::Empty))]
    pub async fn admin_grant(
        &self,
        by: &SlackUserId,
        g: AdminGrant<'_>,
    ) -> Result<AdminGranted, WorkflowError> {
        self.require_admin(by).await?;
        let person = g.person;
        let resource = self.resource_named(g.resource)?;
        let duration = resource.durations.resolve(g.duration)?;
        let starts_at = self.starts_at(by, g.start).await?;
        let reason = g.reason.trim();
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
            starts_at,
        };
        let actor = Actor::User(by.clone());
        let details = json!({
            "on_behalf_of": person,
            "via": Via::AdminGrant.as_str(),
            "starts_at": starts_at,
        });
        let (tx, request) = match self.open_request(new, &actor, details, now).await {
            Ok(opened) => opened,
            Err(WorkflowError::AlreadyOpen { existing, resource }) => {
                let held = self.request(existing).await?;
                if held.status != Status::Active || starts_at.is_some() {
                    return Err(WorkflowError::AlreadyOpen { existing, resource });
                }
                let extended = self
                    .extend_noting(existing, by, duration, Some(reason))
                    .await?;
                return Ok(AdminGranted::Extended(extended));
            }
            Err(e) => return Err(e),
        };
        let granted = self
            .apply(
                &tx,
                &request,
                Step::new(&actor, Event::Approve)
                    .changes(Changes {
                        decided_by: Some(by.to_string()),
                        decided_at: Some(now),
                        ..Changes::default()
                    })
                    .details(json!({ "via": Via::AdminGrant.as_str(), "approvers": [by] }))
                    .jobs(vec![(
                        JobSpec::Provision {
                            request: request.id,
                        },
                        now,
                    )]),
            )
            .await?;
        self.commit(tx, true).await?;
        tracing::info!(by = %by, resource = %resource.id, "access granted by an admin");
        Ok(AdminGranted::New(granted))
    }
}
