//! Identities from the platforms: a sync per connector stores what each platform lists and
//! marks what disappeared (never deleting it), so reviewers pick from real accounts.

use serde_json::json;

use super::{Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::ConnectorId;
use crate::store::identities::{self, Seen};

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

    /// The users a connector has synced, for the reviewer's picker.
    pub async fn users_of(&self, connector: &ConnectorId) -> Result<Vec<String>, WorkflowError> {
        Ok(identities::users_of(self.db.conn(), connector.as_str(), 100).await?)
    }
}
