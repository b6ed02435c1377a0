//! More time on active access: the holder asks, a reviewer or admin extends (or refuses).
//! The expiry moves only when someone other than the holder agrees.

use serde_json::json;

use super::{Step, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::policy::{self, Who};
use crate::domain::{Event, GrantDuration, RequestId, SlackUserId};
use crate::store::requests::{Changes, Request};

impl Workflow {
    /// A reviewer or admin lengthens active access by `by`; the whole remaining time may not
    /// exceed the resource's maximum. The revocation moves with the expiry.
    pub async fn extend(
        &self,
        id: RequestId,
        by_user: &SlackUserId,
        by: GrantDuration,
    ) -> Result<Request, WorkflowError> {
        self.extend_noting(id, by_user, by, None).await
    }

    /// `extend`, with why (an admin's grant of access the person already holds says why).
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub(super) async fn extend_noting(
        &self,
        id: RequestId,
        by_user: &SlackUserId,
        by: GrantDuration,
        note: Option<&str>,
    ) -> Result<Request, WorkflowError> {
        let groups = self.groups_of(by_user).await?;
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        let resource = self.resource_of(&current)?;
        let reviewers = self.reviewers_of(&tx, resource).await?;
        let admins = self.admins(&tx).await?;
        let who = Who {
            user: by_user,
            groups: &groups,
        };
        if policy::may_review(who, &current.requester, &resource.id, &reviewers).is_err() {
            policy::may_administer(who, &admins)?;
        }
        let now = self.clock.now();
        let old = current.expires_at.unwrap_or(now);
        let new_expiry = old.max(now) + by.to_chrono();
        let remaining = (new_expiry - now).num_minutes();
        if remaining > resource.durations.max.seconds() / 60 {
            return Err(crate::domain::duration::DurationRuleError::TooLong {
                asked: GrantDuration::from_minutes(remaining).unwrap_or(by),
                max: resource.durations.max,
            }
            .into());
        }
        let updated = self
            .apply(
                &tx,
                &current,
                Step {
                    actor: &Actor::User(by_user.clone()),
                    event: Event::Extend,
                    changes: Changes {
                        expires_at: Some(new_expiry),
                        ..Changes::default()
                    },
                    details: json!({ "by": by, "old_expiry": old, "new_expiry": new_expiry, "note": note }),
                    jobs: self.expiry_jobs(&current, now, new_expiry),
                },
            )
            .await?;
        self.commit(tx, true).await?;
        Ok(updated)
    }

    /// The holder asks for more time; reviewers decide in the thread (`extend` or `deny_extension`).
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn ask_extension(
        &self,
        id: RequestId,
        by: &SlackUserId,
        more: GrantDuration,
    ) -> Result<Request, WorkflowError> {
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        policy::may_act_as_requester(
            Who {
                user: by,
                groups: &[],
            },
            &current.requester,
        )?;
        if current.status != crate::domain::Status::Active {
            return Err(WorkflowError::Illegal(crate::domain::IllegalTransition {
                from: current.status,
                event: Event::Extend,
            }));
        }
        let resource = self.resource_of(&current)?;
        let now = self.clock.now();
        let remaining = current.expires_at.unwrap_or(now).max(now) + more.to_chrono() - now;
        if remaining.num_minutes() > resource.durations.max.seconds() / 60 {
            return Err(crate::domain::duration::DurationRuleError::TooLong {
                asked: GrantDuration::from_minutes(remaining.num_minutes()).unwrap_or(more),
                max: resource.durations.max,
            }
            .into());
        }
        audit::record(
            &tx,
            now,
            Entry {
                actor: &Actor::User(by.clone()),
                action: "extension_requested",
                request: Some(id),
                details: json!({ "more": more }),
            },
        )
        .await?;
        self.enqueue_notices(
            &tx,
            id,
            super::Notice::ExtensionRequested {
                minutes: more.seconds() / 60,
            },
        )
        .await?;
        self.commit(tx, true).await?;
        Ok(current)
    }

    /// A reviewer says no to more time; the access ends as planned.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn deny_extension(
        &self,
        id: RequestId,
        by: &SlackUserId,
    ) -> Result<(), WorkflowError> {
        let groups = self.groups_of(by).await?;
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        let resource = self.resource_of(&current)?;
        let reviewers = self.reviewers_of(&tx, resource).await?;
        policy::may_review(
            Who {
                user: by,
                groups: &groups,
            },
            &current.requester,
            &resource.id,
            &reviewers,
        )?;
        audit::record(
            &tx,
            self.clock.now(),
            Entry {
                actor: &Actor::User(by.clone()),
                action: "extension_denied",
                request: Some(id),
                details: json!({}),
            },
        )
        .await?;
        self.enqueue_notices(&tx, id, super::Notice::ExtensionDenied)
            .await?;
        self.commit(tx, true).await
    }
}
