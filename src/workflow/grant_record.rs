//! The grant record's use cases: writing it before the platform is changed (with whether the
//! identity already held the unit), and undoing a grant as it records, whatever the catalog
//! became: at its end, when it failed, or when two grants of the same unit end together.

use serde_json::json;

use super::{Applied, ExternalError, Target, Undo, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::config::Resource;
use crate::store;
use crate::store::grants::{Grant, NewGrant};
use crate::store::links::Link;
use crate::store::requests::Request;

/// What revoking a grant did when the identity held the unit before Gatehouse granted it.
pub const LEFT_AS_IT_WAS: &str = "left as it was: held before Gatehouse granted it";

/// What an audit row says of a grant the platform acted on.
pub(super) fn applied_details(grant: &Grant, applied: &Applied) -> serde_json::Value {
    json!({
        "connector": grant.connector_id,
        "identity": grant.identity,
        "unit": grant.spec,
        "applied": applied.action,
    })
}

/// Whether a revocation's answer says it changed the platform.
fn changed_platform(action: &str) -> bool {
    action != "already absent" && !action.starts_with("kept") && action != LEFT_AS_IT_WAS
}

impl Workflow {
    /// The grant record a provisioning works on: the one an earlier attempt wrote, or a new one,
    /// returned with the request as it now is (`provisioning`, with the identity `linked` gave).
    /// Before the first change the platform is asked whether the identity already holds the
    /// unit, and the answer is committed before anything is granted: a later attempt that finds
    /// the unit held (an earlier attempt's change whose answer was lost) must not take it for
    /// access the person had before.
    pub(super) async fn grant_intent(
        &self,
        current: &Request,
        resource: &Resource,
        linked: Option<&Link>,
    ) -> Result<(Request, Grant), WorkflowError> {
        let identity = match linked {
            Some(link) => Some(link.platform_id.clone()),
            None => self.provisioner.identity_for(current),
        };
        let live = store::grants::live_for_request(self.db.reads(), current.id.get()).await?;
        if let Some(g) = live {
            if identity.is_none() || identity.as_deref() == Some(g.identity.as_str()) {
                if current.status != crate::domain::Status::Approved {
                    return Ok((current.clone(), g));
                }
                let tx = self.db.begin().await?;
                let current = self.start_provisioning(&tx, current, linked).await?;
                self.commit(tx, false).await?;
                return Ok((current, g));
            }
            // Retried with another identity: the earlier one's grant may have been made.
            self.compensate(current, &g).await?;
        }
        let by_hand = self.provisioner.by_hand(&resource.connector);
        let identity = match identity {
            Some(i) => i,
            // Done by hand: the admin knows whom to grant; the record names the requester.
            None if by_hand => current.requester.to_string(),
            None => {
                return Err(ExternalError::Permanent(
                    "no platform user was chosen for this request".into(),
                )
                .into());
            }
        };
        let held_now = self
            .provisioner
            .check(&resource.connector, &identity, &resource.grant)
            .await?
            .is_some_and(|h| h.direct);
        // Read after the check: a grant of Gatehouse's that gives the same unit (another
        // resource with the same role, a catalog edited meanwhile) writes its record before it
        // changes the platform, so whatever the check saw of it is here too. Access Gatehouse
        // gave is not access held before; the last of such grants to end takes it away.
        let sharing: Vec<Grant> = store::grants::live_for_identity(
            self.db.reads(),
            resource.connector.as_str(),
            &identity,
            current.id.get(),
        )
        .await?
        .into_iter()
        .filter(|g| g.unit().is_ok_and(|u| u == resource.grant))
        .collect();
        let held_before = if sharing.is_empty() {
            held_now
        } else {
            sharing.iter().any(|g| g.held_before)
        };
        self.write_record(current, resource, &identity, held_before, linked)
            .await
    }

    /// Writes the request's grant record, before the platform is changed, with an approved
    /// request's move to `provisioning`. A request has one live record: when another worker
    /// wrote it first (its check came first, and so did any change it made), that record is
    /// used, and its answer about earlier access stands.
    async fn write_record(
        &self,
        current: &Request,
        resource: &Resource,
        identity: &str,
        held_before: bool,
        linked: Option<&Link>,
    ) -> Result<(Request, Grant), WorkflowError> {
        let tx = self.db.begin().await?;
        let updated = self.start_provisioning(&tx, current, linked).await?;
        let inserted = store::grants::insert(
            &tx,
            NewGrant {
                request_id: current.id.get(),
                connector_id: resource.connector.as_str(),
                identity,
                unit: &resource.grant,
                held_before,
            },
            self.clock.now(),
        )
        .await;
        match inserted {
            Ok(grant) => {
                self.commit(tx, false).await?;
                Ok((updated, grant))
            }
            // The request was provisioning already (a move to it would have lost the race to
            // the worker that wrote the record): that worker's record stands.
            Err(e) if e.is_unique_violation() && updated.version == current.version => {
                drop(tx);
                let grant = store::grants::live_for_request(self.db.reads(), current.id.get())
                    .await?
                    .ok_or(WorkflowError::Conflict(current.id))?;
                Ok((current.clone(), grant))
            }
            Err(e) if e.is_unique_violation() => Err(WorkflowError::Conflict(current.id)),
            Err(e) => Err(e.into()),
        }
    }

    /// The grant record of a request, written now from the catalog when an older version of
    /// Gatehouse left none (a grant made by hand before records were kept).
    pub(super) async fn record_of(&self, current: &Request) -> Result<Grant, WorkflowError> {
        if let Some(g) = store::grants::live_for_request(self.db.reads(), current.id.get()).await? {
            return Ok(g);
        }
        let resource = self.resource_of(current)?;
        let identity = current
            .identity
            .clone()
            .unwrap_or_else(|| current.requester.to_string());
        let (_, grant) = self
            .write_record(current, resource, &identity, false, None)
            .await?;
        Ok(grant)
    }

    /// Two grants that give the same unit can end at the same moment, in two workers, each
    /// keeping the unit for the other. Once this one's record is closed, look again: the last
    /// to close finds no other keeper and takes the unit away. Should this fail, reconciliation
    /// finds the access still there after its end and removes it.
    pub(super) async fn last_to_leave(&self, current: &Request, grant: &Grant) {
        let applied = match self.undo(grant).await {
            Ok(a) if a.action.starts_with("kept") => return,
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(request = %current.id, error = %e, "cannot remove access no other grant keeps; reconciliation will");
                return;
            }
        };
        let recorded = async {
            let tx = self.db.begin().await?;
            audit::record(
                &tx,
                self.clock.now(),
                Entry::new(
                    &Actor::System,
                    "kept_access_removed",
                    applied_details(grant, &applied),
                )
                .about(current.id),
            )
            .await?;
            self.commit(tx, false).await
        };
        if let Err(e) = recorded.await {
            tracing::warn!(request = %current.id, error = %e, "cannot audit the removal of access no other grant keeps");
        }
    }

    /// Takes away what `grant` gave, as its record says: nothing when the identity held the unit
    /// before Gatehouse granted it, and nothing another live grant of the same identity still
    /// gives (two resources may share a role, or two tables a catalog).
    pub(super) async fn undo(&self, grant: &Grant) -> Result<Applied, WorkflowError> {
        if grant.held_before {
            return Ok(Applied {
                identity: grant.identity.clone(),
                action: LEFT_AS_IT_WAS.into(),
                receipt: None,
            });
        }
        let connector = grant.connector()?;
        let unit = grant.unit()?;
        let keep = store::grants::live_for_identity(
            self.db.reads(),
            &grant.connector_id,
            &grant.identity,
            grant.request_id,
        )
        .await?
        .iter()
        .map(Grant::unit)
        .collect::<Result<Vec<_>, _>>()?;
        let target = Target {
            connector: &connector,
            identity: &grant.identity,
            unit: &unit,
        };
        let undo = Undo {
            receipt: grant.receipt.as_deref(),
            keep: &keep,
        };
        Ok(self.provisioner.revoke(target, undo).await?)
    }

    /// A grant that will not be used (its request failed, or is retried for someone else) may
    /// have been made on the platform before its answer was lost: take it away, as recorded,
    /// and close its record. The request's status does not change.
    pub(super) async fn compensate(
        &self,
        current: &Request,
        grant: &Grant,
    ) -> Result<(), WorkflowError> {
        let connector = grant.connector()?;
        let applied = if self.provisioner.by_hand(&connector) {
            // Nothing is granted by hand until an admin confirms it, and this one was not.
            Applied {
                identity: grant.identity.clone(),
                action: "nothing was granted by hand".into(),
                receipt: None,
            }
        } else {
            self.undo(grant).await?
        };
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        let mut details = applied_details(grant, &applied);
        details["status"] = current.status.as_str().into();
        // Audited when the platform was changed; a check that found nothing to undo is not a step.
        if store::grants::mark_revoked(&tx, grant.id, &applied.action, now).await?
            && changed_platform(&applied.action)
        {
            audit::record(
                &tx,
                now,
                Entry::new(&Actor::System, "grant_undone", details).about(current.id),
            )
            .await?;
        }
        self.commit(tx, false).await?;
        tracing::info!(request = %current.id, identity = %grant.identity, applied = %applied.action, "unused grant undone");
        Ok(())
    }
}
