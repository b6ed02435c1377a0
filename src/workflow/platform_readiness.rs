//! Every catalog grant proven possible before anyone asks: each resource's unit is put to its
//! connector (does it exist, may Gatehouse's account grant and revoke it?), for
//! `gatehouse check-config --platforms`, the warnings `serve` logs at start, and App Home's
//! admin section. Nothing on any platform changes.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Provisioner, Readiness, Workflow};
use crate::config::{Catalog, Resource};
use crate::domain::{ConnectorId, ResourceId, Unit};

/// How long one resource's questions may take before it is reported as unanswered.
pub const READINESS_LIMIT: Duration = Duration::from_secs(15);

/// How many resources are asked at once (each connector keeps its own rate limit too).
const AT_ONCE: usize = 4;

/// What one resource's platform said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ready(String),
    Missing {
        what: String,
        fix: String,
    },
    /// The `manual` connector: a person makes the change, there is nothing to ask.
    ByHand,
    /// The platform could not be asked (unreachable, throttled, refused the login): its words.
    Unanswered(String),
}

/// One resource of the catalog and what its platform said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceReadiness {
    pub resource: ResourceId,
    pub connector: ConnectorId,
    pub unit: Unit,
    pub verdict: Verdict,
}

impl ResourceReadiness {
    /// Proven grantable, or done by hand.
    pub fn ok(&self) -> bool {
        matches!(self.verdict, Verdict::Ready(_) | Verdict::ByHand)
    }
}

impl fmt::Display for ResourceReadiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = format!("`{}`: {} on `{}`", self.resource, self.unit, self.connector);
        match &self.verdict {
            Verdict::Ready(how) => write!(f, "✅ {head}: {how}"),
            Verdict::Missing { what, fix } => write!(f, "❌ {head}: {what}. Fix: {fix}"),
            Verdict::ByHand => write!(f, "✋ {head}: made by hand, nothing to ask"),
            Verdict::Unanswered(why) => {
                write!(f, "⚠️ {head}: the platform could not be asked: {why}")
            }
        }
    }
}

/// Every resource of the catalog, in its order, and when they were asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformReport {
    pub checked_at: DateTime<Utc>,
    pub resources: Vec<ResourceReadiness>,
}

impl PlatformReport {
    /// The resources not proven grantable.
    pub fn problems(&self) -> impl Iterator<Item = &ResourceReadiness> {
        self.resources.iter().filter(|r| !r.ok())
    }

    /// "3 of 4 resources can be granted", for the last line and App Home.
    pub fn summary(&self) -> String {
        let ok = self.resources.iter().filter(|r| r.ok()).count();
        format!(
            "{ok} of {} resource(s) can be granted and revoked",
            self.resources.len()
        )
    }
}

/// Asks every resource's connector, a few at a time, each within [`READINESS_LIMIT`].
pub async fn platform_readiness(
    catalog: &Catalog,
    provisioner: &dyn Provisioner,
    now: DateTime<Utc>,
) -> PlatformReport {
    let at_once = tokio::sync::Semaphore::new(AT_ONCE);
    let resources = futures::future::join_all(catalog.resources.iter().map(|r| async {
        // Never closed, so a permit always comes.
        let _permit = at_once.acquire().await.ok();
        ask(r, provisioner).await
    }))
    .await;
    PlatformReport {
        checked_at: now,
        resources,
    }
}

async fn ask(resource: &Resource, provisioner: &dyn Provisioner) -> ResourceReadiness {
    let asked = tokio::time::timeout(
        READINESS_LIMIT,
        provisioner.readiness(&resource.connector, &resource.grant),
    )
    .await;
    let verdict = match asked {
        Err(_) => Verdict::Unanswered(format!("no answer within {} s", READINESS_LIMIT.as_secs())),
        Ok(None) => Verdict::ByHand,
        Ok(Some(Ok(Readiness::Ready(how)))) => Verdict::Ready(how),
        Ok(Some(Ok(Readiness::Missing { what, fix }))) => Verdict::Missing { what, fix },
        Ok(Some(Err(e))) => Verdict::Unanswered(e.to_string()),
    };
    ResourceReadiness {
        resource: resource.id.clone(),
        connector: resource.connector.clone(),
        unit: resource.grant.clone(),
        verdict,
    }
}

impl Workflow {
    /// Asks every platform now, keeps the report for App Home, and returns it.
    pub async fn check_platforms(&self) -> PlatformReport {
        let report =
            platform_readiness(&self.catalog, self.provisioner.as_ref(), self.clock.now()).await;
        *self.platforms.lock().unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        report
    }

    /// The last report `check_platforms` made in this process, if any.
    pub fn last_platform_report(&self) -> Option<PlatformReport> {
        self.platforms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
