//! Break-glass: emergency access granted at once for a short, capped time, announced loudly to
//! the channel and the reviewers, and reviewed after the fact. A reviewer's ✅ on the request
//! reviews it; if nobody does within the resource's `review_within`, the access is taken away
//! and the request flagged in the audit log. Only a full member of the workspace who may ask
//! for the resource may use it (`requesters.rs`).

use serde_json::json;

use super::requests::Via;
use super::{Notice, Step, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::duration::DurationRuleError;
use crate::domain::policy::{self, Who};
use crate::domain::{EndReason, Event, GrantDuration, RequestId, SlackUserId, Status};
use crate::jobs::{JobError, JobSpec, Outcome};
use crate::store;
use crate::store::requests::{Changes, NewRequest, Request};

/// How a break-glass request's note begins; a review adds "; reviewed by <user>".
pub const BREAK_GLASS: &str = "break-glass";

impl Workflow {
    /// `requester` takes emergency access to the resource typed as `resource`, for `duration`
    /// (the resource's break-glass maximum when None), giving a reason, which is required.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = tracing::field::Empty))]
    pub async fn break_glass(
        &self,
        requester: &SlackUserId,
        resource: &str,
        duration: Option<GrantDuration>,
        reason: &str,
    ) -> Result<Request, WorkflowError> {
        let resource = self.resource_named(resource)?;
        let Some(rules) = resource.break_glass else {
            return Err(WorkflowError::NoBreakGlass(resource.id.clone()));
        };
        self.require_break_glass_allowed(requester, resource)
            .await?;
        let duration = duration.unwrap_or(rules.max);
        if duration > rules.max {
            return Err(DurationRuleError::TooLong {
                asked: duration,
                max: rules.max,
            }
            .into());
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(WorkflowError::ReasonRequired(resource.id.clone()));
        }
        let now = self.clock.now();
        let new = NewRequest {
            requester,
            resource: &resource.id,
            connector: &resource.connector,
            duration,
            reason: Some(reason),
            identity: None,
            starts_at: None,
        };
        let actor = Actor::User(requester.clone());
        let details = json!({ "via": Via::BreakGlass.as_str() });
        let (tx, request) = self.open_request(new, &actor, details, now).await?;
        let review_by = now + rules.review_within.to_chrono();
        let granted = self
            .apply(
                &tx,
                &request,
                Step::new(&Actor::System, Event::Approve)
                    .changes(Changes {
                        decided_at: Some(now),
                        decision_note: Some(BREAK_GLASS.to_owned()),
                        ..Changes::default()
                    })
                    .details(json!({ "via": Via::BreakGlass.as_str(), "review_by": review_by }))
                    .jobs(vec![
                        (
                            JobSpec::Provision {
                                request: request.id,
                            },
                            now,
                        ),
                        (
                            JobSpec::BreakGlassReview {
                                request: request.id,
                            },
                            review_by,
                        ),
                    ]),
            )
            .await?;
        self.enqueue_notices(&tx, request.id, Notice::BreakGlass)
            .await?;
        self.commit(tx, true).await?;
        tracing::warn!(requester = %requester, resource = %resource.id, "break-glass access granted");
        Ok(granted)
    }

    /// Whether this request is break-glass access nobody has reviewed yet.
    pub(super) fn awaits_break_glass_review(r: &Request) -> bool {
        r.decision_note.as_deref() == Some(BREAK_GLASS)
            && matches!(
                r.status,
                Status::Approved | Status::Provisioning | Status::Active
            )
    }

    /// A reviewer of the resource (never the requester) reviews break-glass access: it stays.
    pub(super) async fn review_break_glass(
        &self,
        id: RequestId,
        by: &SlackUserId,
        groups: &[crate::domain::GroupId],
    ) -> Result<Request, WorkflowError> {
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        let resource = self.resource_of(&current)?;
        let reviewers = self.reviewers_of(&tx, resource).await?;
        policy::may_review(
            Who { user: by, groups },
            &current.requester,
            &resource.id,
            &reviewers,
        )?;
        if !Self::awaits_break_glass_review(&current) {
            return Ok(current);
        }
        let now = self.clock.now();
        let note = format!("{BREAK_GLASS}; reviewed by {by}");
        let changes = Changes {
            decision_note: Some(note),
            ..Changes::default()
        };
        if !store::requests::update_guarded(&tx, &current, current.status, changes, now).await? {
            return Err(WorkflowError::Conflict(id));
        }
        audit::record(
            &tx,
            now,
            Entry::new(&Actor::User(by.clone()), "break_glass_reviewed", json!({})).about(id),
        )
        .await?;
        self.enqueue_notices(&tx, id, Notice::BreakGlassReviewed)
            .await?;
        self.commit(tx, true).await?;
        self.request(id).await
    }

    /// The review deadline: unreviewed break-glass access is taken away and flagged.
    pub(super) async fn run_break_glass_review(&self, id: RequestId) -> Result<Outcome, JobError> {
        let current = self.request(id).await?;
        if !Self::awaits_break_glass_review(&current) {
            return Ok(Outcome::Done);
        }
        if current.status != Status::Active {
            // Still being granted: look again shortly, then take it away.
            return Ok(Outcome::RunAgainAt(
                self.clock.now() + chrono::Duration::seconds(30),
            ));
        }
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        audit::record(
            &tx,
            now,
            Entry::new(
                &Actor::System,
                "break_glass_unreviewed",
                json!({ "flagged": true }),
            )
            .about(id),
        )
        .await?;
        let step = self
            .apply(
                &tx,
                &current,
                Step::new(&Actor::System, Event::Revoke)
                    .changes(Changes {
                        end_reason: Some(EndReason::Revoked),
                        ..Changes::default()
                    })
                    .details(json!({ "note": "break-glass access not reviewed in time" }))
                    .jobs(vec![(JobSpec::Revoke { request: id }, now)]),
            )
            .await;
        match step {
            Ok(_) => {}
            // Ended some other way in the meantime: nothing to take away.
            Err(WorkflowError::Illegal(_) | WorkflowError::Conflict(_)) => {
                return Ok(Outcome::Done);
            }
            Err(e) => return Err(e.into()),
        }
        self.enqueue_notices(&tx, id, Notice::BreakGlassUnreviewed)
            .await?;
        self.commit(tx, true).await?;
        tracing::warn!("break-glass access was not reviewed in time; taking it away");
        Ok(Outcome::Done)
    }
}
