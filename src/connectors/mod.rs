//! Connectors: the code that changes access on platforms. Each platform implements
//! [`Connector`]; [`grant`] and [`revoke`] wrap every platform in the same check → change →
//! re-check, and `Registry` picks the connector a resource names, behind its own rate limit, and
//! serves `workflow` as its `Provisioner`. Connectors know nothing of Slack, requests' lifecycle
//! or our database.

pub mod bigquery;
pub mod databricks;
pub mod looker;
pub mod mysql;
mod mysql_flavour;
pub mod postgres;
pub mod powerbi;
pub mod quoting;
pub mod redshift;
pub mod sigma;
pub mod snowflake;
pub mod tableau;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::{Catalog, ConnectorKind};
use crate::domain::{ConnectorId, Unit};
use crate::platform::{Applied, ExternalError, Provisioner, Target};
pub use crate::platform::{ConnectorError, Holding, PlatformIdentity, Readiness, Undo, http};

impl From<quoting::BadName> for ConnectorError {
    fn from(e: quoting::BadName) -> Self {
        ConnectorError::Permanent(e.to_string())
    }
}

/// One platform. Implementations change exactly one unit for one identity per call and report
/// what they did in the platform's terms (the statement or the API call), for the audit log.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// A round trip to the platform, bounded in time (App Home waits for it).
    async fn ping(&self) -> Result<(), ConnectorError>;

    /// Every user, role and group the platform lists, all pages followed.
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError>;

    /// What could be granted: the roles and groups among the identities.
    async fn list_grantable(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let all = self.list_identities().await?;
        Ok(all.into_iter().filter(|i| i.kind != "user").collect())
    }

    /// Does `identity` hold `unit` now, and through what?
    async fn check(&self, identity: &str, unit: &Unit) -> Result<Holding, ConnectorError>;

    /// Before anyone asks: does the unit exist, and may the account Gatehouse uses grant and
    /// revoke it? Changes nothing on the platform. `Missing` names the statement or setting
    /// that fixes it; an error means the platform could not be asked.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError>;

    /// Makes the change that gives `identity` the unit directly. Called only after a check
    /// found it missing; says what it ran.
    async fn add(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError>;

    /// Makes the change that takes the directly held unit away. Called only after a check
    /// found it held; says what it ran.
    async fn remove(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError>;

    /// `add`, for platforms that grant a unit as several privileges and some may be held
    /// already: also returns a receipt of exactly what was added, which the revocation gets back.
    async fn add_recorded(&self, identity: &str, unit: &Unit) -> Result<Added, ConnectorError> {
        Ok(Added {
            did: self.add(identity, unit).await?,
            receipt: None,
        })
    }

    /// `remove`, given the grant's receipt (None when the grant added nothing or kept no record)
    /// and the units the identity still holds through other grants, whose privileges stay.
    async fn remove_recorded(
        &self,
        identity: &str,
        unit: &Unit,
        _receipt: Option<&str>,
        _keep: &[Unit],
    ) -> Result<String, ConnectorError> {
        self.remove(identity, unit).await
    }
}

/// What a grant changed: words for the audit log, and for platforms that grant a unit as
/// several privileges, a receipt (the connector's own JSON) of which ones it added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub did: String,
    pub receipt: Option<String>,
}

/// Gives `identity` the unit: check, add, check again. Repeating it changes nothing; a platform
/// that answers success without making the change is caught by the second check.
pub async fn grant(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
) -> Result<String, ConnectorError> {
    Ok(grant_recorded(c, identity, unit).await?.did)
}

/// [`grant`], keeping the connector's receipt of what it added.
pub async fn grant_recorded(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
) -> Result<Added, ConnectorError> {
    if c.check(identity, unit).await?.direct {
        return Ok(Added {
            did: "already held".into(),
            receipt: None,
        });
    }
    let added = c.add_recorded(identity, unit).await?;
    if !c.check(identity, unit).await?.direct {
        return Err(ConnectorError::Permanent(format!(
            "the platform accepted `{}`, but `{identity}` still does not hold the {unit}",
            added.did
        )));
    }
    Ok(added)
}

/// Takes the unit away from `identity`: check, remove, check again. Access already gone is
/// success, so a revocation can be retried safely.
pub async fn revoke(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
) -> Result<String, ConnectorError> {
    revoke_leaving(c, identity, unit, Undo::default()).await
}

/// [`revoke`] for a recorded grant: removes only what its receipt lists, and nothing that
/// `undo.keep` (other live grants of the same identity) still needs.
pub async fn revoke_leaving(
    c: &dyn Connector,
    identity: &str,
    unit: &Unit,
    undo: Undo<'_>,
) -> Result<String, ConnectorError> {
    if undo.keep.contains(unit) {
        return Ok("kept: another active grant gives the same access".into());
    }
    // With a receipt, the connector removes what is left of it even when the unit is only
    // partly held (someone took one privilege away by hand).
    if undo.receipt.is_none() && !c.check(identity, unit).await?.direct {
        return Ok("already absent".into());
    }
    let did = c
        .remove_recorded(identity, unit, undo.receipt, undo.keep)
        .await?;
    if c.check(identity, unit).await?.direct {
        return Err(ConnectorError::Permanent(format!(
            "the platform accepted `{did}`, but `{identity}` still holds the {unit}"
        )));
    }
    Ok(did)
}

/// How long a health probe may take: App Home waits for it.
const PROBE_LIMIT: Duration = Duration::from_secs(2);

/// Runs a connector's health probe within [`PROBE_LIMIT`]; a probe that takes longer is
/// retryable, and `platform` names who did not answer.
pub(crate) async fn bounded_probe<T>(
    platform: &str,
    probe: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> Result<(), ConnectorError> {
    match tokio::time::timeout(PROBE_LIMIT, probe).await {
        Ok(result) => result.map(drop),
        Err(_) => Err(ConnectorError::Retryable(format!(
            "{platform} gave no answer within {} s",
            PROBE_LIMIT.as_secs()
        ))),
    }
}

/// The role a unit names, for platforms whose unit is role membership.
pub(crate) fn role_in<'u>(unit: &'u Unit, platform: &str) -> Result<&'u str, ConnectorError> {
    match unit {
        Unit::Role { role } => Ok(role),
        other => Err(ConnectorError::Permanent(format!(
            "{platform} grants roles, not a {}; write grant = {{ role = \"…\" }}",
            other.kind().word()
        ))),
    }
}

/// A connector behind a rate limit: every call to the platform waits for a permit.
struct Limited {
    inner: Arc<dyn Connector>,
    limiter: Arc<DefaultDirectRateLimiter>,
}

#[async_trait::async_trait]
impl Connector for Limited {
    async fn ping(&self) -> Result<(), ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.ping().await
    }
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.list_identities().await
    }
    async fn list_grantable(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.list_grantable().await
    }
    async fn check(&self, identity: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.check(identity, unit).await
    }
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.readiness(unit).await
    }
    async fn add(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.add(identity, unit).await
    }
    async fn remove(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.remove(identity, unit).await
    }
    async fn add_recorded(&self, identity: &str, unit: &Unit) -> Result<Added, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.add_recorded(identity, unit).await
    }
    async fn remove_recorded(
        &self,
        identity: &str,
        unit: &Unit,
        receipt: Option<&str>,
        keep: &[Unit],
    ) -> Result<String, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner
            .remove_recorded(identity, unit, receipt, keep)
            .await
    }
}

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

/// A connector's two budgets of platform calls: one for grants, revocations and everything
/// else Gatehouse must do, one for answering questions, so that questions never delay the rest.
struct Budgets {
    operations: Arc<DefaultDirectRateLimiter>,
    questions: Arc<DefaultDirectRateLimiter>,
}

impl Budgets {
    /// `rate_per_second` for operations; half of it (at least one a second) for questions,
    /// so that both together stay within one and a half times what the catalog allows.
    fn new(rate_per_second: NonZeroU32) -> Budgets {
        let half = NonZeroU32::new(rate_per_second.get() / 2).unwrap_or(NonZeroU32::MIN);
        Budgets {
            operations: Arc::new(RateLimiter::direct(Quota::per_second(rate_per_second))),
            questions: Arc::new(RateLimiter::direct(Quota::per_second(half))),
        }
    }
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
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;

    /// A platform holding memberships, which can be told to accept changes without making them.
    #[derive(Default)]
    struct Memberships {
        held: Mutex<BTreeSet<(String, String)>>,
        ignores_changes: bool,
        changes: Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl Connector for Memberships {
        async fn ping(&self) -> Result<(), ConnectorError> {
            Ok(())
        }
        async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn check(&self, who: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
            let key = (who.to_owned(), unit.name().to_owned());
            Ok(Holding {
                direct: self.held.lock().unwrap().contains(&key),
                through: Vec::new(),
            })
        }
        async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
            Ok(Readiness::Ready(format!("{unit} exists")))
        }
        async fn add(&self, who: &str, unit: &Unit) -> Result<String, ConnectorError> {
            *self.changes.lock().unwrap() += 1;
            if !self.ignores_changes {
                let key = (who.to_owned(), unit.name().to_owned());
                self.held.lock().unwrap().insert(key);
            }
            Ok(format!("add {who} to {}", unit.name()))
        }
        async fn remove(&self, who: &str, unit: &Unit) -> Result<String, ConnectorError> {
            *self.changes.lock().unwrap() += 1;
            if !self.ignores_changes {
                let key = (who.to_owned(), unit.name().to_owned());
                self.held.lock().unwrap().remove(&key);
            }
            Ok(format!("remove {who} from {}", unit.name()))
        }
    }

    fn analysts() -> Unit {
        Unit::Role {
            role: "analysts".into(),
        }
    }

    #[tokio::test]
    async fn a_repeated_grant_or_revoke_changes_nothing_more() {
        let p = Memberships::default();
        assert_eq!(
            grant(&p, "alice", &analysts()).await.unwrap(),
            "add alice to analysts"
        );
        assert_eq!(
            grant(&p, "alice", &analysts()).await.unwrap(),
            "already held"
        );
        assert_eq!(
            revoke(&p, "alice", &analysts()).await.unwrap(),
            "remove alice from analysts"
        );
        assert_eq!(
            revoke(&p, "alice", &analysts()).await.unwrap(),
            "already absent"
        );
        assert_eq!(*p.changes.lock().unwrap(), 2);
        assert!(p.held.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_unit_another_live_grant_gives_is_not_taken_away() {
        let p = Memberships::default();
        grant(&p, "alice", &analysts()).await.unwrap();
        let keep = [analysts()];
        let undo = Undo {
            receipt: None,
            keep: &keep,
        };
        let did = revoke_leaving(&p, "alice", &analysts(), undo)
            .await
            .unwrap();
        assert!(did.starts_with("kept"), "{did}");
        assert_eq!(*p.changes.lock().unwrap(), 1);
        assert!(p.check("alice", &analysts()).await.unwrap().direct);
    }

    #[tokio::test]
    async fn a_platform_that_answers_success_without_the_change_is_caught() {
        let p = Memberships {
            ignores_changes: true,
            ..Default::default()
        };
        let err = grant(&p, "alice", &analysts()).await.unwrap_err();
        assert_eq!(
            err,
            ConnectorError::Permanent(
                "the platform accepted `add alice to analysts`, but `alice` still does not hold the role `analysts`".into()
            )
        );
    }

    #[tokio::test]
    async fn each_connector_waits_for_its_own_rate_limit() {
        let limited = Limited {
            inner: Arc::new(Memberships::default()),
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(2).unwrap(),
            ))),
        };
        let started = std::time::Instant::now();
        for _ in 0..4 {
            limited.ping().await.unwrap();
        }
        // A burst of 2 passes at once; the next two wait half a second each.
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
    }

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
