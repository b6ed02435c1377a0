//! The grant path the job worker drives: an approved request gets its identity (linked, or
//! asked for), waits for its start, is provisioned and becomes active with its expiry queued;
//! when provisioning gives up, it is `failed` and what may have been granted is undone.
//! Every step is safe to run twice.

use serde_json::json;

use super::{Applied, Notice, Step, Target, Workflow, WorkflowError};
use crate::audit::{self, Actor};
use crate::domain::{Event, RequestId, Status};
use crate::jobs::{JobError, JobSpec, Outcome};
use crate::store::grants::Grant;
use crate::store::requests::{Changes, Request};
use crate::store::{self, Tx, links::Link};

impl Workflow {
    /// A step Gatehouse takes by itself, in a transaction of its own.
    pub(super) async fn system_step(
        &self,
        current: &Request,
        step: Step<'_>,
    ) -> Result<Request, WorkflowError> {
        let tx = self.db.begin().await?;
        let updated = self.apply(&tx, current, step).await?;
        self.commit(tx, true).await?;
        Ok(updated)
    }

    /// Gatehouse itself moves `current` by `event`, changing nothing else.
    pub(super) async fn system_event(
        &self,
        current: &Request,
        event: Event,
    ) -> Result<Request, WorkflowError> {
        self.system_step(current, Step::new(&Actor::System, event))
            .await
    }

    /// The platform now grants the access: it is active until `now + duration`, and its
    /// revocation is queued for then. The grant record is settled with what the platform did.
    pub(super) async fn provisioned(
        &self,
        current: &Request,
        grant: &Grant,
        applied: &Applied,
    ) -> Result<Request, WorkflowError> {
        let now = self.clock.now();
        let expires_at = now + current.duration.to_chrono();
        let mut details = super::grant_record::applied_details(grant, applied);
        details["held_before"] = grant.held_before.into();
        details["expires_at"] = json!(expires_at);
        let step = Step::new(&Actor::System, Event::Provisioned)
            .changes(Changes {
                identity: Some(grant.identity.clone()),
                active_since: Some(now),
                expires_at: Some(expires_at),
                ..Changes::default()
            })
            .details(details)
            .jobs(self.expiry_jobs(current, now, expires_at));
        let tx = self.db.begin().await?;
        let updated = self.apply(&tx, current, step).await?;
        store::grants::settle(
            &tx,
            grant.id,
            &applied.action,
            applied.receipt.as_deref(),
            now,
        )
        .await?;
        self.commit(tx, true).await?;
        tracing::info!(request = %current.id, identity = %grant.identity, %expires_at, "access granted");
        Ok(updated)
    }

    pub(super) async fn run_provision(&self, id: RequestId) -> Result<Outcome, JobError> {
        let started = std::time::Instant::now();
        let current = self.request(id).await?;
        let resource = self.resource_of(&current)?;
        // The identity the requester's link gives, when none was chosen: written with the
        // request's move to `provisioning` and its grant record, in one transaction.
        let mut linked = None;
        if current.status == Status::Approved
            && current.identity.is_none()
            && self.provisioner.needs_identity(&resource.connector)
        {
            let connector = &resource.connector;
            // Linking reads the platform's users as last synced. Right after start the first
            // sync may still be queued (another worker's job): sync here rather than ask a
            // reviewer for an identity the rule would have found.
            if !store::identities::any_synced(self.db.reads(), connector.as_str()).await?
                && let Err(e) = self.sync_identities(connector).await
            {
                tracing::warn!(connector = %connector, error = %e, "cannot list the platform's users to link the requester");
            }
            // Linking needs Slack (users.info); when it cannot answer, a reviewer still can.
            match self.linked_identity(&current.requester, connector).await {
                Ok(found) => linked = found,
                Err(WorkflowError::Directory(e)) => {
                    tracing::warn!(request = %id, error = %e, "cannot look up the requester's email to link an identity");
                }
                Err(e) => return Err(e.into()),
            }
            if linked.is_none() {
                // A ✅ carries no trigger for a modal: ask in the thread, with a button that
                // opens the picker. Choosing the identity queues provisioning again.
                self.ask(&current, Notice::IdentityNeeded, "identity_needed")
                    .await?;
                return Ok(Outcome::Done);
            }
        }
        // The identity is settled as soon as it is approved; the access waits for its start.
        if current.status == Status::Approved
            && let Some(at) = current.starts_at
            && at > self.clock.now()
        {
            if let Some(link) = &linked {
                self.settle_identity(&current, link).await?;
            }
            return Ok(Outcome::RunAgainAt(at));
        }
        match current.status {
            Status::Approved | Status::Provisioning => {}
            // Already done, or nothing to provision any more: running again changes nothing.
            Status::Pending
            | Status::Active
            | Status::Revoking
            | Status::Expired
            | Status::Revoked
            | Status::Denied
            | Status::Cancelled
            | Status::Lapsed
            | Status::Failed => return Ok(Outcome::Done),
        }
        let (current, grant) = self
            .grant_intent(&current, resource, linked.as_ref())
            .await?;
        let connector = grant.connector()?;
        if self.provisioner.by_hand(&connector) {
            self.ask_by_hand(&current, Notice::GrantByHand).await?;
            return Ok(Outcome::Done);
        }
        let unit = grant.unit()?;
        let target = Target {
            connector: &connector,
            identity: &grant.identity,
            unit: &unit,
        };
        let applied = self.provisioner.grant(target).await?;
        self.metrics.provisioned(
            self.platform_of(&connector),
            connector.as_str(),
            started.elapsed(),
        );
        self.provisioned(&current, &grant, &applied).await?;
        Ok(Outcome::Done)
    }

    /// An approved request moves to `provisioning`, with the identity its requester's link
    /// gave, if any, inside `tx`: the transaction that writes its grant record, so that the
    /// three are one write. A request already provisioning is returned as it is.
    pub(super) async fn start_provisioning(
        &self,
        tx: &Tx,
        current: &Request,
        linked: Option<&Link>,
    ) -> Result<Request, WorkflowError> {
        if current.status != Status::Approved {
            return Ok(current.clone());
        }
        let mut changes = Changes::default();
        if let Some(link) = linked {
            audit::record(
                tx,
                self.clock.now(),
                super::linking::identity_linked_for(current.id, link),
            )
            .await?;
            changes.identity = Some(link.platform_id.clone());
        }
        let step = Step::new(&Actor::System, Event::StartProvisioning).changes(changes);
        self.apply(tx, current, step).await
    }

    /// Provisioning gave up: the request is `failed`, which reviewers and admins see. The
    /// platform may have applied the grant before an answer was lost (a timeout on the last
    /// attempt), so a revocation of what the record says is queued: failed never means
    /// "maybe still granted".
    pub(super) async fn provisioning_gave_up(
        &self,
        id: RequestId,
        error: &str,
    ) -> Result<(), WorkflowError> {
        let mut current = self.request(id).await?;
        if current.status == Status::Approved {
            current = self
                .system_event(&current, Event::StartProvisioning)
                .await?;
        }
        if current.status == Status::Provisioning {
            let intended = store::grants::live_for_request(self.db.reads(), id.get())
                .await?
                .is_some();
            let now = self.clock.now();
            let undo = if intended {
                vec![(JobSpec::Revoke { request: id }, now)]
            } else {
                vec![]
            };
            let step = Step::new(&Actor::System, Event::ProvisioningFailed)
                .details(json!({ "error": error }))
                .jobs(undo);
            self.system_step(&current, step).await?;
        }
        Ok(())
    }
}
