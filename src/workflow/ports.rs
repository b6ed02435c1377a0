//! What `workflow` needs from the outside world, as traits: group membership (Slack) and
//! changing access on platforms (connectors). Implementations live at the edges.

use std::time::Duration;

use crate::config::Resource;
use crate::domain::{GroupId, SlackUserId};
use crate::store::requests::Request;

/// Which Slack user groups someone belongs to.
#[async_trait::async_trait]
pub trait Directory: Send + Sync + 'static {
    async fn groups_of(&self, user: &SlackUserId) -> Result<Vec<GroupId>, String>;
}

/// A directory for setups without Slack user groups.
pub struct NoGroups;

#[async_trait::async_trait]
impl Directory for NoGroups {
    async fn groups_of(&self, _user: &SlackUserId) -> Result<Vec<GroupId>, String> {
        Ok(Vec::new())
    }
}

/// What a platform change did, in words for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The platform identity (user or role) the change applies to.
    pub identity: String,
    /// The statement or API call made, or "already held" / "already absent".
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Permanent(String),
}

/// Grants and revokes access on platforms. Both are idempotent and verify the result.
#[async_trait::async_trait]
pub trait Provisioner: Send + Sync + 'static {
    async fn grant(
        &self,
        request: &Request,
        resource: &Resource,
    ) -> Result<Applied, ProvisionError>;
    async fn revoke(
        &self,
        request: &Request,
        resource: &Resource,
    ) -> Result<Applied, ProvisionError>;
}
