//! What can go wrong in a use case, worded for the person who acted.

use crate::domain::duration::DurationRuleError;
use crate::domain::policy::Refusal;
use crate::domain::{IllegalTransition, RequestId, ResourceId};
use crate::store::StoreError;

/// The form field an error belongs to, so Slack can show it beside that field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Resource,
    Duration,
    Reason,
    Start,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("there is no resource `{name}`{}", suggestion_text(.suggestion))]
    UnknownResource {
        name: String,
        suggestion: Option<ResourceId>,
    },
    #[error("{0}")]
    Duration(#[from] DurationRuleError),
    #[error("{0} needs a reason; say briefly why you need this access")]
    ReasonRequired(ResourceId),
    #[error("the reason is {0} characters long; keep it under {max}", max = MAX_REASON)]
    ReasonTooLong(usize),
    #[error("you already have an open request for {resource}: {existing}")]
    AlreadyOpen {
        resource: ResourceId,
        existing: RequestId,
    },
    #[error(
        "you already have {resource} (request {existing}); to keep it longer ask for more time without `from`, or ask again once it has ended"
    )]
    HeldAlready {
        resource: ResourceId,
        existing: RequestId,
    },
    #[error("{0}")]
    Start(#[from] crate::domain::start::StartError),
    /// Ending someone's access early needs a reason, said here.
    #[error("{0}")]
    NoReason(&'static str),
    #[error("there is no request {0}")]
    NotFound(RequestId),
    #[error("{0} has no break-glass access; ask for it the usual way")]
    NoBreakGlass(ResourceId),
    #[error("{0}")]
    NotAllowed(#[from] Refusal),
    #[error("{0}")]
    Illegal(#[from] IllegalTransition),
    #[error("request {0} was changed by someone else at the same moment; look at it again")]
    Conflict(RequestId),
    #[error("resource `{0}` is no longer in the catalog")]
    ResourceGone(ResourceId),
    /// A button or ask that no longer applies (decided already, replaced, or for another step).
    #[error("{0}")]
    Stale(String),
    #[error("there is nothing to confirm: the request is {0}")]
    NothingToConfirm(crate::domain::Status),
    #[error("the identity can no longer change: the request is {0}")]
    IdentityTooLate(crate::domain::Status),
    #[error("write the platform user or role to grant to (at most 255 characters)")]
    BadIdentity,
    #[error("`{identity}` is {}; choose the requester's own account", if *.yours { "linked to you in Gatehouse" } else { "linked to someone other than the requester" })]
    IdentityOfSomeoneElse { identity: String, yours: bool },
    #[error(
        "`{identity}` is a {kind} on the platform, not a person's account: granting it would give the access to everyone in it; choose the requester's own user (an admin can grant to a {kind})"
    )]
    NotAPerson { identity: String, kind: String },
    #[error("there is no platform connector `{name}`; use one of: {known}")]
    UnknownConnector { name: String, known: String },
    #[error("`{connector}` has no user `{identity}`{}; run `gatehouse identities sync` if it is new", suggestions_text(.suggestions))]
    UnknownIdentity {
        connector: String,
        identity: String,
        suggestions: Vec<String>,
    },
    #[error("I don't know anyone called `{name}`{}; name them by Slack ID (U…), email or platform user", suggestions_text(.suggestions))]
    UnknownPerson {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("the platform did not answer as expected: {0}")]
    Platform(String),
    /// A platform call made for a decision or a job, classed by whether trying again helps.
    #[error("the platform: {0}")]
    External(#[from] super::ExternalError),
    #[error("cannot look up Slack user groups: {0}")]
    Directory(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Slack's modal text inputs stop at 3,000 characters; so do we.
pub const MAX_REASON: usize = 3000;

fn suggestion_text(s: &Option<ResourceId>) -> String {
    match s {
        Some(id) => format!("; did you mean `{id}`?"),
        None => "; pick one from the list".to_owned(),
    }
}

impl WorkflowError {
    /// The field to show the error beside, for errors a person can fix in the form.
    pub fn field(&self) -> Option<Field> {
        match self {
            WorkflowError::UnknownResource { .. }
            | WorkflowError::AlreadyOpen { .. }
            | WorkflowError::HeldAlready { .. }
            | WorkflowError::ResourceGone(_) => Some(Field::Resource),
            WorkflowError::Duration(_) => Some(Field::Duration),
            WorkflowError::Start(_) => Some(Field::Start),
            WorkflowError::ReasonRequired(_) | WorkflowError::ReasonTooLong(_) => {
                Some(Field::Reason)
            }
            _ => None,
        }
    }

    /// Errors that are ours, not the person's: logged in full, shown as "something went wrong".
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            WorkflowError::Store(_)
                | WorkflowError::Directory(_)
                | WorkflowError::Platform(_)
                | WorkflowError::External(_)
        )
    }
}

fn suggestions_text(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(
            " (did you mean {}?)",
            s.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
