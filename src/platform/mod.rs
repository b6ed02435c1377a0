//! The connector contract: what `workflow` asks of platforms (`Provisioner`) and the types
//! both sides speak (a change `Applied`, a `Holding`, `Readiness`, a platform's identities, and
//! the classes of failure), with the HTTP client the REST connectors and on-call services
//! share. It sits below `workflow`, `connectors`, `oncall` and `ops`, and knows none of them.

pub mod http;

use std::time::Duration;

use serde::Serialize;

use crate::domain::{ConnectorId, Unit};
use crate::store::requests::Request;

/// What a platform change did, in words for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The platform identity (user or role) the change applies to.
    pub identity: String,
    /// The statement or API call made, or "already held" / "already absent".
    pub action: String,
    /// For platforms that grant a unit as several privileges: which ones this grant added (the
    /// connector's own JSON), kept with the grant so its revocation removes only those.
    pub receipt: Option<String>,
}

/// One grant, in the connector's terms: what a grant changes and what its revocation undoes.
/// Revocation builds it from the grant record, never from today's catalog.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub connector: &'a ConnectorId,
    pub identity: &'a str,
    pub unit: &'a Unit,
}

/// What a revocation should leave alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Undo<'a> {
    /// The grant's receipt, if its connector kept one.
    pub receipt: Option<&'a str>,
    /// Units the same identity holds on the same connector through other live grants.
    pub keep: &'a [Unit],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalError {
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Permanent(String),
}

/// Whether an identity holds a unit of access now, and how.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Holding {
    /// Granted to the identity itself: what a grant adds and a revocation removes.
    pub direct: bool,
    /// Other ways the identity has it (a parent role, a group), in the platform's words. Access
    /// held only this way is not Gatehouse's to take away.
    pub through: Vec<String>,
}

impl Holding {
    pub fn held(&self) -> bool {
        self.direct || !self.through.is_empty()
    }
}

/// Whether a connector can grant and revoke a unit, as its platform says before anyone asks
/// (`gatehouse check-config --platforms`, `serve` at start, App Home).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The unit exists and the account Gatehouse uses may grant and revoke it: what was seen
    /// (e.g. "role exists; ADMIN OPTION on it").
    Ready(String),
    /// What is missing, and the statement or setting that fixes it.
    Missing { what: String, fix: String },
}

/// A user, role or group as a platform lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformIdentity {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub email: Option<String>,
}

/// Grants and revokes access on platforms. Both are idempotent and verify the result.
#[async_trait::async_trait]
pub trait Provisioner: Send + Sync + 'static {
    /// True when a person makes this connector's changes by hand (the `manual` connector):
    /// Gatehouse then asks an admin in the request's thread and waits for their confirmation.
    fn by_hand(&self, _connector: &ConnectorId) -> bool {
        false
    }

    /// True when a grant needs a reviewer to settle the platform identity (user or role) first;
    /// false when the connector can work it out from the requester.
    fn needs_identity(&self, _connector: &ConnectorId) -> bool {
        false
    }

    /// The platform identity a request's grant changes: the one settled for it. None when
    /// nothing is settled (a grant then cannot start).
    fn identity_for(&self, request: &Request) -> Option<String> {
        request.identity.clone()
    }

    /// Gives the target its unit: check, change, check again.
    async fn grant(&self, target: Target<'_>) -> Result<Applied, ExternalError>;

    /// Takes the unit away from the target, leaving what `undo` says: check, change, check again.
    /// An identity the platform no longer has counts as access already gone.
    async fn revoke(&self, target: Target<'_>, undo: Undo<'_>) -> Result<Applied, ExternalError>;

    /// Can the connector reach its platform right now? None for connectors with nothing to reach.
    async fn health(&self, _connector: &ConnectorId) -> Option<Result<(), String>> {
        None
    }

    /// Everyone the connector's platform knows, or None for connectors that cannot list (manual).
    async fn list_identities(
        &self,
        _connector: &ConnectorId,
    ) -> Result<Option<Vec<PlatformIdentity>>, ExternalError> {
        Ok(None)
    }

    /// Does `identity` hold `unit` on the connector's platform now, and how? None when the
    /// connector cannot tell (manual).
    async fn check(
        &self,
        _connector: &ConnectorId,
        _identity: &str,
        _unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        Ok(None)
    }

    /// Before anyone asks: does the unit exist on the connector's platform, and may Gatehouse's
    /// account grant and revoke it? Changes nothing. None for connectors done by hand.
    async fn readiness(
        &self,
        _connector: &ConnectorId,
        _unit: &Unit,
    ) -> Option<Result<Readiness, ExternalError>> {
        None
    }

    /// `check` asked for a question ("does X have access", "who has X"): the same answer, but
    /// spending a budget of platform calls kept for questions, so that a burst of questions
    /// never delays a grant or a revocation. Provisioners without budgets just check.
    async fn check_for_question(
        &self,
        connector: &ConnectorId,
        identity: &str,
        unit: &Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        self.check(connector, identity, unit).await
    }
}

/// A connector's failure, classed by whether trying again can help. Messages are the platform's
/// own words (for the audit log and reviewers), never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Timeouts, 5xx, lock conflicts: the same call may succeed later.
    #[error("{0}")]
    Retryable(String),
    /// The platform asked us to slow down (HTTP 429), saying when to come back if it did.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Unknown role, missing privilege, bad name: trying again cannot help.
    #[error("{0}")]
    Permanent(String),
}

impl From<ConnectorError> for ExternalError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Retryable(message) => ExternalError::Retryable {
                message,
                retry_after: None,
            },
            ConnectorError::Throttled {
                message,
                retry_after,
            } => ExternalError::Retryable {
                message,
                retry_after,
            },
            ConnectorError::Permanent(m) => ExternalError::Permanent(m),
        }
    }
}
