//! Reads people need in Slack (their requests, the review queue) and small non-lifecycle
//! changes (the identity to grant, the processed-events ledger).

use serde_json::json;

use super::{Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::policy::{self, Who};
use crate::domain::{RequestId, SlackUserId, Status};
use crate::store;
use crate::store::requests::Request;

impl Workflow {
    /// True the first time an event id is seen; false for Slack's redeliveries.
    pub async fn first_delivery(&self, event_id: &str) -> Result<bool, WorkflowError> {
        // A decision follows, which someone is waiting for.
        let c = self.db.writer(store::Priority::Foreground).await;
        Ok(store::events::record(&c, event_id, self.clock.now()).await?)
    }

    pub async fn requests_of(&self, user: &SlackUserId) -> Result<Vec<Request>, WorkflowError> {
        Ok(store::requests::list_by_requester(self.db.reads(), user).await?)
    }

    /// Pending requests this person may decide on.
    pub async fn review_queue(&self, user: &SlackUserId) -> Result<Vec<Request>, WorkflowError> {
        let groups = self.groups_of(user).await?;
        let mut queue = Vec::new();
        for r in store::requests::list_by_status(self.db.reads(), Status::Pending).await? {
            let Some(resource) = self.catalog.resource(&r.resource) else {
                continue;
            };
            let reviewers = self.reviewers_of(self.db.reads(), resource).await?;
            let who = Who {
                user,
                groups: &groups,
            };
            if policy::may_review(who, &r.requester, &resource.id, &reviewers).is_ok() {
                queue.push(r);
            }
        }
        Ok(queue)
    }

    /// Active access of others that this person may end now: grants of the resources they
    /// review, and every grant for admins. The holder's own are not listed (they relinquish).
    pub async fn revocable_by(&self, user: &SlackUserId) -> Result<Vec<Request>, WorkflowError> {
        let groups = self.groups_of(user).await?;
        let admins = self.admins(self.db.reads()).await?;
        let who = Who {
            user,
            groups: &groups,
        };
        let mut mine = Vec::new();
        for r in store::requests::list_by_status(self.db.reads(), Status::Active).await? {
            if &r.requester == user {
                continue;
            }
            let resource = self.resource_or_record(self.db.reads(), &r).await?;
            let reviewers = self.reviewers_of(self.db.reads(), &resource).await?;
            if policy::may_end_access(who, &r.requester, &resource.id, &reviewers, &admins).is_ok()
            {
                mine.push(r);
            }
        }
        Ok(mine)
    }

    /// Before asking `by` why they end request `id`'s access: the request, if they may end it
    /// and it is active; else why not, as `revoke` would refuse. `revoke` asks again.
    pub async fn may_revoke(
        &self,
        id: RequestId,
        by: &SlackUserId,
    ) -> Result<Request, WorkflowError> {
        let groups = self.groups_of(by).await?;
        let current = self.request(id).await?;
        if by != &current.requester {
            self.require_member(by).await?;
        }
        let resource = self.resource_or_record(self.db.reads(), &current).await?;
        let reviewers = self.reviewers_of(self.db.reads(), &resource).await?;
        let admins = self.admins(self.db.reads()).await?;
        let who = Who {
            user: by,
            groups: &groups,
        };
        policy::may_end_access(who, &current.requester, &resource.id, &reviewers, &admins)?;
        crate::domain::transition(current.status, crate::domain::Event::Revoke)?;
        Ok(current)
    }

    /// The grant record a request's access was given (and, once ended, taken away) by.
    pub async fn grant_of(
        &self,
        id: RequestId,
    ) -> Result<Option<store::grants::Grant>, WorkflowError> {
        Ok(store::grants::latest_for_request(self.db.reads(), id.get()).await?)
    }

    /// Why the revocation of request `id` has not completed yet, when its last attempt failed:
    /// the platform's words, as the job recorded them.
    pub async fn revocation_error(&self, id: RequestId) -> Result<Option<String>, WorkflowError> {
        Ok(store::jobs::for_request(self.db.reads(), id.get())
            .await?
            .into_iter()
            .rev()
            .find(|j| j.kind == "revoke" && j.status != store::jobs::JobStatus::Done)
            .and_then(|j| j.last_error))
    }

    pub async fn is_admin(&self, user: &SlackUserId) -> Result<bool, WorkflowError> {
        match self.require_admin(user).await {
            Ok(()) => Ok(true),
            Err(WorkflowError::NotAllowed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Workflow {
    /// The channel an admin chose from Slack, if any (it overrides ACCESS_REQUESTS_CHANNEL).
    pub async fn requests_channel(&self) -> Result<Option<String>, WorkflowError> {
        Ok(store::settings::get(self.db.reads(), store::settings::REQUESTS_CHANNEL).await?)
    }

    pub async fn set_requests_channel(
        &self,
        by: &SlackUserId,
        channel: &str,
    ) -> Result<(), WorkflowError> {
        self.require_admin(by).await?;
        let tx = self.db.begin().await?;
        let now = self.clock.now();
        let old = store::settings::get(&tx, store::settings::REQUESTS_CHANNEL).await?;
        store::settings::set(
            &tx,
            store::settings::REQUESTS_CHANNEL,
            channel,
            by.as_str(),
            now,
        )
        .await?;
        audit::record(
            &tx,
            now,
            Entry::new(
                &Actor::User(by.clone()),
                "channel_changed",
                json!({ "from": old, "to": channel }),
            ),
        )
        .await?;
        self.commit(tx, false).await
    }
}

impl Workflow {
    pub async fn requests_in(&self, status: Status) -> Result<Vec<Request>, WorkflowError> {
        Ok(store::requests::list_by_status(self.db.reads(), status).await?)
    }

    /// Everyone who has ever approved or denied the request, as the audit log says: their
    /// approvals may since have stopped counting (a new account was chosen), and a ✅ they
    /// left on the card must not bring them back.
    pub async fn deciders_of(
        &self,
        id: crate::domain::RequestId,
    ) -> Result<Vec<crate::domain::SlackUserId>, WorkflowError> {
        let rows = store::audit::for_request(self.db.reads(), id.get()).await?;
        Ok(rows
            .iter()
            .filter(|e| {
                matches!(
                    e.action.as_str(),
                    "approved" | "approval_counted" | "denied"
                )
            })
            .filter_map(|e| match crate::audit::Actor::read(&e.actor) {
                Some(crate::audit::Actor::User(u)) => Some(u),
                _ => None,
            })
            .collect())
    }
}

impl Workflow {
    /// Jobs that gave up, for admins to look at and retry.
    /// Jobs that gave up, then those that never give up (revocations) and keep failing.
    pub async fn failed_jobs(&self) -> Result<Vec<crate::store::jobs::Job>, WorkflowError> {
        let mut jobs =
            store::jobs::list(self.db.reads(), Some(store::jobs::JobStatus::Failed)).await?;
        jobs.extend(store::jobs::still_failing(self.db.reads(), self.max_attempts).await?);
        Ok(jobs)
    }

    /// An admin queues a failed job again with a fresh set of attempts. False if it was not failed.
    pub async fn retry_job(&self, job: i64, by: &SlackUserId) -> Result<bool, WorkflowError> {
        self.require_admin(by).await?;
        let tx = self.db.begin().await?;
        let now = self.clock.now();
        let Some(found) = store::jobs::get(&tx, job).await? else {
            return Ok(false);
        };
        if !store::jobs::requeue_failed(&tx, job, now).await? {
            return Ok(false);
        }
        audit::record(
            &tx,
            now,
            Entry {
                actor: &Actor::User(by.clone()),
                action: "job_retried",
                request: found.request_id.map(RequestId::new),
                details: json!({ "job": job, "kind": found.kind, "last_error": found.last_error }),
            },
        )
        .await?;
        self.commit(tx, true).await?;
        Ok(true)
    }
}

impl Workflow {
    /// Admins look up identities ingested from the platforms.
    pub async fn search_identities(
        &self,
        by: &SlackUserId,
        query: &str,
    ) -> Result<Vec<FoundIdentity>, WorkflowError> {
        self.require_admin(by).await?;
        let c = self.db.reads();
        let found = store::identities::search(c, query, 50).await?;
        let ids: Vec<String> = found.iter().map(|i| i.platform_id.clone()).collect();
        let links = store::links::to_identities(c, &ids).await?;
        Ok(found
            .into_iter()
            .map(|identity| {
                let linked = links
                    .iter()
                    .filter(|l| {
                        l.connector_id == identity.connector_id
                            && l.platform_id == identity.platform_id
                    })
                    .map(|l| l.slack_user.clone())
                    .collect();
                FoundIdentity { identity, linked }
            })
            .collect())
    }

    /// The requester's remembered link on a connector, without looking for a new one.
    pub async fn link_of(
        &self,
        user: &SlackUserId,
        connector: &crate::domain::ConnectorId,
    ) -> Result<Option<store::links::Link>, WorkflowError> {
        Ok(store::links::get(self.db.reads(), user.as_str(), connector.as_str()).await?)
    }
}

/// An identity an admin searched for, with the Slack users linked to it.
#[derive(Debug, Clone)]
pub struct FoundIdentity {
    pub identity: store::identities::Identity,
    pub linked: Vec<String>,
}
