//! Who may ask for what. A resource's `requesters` limit who may ask for it at all (a new
//! request, break-glass, more time through `/request-access`); and only full members of the
//! workspace may skip the reviewers: guests, external (Slack Connect) and deactivated accounts
//! and bots are refused break-glass, and their requests are never auto-approved but wait for a
//! reviewer. Admins' direct grants are not bound by `requesters`: the admin decides.

use serde_json::{Value, json};

use super::{Membership, Notice, Step, Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::config::Resource;
use crate::domain::auto_approval::{self, AutoRule};
use crate::domain::policy::{self, Refusal, Who};
use crate::domain::{Event, GrantDuration, Principal, RequestId, SlackUserId, Status};
use crate::jobs::{JobError, JobSpec, Outcome};
use crate::store::{self, requests::Changes};

/// What the auto-approval check decided for a request, before its transaction.
#[derive(Debug, Default)]
pub(super) struct Vetted {
    /// The auto-approval rule that approves it.
    pub auto: Option<AutoRule>,
    /// Why a rule the request met was not applied.
    not_applied: Option<String>,
    /// The on-call schedules the requester was found on.
    on_call: Vec<String>,
}

impl Vetted {
    /// The `auto_approval_checked` audit row's details: the rule met, or why none applied.
    fn details(&self) -> Value {
        json!({
            "rule": self.auto.as_ref().map(AutoRule::describe),
            "auto_approval_not_applied": self.not_applied,
            "on_call": self.on_call,
        })
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

    /// The auto-approval rule the request meets, applied only for a full member of the
    /// workspace. Asks Slack and on-call services: run after the request's ack, never before.
    async fn vet_auto_approval(
        &self,
        user: &SlackUserId,
        resource: &Resource,
        duration: GrantDuration,
    ) -> Result<Vetted, WorkflowError> {
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
            return Ok(Vetted {
                on_call,
                ..Vetted::default()
            });
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
                on_call,
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
            on_call,
        })
    }

    /// The `auto_approval` job of a request made for a resource with `auto_approve` rules:
    /// checks the rules (which may ask Slack and on-call services, so never before the
    /// submission's ack), then in one transaction either approves it or queues its card and
    /// its lapse for the reviewers. Runs again harmlessly: the `auto_approval_checked` audit
    /// row says it was done, and a request no longer pending is left alone.
    pub(super) async fn run_auto_approval(&self, id: RequestId) -> Result<Outcome, JobError> {
        let seen = self.request(id).await?;
        if seen.status != Status::Pending {
            return Ok(Outcome::Done);
        }
        // A resource removed from the catalog since: no rules, a reviewer decides (or it lapses).
        let resource = self.resource_or_record(self.db.reads(), &seen).await?;
        let vetted = self
            .vet_auto_approval(&seen.requester, &resource, seen.duration)
            .await?;
        self.settle_auto_approval(id, &resource, vetted).await?;
        Ok(Outcome::Done)
    }

    /// The rules could not be checked however often it was tried (Slack kept failing): the
    /// request is not left unseen, its reviewers decide.
    pub(super) async fn auto_approval_gave_up(
        &self,
        id: RequestId,
        error: &str,
    ) -> Result<(), WorkflowError> {
        let seen = self.request(id).await?;
        let resource = self.resource_or_record(self.db.reads(), &seen).await?;
        let why =
            format!("the auto-approval rules could not be checked ({error}); a reviewer decides");
        let vetted = Vetted {
            not_applied: Some(why),
            ..Vetted::default()
        };
        self.settle_auto_approval(id, &resource, vetted).await
    }

    /// Records the check and acts on it in one transaction: approves, or posts the card and
    /// queues the lapse.
    async fn settle_auto_approval(
        &self,
        id: RequestId,
        resource: &Resource,
        vetted: Vetted,
    ) -> Result<(), WorkflowError> {
        let tx = self.db.begin().await?;
        let current = self.load(&tx, id).await?;
        let checked = store::audit::for_request(&tx, id.get())
            .await?
            .iter()
            .any(|e| e.action == CHECKED);
        if current.status != Status::Pending || checked {
            return Ok(());
        }
        let now = self.clock.now();
        audit::record(
            &tx,
            now,
            Entry::new(&Actor::System, CHECKED, vetted.details()).about(id),
        )
        .await?;
        match &vetted.auto {
            None => {
                for spec in self.submitted_jobs(id, resource) {
                    crate::jobs::enqueue(&tx, &spec, now, self.max_attempts, now).await?;
                }
                let lapse_at = super::nudge_at(&current, resource.lapse_after);
                let lapse = JobSpec::Lapse { request: id };
                crate::jobs::enqueue(&tx, &lapse, lapse_at, self.max_attempts, now).await?;
            }
            Some(rule) => {
                self.enqueue_notices(&tx, id, Notice::Submitted).await?;
                let why = rule.describe();
                self.apply(
                    &tx,
                    &current,
                    Step::new(&Actor::System, Event::Approve)
                        .changes(Changes {
                            decided_at: Some(now),
                            decision_note: Some(format!("{}: {why}", super::AUTO_APPROVED)),
                            ..Changes::default()
                        })
                        .details(json!({ "via": "auto_approval", "rule": why }))
                        .jobs(vec![(JobSpec::Provision { request: id }, now)]),
                )
                .await?;
            }
        }
        self.commit(tx, true).await
    }
}

/// The audit action that records a request's auto-approval rules were checked.
const CHECKED: &str = "auto_approval_checked";
