//! Use cases the job worker drives: provision on approval, revoke at expiry or on demand, and
//! what happens when a job gives up. Every step is safe to run twice.

use serde_json::json;

use super::{
    Applied, Audience, ExternalError, Notice, NoticeContext, Step, Target, Undo, Workflow,
    WorkflowError,
};
use crate::audit::{self, Actor, Entry};
use crate::config::{AutoApprovedPosting, Resource};
use crate::domain::{EndReason, Event, RequestId, Status};
use crate::jobs::{JobError, JobSpec, Outcome, Runner};
use crate::store::grants::{Grant, NewGrant};
use crate::store::jobs::Job;
use crate::store::requests::{Changes, Request};
use crate::store::{self};

/// What revoking a grant did when the identity held the unit before Gatehouse granted it.
pub const LEFT_AS_IT_WAS: &str = "left as it was: held before Gatehouse granted it";

/// Whether a revocation's answer says it changed the platform.
fn changed_platform(action: &str) -> bool {
    action != "already absent" && !action.starts_with("kept") && action != LEFT_AS_IT_WAS
}

impl From<ExternalError> for JobError {
    fn from(e: ExternalError) -> Self {
        match e {
            ExternalError::Retryable {
                message,
                retry_after,
            } => JobError::Retryable {
                message,
                retry_after,
            },
            ExternalError::Permanent(m) => JobError::Permanent(m),
        }
    }
}

impl From<WorkflowError> for JobError {
    fn from(e: WorkflowError) -> Self {
        match e {
            // Lost a race with another change: look again on the next attempt.
            WorkflowError::Conflict(_) | WorkflowError::Store(_) | WorkflowError::Directory(_) => {
                JobError::Retryable {
                    message: e.to_string(),
                    retry_after: None,
                }
            }
            WorkflowError::External(e) => e.into(),
            other => JobError::Permanent(other.to_string()),
        }
    }
}

impl Workflow {
    /// A step Gatehouse takes by itself.
    pub(super) async fn system_step(
        &self,
        current: &Request,
        event: Event,
        changes: Changes,
        details: serde_json::Value,
        jobs: Vec<(JobSpec, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<Request, WorkflowError> {
        let tx = self.db.begin().await?;
        let updated = self
            .apply(
                &tx,
                current,
                Step {
                    actor: &Actor::System,
                    event,
                    changes,
                    details,
                    jobs,
                },
            )
            .await?;
        self.commit(tx, true).await?;
        Ok(updated)
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
        let tx = self.db.begin().await?;
        let updated = self
            .apply(
                &tx,
                current,
                Step {
                    actor: &Actor::System,
                    event: Event::Provisioned,
                    changes: Changes {
                        identity: Some(grant.identity.clone()),
                        active_since: Some(now),
                        expires_at: Some(expires_at),
                        ..Changes::default()
                    },
                    details: json!({
                        "connector": grant.connector_id,
                        "identity": grant.identity,
                        "unit": grant.spec,
                        "applied": applied.action,
                        "held_before": grant.held_before,
                        "expires_at": expires_at,
                    }),
                    jobs: self.expiry_jobs(current, now, expires_at),
                },
            )
            .await?;
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

    pub(super) async fn revocation_done(
        &self,
        current: &Request,
        grant: &Grant,
        applied: &Applied,
    ) -> Result<Request, WorkflowError> {
        let why = current.end_reason.unwrap_or(EndReason::Expired);
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        let updated = self
            .apply(
                &tx,
                current,
                Step {
                    actor: &Actor::System,
                    event: Event::RevocationDone(why),
                    changes: Changes {
                        ended_at: Some(now),
                        ..Changes::default()
                    },
                    details: json!({
                        "connector": grant.connector_id,
                        "identity": grant.identity,
                        "unit": grant.spec,
                        "applied": applied.action,
                    }),
                    jobs: vec![],
                },
            )
            .await?;
        store::grants::mark_revoked(&tx, grant.id, &applied.action, now).await?;
        self.commit(tx, true).await?;
        tracing::info!(request = %current.id, identity = %grant.identity, reason = why.as_str(), "access removed");
        Ok(updated)
    }

    /// The grant record a provisioning works on: the one an earlier attempt wrote, or a new one.
    /// Before the first change the platform is asked whether the identity already holds the
    /// unit, and the answer is committed before anything is granted: a later attempt that finds
    /// the unit held (an earlier attempt's change whose answer was lost) must not take it for
    /// access the person had before.
    async fn grant_intent(
        &self,
        current: &Request,
        resource: &Resource,
    ) -> Result<Grant, WorkflowError> {
        let identity = self.provisioner.identity_for(current);
        let live = store::grants::live_for_request(self.db.conn(), current.id.get()).await?;
        if let Some(g) = live {
            if identity.is_none() || identity.as_deref() == Some(g.identity.as_str()) {
                return Ok(g);
            }
            // Retried with another identity: the earlier one's grant may have been made.
            self.compensate(current, &g).await?;
        }
        let by_hand = self.provisioner.by_hand(&resource.connector);
        let identity = match identity {
            Some(i) => i,
            // Done by hand: the admin knows whom to grant; the record names the requester.
            None if by_hand => current.requester.to_string(),
            None => {
                return Err(ExternalError::Permanent(
                    "no platform user was chosen for this request".into(),
                )
                .into());
            }
        };
        let held_now = self
            .provisioner
            .check(&resource.connector, &identity, &resource.grant)
            .await?
            .is_some_and(|h| h.direct);
        // Read after the check: a grant of Gatehouse's that gives the same unit (another
        // resource with the same role, a catalog edited meanwhile) writes its record before it
        // changes the platform, so whatever the check saw of it is here too. Access Gatehouse
        // gave is not access held before; the last of such grants to end takes it away.
        let sharing: Vec<Grant> = store::grants::live_for_identity(
            self.db.conn(),
            resource.connector.as_str(),
            &identity,
            current.id.get(),
        )
        .await?
        .into_iter()
        .filter(|g| g.unit().is_ok_and(|u| u == resource.grant))
        .collect();
        let held_before = if sharing.is_empty() {
            held_now
        } else {
            sharing.iter().any(|g| g.held_before)
        };
        self.write_record(current, resource, &identity, held_before)
            .await
    }

    /// Writes the request's grant record, before the platform is changed. A request has one
    /// live record: when another worker wrote it first (its check came first, and so did any
    /// change it made), that record is used, and its answer about earlier access stands.
    async fn write_record(
        &self,
        current: &Request,
        resource: &Resource,
        identity: &str,
        held_before: bool,
    ) -> Result<Grant, WorkflowError> {
        let tx = self.db.begin().await?;
        let inserted = store::grants::insert(
            &tx,
            NewGrant {
                request_id: current.id.get(),
                connector_id: resource.connector.as_str(),
                identity,
                unit: &resource.grant,
                held_before,
            },
            self.clock.now(),
        )
        .await;
        match inserted {
            Ok(grant) => {
                self.commit(tx, false).await?;
                Ok(grant)
            }
            Err(e) if e.is_unique_violation() => {
                drop(tx);
                store::grants::live_for_request(self.db.conn(), current.id.get())
                    .await?
                    .ok_or(WorkflowError::Conflict(current.id))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The grant record of a request, written now from the catalog when an older version of
    /// Gatehouse left none (a grant made by hand before records were kept).
    pub(super) async fn record_of(&self, current: &Request) -> Result<Grant, WorkflowError> {
        if let Some(g) = store::grants::live_for_request(self.db.conn(), current.id.get()).await? {
            return Ok(g);
        }
        let resource = self.resource_of(current)?;
        let identity = current
            .identity
            .clone()
            .unwrap_or_else(|| current.requester.to_string());
        self.write_record(current, resource, &identity, false).await
    }

    async fn run_provision(&self, id: RequestId) -> Result<Outcome, JobError> {
        let started = std::time::Instant::now();
        let mut current = self.request(id).await?;
        let resource = self.resource_of(&current)?;
        if current.status == Status::Approved
            && current.identity.is_none()
            && self.provisioner.needs_identity(&resource.connector)
        {
            let connector = resource.connector.clone();
            // Linking reads the platform's users as last synced. Right after start the first
            // sync may still be queued (another worker's job): sync here rather than ask a
            // reviewer for an identity the rule would have found.
            if !store::identities::any_synced(self.db.conn(), connector.as_str()).await?
                && let Err(e) = self.sync_identities(&connector).await
            {
                tracing::warn!(connector = %connector, error = %e, "cannot list the platform's users to link the requester");
            }
            // Linking needs Slack (users.info); when it cannot answer, a reviewer still can.
            match self.identity_from_link(id, &connector).await {
                Ok(true) => return Box::pin(self.run_provision(id)).await,
                Ok(false) => {}
                Err(WorkflowError::Directory(e)) => {
                    tracing::warn!(request = %id, error = %e, "cannot look up the requester's email to link an identity");
                }
                Err(e) => return Err(e.into()),
            }
            // A ✅ carries no trigger for a modal: ask in the thread, with a button that opens
            // the picker. Choosing the identity queues provisioning again.
            self.ask(&current, Notice::IdentityNeeded, "identity_needed")
                .await?;
            return Ok(Outcome::Done);
        }
        // The identity is settled as soon as it is approved; the access waits for its start.
        if current.status == Status::Approved
            && let Some(at) = current.starts_at
            && at > self.clock.now()
        {
            return Ok(Outcome::RunAgainAt(at));
        }
        match current.status {
            Status::Approved => {
                current = self
                    .system_step(
                        &current,
                        Event::StartProvisioning,
                        Changes::default(),
                        json!({}),
                        vec![],
                    )
                    .await?;
            }
            Status::Provisioning => {}
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
        let resource = self.resource_of(&current)?;
        let grant = self.grant_intent(&current, resource).await?;
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

    async fn run_revoke(&self, id: RequestId) -> Result<Outcome, JobError> {
        let started = std::time::Instant::now();
        let mut current = self.request(id).await?;
        match current.status {
            Status::Active => {
                let now = self.clock.now();
                match current.expires_at {
                    // The expiry moved later since this job was queued.
                    Some(at) if at > now => return Ok(Outcome::RunAgainAt(at)),
                    _ => {}
                }
                current = self
                    .system_step(
                        &current,
                        Event::Expire,
                        Changes {
                            end_reason: Some(EndReason::Expired),
                            ..Changes::default()
                        },
                        json!({ "expires_at": current.expires_at }),
                        vec![],
                    )
                    .await?;
            }
            Status::Revoking => {}
            // A grant that gave up may have been made: undo what its record says.
            Status::Failed => {
                if let Some(grant) =
                    store::grants::live_for_request(self.db.conn(), id.get()).await?
                {
                    self.compensate(&current, &grant).await?;
                }
                return Ok(Outcome::Done);
            }
            Status::Pending
            | Status::Approved
            | Status::Provisioning
            | Status::Expired
            | Status::Revoked
            | Status::Denied
            | Status::Cancelled
            | Status::Lapsed => return Ok(Outcome::Done),
        }
        // What was granted, as recorded: not what the catalog says today.
        let grant = self.record_of(&current).await?;
        let connector = grant.connector()?;
        if self.provisioner.by_hand(&connector) && !grant.held_before {
            self.ask_by_hand(&current, Notice::RevokeByHand).await?;
            return Ok(Outcome::Done);
        }
        let applied = self.undo(&grant).await?;
        self.metrics.revoked(
            self.platform_of(&connector),
            connector.as_str(),
            started.elapsed(),
        );
        self.revocation_done(&current, &grant, &applied).await?;
        if applied.action.starts_with("kept") {
            self.last_to_leave(&current, &grant).await;
        }
        Ok(Outcome::Done)
    }

    /// Two grants that give the same unit can end at the same moment, in two workers, each
    /// keeping the unit for the other. Once this one's record is closed, look again: the last
    /// to close finds no other keeper and takes the unit away. Should this fail, reconciliation
    /// finds the access still there after its end and removes it.
    async fn last_to_leave(&self, current: &Request, grant: &Grant) {
        let applied = match self.undo(grant).await {
            Ok(a) if a.action.starts_with("kept") => return,
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(request = %current.id, error = %e, "cannot remove access no other grant keeps; reconciliation will");
                return;
            }
        };
        let recorded = async {
            let tx = self.db.begin().await?;
            audit::record(
                &tx,
                self.clock.now(),
                Entry {
                    actor: &Actor::System,
                    action: "kept_access_removed",
                    request: Some(current.id),
                    details: json!({
                        "connector": grant.connector_id,
                        "identity": grant.identity,
                        "unit": grant.spec,
                        "applied": applied.action,
                    }),
                },
            )
            .await?;
            self.commit(tx, false).await
        };
        if let Err(e) = recorded.await {
            tracing::warn!(request = %current.id, error = %e, "cannot audit the removal of access no other grant keeps");
        }
    }

    /// Takes away what `grant` gave, as its record says: nothing when the identity held the unit
    /// before Gatehouse granted it, and nothing another live grant of the same identity still
    /// gives (two resources may share a role, or two tables a catalog).
    pub(super) async fn undo(&self, grant: &Grant) -> Result<Applied, WorkflowError> {
        if grant.held_before {
            return Ok(Applied {
                identity: grant.identity.clone(),
                action: LEFT_AS_IT_WAS.into(),
                receipt: None,
            });
        }
        let connector = grant.connector()?;
        let unit = grant.unit()?;
        let keep = store::grants::live_for_identity(
            self.db.conn(),
            &grant.connector_id,
            &grant.identity,
            grant.request_id,
        )
        .await?
        .iter()
        .map(Grant::unit)
        .collect::<Result<Vec<_>, _>>()?;
        let target = Target {
            connector: &connector,
            identity: &grant.identity,
            unit: &unit,
        };
        let undo = Undo {
            receipt: grant.receipt.as_deref(),
            keep: &keep,
        };
        Ok(self.provisioner.revoke(target, undo).await?)
    }

    /// A grant that will not be used (its request failed, or is retried for someone else) may
    /// have been made on the platform before its answer was lost: take it away, as recorded,
    /// and close its record. The request's status does not change.
    pub(super) async fn compensate(
        &self,
        current: &Request,
        grant: &Grant,
    ) -> Result<(), WorkflowError> {
        let connector = grant.connector()?;
        let applied = if self.provisioner.by_hand(&connector) {
            // Nothing is granted by hand until an admin confirms it, and this one was not.
            Applied {
                identity: grant.identity.clone(),
                action: "nothing was granted by hand".into(),
                receipt: None,
            }
        } else {
            self.undo(grant).await?
        };
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        // Audited when the platform was changed; a check that found nothing to undo is not a step.
        if store::grants::mark_revoked(&tx, grant.id, &applied.action, now).await?
            && changed_platform(&applied.action)
        {
            audit::record(
                &tx,
                now,
                Entry {
                    actor: &Actor::System,
                    action: "grant_undone",
                    request: Some(current.id),
                    details: json!({
                        "connector": grant.connector_id,
                        "identity": grant.identity,
                        "unit": grant.spec,
                        "applied": applied.action,
                        "status": current.status.as_str(),
                    }),
                },
            )
            .await?;
        }
        self.commit(tx, false).await?;
        tracing::info!(request = %current.id, identity = %grant.identity, applied = %applied.action, "unused grant undone");
        Ok(())
    }

    /// Provisioning gave up: the request is `failed`, which reviewers and admins see. The
    /// platform may have applied the grant before an answer was lost (a timeout on the last
    /// attempt), so a revocation of what the record says is queued: failed never means
    /// "maybe still granted".
    async fn provisioning_gave_up(&self, id: RequestId, error: &str) -> Result<(), WorkflowError> {
        let mut current = self.request(id).await?;
        if current.status == Status::Approved {
            current = self
                .system_step(
                    &current,
                    Event::StartProvisioning,
                    Changes::default(),
                    json!({}),
                    vec![],
                )
                .await?;
        }
        if current.status == Status::Provisioning {
            let intended = store::grants::live_for_request(self.db.conn(), id.get())
                .await?
                .is_some();
            let now = self.clock.now();
            let undo = if intended {
                vec![(JobSpec::Revoke { request: id }, now)]
            } else {
                vec![]
            };
            self.system_step(
                &current,
                Event::ProvisioningFailed,
                Changes::default(),
                json!({ "error": error }),
                undo,
            )
            .await?;
        }
        Ok(())
    }

    /// A revocation keeps failing (Gatehouse keeps retrying it): audited, and the channel,
    /// reviewers and admins are told, once per request.
    pub(super) async fn revocation_failing(
        &self,
        id: RequestId,
        error: &str,
    ) -> Result<(), WorkflowError> {
        let told = store::audit::for_request(self.db.conn(), id.get())
            .await?
            .iter()
            .any(|e| e.action == "revocation_failing");
        if told {
            return Ok(());
        }
        let tx = self.db.begin().await?;
        audit::record(
            &tx,
            self.clock.now(),
            Entry {
                actor: &Actor::System,
                action: "revocation_failing",
                request: Some(id),
                details: json!({ "error": error }),
            },
        )
        .await?;
        self.enqueue_notices(&tx, id, Notice::RevocationFailing)
            .await?;
        self.commit(tx, true).await
    }

    /// Revocation gave up: the access may still be there. The request stays `revoking` and the
    /// failed job waits for an admin's retry; the audit log says so.
    pub(super) async fn revocation_gave_up(
        &self,
        id: RequestId,
        error: &str,
    ) -> Result<(), WorkflowError> {
        let tx = self.db.begin().await?;
        audit::record(
            &tx,
            self.clock.now(),
            Entry {
                actor: &Actor::System,
                action: "revocation_failed",
                request: Some(id),
                details: json!({ "error": error }),
            },
        )
        .await?;
        self.commit(tx, false).await
    }
}

impl Workflow {
    /// Ends a request nobody reviewed in time; one that was reviewed meanwhile is left alone.
    async fn run_lapse(&self, id: RequestId) -> Result<Outcome, JobError> {
        let current = self.request(id).await?;
        if current.status != Status::Pending {
            return Ok(Outcome::Done);
        }
        // A resource removed from the catalog lapses its pending requests now.
        let lapse_after = self.resource_or_record(&current).await?.lapse_after;
        let due = super::lapse_at(&current, lapse_after);
        if self.clock.now() < due {
            return Ok(Outcome::RunAgainAt(due));
        }
        match self.lapse(id).await {
            Ok(_) => Ok(Outcome::Done),
            // Reviewed in the moment between reading and lapsing: nothing to do.
            Err(WorkflowError::Illegal(_) | WorkflowError::Conflict(_)) => Ok(Outcome::Done),
            Err(e) => Err(e.into()),
        }
    }

    async fn run_remind(&self, id: RequestId) -> Result<Outcome, JobError> {
        let current = self.request(id).await?;
        let (Status::Active, Some(expires_at)) = (current.status, current.expires_at) else {
            return Ok(Outcome::Done);
        };
        let due = self.reminder_at(&current, expires_at);
        if self.clock.now() < due {
            // The expiry moved later since this reminder was queued.
            return Ok(Outcome::RunAgainAt(due));
        }
        self.ask(&current, Notice::ExpiringSoon, "expiry_reminder_sent")
            .await?;
        Ok(Outcome::Done)
    }

    /// Records that people were asked for something, and asks them.
    pub(super) async fn ask(
        &self,
        current: &Request,
        notice: Notice,
        action: &str,
    ) -> Result<(), WorkflowError> {
        let tx = self.db.begin().await?;
        audit::record(
            &tx,
            self.clock.now(),
            Entry {
                actor: &Actor::System,
                action,
                request: Some(current.id),
                details: json!({ "connector": current.connector }),
            },
        )
        .await?;
        self.enqueue_notices(&tx, current.id, notice).await?;
        self.commit(tx, true).await
    }

    async fn run_notify(
        &self,
        id: RequestId,
        notice: Notice,
        audience: Audience,
        job: &Job,
    ) -> Result<Outcome, JobError> {
        let Some(notifier) = &self.notifier else {
            // Only a process that talks to Slack queues notices: one that does not (a one-shot
            // command run without Slack) leaves them to it rather than count them delivered.
            return Ok(Outcome::RunAgainAt(
                self.clock.now() + chrono::Duration::minutes(1),
            ));
        };
        let request = self.request(id).await?;
        let resource = self.resource_or_record(&request).await?;
        let removed = self.catalog.resource(&request.resource).is_none();
        let resource = resource.as_ref();
        // Quietly logged: the audit log has it; the channel hears of it only once a person is
        // needed (and from then on, as the card is there).
        if audience == Audience::Channel
            && notice.needs_no_one()
            && resource.auto_approved == AutoApprovedPosting::Quiet
            && request.slack_ts.is_none()
            && super::was_auto_approved(&request)
        {
            tracing::debug!(?notice, "not posted: auto-approved on a quiet resource");
            return Ok(Outcome::Done);
        }
        let mut context = NoticeContext {
            // A requeued failed job starts its attempts afresh but keeps its last error.
            delivery: Some(super::Delivery {
                key_prefix: job.id.to_string(),
                since: job.created_at,
                retry: job.attempts > 1 || job.last_error.is_some(),
            }),
            ..NoticeContext::default()
        };
        if audience == Audience::Channel {
            if request.slack_ts.is_none() {
                // The resource's own channel (or its connector's), else the default one.
                context.channel = match &resource.channel {
                    Some(c) => Some(c.clone()),
                    None => self.requests_channel().await?,
                };
            }
            context.progress = self.progress_of(&request, resource).await?;
        }
        // Failures only an admin may be able to fix reach the admins as well as the reviewers.
        // So do all notices of a resource the catalog no longer has: it has no reviewers now.
        let for_admins = removed
            || matches!(
                notice,
                Notice::RevocationFailing | Notice::DriftMissing { .. }
            );
        if audience == Audience::Reviewers {
            context.reviewers = self.reviewers_of(self.db.conn(), resource).await?;
            if for_admins {
                for a in self.admins(self.db.conn()).await? {
                    if !context.reviewers.contains(&a) {
                        context.reviewers.push(a);
                    }
                }
            }
        }
        if matches!(notice, Notice::Active | Notice::Expired | Notice::Revoked) {
            context.held_before = store::grants::latest_for_request(self.db.conn(), id.get())
                .await?
                .is_some_and(|g| g.held_before);
        }
        // Ended early: who did it (a reviewer, an admin, the holder, the operator or Gatehouse).
        if matches!(request.status, Status::Revoking | Status::Revoked) {
            let ended = store::audit::for_request(self.db.conn(), id.get())
                .await?
                .into_iter()
                .rev()
                .find(|e| e.action == "revoking" || e.action == "closed");
            if let Some(e) = ended {
                context.ended_by = crate::audit::Actor::read(&e.actor);
                context.closed = e.action == "closed";
            }
        }
        let failure = match notice {
            Notice::ProvisioningFailed => Some("provisioning_failed"),
            Notice::RevocationFailing => Some("revocation_failing"),
            _ => None,
        };
        if let Some(action) = failure {
            context.error = store::audit::for_request(self.db.conn(), id.get())
                .await?
                .into_iter()
                .rev()
                .find(|e| e.action == action)
                .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
                .and_then(|d| d["error"].as_str().map(str::to_owned));
        }
        if let Some(at) = notifier
            .notify(&request, resource, notice, audience, &context)
            .await?
        {
            store::requests::set_message(self.db.conn(), id, &at.channel, &at.ts).await?;
        }
        Ok(Outcome::Done)
    }
}

#[async_trait::async_trait]
impl Runner for Workflow {
    async fn run(&self, spec: &JobSpec, job: &Job) -> Result<Outcome, JobError> {
        match spec {
            JobSpec::Provision { request } => self.run_provision(*request).await,
            JobSpec::Revoke { request } => self.run_revoke(*request).await,
            JobSpec::Notify {
                request,
                notice,
                audience,
            } => self.run_notify(*request, *notice, *audience, job).await,
            JobSpec::Remind { request } => self.run_remind(*request).await,
            JobSpec::Lapse { request } => self.run_lapse(*request).await,
            JobSpec::BreakGlassReview { request } => self.run_break_glass_review(*request).await,
            JobSpec::SyncIdentities { connector } => {
                self.sync_identities(connector).await?;
                Ok(Outcome::RunAgainAt(
                    self.clock.now() + chrono::Duration::hours(1),
                ))
            }
            JobSpec::Reconcile { connector } => {
                self.reconcile(connector).await?;
                let every = chrono::Duration::from_std(self.reconcile_every)
                    .unwrap_or(chrono::Duration::hours(1));
                Ok(Outcome::RunAgainAt(self.clock.now() + every))
            }
        }
    }

    async fn gave_up(&self, spec: &JobSpec, _job: &Job, error: &str) -> Result<(), JobError> {
        match spec {
            JobSpec::Provision { request } => self.provisioning_gave_up(*request, error).await?,
            JobSpec::Revoke { request } => self.revocation_gave_up(*request, error).await?,
            // A message that could not be delivered is logged by the worker and kept as a
            // failed job that admins see; the request itself is unaffected.
            JobSpec::Notify { .. }
            | JobSpec::Remind { .. }
            | JobSpec::Lapse { .. }
            | JobSpec::BreakGlassReview { .. }
            | JobSpec::SyncIdentities { .. }
            | JobSpec::Reconcile { .. } => {}
        }
        Ok(())
    }

    async fn failing(&self, spec: &JobSpec, _job: &Job, error: &str) -> Result<(), JobError> {
        if let JobSpec::Revoke { request } = spec {
            self.revocation_failing(*request, error).await?;
        }
        Ok(())
    }
}
