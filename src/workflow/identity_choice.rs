//! Choosing the platform identity a request grants to. It decides who receives the access, so
//! it is a decision like an approval: made by the resource's reviewers (never the requester,
//! a guest or a deactivated account) or an admin, limited to accounts that can be the
//! requester's, and never after the approvals it would change: approvals given for another
//! identity stop counting.

use serde_json::json;

use super::{Step, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::policy::{Refusal, Who};
use crate::domain::{ConnectorId, Event, RequestId, SlackUserId, Status};
use crate::jobs::JobSpec;
use crate::store::requests::{Changes, Request};
use crate::store::{self, approvals};

/// Who is choosing, as far as the choice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chooser {
    /// The requester naming their account when they ask: only a user the platform listed.
    Requester,
    /// A reviewer of the resource: only an account the platform listed as a user.
    Reviewer,
    /// An admin: any identity the platform may have (a role, one not yet synced).
    Admin,
}

impl Workflow {
    /// Whether `by` may choose request `id`'s identity now, before the picker opens (it lists
    /// the platform's users, which is for those who may choose). `set_identity` asks again.
    pub async fn may_choose_identity(
        &self,
        id: RequestId,
        by: &SlackUserId,
    ) -> Result<Request, WorkflowError> {
        let current = self.request(id).await?;
        self.chooser(&current, by).await?;
        Ok(current)
    }

    /// Refuses unless `by` may choose the identity of `current`, as it is now.
    async fn chooser(&self, current: &Request, by: &SlackUserId) -> Result<Chooser, WorkflowError> {
        self.require_member(by).await?;
        let groups = self.groups_of(by).await?;
        let who = Who {
            user: by,
            groups: &groups,
        };
        let resource = self.resource_of(current)?;
        let reviewers = self.reviewers_of(self.db.reads(), resource).await?;
        let admins = self.admins(self.db.reads()).await?;
        // Nobody chooses where their own request's access goes: they named it when asking.
        let chooser = if who.user == &current.requester {
            return Err(Refusal::OwnIdentityChoice(resource.id.clone()).into());
        } else if who.is_in(&admins) {
            Chooser::Admin
        } else if who.is_in(&reviewers) {
            Chooser::Reviewer
        } else {
            return Err(Refusal::CannotChooseIdentity(resource.id.clone()).into());
        };
        if !matches!(current.status, Status::Pending | Status::Approved) {
            return Err(WorkflowError::IdentityTooLate(current.status));
        }
        Ok(chooser)
    }

    /// A reviewer or admin settles which platform identity request `id` grants to. On a
    /// pending request the approvals given so far stop counting; on an approved one it goes
    /// back to its reviewers, unless the chooser's own approval was the only one (they approved
    /// and now say to whom). Audited with the identity before and after.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn set_identity(
        &self,
        id: RequestId,
        by: &SlackUserId,
        identity: &str,
    ) -> Result<Request, WorkflowError> {
        let identity = identity.trim();
        if identity.is_empty() || identity.chars().count() > 255 {
            return Err(WorkflowError::BadIdentity);
        }
        let seen = self.request(id).await?;
        let chooser = self.chooser(&seen, by).await?;
        // Asked of the platform before the transaction (it may sync the platform's users).
        self.may_grant_to(&seen.connector, &seen.requester, by, identity, chooser)
            .await?;

        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        if current.version != seen.version {
            // Decided on meanwhile: what was checked above may no longer hold.
            return Err(WorkflowError::Conflict(id));
        }
        if current.identity.as_deref() == Some(identity) {
            return Ok(current);
        }
        let now = self.clock.now();
        let given = approvals::of_request(&tx, id).await?;
        let approvers: Vec<&str> = given
            .iter()
            .map(|g| g.user.as_str())
            .chain(current.decided_by.as_deref())
            .collect();
        // The chooser's own approval, alone, completed by saying to whom: nothing to recount.
        let own_approval = current.status == Status::Approved
            && !approvers.is_empty()
            && approvers.iter().all(|a| *a == by.as_str());
        let reset = if own_approval {
            0
        } else {
            approvals::clear(&tx, id).await?
        };
        let before = current.identity.clone();
        audit::record(
            &tx,
            now,
            Entry::new(
                &Actor::User(by.clone()),
                "identity_chosen",
                json!({
                    "identity": identity,
                    "before": before,
                    "approvals_reset": reset,
                    "as": match chooser {
                        Chooser::Admin => "admin",
                        Chooser::Reviewer | Chooser::Requester => "reviewer",
                    },
                }),
            )
            .about(id),
        )
        .await?;
        if current.status == Status::Approved && !own_approval {
            let resource = self.resource_of(&current)?;
            let mut reopened = current.clone();
            reopened.decided_at = Some(now);
            let lapse = super::nudge_at(&reopened, resource.lapse_after);
            self.apply(
                &tx,
                &current,
                Step::new(&Actor::User(by.clone()), Event::Reopen)
                    .changes(Changes {
                        identity: Some(identity.to_owned()),
                        decided_at: Some(now),
                        ..Changes::default()
                    })
                    .details(
                        json!({ "identity": identity, "before": before, "approvals_reset": reset }),
                    )
                    .jobs(vec![(JobSpec::Lapse { request: id }, lapse)]),
            )
            .await?;
        } else {
            if !store::requests::set_identity(&tx, &current, identity, now).await? {
                return Err(WorkflowError::Conflict(id));
            }
            self.enqueue_notices(&tx, id, super::Notice::IdentityChosen)
                .await?;
            // Approved and waiting for exactly this: provision now.
            if current.status == Status::Approved {
                crate::jobs::enqueue(
                    &tx,
                    &JobSpec::Provision { request: id },
                    now,
                    self.max_attempts,
                    now,
                )
                .await?;
            }
        }
        self.commit(tx, true).await?;
        tracing::info!(by = %by, identity, approvals_reset = reset, "identity chosen");
        self.request(id).await
    }

    /// Refuses an identity a request of `requester` may not be granted to: one linked to
    /// another person in Slack (the chooser included), and, unless an admin chooses, one the
    /// platform did not list as a user (a role would give the access to all its members).
    pub(super) async fn may_grant_to(
        &self,
        on: &ConnectorId,
        requester: &SlackUserId,
        by: &SlackUserId,
        identity: &str,
        chooser: Chooser,
    ) -> Result<(), WorkflowError> {
        let connector = on.as_str();
        let links = store::links::to_identities(self.db.reads(), &[identity.to_owned()]).await?;
        let someone_else = links
            .iter()
            .filter(|l| l.connector_id == connector)
            .any(|l| l.slack_user != requester.as_str());
        if someone_else {
            return Err(WorkflowError::IdentityOfSomeoneElse {
                identity: identity.to_owned(),
                yours: links
                    .iter()
                    .any(|l| l.connector_id == connector && l.slack_user == by.as_str()),
            });
        }
        if chooser == Chooser::Admin {
            return Ok(());
        }
        // A connector that lists its users is chosen from that list; one that cannot (a task
        // done by hand) takes what is typed.
        if !store::identities::any_synced(self.db.reads(), connector).await?
            && self.sync_identities(on).await?.is_none()
        {
            return Ok(());
        }
        match store::identities::find(self.db.reads(), connector, identity).await? {
            Some(i) if i.kind == "user" && i.missing_since.is_none() => Ok(()),
            Some(i) if i.missing_since.is_some() => Err(WorkflowError::UnknownIdentity {
                connector: connector.to_owned(),
                identity: identity.to_owned(),
                suggestions: Vec::new(),
            }),
            Some(i) => Err(WorkflowError::NotAPerson {
                identity: identity.to_owned(),
                kind: i.kind,
            }),
            None => Err(WorkflowError::UnknownIdentity {
                connector: connector.to_owned(),
                identity: identity.to_owned(),
                suggestions: Vec::new(),
            }),
        }
    }
}
