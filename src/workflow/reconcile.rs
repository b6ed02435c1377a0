//! Drift reconciliation: what each platform holds against what Gatehouse granted (the grant
//! records, never today's catalog). Access that
//! ended but is still there is removed again; a live grant missing on its platform is reported
//! to reviewers and admins (and granted again when the resource says so). Every finding is
//! audited; a finding already reported is not reported again.

use chrono::Duration;
use serde_json::json;

use super::{Notice, Target, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::config::OnDrift;
use crate::domain::{ConnectorId, RequestId, Status};
use crate::store;
use crate::store::requests::Request;

/// How far back ended grants are checked: long enough to catch a revocation a platform undid,
/// short enough that the hourly check stays cheap.
pub const ENDED_WINDOW: Duration = Duration::days(7);

/// What one reconciliation found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Live grants checked and found as Gatehouse believes.
    pub in_step: usize,
    /// Live grants missing on the platform (request ids).
    pub missing: Vec<i64>,
    /// Of those, granted again.
    pub regranted: Vec<i64>,
    /// Ended grants found still on the platform and removed (request ids).
    pub revoked: Vec<i64>,
    /// Grants the platform could not be asked about, with its words.
    pub unknown: Vec<(i64, String)>,
}

impl Workflow {
    /// Compares `connector`'s platform with the grants Gatehouse made through it, as their
    /// records say (the identity, the unit, what was held before), whatever the catalog says now.
    pub async fn reconcile(&self, connector: &ConnectorId) -> Result<Drift, WorkflowError> {
        let since = self.clock.now() - ENDED_WINDOW;
        let grants =
            store::grants::on_connector(self.db.reads(), connector.as_str(), since).await?;
        let mut drift = Drift::default();
        for g in grants {
            let Some(r) =
                store::requests::get(self.db.reads(), RequestId::new(g.request_id)).await?
            else {
                continue;
            };
            // In flight: the job that is granting or removing it decides.
            if matches!(
                r.status,
                Status::Pending | Status::Approved | Status::Provisioning | Status::Revoking
            ) {
                continue;
            }
            let expected = r.status == Status::Active && g.is_live();
            // The person's own access from before: never Gatehouse's to take away.
            if !expected && g.held_before {
                continue;
            }
            let unit = g.unit()?;
            let holding = match self.provisioner.check(connector, &g.identity, &unit).await {
                Ok(Some(h)) => h.direct,
                Ok(None) => continue,
                Err(e) => {
                    drift.unknown.push((r.id.get(), e.to_string()));
                    continue;
                }
            };
            match (expected, holding) {
                (true, true) => drift.in_step += 1,
                (true, false) => {
                    drift.missing.push(r.id.get());
                    // Whether to grant again is the resource's rule, while the catalog has it.
                    let regrant = self
                        .catalog
                        .resource(&r.resource)
                        .is_some_and(|res| res.on_drift == OnDrift::Regrant);
                    if regrant {
                        let target = Target {
                            connector,
                            identity: &g.identity,
                            unit: &unit,
                        };
                        match self.provisioner.grant(target).await {
                            Ok(applied) => {
                                drift.regranted.push(r.id.get());
                                let notice = Notice::DriftMissing { regranted: true };
                                self.found(&r, "drift_regranted", &applied.action, notice)
                                    .await?;
                            }
                            Err(e) => {
                                let notice = Notice::DriftMissing { regranted: false };
                                self.found(&r, "drift_missing", &e.to_string(), notice)
                                    .await?;
                            }
                        }
                    } else {
                        let notice = Notice::DriftMissing { regranted: false };
                        self.found(&r, "drift_missing", "", notice).await?;
                    }
                }
                (false, true) => match self.undo(&g).await {
                    Ok(applied) if applied.action.starts_with("kept") => {}
                    Ok(applied) => {
                        drift.revoked.push(r.id.get());
                        if g.is_live() {
                            // A failed grant whose undoing had not run yet: it has now.
                            store::grants::mark_revoked(
                                &self.db.writer(store::Priority::Background).await,
                                g.id,
                                &applied.action,
                                self.clock.now(),
                            )
                            .await?;
                        }
                        self.found(&r, "drift_revoked", &applied.action, Notice::DriftRevoked)
                            .await?;
                    }
                    Err(e) => drift.unknown.push((r.id.get(), e.to_string())),
                },
                (false, false) => {}
            }
        }
        if drift.missing.len() + drift.revoked.len() > 0 {
            tracing::warn!(%connector, missing = drift.missing.len(), regranted = drift.regranted.len(),
                revoked = drift.revoked.len(), "reconciliation found drift");
        }
        Ok(drift)
    }

    /// Audits a finding and tells people, unless the same finding is the request's latest
    /// already (a grant that stays missing is reported once, not every hour).
    async fn found(
        &self,
        r: &Request,
        action: &str,
        detail: &str,
        notice: Notice,
    ) -> Result<(), WorkflowError> {
        let history = store::audit::for_request(self.db.reads(), r.id.get()).await?;
        let latest_drift = history
            .iter()
            .rev()
            .find(|e| e.action.starts_with("drift_"))
            .map(|e| e.action.as_str());
        if action == "drift_missing" && latest_drift == Some("drift_missing") {
            return Ok(());
        }
        let tx = self.db.begin().await?;
        audit::record(
            &tx,
            self.clock.now(),
            Entry::new(
                &Actor::System,
                action,
                json!({
                    "connector": r.connector,
                    "identity": r.identity,
                    "status": r.status.as_str(),
                    "platform": detail,
                }),
            )
            .about(r.id),
        )
        .await?;
        self.enqueue_notices(&tx, r.id, notice).await?;
        self.commit(tx, true).await
    }

    /// Queues a reconciliation of each platform connector `every` from now, unless one is queued
    /// already for sooner: each start calls this, and a start must not push the next check back
    /// (restarting more often than `every` would otherwise mean drift is never checked).
    pub async fn schedule_reconciliation(
        &self,
        connectors: &[ConnectorId],
        every: std::time::Duration,
    ) -> Result<(), WorkflowError> {
        let at = self.clock.now() + Duration::from_std(every).unwrap_or(Duration::hours(1));
        self.schedule_each(connectors, at, |connector| {
            crate::jobs::JobSpec::Reconcile { connector }
        })
        .await
    }
}
