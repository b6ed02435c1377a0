//! Ending a request by decision: the requester cancels, nobody reviews in time (lapse), the
//! holder relinquishes, a reviewer, admin or the operator revokes, an admin closes one stuck in
//! `revoking`. The revocation itself is the job worker's (`revocation`).

use serde_json::json;

use super::errors::MAX_REASON;
use super::{Step, Workflow, WorkflowError};
use crate::audit::Actor;
use crate::domain::policy::{self, Who};
use crate::domain::{EndReason, Event, RequestId, SlackUserId};
use crate::jobs::JobSpec;
use crate::store;
use crate::store::requests::{Changes, Request};

impl Workflow {
    /// The requester withdraws a request before its access is granted: one nobody has
    /// decided on yet, or one approved to start later.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn cancel(&self, id: RequestId, by: &SlackUserId) -> Result<Request, WorkflowError> {
        let actor = Actor::User(by.clone());
        let tx = self.db.begin().await?;
        self.transition(tx, id, |current| {
            policy::may_act_as_requester(by, &current.requester)?;
            Ok(Step::new(&actor, Event::Cancel).changes(self.ended_now()))
        })
        .await
    }

    /// Nobody reviewed the request in time.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn lapse(&self, id: RequestId) -> Result<Request, WorkflowError> {
        let tx = self.db.begin().await?;
        self.transition(tx, id, |_| {
            Ok(Step::new(&Actor::System, Event::Lapse).changes(self.ended_now()))
        })
        .await
    }

    /// What a request that ends now, with nothing to revoke, records.
    fn ended_now(&self) -> Changes {
        Changes {
            ended_at: Some(self.clock.now()),
            ..Changes::default()
        }
    }

    /// Ends active access now: the holder relinquishes it, or a reviewer or admin of the
    /// resource revokes it (an incident, an abused break-glass). Others are refused and nothing
    /// changes. The revocation works from the grant record, so a resource since edited or removed
    /// from the catalog is revoked as it was granted.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn revoke(
        &self,
        id: RequestId,
        by: &SlackUserId,
        note: Option<&str>,
    ) -> Result<Request, WorkflowError> {
        within_limit(note.unwrap_or_default())?;
        let groups = self.groups_of(by).await?;
        // The holder may always give their access up; ending someone else's is a decision,
        // for full members only.
        let holder = self.request(id).await?.requester;
        if by != &holder {
            self.require_member(by).await?;
        }
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        let resource = self.resource_or_record(&tx, &current).await?;
        let reviewers = self.reviewers_of(&tx, &resource).await?;
        let admins = self.admins(&tx).await?;
        let who = Who {
            user: by,
            groups: &groups,
        };
        policy::may_end_access(who, &current.requester, &resource.id, &reviewers, &admins)?;
        let actor = Actor::User(by.clone());
        let updated = self
            .apply(&tx, &current, self.end_now(&current, &actor, note))
            .await?;
        self.commit(tx, true).await?;
        Ok(updated)
    }

    /// The holder gives their access up now (Relinquish): nobody else's click can.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn relinquish(
        &self,
        id: RequestId,
        by: &SlackUserId,
    ) -> Result<Request, WorkflowError> {
        let actor = Actor::User(by.clone());
        let tx = self.db.begin().await?;
        self.transition(tx, id, |current| {
            policy::may_act_as_requester(by, &current.requester)?;
            Ok(self.end_now(current, &actor, Some("relinquished")))
        })
        .await
    }

    /// `gatehouse revoke ID --reason TEXT`: the operator, who runs Gatehouse itself, ends access
    /// now (a connector about to leave the catalog, say).
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn revoke_as_operator(
        &self,
        id: RequestId,
        reason: &str,
    ) -> Result<Request, WorkflowError> {
        if reason.trim().is_empty() {
            return Err(WorkflowError::NoReason(
                "revoking access needs a reason (--reason TEXT)",
            ));
        }
        within_limit(reason)?;
        let tx = self.db.begin().await?;
        self.transition(tx, id, |current| {
            Ok(self.end_now(current, &Actor::Cli, Some(reason)))
        })
        .await
    }

    /// Ends `current`'s access now: its revocation is queued at once.
    fn end_now<'a>(&self, current: &Request, actor: &'a Actor, note: Option<&str>) -> Step<'a> {
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        let relinquished = matches!(actor, Actor::User(u) if u == &current.requester);
        Step::new(actor, Event::Revoke)
            .changes(Changes {
                end_reason: Some(EndReason::Revoked),
                decision_note: note.map(str::to_owned),
                ..Changes::default()
            })
            .details(json!({ "note": note, "relinquished": relinquished }))
            .jobs(vec![(
                JobSpec::Revoke {
                    request: current.id,
                },
                self.clock.now(),
            )])
    }

    /// An admin closes a request stuck in `revoking` (its revocation cannot complete: the
    /// platform is gone, or someone removed the access by hand), answering for the access being
    /// gone. Audited with the reason; the channel and the holder are told.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn close(
        &self,
        id: RequestId,
        by: &SlackUserId,
        reason: &str,
    ) -> Result<Request, WorkflowError> {
        self.require_admin(by).await?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(WorkflowError::NoReason(
                "closing a request needs a reason: say how you know the access is gone",
            ));
        }
        within_limit(reason)?;
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        let now = self.clock.now();
        let actor = Actor::User(by.clone());
        let step = Step::new(&actor, Event::Close)
            .changes(Changes {
                end_reason: Some(EndReason::Revoked),
                decision_note: Some(reason.to_owned()),
                ended_at: Some(now),
                ..Changes::default()
            })
            .details(json!({ "note": reason, "checked_on_platform": false }));
        let updated = self.apply(&tx, &current, step).await?;
        if let Some(grant) = store::grants::live_for_request(&tx, id.get()).await? {
            let said = format!("closed by {by}, not checked on the platform: {reason}");
            store::grants::mark_revoked(&tx, grant.id, &said, now).await?;
        }
        self.commit(tx, true).await?;
        Ok(updated)
    }
}

/// A reason people read (the holder's DM, the card, the audit log) is at most `MAX_REASON`
/// characters, as Slack's own text inputs are; a longer one is refused, never cut.
fn within_limit(reason: &str) -> Result<(), WorkflowError> {
    let n = reason.trim().chars().count();
    if n > MAX_REASON {
        return Err(WorkflowError::ReasonTooLong(n));
    }
    Ok(())
}
