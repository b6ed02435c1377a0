//! The `Registry`: every connector of the catalog, built with its secrets, each behind its
//! budgets, picked by the id a resource names; it serves `workflow` as its `Provisioner`.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use super::limited::{Budgets, Limited};
use super::{
    Connector, Holding, PlatformIdentity, Readiness, Undo, bigquery, databricks, grant_recorded,
    looker, mysql, postgres, powerbi, redshift, revoke_leaving, sigma, snowflake, tableau,
};
use crate::config::{Catalog, ConnectorKind};
use crate::domain::{ConnectorId, Unit};
use crate::platform::{Applied, ExternalError, Provisioner, Target};

/// Builds the connector a catalog entry describes; None for `manual`, which has no platform.
fn build(
    kind: &ConnectorKind,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Box<dyn Connector>>, String> {
    Ok(Some(match kind {
        ConnectorKind::Manual => return Ok(None),
        ConnectorKind::Postgres { url } => {
            let url = url.resolve(lookup)?;
            Box::new(postgres::Postgres::new(url.expose()).map_err(|e| e.to_string())?)
        }
        ConnectorKind::Mysql { url } => {
            let url = url.resolve(lookup)?;
            Box::new(mysql::MySql::new(url.expose()).map_err(|e| e.to_string())?)
        }
        ConnectorKind::Redshift { url } => {
            let url = url.resolve(lookup)?;
            Box::new(redshift::Redshift::new(url.expose()).map_err(|e| e.to_string())?)
        }
        ConnectorKind::Snowflake(settings) => {
            let key = settings.private_key.resolve(lookup)?;
            Box::new(snowflake::Snowflake::new(settings, key.expose())?)
        }
        ConnectorKind::Tableau(settings) => {
            let secret = settings.token_secret.resolve(lookup)?;
            Box::new(tableau::Tableau::new(settings, secret.expose())?)
        }
        ConnectorKind::Looker(settings) => {
            let secret = settings.client_secret.resolve(lookup)?;
            Box::new(looker::Looker::new(settings, secret)?)
        }
        ConnectorKind::Sigma(settings) => {
            let secret = settings.client_secret.resolve(lookup)?;
            Box::new(sigma::Sigma::new(settings, secret)?)
        }
        ConnectorKind::Databricks(settings) => {
            databricks::check_auth(settings)?;
            let token = settings.token.as_ref().map(|t| t.resolve(lookup));
            let secret = settings.client_secret.as_ref().map(|s| s.resolve(lookup));
            Box::new(databricks::Databricks::new(
                settings,
                token.transpose()?,
                secret.transpose()?,
            )?)
        }
        ConnectorKind::Powerbi(settings) => {
            let secret = settings.client_secret.resolve(lookup)?;
            Box::new(powerbi::PowerBi::new(settings, secret)?)
        }
        ConnectorKind::Bigquery(settings) => {
            let key = settings.key.resolve(lookup)?;
            Box::new(bigquery::Bigquery::new(settings, key)?)
        }
    }))
}

/// A platform connector as built, with its catalog `rate_per_second`.
type Platform = (Arc<dyn Connector>, NonZeroU32);

/// Every connector of the catalog, by id; `None` for manual ones.
pub struct Registry {
    connectors: BTreeMap<ConnectorId, Option<Arc<dyn Connector>>>,
    /// The same platforms behind the questions' budget (connectors built from the catalog only).
    for_questions: BTreeMap<ConnectorId, Arc<dyn Connector>>,
    budgets: BTreeMap<ConnectorId, Budgets>,
}

impl Registry {
    /// Builds every connector, resolving its secrets now so that a missing one stops the start.
    pub fn new(catalog: &Catalog, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut built = BTreeMap::new();
        for (id, c) in &catalog.connectors {
            let platform = build(&c.kind, lookup).map_err(|e| format!("connector `{id}`: {e}"))?;
            built.insert(
                id.clone(),
                platform.map(|p| (Arc::from(p), c.rate_per_second)),
            );
        }
        Ok(Registry::limited(built))
    }

    /// Each platform connector behind its two budgets (see `Budgets`).
    fn limited(built: BTreeMap<ConnectorId, Option<Platform>>) -> Registry {
        let mut registry = Registry::from_connectors(BTreeMap::new());
        for (id, platform) in built {
            let Some((inner, rate)) = platform else {
                registry.connectors.insert(id, None);
                continue;
            };
            let budgets = Budgets::new(rate);
            let operations = Limited {
                inner: inner.clone(),
                limiter: budgets.operations.clone(),
            };
            let questions = Limited {
                inner,
                limiter: budgets.questions.clone(),
            };
            registry
                .connectors
                .insert(id.clone(), Some(Arc::new(operations)));
            registry
                .for_questions
                .insert(id.clone(), Arc::new(questions));
            registry.budgets.insert(id, budgets);
        }
        registry
    }

    /// A registry over connectors built elsewhere (tests, and platforms wired by hand), called
    /// as they are: questions share whatever limits they have.
    pub fn from_connectors(connectors: BTreeMap<ConnectorId, Option<Arc<dyn Connector>>>) -> Self {
        Registry {
            connectors,
            for_questions: BTreeMap::new(),
            budgets: BTreeMap::new(),
        }
    }

    /// The platform connector with this id; None when it is manual or unknown.
    pub fn connector(&self, id: &ConnectorId) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(id)?.as_ref()
    }

    fn platform(&self, id: &ConnectorId) -> Result<&Arc<dyn Connector>, ExternalError> {
        match self.connectors.get(id) {
            Some(Some(c)) => Ok(c),
            Some(None) => Err(ExternalError::Permanent(
                "the manual connector is done by hand, never called".into(),
            )),
            None => Err(ExternalError::Permanent(format!(
                "connector `{id}` is not in the catalog any more; put it back until its grants end"
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Provisioner for Registry {
    fn by_hand(&self, connector: &ConnectorId) -> bool {
        matches!(self.connectors.get(connector), Some(None))
    }

    fn needs_identity(&self, connector: &ConnectorId) -> bool {
        matches!(self.connectors.get(connector), Some(Some(_)))
    }

    async fn grant(&self, target: Target<'_>) -> Result<Applied, ExternalError> {
        let connector = self.platform(target.connector)?.as_ref();
        let added = grant_recorded(connector, target.identity, target.unit).await?;
        Ok(Applied {
            identity: target.identity.to_owned(),
            action: added.did,
            receipt: added.receipt,
        })
    }

    async fn check(
        &self,
        connector: &ConnectorId,
        identity: &str,
        unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        match self.connector(connector) {
            Some(c) => Ok(Some(c.check(identity, unit).await?)),
            None => Ok(None),
        }
    }

    async fn check_for_question(
        &self,
        connector: &ConnectorId,
        identity: &str,
        unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        match self.for_questions.get(connector) {
            Some(c) => Ok(Some(c.check(identity, unit).await?)),
            None => self.check(connector, identity, unit).await,
        }
    }

    async fn readiness(
        &self,
        connector: &ConnectorId,
        unit: &Unit,
    ) -> Option<Result<Readiness, ExternalError>> {
        match self.connectors.get(connector) {
            Some(None) => None,
            Some(Some(c)) => Some(c.readiness(unit).await.map_err(ExternalError::from)),
            None => Some(Err(ExternalError::Permanent(format!(
                "connector `{connector}` is not in the catalog"
            )))),
        }
    }

    async fn health(&self, connector: &ConnectorId) -> Option<Result<(), String>> {
        let c = self.connector(connector)?;
        Some(c.ping().await.map_err(|e| e.to_string()))
    }

    async fn list_identities(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<Vec<PlatformIdentity>>, ExternalError> {
        match self.connector(connector) {
            None => Ok(None),
            Some(c) => Ok(Some(c.list_identities().await?)),
        }
    }

    async fn revoke(&self, target: Target<'_>, undo: Undo<'_>) -> Result<Applied, ExternalError> {
        let connector = self.platform(target.connector)?.as_ref();
        Ok(Applied {
            identity: target.identity.to_owned(),
            action: revoke_leaving(connector, target.identity, target.unit, undo).await?,
            receipt: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::tests::{Memberships, analysts};

    #[tokio::test]
    async fn questions_spend_their_own_budget_and_never_the_one_revocations_use() {
        let id = ConnectorId::parse("warehouse").unwrap();
        let platform = Arc::new(Memberships::default());
        let registry = Registry::limited(BTreeMap::from([(
            id.clone(),
            Some((
                platform.clone() as Arc<dyn Connector>,
                NonZeroU32::new(2).unwrap(),
            )),
        )]));
        let budgets = &registry.budgets[&id];
        // A burst of "who has" live checks: the questions' budget (1 a second) is spent...
        let asked = registry
            .check_for_question(&id, "alice", &analysts())
            .await
            .unwrap();
        assert_eq!(asked.map(|h| h.held()), Some(false));
        assert!(
            budgets.questions.check().is_err(),
            "the next question waits"
        );
        // ...and every permit of grants and revocations is still there.
        assert!(matches!(
            budgets.operations.check_n(NonZeroU32::new(2).unwrap()),
            Ok(Ok(()))
        ));
    }
}
