//! Decisions reviewers and admins make on a request: approve (stage by stage, until the
//! approvals it needs are in), deny (and `may_deny`, asked before the reason), and an admin's
//! retry of a request whose provisioning failed.

use serde_json::json;

use super::errors::MAX_REASON;
use super::requests::Via;
use super::{Step, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::approval::{self, Given};
use crate::domain::policy::{self, Refusal, Who};
use crate::domain::{Event, Principal, RequestId, SlackUserId, Status};
use crate::jobs::JobSpec;
use crate::store::approvals;
use crate::store::requests::{Changes, Request};

impl Workflow {
    /// A reviewer of the resource (never the requester) approves the request as it stands (the
    /// identity is chosen apart, by `set_identity`); provisioning is queued.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn approve(
        &self,
        id: RequestId,
        by: &SlackUserId,
        via: Via,
    ) -> Result<Request, WorkflowError> {
        let groups = self.groups_of(by).await?;
        self.require_member(by).await?;
        // Who can approve each stage is resolved through Slack before the transaction, which
        // holds SQLite's write lock.
        let seen = self.request(id).await?;
        // A ✅ on break-glass access reviews it after the fact.
        if Self::awaits_break_glass_review(&seen) {
            return self.review_break_glass(id, by, &groups).await;
        }
        let resource = self.resource_of(&seen)?;
        let reviewers = self.reviewers_of(self.db.reads(), resource).await?;
        let stages = Self::stages_of(resource, &reviewers);
        let anyone: Vec<Principal> = stages
            .iter()
            .flat_map(|s| s.reviewers.iter().cloned())
            .collect();
        let who = Who {
            user: by,
            groups: &groups,
        };
        // One's own request, or a resource one does not review, is refused before the write
        // transaction (on SQLite the only writer): no write can change that answer. It is asked
        // again inside, where it counts.
        policy::may_review(who, &seen.requester, &resource.id, &anyone)?;
        let eligible = match seen.status {
            Status::Pending => self.eligible(&stages, &seen.requester).await?,
            _ => Vec::new(),
        };
        let result = async {
            let tx = self.db.begin_foreground().await?;
            let current = self.load(&tx, id).await?;
            let resource = self.resource_of(&current)?;
            policy::may_review(who, &current.requester, &resource.id, &anyone)?;
            let now = self.clock.now();
            // Approvals gather while the request is pending; anything else falls through to the
            // transition below, which explains why it cannot be approved now.
            let mut given = Vec::new();
            if current.status == Status::Pending && seen.status == Status::Pending {
                given = approvals::of_request(&tx, id).await?;
                let before = approval::standing(&stages, &eligible, &given);
                // Met already, yet still pending here: another approval completed it between
                // our read of the request and of its approvals (PostgreSQL reads each
                // statement afresh). The request moved on; explain_conflict says how.
                if before == approval::Standing::Met && !given.iter().any(|g| &g.user == by) {
                    return Err(WorkflowError::Conflict(id));
                }
                let stage = approval::counts(&before, &eligible, &given, by, |i| {
                    stages
                        .get(i)
                        .map(super::approvals::who_can)
                        .unwrap_or_default()
                })?;
                if !approvals::record(&tx, id, by, stage, via.as_str(), now).await? {
                    return Err(Refusal::AlreadyApproved.into());
                }
                given.push(Given {
                    user: by.clone(),
                    stage,
                });
                let after = super::approvals::progress(&stages, &eligible, &given);
                if after.more > 0 {
                    audit::record(
                        &tx,
                        now,
                        Entry::new(
                            &Actor::User(by.clone()),
                            "approval_counted",
                            json!({
                                "via": via.as_str(),
                                "stage": stage + 1,
                                "waiting_for_stage": after.step,
                                "more": after.more,
                            }),
                        )
                        .about(id),
                    )
                    .await?;
                    self.enqueue_notices(&tx, id, super::Notice::ApprovalCounted)
                        .await?;
                    self.commit(tx, true).await?;
                    return Ok(current);
                }
            }
            let approvers: Vec<String> = given.iter().map(|g| g.user.to_string()).collect();
            let actor = Actor::User(by.clone());
            let step = Step::new(&actor, Event::Approve)
                .changes(Changes {
                    decided_by: Some(by.to_string()),
                    decided_at: Some(now),
                    ..Changes::default()
                })
                .details(json!({
                    "via": via.as_str(),
                    "identity": current.identity,
                    "approvers": approvers,
                }))
                .jobs(vec![(JobSpec::Provision { request: id }, now)]);
            let updated = self.apply(&tx, &current, step).await?;
            self.commit(tx, true).await?;
            Ok(updated)
        }
        .await;
        self.settle(id, Event::Approve, by, via, result).await
    }

    /// Before asking `by` why they deny request `id`: the request, if they may deny it now;
    /// else why not, as `deny` would refuse. `deny` asks again.
    pub async fn may_deny(
        &self,
        id: RequestId,
        by: &SlackUserId,
    ) -> Result<Request, WorkflowError> {
        self.require_member(by).await?;
        let groups = self.groups_of(by).await?;
        let current = self.request(id).await?;
        let resource = self.resource_of(&current)?;
        let reviewers = self.reviewers_of(self.db.reads(), resource).await?;
        let who = Who {
            user: by,
            groups: &groups,
        };
        policy::may_review(who, &current.requester, &resource.id, &reviewers)?;
        crate::domain::transition(current.status, Event::Deny)?;
        Ok(current)
    }

    /// A reviewer of the resource (never the requester) denies, with an optional reason.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn deny(
        &self,
        id: RequestId,
        by: &SlackUserId,
        via: Via,
        reason: Option<&str>,
    ) -> Result<Request, WorkflowError> {
        let groups = self.groups_of(by).await?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = reason
            && r.chars().count() > MAX_REASON
        {
            return Err(WorkflowError::ReasonTooLong(r.chars().count()));
        }
        self.require_member(by).await?;
        // As for approvals, who reviews is read before the write transaction; the resource a
        // request is for never changes.
        let seen = self.request(id).await?;
        let reviewers = self
            .reviewers_of(self.db.reads(), self.resource_of(&seen)?)
            .await?;
        let who = Who {
            user: by,
            groups: &groups,
        };
        let actor = Actor::User(by.clone());
        let tx = self.db.begin_foreground().await?;
        let result = self
            .transition(tx, id, |current| {
                let resource = self.resource_of(current)?;
                // A reviewer of any stage may deny, ending the request whatever stage it is in.
                policy::may_review(who, &current.requester, &resource.id, &reviewers)?;
                let now = self.clock.now();
                Ok(Step::new(&actor, Event::Deny)
                    .changes(Changes {
                        decided_by: Some(by.to_string()),
                        decided_at: Some(now),
                        decision_note: reason.map(str::to_owned),
                        ..Changes::default()
                    })
                    .details(json!({ "via": via.as_str(), "reason": reason })))
            })
            .await;
        self.settle(id, Event::Deny, by, via, result).await
    }

    /// An admin sends a request whose provisioning failed back to provisioning.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn retry(&self, id: RequestId, by: &SlackUserId) -> Result<Request, WorkflowError> {
        self.require_admin(by).await?;
        let actor = Actor::User(by.clone());
        let tx = self.db.begin().await?;
        self.transition(tx, id, |_| {
            let now = self.clock.now();
            Ok(Step::new(&actor, Event::Retry)
                .jobs(vec![(JobSpec::Provision { request: id }, now)]))
        })
        .await
    }
}
