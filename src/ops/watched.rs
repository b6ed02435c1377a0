//! A `Provisioner` that notes, for every connector call, whether the platform answered: errors
//! are counted by platform and class, and each connector's last success and failure feed
//! `/readyz`. It changes nothing about the calls themselves.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Catalog;
use crate::domain::{ConnectorId, Unit};
use crate::platform::{
    Applied, ExternalError, Holding, PlatformIdentity, Provisioner, Readiness, Target, Undo,
};
use crate::store::requests::Request;

use super::{ErrorClass, Metrics};

pub struct Watched {
    inner: Arc<dyn Provisioner>,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    /// Each connector's platform kind (`postgres`, `looker`…), the metrics' `platform` label.
    platforms: BTreeMap<ConnectorId, &'static str>,
}

impl Watched {
    pub fn new(
        inner: Arc<dyn Provisioner>,
        metrics: Arc<Metrics>,
        clock: SharedClock,
        catalog: &Catalog,
    ) -> Self {
        let platforms = catalog
            .connectors
            .iter()
            .map(|(id, c)| (id.clone(), c.kind.name()))
            .collect();
        Watched {
            inner,
            metrics,
            clock,
            platforms,
        }
    }

    fn note<T>(&self, connector: &ConnectorId, result: &Result<T, ExternalError>) {
        let platform = self.platforms.get(connector).copied().unwrap_or("unknown");
        let now = self.clock.now();
        match result {
            Ok(_) => self.metrics.connector_ok(platform, connector.as_str(), now),
            Err(e) => {
                self.metrics
                    .connector_error(platform, connector.as_str(), ErrorClass::of(e), now)
            }
        }
    }

    /// [`Watched::note`] for a question a connector may decline: `Ok(None)` means it cannot
    /// tell (manual) and did not talk to a platform, so there is nothing to note.
    fn note_asked<T>(&self, connector: &ConnectorId, result: &Result<Option<T>, ExternalError>) {
        if !matches!(result, Ok(None)) {
            self.note(connector, result);
        }
    }
}

#[async_trait::async_trait]
impl Provisioner for Watched {
    fn by_hand(&self, connector: &ConnectorId) -> bool {
        self.inner.by_hand(connector)
    }

    fn needs_identity(&self, connector: &ConnectorId) -> bool {
        self.inner.needs_identity(connector)
    }

    fn identity_for(&self, request: &Request) -> Option<String> {
        self.inner.identity_for(request)
    }

    async fn grant(&self, target: Target<'_>) -> Result<Applied, ExternalError> {
        let result = self.inner.grant(target).await;
        self.note(target.connector, &result);
        result
    }

    async fn health(&self, connector: &ConnectorId) -> Option<Result<(), String>> {
        let result = self.inner.health(connector).await?;
        // A failed ping's words stay with the caller; here it counts as a retryable error.
        let noted = result
            .as_ref()
            .map(drop)
            .map_err(|_| ExternalError::Retryable {
                message: String::new(),
                retry_after: None,
            });
        self.note(connector, &noted);
        Some(result)
    }

    async fn list_identities(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<Vec<PlatformIdentity>>, ExternalError> {
        let result = self.inner.list_identities(connector).await;
        self.note_asked(connector, &result);
        result
    }

    async fn revoke(&self, target: Target<'_>, undo: Undo<'_>) -> Result<Applied, ExternalError> {
        let result = self.inner.revoke(target, undo).await;
        self.note(target.connector, &result);
        result
    }

    async fn check(
        &self,
        connector: &ConnectorId,
        identity: &str,
        unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        let result = self.inner.check(connector, identity, unit).await;
        self.note_asked(connector, &result);
        result
    }

    async fn readiness(
        &self,
        connector: &ConnectorId,
        unit: &Unit,
    ) -> Option<Result<Readiness, ExternalError>> {
        let result = self.inner.readiness(connector, unit).await?;
        self.note(connector, &result);
        Some(result)
    }

    async fn check_for_question(
        &self,
        connector: &ConnectorId,
        identity: &str,
        unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        let result = self
            .inner
            .check_for_question(connector, identity, unit)
            .await;
        self.note_asked(connector, &result);
        result
    }
}
