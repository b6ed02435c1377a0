//! Connectors: the code that changes access on platforms. Each connector kind of the catalog
//! maps to an implementation here; `Registry` picks the one a resource names. Connectors know
//! nothing of Slack or of our database.

use std::collections::BTreeMap;

use crate::config::{Catalog, ConnectorKind, Resource};
use crate::domain::ConnectorId;
use crate::store::requests::Request;
use crate::workflow::{Applied, ExternalError, Provisioner};

/// Every connector of the catalog, by id.
pub struct Registry {
    kinds: BTreeMap<ConnectorId, ConnectorKind>,
}

impl Registry {
    pub fn new(catalog: &Catalog) -> Self {
        Registry {
            kinds: catalog
                .connectors
                .iter()
                .map(|(id, c)| (id.clone(), c.kind.clone()))
                .collect(),
        }
    }

    fn kind_of(&self, resource: &Resource) -> Result<&ConnectorKind, ExternalError> {
        self.kinds.get(&resource.connector).ok_or_else(|| {
            ExternalError::Permanent(format!(
                "connector `{}` is not in the catalog any more",
                resource.connector
            ))
        })
    }
}

#[async_trait::async_trait]
impl Provisioner for Registry {
    fn by_hand(&self, resource: &Resource) -> bool {
        matches!(self.kind_of(resource), Ok(ConnectorKind::Manual))
    }

    async fn grant(
        &self,
        _request: &Request,
        resource: &Resource,
    ) -> Result<Applied, ExternalError> {
        match self.kind_of(resource)? {
            ConnectorKind::Manual => Err(ExternalError::Permanent(
                "the manual connector is done by hand, never called".into(),
            )),
        }
    }

    async fn revoke(
        &self,
        _request: &Request,
        resource: &Resource,
    ) -> Result<Applied, ExternalError> {
        match self.kind_of(resource)? {
            ConnectorKind::Manual => Err(ExternalError::Permanent(
                "the manual connector is done by hand, never called".into(),
            )),
        }
    }
}
