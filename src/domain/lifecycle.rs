//! The request lifecycle: the only place that decides which status may follow which.
//!
//! ```text
//! pending ──approve──▶ approved ──▶ provisioning ──▶ active ──expire/revoke──▶ revoking ──▶ expired | revoked
//!                                                                       (an admin's close ──▶ revoked)
//!    │                    │              │
//!    ├──deny──▶ denied    └─cancel─┐     └──(retries exhausted)──▶ failed ──retry──▶ provisioning
//!    ├──cancel──▶ cancelled ◀──────┘  (approved is not yet granted: a later start, say)
//!    │◀──reopen── approved  (another identity chosen: approvals start again)
//!    └──(no review in time)──▶ lapsed
//! ```

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Pending,
    Approved,
    Provisioning,
    Active,
    Revoking,
    Expired,
    Revoked,
    Denied,
    Cancelled,
    Lapsed,
    Failed,
}

impl Status {
    pub const ALL: [Status; 11] = [
        Status::Pending,
        Status::Approved,
        Status::Provisioning,
        Status::Active,
        Status::Revoking,
        Status::Expired,
        Status::Revoked,
        Status::Denied,
        Status::Cancelled,
        Status::Lapsed,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Provisioning => "provisioning",
            Status::Active => "active",
            Status::Revoking => "revoking",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
            Status::Denied => "denied",
            Status::Cancelled => "cancelled",
            Status::Lapsed => "lapsed",
            Status::Failed => "failed",
        }
    }

    /// No event leads anywhere from here.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Expired | Status::Revoked | Status::Denied | Status::Cancelled | Status::Lapsed
        )
    }

    /// Counts against "one open request per person and resource".
    pub fn is_open(self) -> bool {
        !self.is_final()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown request status `{s}`"))
    }
}

/// Why access ended; decides whether `revoking` ends as `expired` or `revoked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    Expired,
    Revoked,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "expired" => Some(EndReason::Expired),
            "revoked" => Some(EndReason::Revoked),
            _ => None,
        }
    }
}

/// Everything that can happen to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    Approve,
    Deny,
    Cancel,
    Lapse,
    StartProvisioning,
    Provisioned,
    ProvisioningFailed,
    Retry,
    Extend,
    Expire,
    Revoke,
    /// The platform no longer grants the access; `why` is what sent the request to `revoking`.
    RevocationDone(EndReason),
    /// An admin ends a revocation that cannot complete (the platform lost the user, say),
    /// answering for the access being gone.
    Close,
    /// What was approved changed before it was granted (another identity was chosen): the
    /// request waits for its reviewers again, its approvals no longer counted.
    Reopen,
}

impl Event {
    pub const ALL: [Event; 15] = [
        Event::Approve,
        Event::Deny,
        Event::Cancel,
        Event::Lapse,
        Event::StartProvisioning,
        Event::Provisioned,
        Event::ProvisioningFailed,
        Event::Retry,
        Event::Extend,
        Event::Expire,
        Event::Revoke,
        Event::RevocationDone(EndReason::Expired),
        Event::RevocationDone(EndReason::Revoked),
        Event::Close,
        Event::Reopen,
    ];

    /// The audit log's name for this event.
    pub fn action(self) -> &'static str {
        match self {
            Event::Approve => "approved",
            Event::Deny => "denied",
            Event::Cancel => "cancelled",
            Event::Lapse => "lapsed",
            Event::StartProvisioning => "provisioning_started",
            Event::Provisioned => "provisioned",
            Event::ProvisioningFailed => "provisioning_failed",
            Event::Retry => "retried",
            Event::Extend => "extended",
            Event::Expire => "expiring",
            Event::Revoke => "revoking",
            Event::RevocationDone(EndReason::Expired) => "expired",
            Event::RevocationDone(EndReason::Revoked) => "revoked",
            Event::Close => "closed",
            Event::Reopen => "reopened",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Event::Approve => "approved",
            Event::Deny => "denied",
            Event::Cancel => "cancelled",
            Event::Lapse => "lapsed",
            Event::StartProvisioning => "provisioned",
            Event::Provisioned => "marked as provisioned",
            Event::ProvisioningFailed => "marked as failed",
            Event::Retry => "retried",
            Event::Extend => "extended",
            Event::Expire => "expired",
            Event::Revoke => "revoked",
            Event::RevocationDone(_) => "marked as ended",
            Event::Close => "closed",
            Event::Reopen => "sent back to its reviewers",
        }
    }
}

/// An event that the current status does not allow, e.g. approving a denied request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(*.from, *.event))]
pub struct IllegalTransition {
    pub from: Status,
    pub event: Event,
}

fn describe(from: Status, event: Event) -> String {
    let why = match from {
        Status::Pending => "it is still waiting for review",
        Status::Approved => "it is approved and waiting to be provisioned",
        Status::Provisioning => "its access is being provisioned",
        Status::Active => "its access is active",
        Status::Revoking => "its access is already being removed",
        Status::Expired => "it has expired",
        Status::Revoked => "it has been revoked",
        Status::Denied => "it was denied",
        Status::Cancelled => "it was cancelled",
        Status::Lapsed => "it lapsed without a review",
        Status::Failed => "its provisioning failed",
    };
    format!("this request cannot be {} because {why}", event.verb())
}

/// The lifecycle as one exhaustive match: every (status, event) pair is decided here and nowhere else.
pub fn transition(from: Status, event: Event) -> Result<Status, IllegalTransition> {
    use Event as E;
    use Status as S;
    let to = match (from, event) {
        (S::Pending, E::Approve) => S::Approved,
        (S::Pending, E::Deny) => S::Denied,
        (S::Pending, E::Cancel) => S::Cancelled,
        (S::Pending, E::Lapse) => S::Lapsed,
        (S::Approved, E::StartProvisioning) => S::Provisioning,
        // Approved access not yet granted (a later start, or waiting for its identity).
        (S::Approved, E::Cancel) => S::Cancelled,
        (S::Approved, E::Reopen) => S::Pending,
        (S::Provisioning, E::Provisioned) => S::Active,
        (S::Provisioning, E::ProvisioningFailed) => S::Failed,
        (S::Failed, E::Retry) => S::Provisioning,
        (S::Active, E::Extend) => S::Active,
        (S::Active, E::Expire) => S::Revoking,
        (S::Active, E::Revoke) => S::Revoking,
        (S::Revoking, E::RevocationDone(EndReason::Expired)) => S::Expired,
        (S::Revoking, E::RevocationDone(EndReason::Revoked)) => S::Revoked,
        (S::Revoking, E::Close) => S::Revoked,
        (
            S::Pending
            | S::Approved
            | S::Provisioning
            | S::Active
            | S::Revoking
            | S::Expired
            | S::Revoked
            | S::Denied
            | S::Cancelled
            | S::Lapsed
            | S::Failed,
            E::Approve
            | E::Deny
            | E::Cancel
            | E::Lapse
            | E::StartProvisioning
            | E::Provisioned
            | E::ProvisioningFailed
            | E::Retry
            | E::Extend
            | E::Expire
            | E::Revoke
            | E::RevocationDone(_)
            | E::Close
            | E::Reopen,
        ) => return Err(IllegalTransition { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_happy_path_reaches_expired() {
        let mut s = Status::Pending;
        for e in [
            Event::Approve,
            Event::StartProvisioning,
            Event::Provisioned,
            Event::Extend,
            Event::Expire,
            Event::RevocationDone(EndReason::Expired),
        ] {
            s = transition(s, e).unwrap();
        }
        assert_eq!(s, Status::Expired);
    }

    #[test]
    fn approved_access_can_be_cancelled_until_it_is_granted() {
        assert_eq!(
            transition(Status::Approved, Event::Cancel),
            Ok(Status::Cancelled)
        );
        let err = transition(Status::Provisioning, Event::Cancel).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this request cannot be cancelled because its access is being provisioned"
        );
    }

    #[test]
    fn illegal_moves_explain_themselves() {
        let err = transition(Status::Denied, Event::Approve).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this request cannot be approved because it was denied"
        );
        let err = transition(Status::Revoking, Event::Revoke).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this request cannot be revoked because its access is already being removed"
        );
    }

    #[test]
    fn final_statuses_accept_nothing() {
        for s in Status::ALL.into_iter().filter(|s| s.is_final()) {
            for e in Event::ALL {
                assert!(transition(s, e).is_err(), "{s} accepted {e:?}");
            }
        }
    }

    #[test]
    fn every_non_final_status_has_a_way_out() {
        for s in Status::ALL.into_iter().filter(|s| !s.is_final()) {
            assert!(
                Event::ALL
                    .into_iter()
                    .any(|e| matches!(transition(s, e), Ok(t) if t != s)),
                "{s} is a dead end"
            );
        }
    }

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("approve".parse::<Status>().is_err());
    }

    fn any_event() -> impl Strategy<Value = Event> {
        proptest::sample::select(Event::ALL.to_vec())
    }

    proptest! {
        /// Whatever happens, a request is always in a known status, and a final one never moves again.
        #[test]
        fn no_sequence_leaves_the_lifecycle(events in proptest::collection::vec(any_event(), 0..40)) {
            let mut s = Status::Pending;
            let mut ended = false;
            for e in events {
                match transition(s, e) {
                    Ok(next) => {
                        prop_assert!(!ended, "moved out of a final status");
                        prop_assert!(Status::ALL.contains(&next));
                        s = next;
                        ended = s.is_final();
                    }
                    Err(err) => prop_assert_eq!(err.from, s),
                }
            }
        }
    }
}
