//! The job worker's side of the workflow: `Runner` dispatches each job (provision, revoke,
//! notify, remind, lapse, auto-approval, sync, reconcile) and handles those that give up or keep
//! failing; notices are delivered here (`run_notify`), and Gatehouse's own audited steps
//! (`audited`, `ask`) are recorded. Errors become job errors (retry or give up).

use serde_json::json;

use super::{Audience, ExternalError, Notice, NoticeContext, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::config::AutoApprovedPosting;
use crate::domain::{RequestId, Status};
use crate::jobs::{JobError, JobSpec, Outcome, Runner};
use crate::store;
use crate::store::jobs::Job;
use crate::store::requests::Request;

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

/// The audit action of the reminder before a request lapses.
const NUDGED: &str = "lapse_nudged";

impl Workflow {
    /// Ends a request nobody reviewed in time; one that was reviewed meanwhile is left alone.
    async fn run_lapse(&self, id: RequestId) -> Result<Outcome, JobError> {
        let current = self.request(id).await?;
        if current.status != Status::Pending {
            return Ok(Outcome::Done);
        }
        // A resource removed from the catalog lapses its pending requests now.
        let lapse_after = self
            .resource_or_record(self.db.reads(), &current)
            .await?
            .lapse_after;
        let due = super::lapse_at(&current, lapse_after);
        let now = self.clock.now();
        if now < due {
            // Its reviewers are reminded once, shortly before it lapses (the job is queued for
            // then); a job queued for the lapse itself, or run late, just lapses it.
            let nudge = super::nudge_at(&current, lapse_after);
            if now < nudge {
                return Ok(Outcome::RunAgainAt(nudge));
            }
            self.nudge_once(id).await?;
            return Ok(Outcome::RunAgainAt(due));
        }
        match self.lapse(id).await {
            Ok(_) => Ok(Outcome::Done),
            // Reviewed in the moment between reading and lapsing: nothing to do.
            Err(WorkflowError::Illegal(_) | WorkflowError::Conflict(_)) => Ok(Outcome::Done),
            Err(e) => Err(e.into()),
        }
    }

    /// Reminds the reviewers of a pending request that it lapses soon, once for each wait to
    /// decide (a request reopened since waits afresh). The request's row is held until the
    /// commit, so a second run of the job (a retry, or a worker that took over a lapsed lease)
    /// waits for the first and then finds its audit row.
    async fn nudge_once(&self, id: RequestId) -> Result<(), WorkflowError> {
        let tx = self.db.begin().await?;
        let Some(r) = store::requests::get_for_update(&tx, id).await? else {
            return self.commit(tx, false).await;
        };
        let since = r.decided_at.map_or(r.created_at, |d| d.max(r.created_at));
        let done = r.status != Status::Pending
            || store::audit::for_request(&tx, id.get())
                .await?
                .iter()
                .any(|e| e.action == NUDGED && e.at >= since);
        if !done {
            let details = json!({ "connector": r.connector });
            let entry = Entry::new(&Actor::System, NUDGED, details).about(id);
            audit::record(&tx, self.clock.now(), entry).await?;
            self.enqueue_notices(&tx, id, Notice::LapsesSoon).await?;
        }
        self.commit(tx, !done).await
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

    /// A notice could not be delivered, for good: audited, and the requester and admins are
    /// told in a plain DM (never about the failure of that DM itself, so this cannot loop).
    async fn notice_gave_up(
        &self,
        id: RequestId,
        notice: Notice,
        audience: Audience,
        error: &str,
    ) -> Result<(), WorkflowError> {
        if notice == Notice::NotDelivered {
            return Ok(());
        }
        let details = json!({ "notice": notice, "audience": audience, "error": error });
        self.audited(id, "notice_failed", details, Some(Notice::NotDelivered))
            .await
    }

    /// One audit row of Gatehouse's own, and the notice that tells people of it, if any, in
    /// one transaction.
    pub(super) async fn audited(
        &self,
        id: RequestId,
        action: &str,
        details: serde_json::Value,
        notice: Option<Notice>,
    ) -> Result<(), WorkflowError> {
        let tx = self.db.begin().await?;
        let entry = Entry::new(&Actor::System, action, details).about(id);
        audit::record(&tx, self.clock.now(), entry).await?;
        if let Some(notice) = notice {
            self.enqueue_notices(&tx, id, notice).await?;
        }
        self.commit(tx, notice.is_some()).await
    }

    /// Records that people were asked for something, and asks them.
    pub(super) async fn ask(
        &self,
        current: &Request,
        notice: Notice,
        action: &str,
    ) -> Result<(), WorkflowError> {
        let details = json!({ "connector": current.connector });
        self.audited(current.id, action, details, Some(notice))
            .await
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
        let resource = self.resource_or_record(self.db.reads(), &request).await?;
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
                Notice::RevocationFailing | Notice::DriftMissing { .. } | Notice::NotDelivered
            );
        if notice == Notice::NotDelivered {
            context.error = store::audit::for_request(self.db.reads(), id.get())
                .await?
                .into_iter()
                .rev()
                .find(|e| e.action == "notice_failed")
                .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
                .and_then(|d| d["error"].as_str().map(str::to_owned));
        }
        if audience == Audience::Reviewers {
            // A refused notice is for the admins alone: only they can fix Slack's side.
            context.reviewers = if notice == Notice::NotDelivered {
                Vec::new()
            } else if notice == Notice::Submitted {
                // `notify_reviewers = "dm"`: those who can approve it now, each with the buttons.
                // Nobody left to ask (it was decided meanwhile): nobody is told.
                if request.status == Status::Pending {
                    context.progress = self.progress_of(&request, resource).await?;
                }
                context
                    .progress
                    .as_ref()
                    .map(|p| p.can_approve.clone())
                    .unwrap_or_default()
            } else {
                self.reviewers_of(self.db.reads(), resource).await?
            };
            if for_admins {
                for a in self.admins(self.db.reads()).await? {
                    if !context.reviewers.contains(&a) {
                        context.reviewers.push(a);
                    }
                }
            }
        }
        if matches!(notice, Notice::Active | Notice::Expired | Notice::Revoked) {
            context.held_before = store::grants::latest_for_request(self.db.reads(), id.get())
                .await?
                .is_some_and(|g| g.held_before);
        }
        // Ended early: who did it (a reviewer, an admin, the holder, the operator or Gatehouse).
        if matches!(request.status, Status::Revoking | Status::Revoked) {
            let ended = store::audit::for_request(self.db.reads(), id.get())
                .await?
                .into_iter()
                .rev()
                .find(|e| e.action == "revoking" || e.action == "closed");
            if let Some(e) = ended {
                context.ended_by = crate::audit::Actor::read(&e.actor);
                context.closed = e.action == "closed";
            }
        }
        if audience == Audience::Channel {
            context.to_act = match notice {
                Notice::IdentityNeeded | Notice::ExtensionRequested { .. } => {
                    self.reviewers_of(self.db.reads(), resource).await?
                }
                Notice::GrantByHand | Notice::RevokeByHand => self.admins(self.db.reads()).await?,
                _ => Vec::new(),
            };
            let requester = crate::domain::Principal::User(request.requester.clone());
            context.to_act.retain(|p| p != &requester);
        }
        if notice == Notice::IdentityChosen {
            context.chosen_by = store::audit::for_request(self.db.reads(), id.get())
                .await?
                .into_iter()
                .rev()
                .find(|e| e.action == "identity_chosen")
                .and_then(|e| crate::audit::Actor::read(&e.actor));
        }
        let failure = match notice {
            Notice::ProvisioningFailed => Some("provisioning_failed"),
            Notice::RevocationFailing => Some("revocation_failing"),
            _ => None,
        };
        if let Some(action) = failure {
            context.error = store::audit::for_request(self.db.reads(), id.get())
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
            store::requests::set_message(
                &self.db.writer(store::Priority::Background).await,
                id,
                &at.channel,
                &at.ts,
            )
            .await?;
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
            JobSpec::AutoApproval { request } => self.run_auto_approval(*request).await,
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
            // A message Slack refused for good reaches the requester and the admins (the
            // request itself is unaffected); the failed job waits in App Home for a retry.
            JobSpec::Notify {
                request,
                notice,
                audience,
            } => {
                self.notice_gave_up(*request, *notice, *audience, error)
                    .await?
            }
            JobSpec::AutoApproval { request } => {
                self.auto_approval_gave_up(*request, error).await?
            }
            JobSpec::Remind { .. }
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
