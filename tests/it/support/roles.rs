//! Connector calls in a test's words: a role or group granted, revoked or checked by name,
//! through the same check → change → re-check that Gatehouse runs.

use gatehouse::connectors::{self, Connector, ConnectorError};
use gatehouse::domain::Unit;

/// What a grant or revoke says it did, or why it could not.
pub type Said = Result<String, ConnectorError>;

fn role(name: &str) -> Unit {
    Unit::Role {
        role: name.to_owned(),
    }
}

#[async_trait::async_trait]
pub trait RoleOps {
    async fn grant_role(&self, who: &str, role: &str) -> Said;
    async fn revoke_role(&self, who: &str, role: &str) -> Said;
    /// Does `who` hold `role` directly, as the platform reports it?
    async fn holds(&self, who: &str, role: &str) -> Result<bool, ConnectorError>;
}

#[async_trait::async_trait]
impl<C: Connector> RoleOps for C {
    async fn grant_role(&self, who: &str, name: &str) -> Said {
        connectors::grant(self, who, &role(name)).await
    }
    async fn revoke_role(&self, who: &str, name: &str) -> Said {
        connectors::revoke(self, who, &role(name)).await
    }
    async fn holds(&self, who: &str, name: &str) -> Result<bool, ConnectorError> {
        Ok(self.check(who, &role(name)).await?.direct)
    }
}

/// The group unit named `name`.
pub fn group(name: &str) -> Unit {
    Unit::Group {
        group: name.to_owned(),
    }
}

/// Grants the group `name` to `who` through Gatehouse's check → change → re-check.
pub async fn grant_group(c: &dyn Connector, who: &str, name: &str) -> Said {
    connectors::grant(c, who, &group(name)).await
}

/// Revokes the group `name` from `who` through Gatehouse's check → change → re-check.
pub async fn revoke_group(c: &dyn Connector, who: &str, name: &str) -> Said {
    connectors::revoke(c, who, &group(name)).await
}
