//! More time on active access: the holder asks, and the resource's reviewers (or an admin)
//! decide that ask once. The expiry moves only when someone other than the holder agrees, and
//! an ask made before the expiry last moved is stale: approving it would extend twice.

use serde_json::json;

use super::{Step, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::policy::{self, Refusal, Who};
use crate::domain::{Event, GrantDuration, RequestId, SlackUserId, Status};
use crate::store::extension_asks::{self, APPROVED, Ask, DENIED, PENDING};
use crate::store::requests::{Changes, Request};

/// A reviewer's answer to an ask for more time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Approve,
    Deny,
}

impl Workflow {
    /// A reviewer or admin lengthens active access by `by` without an ask (the holder never
    /// extends their own); the whole remaining time may not exceed the resource's maximum.
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
        self.require_member(by_user).await?;
        let groups = self.groups_of(by_user).await?;
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        self.may_extend(&tx, &current, by_user, &groups).await?;
        let updated = self
            .lengthen(&tx, &current, by_user, by, json!({ "note": note }))
            .await?;
        self.commit(tx, true).await?;
        Ok(updated)
    }

    /// The reviewers of the resource and admins extend access; the holder never does, even
    /// when they are one of them.
    async fn may_extend(
        &self,
        c: &impl crate::store::Conn,
        current: &Request,
        by: &SlackUserId,
        groups: &[crate::domain::GroupId],
    ) -> Result<(), WorkflowError> {
        let resource = self.resource_of(current)?;
        if by == &current.requester {
            return Err(Refusal::OwnExtension(resource.id.clone()).into());
        }
        let reviewers = self.reviewers_of(c, resource).await?;
        let admins = self.admins(c).await?;
        let who = Who { user: by, groups };
        if policy::may_review(who, &current.requester, &resource.id, &reviewers).is_err() {
            policy::may_administer(who, &admins).map_err(|_| Refusal::NotReviewer {
                resource: resource.id.clone(),
                who: policy::in_words(&reviewers, "or"),
            })?;
        }
        Ok(())
    }

    /// Moves the expiry of `current` by `more` (within the resource's maximum), and with it the
    /// revocation and reminder; asks still pending go stale (they were made against the old
    /// expiry).
    async fn lengthen(
        &self,
        tx: &crate::store::Tx,
        current: &Request,
        by_user: &SlackUserId,
        more: GrantDuration,
        details: serde_json::Value,
    ) -> Result<Request, WorkflowError> {
        let resource = self.resource_of(current)?;
        let now = self.clock.now();
        let old = current.expires_at.unwrap_or(now);
        let new_expiry = extended_expiry(current, resource, more, now)?;
        let mut all = json!({ "by": more, "old_expiry": old, "new_expiry": new_expiry });
        if let (Some(all), Some(extra)) = (all.as_object_mut(), details.as_object()) {
            all.extend(extra.clone());
        }
        let updated = self
            .apply(
                tx,
                current,
                Step::new(&Actor::User(by_user.clone()), Event::Extend)
                    .changes(Changes {
                        expires_at: Some(new_expiry),
                        ..Changes::default()
                    })
                    .details(all)
                    .jobs(self.expiry_jobs(current, now, new_expiry)),
            )
            .await?;
        extension_asks::go_stale(tx, current.id, now).await?;
        Ok(updated)
    }

    /// The holder asks for more time; the resource's reviewers decide in the thread
    /// (`decide_extension`). A newer ask replaces one still waiting.
    #[tracing::instrument(name = "request", skip_all, fields(request_id = id.get()))]
    pub async fn ask_extension(
        &self,
        id: RequestId,
        by: &SlackUserId,
        more: GrantDuration,
    ) -> Result<Request, WorkflowError> {
        // Asked of Slack (group memberships) before the transaction, which on SQLite holds the
        // only connection.
        let seen = self.request(id).await?;
        self.require_requester(by, self.resource_of(&seen)?).await?;
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        policy::may_act_as_requester(by, &current.requester)?;
        if current.status != Status::Active {
            return Err(WorkflowError::Illegal(crate::domain::IllegalTransition {
                from: current.status,
                event: Event::Extend,
            }));
        }
        let resource = self.resource_of(&current)?;
        let now = self.clock.now();
        extended_expiry(&current, resource, more, now)?;
        let ask = extension_asks::insert(&tx, id, by, more, current.expires_at, now).await?;
        audit::record(
            &tx,
            now,
            Entry::new(
                &Actor::User(by.clone()),
                "extension_requested",
                json!({ "more": more, "ask": ask.id }),
            )
            .about(id),
        )
        .await?;
        self.enqueue_notices(
            &tx,
            id,
            super::Notice::ExtensionRequested {
                minutes: more.seconds() / 60,
                ask: ask.id,
            },
        )
        .await?;
        self.commit(tx, true).await?;
        Ok(current)
    }

    /// A reviewer of the resource (or an admin), never the holder, answers ask `ask_id` once:
    /// a second click, an ask replaced by a newer one, or one made before the expiry last moved
    /// is refused, saying why, and changes nothing.
    #[tracing::instrument(name = "request", skip_all, fields(ask = ask_id))]
    pub async fn decide_extension(
        &self,
        ask_id: i64,
        by: &SlackUserId,
        answer: Answer,
    ) -> Result<Request, WorkflowError> {
        self.require_member(by).await?;
        let groups = self.groups_of(by).await?;
        let Some(ask) = extension_asks::get(self.db.reads(), ask_id).await? else {
            return Err(WorkflowError::Stale(
                "there is no such ask for more time".into(),
            ));
        };
        let tx = self.db.begin().await?;
        let current = self.load(&tx, ask.request).await?;
        self.may_extend(&tx, &current, by, &groups).await?;
        let ask = extension_asks::get(&tx, ask_id).await?.unwrap_or(ask);
        if let Some(why) = self.stale_ask(&ask, &current) {
            if ask.status == PENDING {
                // Settled now so that its buttons never act later; the refusal still stands.
                extension_asks::go_stale(&tx, current.id, self.clock.now()).await?;
                self.commit(tx, false).await?;
            }
            return Err(WorkflowError::Stale(why));
        }
        let now = self.clock.now();
        let status = match answer {
            Answer::Approve => APPROVED,
            Answer::Deny => DENIED,
        };
        if !extension_asks::decide(&tx, ask.id, status, by, now).await? {
            return Err(WorkflowError::Conflict(current.id));
        }
        let updated = match answer {
            Answer::Approve => {
                self.lengthen(&tx, &current, by, ask.more, json!({ "ask": ask.id }))
                    .await?
            }
            Answer::Deny => {
                audit::record(
                    &tx,
                    now,
                    Entry::new(
                        &Actor::User(by.clone()),
                        "extension_denied",
                        json!({ "ask": ask.id, "more": ask.more }),
                    )
                    .about(current.id),
                )
                .await?;
                self.enqueue_notices(&tx, current.id, super::Notice::ExtensionDenied)
                    .await?;
                current
            }
        };
        self.commit(tx, true).await?;
        Ok(updated)
    }

    /// Why `ask` can no longer be decided, if it cannot.
    fn stale_ask(&self, ask: &Ask, current: &Request) -> Option<String> {
        let who = |d: &Option<String>| {
            d.as_deref()
                .map(|u| format!(" by <@{u}>"))
                .unwrap_or_default()
        };
        match ask.status.as_str() {
            APPROVED => {
                return Some(format!(
                    "this ask for {} more was already approved{}",
                    ask.more,
                    who(&ask.decided_by)
                ));
            }
            DENIED => {
                return Some(format!(
                    "this ask for {} more was already denied{}",
                    ask.more,
                    who(&ask.decided_by)
                ));
            }
            PENDING => {}
            _ => {
                return Some(
                    "this ask for more time was replaced by a newer one, or the access was extended since; decide the newest ask".into(),
                );
            }
        }
        if current.status != Status::Active {
            return Some(format!(
                "the access is no longer active (the request is {})",
                current.status
            ));
        }
        if current.expires_at != ask.expiry_then {
            return Some(
                "the access was extended since this ask was made; the holder can ask again".into(),
            );
        }
        None
    }
}

/// The expiry `more` time gives `current` from `now`; refused when the whole remaining time
/// would exceed the resource's maximum (an ask is held to it as its approval will be).
fn extended_expiry(
    current: &Request,
    resource: &crate::config::Resource,
    more: GrantDuration,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, WorkflowError> {
    let new_expiry = current.expires_at.unwrap_or(now).max(now) + more.to_chrono();
    let remaining = (new_expiry - now).num_minutes();
    if remaining > resource.durations.max.seconds() / 60 {
        return Err(crate::domain::duration::DurationRuleError::TooLong {
            asked: GrantDuration::from_minutes(remaining).unwrap_or(more),
            max: resource.durations.max,
        }
        .into());
    }
    Ok(new_expiry)
}
