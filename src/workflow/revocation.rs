//! The revoke path the job worker drives: access expires or was revoked, the grant is undone
//! as its record says (not as the catalog says today), and the request ends; a revocation that
//! keeps failing is told of once, and one that gives up is audited. Every step is safe to run
//! twice.

use serde_json::json;

use super::{Applied, Notice, Step, Workflow, WorkflowError};
use crate::audit::Actor;
use crate::domain::{EndReason, Event, RequestId, Status};
use crate::jobs::{JobError, Outcome};
use crate::store;
use crate::store::grants::Grant;
use crate::store::requests::{Changes, Request};

impl Workflow {
    pub(super) async fn revocation_done(
        &self,
        current: &Request,
        grant: &Grant,
        applied: &Applied,
    ) -> Result<Request, WorkflowError> {
        let why = current.end_reason.unwrap_or(EndReason::Expired);
        let now = self.clock.now();
        let step = Step::new(&Actor::System, Event::RevocationDone(why))
            .changes(Changes {
                ended_at: Some(now),
                ..Changes::default()
            })
            .details(super::grant_record::applied_details(grant, applied));
        let tx = self.db.begin().await?;
        let updated = self.apply(&tx, current, step).await?;
        store::grants::mark_revoked(&tx, grant.id, &applied.action, now).await?;
        self.commit(tx, true).await?;
        tracing::info!(request = %current.id, identity = %grant.identity, reason = why.as_str(), "access removed");
        Ok(updated)
    }

    pub(super) async fn run_revoke(&self, id: RequestId) -> Result<Outcome, JobError> {
        let started = std::time::Instant::now();
        let mut current = self.request(id).await?;
        match current.status {
            Status::Active => {
                let now = self.clock.now();
                match current.expires_at {
                    // The expiry moved later since this job was queued.
                    Some(at) if at > now => return Ok(Outcome::RunAgainAt(at)),
                    _ => {}
                }
                let step = Step::new(&Actor::System, Event::Expire)
                    .changes(Changes {
                        end_reason: Some(EndReason::Expired),
                        ..Changes::default()
                    })
                    .details(json!({ "expires_at": current.expires_at }));
                current = self.system_step(&current, step).await?;
            }
            Status::Revoking => {}
            // A grant that gave up may have been made: undo what its record says.
            Status::Failed => {
                if let Some(grant) =
                    store::grants::live_for_request(self.db.reads(), id.get()).await?
                {
                    self.compensate(&current, &grant).await?;
                }
                return Ok(Outcome::Done);
            }
            Status::Pending
            | Status::Approved
            | Status::Provisioning
            | Status::Expired
            | Status::Revoked
            | Status::Denied
            | Status::Cancelled
            | Status::Lapsed => return Ok(Outcome::Done),
        }
        // What was granted, as recorded: not what the catalog says today.
        let grant = self.record_of(&current).await?;
        let connector = grant.connector()?;
        if self.provisioner.by_hand(&connector) && !grant.held_before {
            self.ask_by_hand(&current, Notice::RevokeByHand).await?;
            return Ok(Outcome::Done);
        }
        let applied = self.undo(&grant).await?;
        self.metrics.revoked(
            self.platform_of(&connector),
            connector.as_str(),
            started.elapsed(),
        );
        self.revocation_done(&current, &grant, &applied).await?;
        if applied.action.starts_with("kept") {
            self.last_to_leave(&current, &grant).await;
        }
        Ok(Outcome::Done)
    }

    /// A revocation keeps failing (Gatehouse keeps retrying it): audited, and the channel,
    /// reviewers and admins are told, once per request.
    pub(super) async fn revocation_failing(
        &self,
        id: RequestId,
        error: &str,
    ) -> Result<(), WorkflowError> {
        let told = store::audit::for_request(self.db.reads(), id.get())
            .await?
            .iter()
            .any(|e| e.action == "revocation_failing");
        if told {
            return Ok(());
        }
        let details = json!({ "error": error });
        self.audited(
            id,
            "revocation_failing",
            details,
            Some(Notice::RevocationFailing),
        )
        .await
    }

    /// Revocation gave up: the access may still be there. The request stays `revoking` and the
    /// failed job waits for an admin's retry; the audit log says so.
    pub(super) async fn revocation_gave_up(
        &self,
        id: RequestId,
        error: &str,
    ) -> Result<(), WorkflowError> {
        self.audited(id, "revocation_failed", json!({ "error": error }), None)
            .await
    }
}
