//! Connectors: the code that changes access on platforms. Each connector of the catalog maps
//! to an implementation here; `Registry` picks the one a resource names and serves `workflow`
//! as its `Provisioner`. Connectors know nothing of Slack, requests' lifecycle or our database.

pub mod mysql;
pub mod postgres;
pub mod quoting;

use std::collections::BTreeMap;

use crate::config::{Catalog, ConnectorKind, Resource};
use crate::domain::ConnectorId;
use crate::store::requests::Request;
use crate::workflow::{Applied, ExternalError, Provisioner};

/// A connector's failure, classed by whether trying again can help. Messages are the platform's
/// own words (for the audit log and reviewers), never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

impl From<quoting::BadName> for ConnectorError {
    fn from(e: quoting::BadName) -> Self {
        ConnectorError::Permanent(e.to_string())
    }
}

impl From<ConnectorError> for ExternalError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Retryable(message) => ExternalError::Retryable {
                message,
                retry_after: None,
            },
            ConnectorError::Permanent(m) => ExternalError::Permanent(m),
        }
    }
}

pub use crate::workflow::PlatformIdentity;

enum Backend {
    Manual,
    Postgres(postgres::Postgres),
    MySql(mysql::MySql),
}

/// Every connector of the catalog, by id.
pub struct Registry {
    backends: BTreeMap<ConnectorId, Backend>,
}

impl Registry {
    /// Builds every connector, resolving its secrets now so that a missing one stops the start.
    pub fn new(catalog: &Catalog, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut backends = BTreeMap::new();
        for (id, c) in &catalog.connectors {
            let backend = match &c.kind {
                ConnectorKind::Manual => Backend::Manual,
                ConnectorKind::Postgres { url } => {
                    let url = url
                        .resolve(lookup)
                        .map_err(|e| format!("connector `{id}`: {e}"))?;
                    Backend::Postgres(
                        postgres::Postgres::new(url.expose())
                            .map_err(|e| format!("connector `{id}`: {e}"))?,
                    )
                }
                ConnectorKind::Mysql { url } => {
                    let url = url
                        .resolve(lookup)
                        .map_err(|e| format!("connector `{id}`: {e}"))?;
                    Backend::MySql(
                        mysql::MySql::new(url.expose())
                            .map_err(|e| format!("connector `{id}`: {e}"))?,
                    )
                }
            };
            backends.insert(id.clone(), backend);
        }
        Ok(Registry { backends })
    }

    fn backend(&self, resource: &Resource) -> Result<&Backend, ExternalError> {
        self.backends.get(&resource.connector).ok_or_else(|| {
            ExternalError::Permanent(format!(
                "connector `{}` is not in the catalog any more",
                resource.connector
            ))
        })
    }
}

impl Registry {
    /// Grants (or revokes) the resource's role to the request's identity on its platform.
    async fn change(
        &self,
        request: &Request,
        resource: &Resource,
        grant: bool,
    ) -> Result<Applied, ExternalError> {
        let who = identity_of(request)?;
        let role = role_of(&resource.grant)?;
        let action = match self.backend(resource)? {
            Backend::Manual => {
                return Err(ExternalError::Permanent(
                    "the manual connector is done by hand, never called".into(),
                ));
            }
            Backend::Postgres(pg) if grant => pg.grant(who, role).await?,
            Backend::Postgres(pg) => pg.revoke(who, role).await?,
            Backend::MySql(db) if grant => db.grant(who, role).await?,
            Backend::MySql(db) => db.revoke(who, role).await?,
        };
        Ok(Applied {
            identity: who.to_owned(),
            action,
        })
    }
}

/// The role a resource grants: `grant = { role = "analytics_ro" }`.
pub fn role_of(grant: &serde_json::Value) -> Result<&str, ConnectorError> {
    grant
        .get("role")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            ConnectorError::Permanent(
                "the resource's grant has no `role`; write grant = { role = \"…\" }".into(),
            )
        })
}

/// The platform identity to change: the one a reviewer settled.
fn identity_of(request: &Request) -> Result<&str, ExternalError> {
    request.identity.as_deref().ok_or_else(|| {
        ExternalError::Permanent("no platform user was chosen for this request".into())
    })
}

#[async_trait::async_trait]
impl Provisioner for Registry {
    fn by_hand(&self, resource: &Resource) -> bool {
        matches!(self.backend(resource), Ok(Backend::Manual))
    }

    fn needs_identity(&self, resource: &Resource) -> bool {
        // Until identities are linked to Slack users, a reviewer names the database user.
        matches!(
            self.backend(resource),
            Ok(Backend::Postgres(_) | Backend::MySql(_))
        )
    }

    async fn grant(
        &self,
        request: &Request,
        resource: &Resource,
    ) -> Result<Applied, ExternalError> {
        self.change(request, resource, true).await
    }

    async fn health(&self, connector: &ConnectorId) -> Option<Result<(), String>> {
        let probe = match self.backends.get(connector)? {
            Backend::Manual => return None,
            Backend::Postgres(pg) => pg.ping().await,
            Backend::MySql(db) => db.ping().await,
        };
        Some(probe.map_err(|e| e.to_string()))
    }

    async fn list_identities(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<Vec<PlatformIdentity>>, ExternalError> {
        match self.backends.get(connector) {
            None | Some(Backend::Manual) => Ok(None),
            Some(Backend::Postgres(pg)) => Ok(Some(pg.list_identities().await?)),
            Some(Backend::MySql(db)) => Ok(Some(db.list_identities().await?)),
        }
    }

    async fn revoke(
        &self,
        request: &Request,
        resource: &Resource,
    ) -> Result<Applied, ExternalError> {
        self.change(request, resource, false).await
    }
}
