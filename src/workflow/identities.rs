//! Identities from the platforms: a sync per connector stores what each platform lists and
//! marks what disappeared (never deleting it), so reviewers pick from real accounts.

use serde_json::json;

use super::{Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::{ConnectorId, RequestId, SlackUserId};
use crate::store::identities::{self, Identity, Seen};
use crate::store::requests::Request;

/// What the identity picker of a request opens with.
#[derive(Debug, Clone)]
pub struct IdentityPicker {
    /// Shown chosen: the request's identity, else the requester's link.
    pub suggested: Option<String>,
    /// The connector has users to search; without any, the reviewer types the identity.
    pub searchable: bool,
}

/// What one sync found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncReport {
    pub seen: usize,
    pub missing: u64,
}

impl Workflow {
    /// Lists the connector's identities and stores them; None for connectors that cannot list.
    pub async fn sync_identities(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<SyncReport>, WorkflowError> {
        let Some(listed) = self
            .provisioner
            .list_identities(connector)
            .await
            .map_err(|e| WorkflowError::Platform(e.to_string()))?
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        for i in &listed {
            let seen = Seen {
                kind: &i.kind,
                platform_id: &i.id,
                name: &i.name,
                email: i.email.as_deref(),
            };
            identities::upsert(&tx, connector.as_str(), &seen, now).await?;
        }
        let missing = identities::mark_missing(&tx, connector.as_str(), now).await?;
        let report = SyncReport {
            seen: listed.len(),
            missing,
        };
        audit::record(
            &tx,
            now,
            Entry::new(
                &Actor::System,
                "identities_synced",
                json!({ "connector": connector, "seen": report.seen, "newly_missing": missing }),
            ),
        )
        .await?;
        self.commit(tx, false).await?;
        Ok(Some(report))
    }

    /// Queues a sync of each connector now (moving an already queued one to now, never later).
    pub async fn schedule_identity_syncs(
        &self,
        connectors: &[ConnectorId],
    ) -> Result<(), WorkflowError> {
        let now = self.clock.now();
        self.schedule_each(connectors, now, |connector| {
            crate::jobs::JobSpec::SyncIdentities { connector }
        })
        .await
    }

    /// Whether each connector reaches its platform now (None: nothing to reach).
    pub async fn connector_health(&self, connector: &ConnectorId) -> Option<Result<(), String>> {
        self.provisioner.health(connector).await
    }

    /// The users a connector has synced (the first hundred, by platform id).
    pub async fn users_of(&self, connector: &ConnectorId) -> Result<Vec<String>, WorkflowError> {
        Ok(identities::users_of(self.db.reads(), connector.as_str(), 100).await?)
    }

    /// The picker of request `id`'s identity, for `by`, who must be allowed to choose it.
    pub async fn identity_picker(
        &self,
        id: RequestId,
        by: &SlackUserId,
    ) -> Result<IdentityPicker, WorkflowError> {
        let request = self.may_choose_identity(id, by).await?;
        let suggested = self.suggested_identity(&request).await?;
        let searchable = !identities::users_of(self.db.reads(), request.connector.as_str(), 1)
            .await?
            .is_empty();
        Ok(IdentityPicker {
            suggested,
            searchable,
        })
    }

    /// The present users of request `id`'s connector matching `query` (platform id, name or
    /// email), at most `limit`, the suggested one first when it matches. Only for those who may
    /// choose the identity: the list is the platform's, not the requester's or anyone else's.
    pub async fn identity_options(
        &self,
        id: RequestId,
        by: &SlackUserId,
        query: &str,
        limit: u64,
    ) -> Result<Vec<Identity>, WorkflowError> {
        let request = self.may_choose_identity(id, by).await?;
        let suggested = self.suggested_identity(&request).await?;
        // Asked at each keystroke: on SQLite a read connection, not the one writer.
        Ok(identities::search_users_of(
            self.db.reads(),
            request.connector.as_str(),
            query,
            suggested.as_deref(),
            limit,
        )
        .await?)
    }

    /// The identity the picker proposes: the request's own, else the requester's link.
    async fn suggested_identity(&self, r: &Request) -> Result<Option<String>, WorkflowError> {
        if r.identity.is_some() {
            return Ok(r.identity.clone());
        }
        Ok(self
            .link_of(&r.requester, &r.connector)
            .await?
            .map(|l| l.platform_id))
    }
}
