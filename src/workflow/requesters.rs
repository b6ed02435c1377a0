//! Who may ask for what. A resource's `requesters` limit who may ask for it at all (a new
//! request, break-glass, more time through `/request-access`); and only full members of the
//! workspace may skip the reviewers: guests, external (Slack Connect) and deactivated accounts
//! and bots are refused break-glass, and their requests are never auto-approved but wait for a
//! reviewer. Admins' direct grants are not bound by `requesters`: the admin decides.

use serde_json::Value;

use super::{Membership, Workflow, WorkflowError};
use crate::config::Resource;
use crate::domain::auto_approval::{self, AutoRule};
use crate::domain::policy::{self, Refusal, Who};
use crate::domain::{GrantDuration, Principal, SlackUserId};

/// What `submit` may do with a request, decided before its transaction.
#[derive(Debug, Default)]
pub(super) struct Vetted {
    /// The auto-approval rule that approves it.
    pub auto: Option<AutoRule>,
    /// Why a rule the request met was not applied, for the `requested` audit row.
    not_applied: Option<String>,
}

impl Vetted {
    /// Adds why auto-approval was not applied, if it was not, to the audit row's details.
    pub fn note(&self, details: &mut Value) {
        if let (Some(why), Some(map)) = (&self.not_applied, details.as_object_mut()) {
            map.insert(
                "auto_approval_not_applied".into(),
                Value::String(why.clone()),
            );
        }
    }
}

impl Workflow {
    /// Refuses someone the resource's `requesters` leave out, naming who may ask.
    pub async fn require_requester(
        &self,
        user: &SlackUserId,
        resource: &Resource,
    ) -> Result<(), WorkflowError> {
        if resource.requesters.is_empty() {
            return Ok(());
        }
        // Group memberships cost Slack calls: only when a group could make them a requester.
        let groups = if resource
            .requesters
            .iter()
            .any(|p| matches!(p, Principal::Group(_)))
        {
            self.groups_of(user).await?
        } else {
            Vec::new()
        };
        policy::may_ask_for(
            Who {
                user,
                groups: &groups,
            },
            &resource.id,
            &resource.requesters,
        )?;
        Ok(())
    }

    /// Break-glass skips the reviewers: a requester of the resource who is a full member.
    pub(super) async fn require_break_glass_allowed(
        &self,
        user: &SlackUserId,
        resource: &Resource,
    ) -> Result<(), WorkflowError> {
        self.require_requester(user, resource).await?;
        let kind = self
            .directory
            .membership_of(user)
            .await
            .map_err(WorkflowError::Directory)?;
        if kind != Membership::Member {
            tracing::warn!(requester = %user, resource = %resource.id, account = kind.describe(), "break-glass refused: not a full member");
            return Err(
                Refusal::BreakGlassMembersOnly(kind.describe(), resource.id.clone()).into(),
            );
        }
        Ok(())
    }

    /// For `submit`: refuses someone `requesters` leave out, then finds the auto-approval rule
    /// the request meets, applied only for a full member of the workspace.
    pub(super) async fn vet_submission(
        &self,
        user: &SlackUserId,
        resource: &Resource,
        duration: GrantDuration,
    ) -> Result<Vetted, WorkflowError> {
        self.require_requester(user, resource).await?;
        if resource.auto_approve.is_empty() {
            return Ok(Vetted::default());
        }
        let groups = self.groups_of(user).await?;
        let on_call = self.on_call_now(user, &resource.auto_approve).await;
        let facts = auto_approval::Facts {
            groups: &groups,
            duration,
            on_call: &on_call,
        };
        let Some(rule) = auto_approval::first_match(&resource.auto_approve, &facts).cloned() else {
            return Ok(Vetted::default());
        };
        // Unknown counts as "not a member": the request then waits for a reviewer.
        let kind = match self.directory.membership_of(user).await {
            Ok(kind) => Some(kind),
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell what kind of account the requester has; a reviewer decides");
                None
            }
        };
        if kind == Some(Membership::Member) {
            return Ok(Vetted {
                auto: Some(rule),
                not_applied: None,
            });
        }
        let who = kind.map_or("an account Slack could not describe", Membership::describe);
        let why = format!(
            "the rule \"{}\" was not applied: auto-approval is only for full members of the workspace, and the requester has {who}; a reviewer decides",
            rule.describe()
        );
        tracing::info!(requester = %user, resource = %resource.id, "{why}");
        Ok(Vetted {
            auto: None,
            not_applied: Some(why),
        })
    }
}
