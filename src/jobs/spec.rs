//! What a job is: its kind and payload (`JobSpec`), the request it belongs to, the lane it runs
//! in, the key that keeps it unique while live, and whether it may ever give up.

use serde::{Deserialize, Serialize};

use crate::domain::{Audience, Notice, RequestId};

/// What a job does. Stored as its `kind` and a JSON payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    /// Grant the access of an approved request on its platform.
    Provision { request: RequestId },
    /// Take the access away: due at expiry, or now when someone revokes it.
    Revoke { request: RequestId },
    /// Remind the holder that the access ends soon (due a while before expiry).
    Remind { request: RequestId },
    /// End the request if nobody has reviewed it by then (due `lapse_after` after it was made).
    Lapse { request: RequestId },
    /// Break-glass access must have been reviewed by now, or it is taken away and flagged.
    BreakGlassReview { request: RequestId },
    /// Compare what a connector's platform holds with the live grants; runs again regularly.
    Reconcile {
        connector: crate::domain::ConnectorId,
    },
    /// Store what a connector's platform lists (users, roles, groups); runs again every hour.
    SyncIdentities {
        connector: crate::domain::ConnectorId,
    },
    /// Check a new request against its resource's `auto_approve` rules: approve it, or post
    /// it for the reviewers.
    AutoApproval { request: RequestId },
    /// Tell people about a step of the request.
    Notify {
        request: RequestId,
        notice: Notice,
        audience: Audience,
    },
}

impl JobSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::Provision { .. } => "provision",
            JobSpec::Revoke { .. } => "revoke",
            JobSpec::Notify { .. } => "notify",
            JobSpec::Remind { .. } => "remind",
            JobSpec::Lapse { .. } => "lapse",
            JobSpec::AutoApproval { .. } => "auto_approval",
            JobSpec::BreakGlassReview { .. } => "break_glass_review",
            JobSpec::SyncIdentities { .. } => "sync_identities",
            JobSpec::Reconcile { .. } => "reconcile",
        }
    }

    pub fn request(&self) -> Option<RequestId> {
        match self {
            JobSpec::Provision { request }
            | JobSpec::Revoke { request }
            | JobSpec::Remind { request }
            | JobSpec::Lapse { request }
            | JobSpec::AutoApproval { request }
            | JobSpec::BreakGlassReview { request }
            | JobSpec::Notify { request, .. } => Some(*request),
            JobSpec::SyncIdentities { .. } | JobSpec::Reconcile { .. } => None,
        }
    }

    /// A revocation is never abandoned: access must not silently stay. Past its attempts (or on
    /// an error retrying may not fix, such as a missing privilege an admin can restore) it keeps
    /// running at the longest backoff, and people are told.
    pub fn never_gives_up(&self) -> bool {
        matches!(self, JobSpec::Revoke { .. })
    }

    /// Which of its request's lanes the job runs in: jobs of a lane run in the order queued,
    /// lanes side by side. The requester's DMs, the channel's card and thread (and reviewers'
    /// DMs, which point at it), and everything that acts on the platform or the request's
    /// state: a DM never waits for a card update or a grant, and a grant never waits for either.
    pub fn lane(&self) -> &'static str {
        match self {
            JobSpec::Notify {
                audience: Audience::Requester,
                ..
            } => "requester",
            JobSpec::Notify { .. } => "channel",
            _ => "",
        }
    }

    /// Jobs with a key exist at most once while live: a request has one revocation, moved
    /// when the expiry moves.
    pub(super) fn dedupe_key(&self) -> Option<String> {
        match self {
            JobSpec::Provision { request } => Some(format!("provision:{}", request.get())),
            JobSpec::Revoke { request } => Some(format!("revoke:{}", request.get())),
            JobSpec::Remind { request } => Some(format!("remind:{}", request.get())),
            JobSpec::Lapse { request } => Some(format!("lapse:{}", request.get())),
            JobSpec::AutoApproval { request } => Some(format!("auto_approval:{}", request.get())),
            JobSpec::BreakGlassReview { request } => {
                Some(format!("break_glass_review:{}", request.get()))
            }
            JobSpec::Notify { .. } => None,
            JobSpec::SyncIdentities { connector } => Some(format!("sync:{connector}")),
            JobSpec::Reconcile { connector } => Some(format!("reconcile:{connector}")),
        }
    }
}
