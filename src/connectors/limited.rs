//! A connector behind a rate limit (`Limited`), and each connector's two budgets of platform
//! calls (`Budgets`): one for operations, one for questions.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::{Added, Connector, ConnectorError, Holding, PlatformIdentity, Readiness, Undo};
use crate::domain::Unit;

/// A connector behind a rate limit: every call to the platform waits for a permit.
pub(super) struct Limited {
    pub(super) inner: Arc<dyn Connector>,
    pub(super) limiter: Arc<DefaultDirectRateLimiter>,
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
        undo: Undo<'_>,
    ) -> Result<String, ConnectorError> {
        self.limiter.until_ready().await;
        self.inner.remove_recorded(identity, unit, undo).await
    }
}

/// A connector's two budgets of platform calls: one for grants, revocations and everything
/// else Gatehouse must do, one for answering questions, so that questions never delay the rest.
pub(super) struct Budgets {
    pub(super) operations: Arc<DefaultDirectRateLimiter>,
    pub(super) questions: Arc<DefaultDirectRateLimiter>,
}

impl Budgets {
    /// `rate_per_second` for operations; half of it (at least one a second) for questions,
    /// so that both together stay within one and a half times what the catalog allows.
    pub(super) fn new(rate_per_second: NonZeroU32) -> Budgets {
        let half = NonZeroU32::new(rate_per_second.get() / 2).unwrap_or(NonZeroU32::MIN);
        Budgets {
            operations: Arc::new(RateLimiter::direct(Quota::per_second(rate_per_second))),
            questions: Arc::new(RateLimiter::direct(Quota::per_second(half))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::connectors::tests::Memberships;

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
}
