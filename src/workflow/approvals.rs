//! A resource's approval stages applied to a request: who can approve each stage (groups
//! expanded; the requester, guests, external and deactivated accounts and bots left out), and
//! where a request stands. `domain::approval` decides; this resolves the facts it decides on.

use crate::config::Resource;
use crate::domain::approval::{self, Given, Need, Stage, Standing};
use crate::domain::policy::Refusal;
use crate::domain::{Principal, SlackUserId, Status};
use crate::store::approvals;
use crate::store::requests::Request;

use super::{Membership, Progress, Workflow, WorkflowError};

impl Workflow {
    /// The resource's stages; without any, one stage: any one of its reviewers (catalog and
    /// added from Slack).
    pub(super) fn stages_of(resource: &Resource, reviewers: &[Principal]) -> Vec<Stage> {
        if resource.approval.is_empty() {
            vec![Stage {
                reviewers: reviewers.to_vec(),
                need: Need::Any,
            }]
        } else {
            resource.approval.clone()
        }
    }

    /// Refuses guests, external (Slack Connect) and deactivated accounts and bots before
    /// anything else is looked at: only full members of the workspace decide.
    pub(super) async fn require_member(&self, user: &SlackUserId) -> Result<(), WorkflowError> {
        match self
            .directory
            .membership_of(user)
            .await
            .map_err(WorkflowError::Directory)?
        {
            Membership::Member => Ok(()),
            Membership::Guest => Err(Refusal::Guest.into()),
            Membership::External => Err(Refusal::External.into()),
            Membership::Deactivated => Err(Refusal::Deactivated.into()),
            Membership::Bot => Err(Refusal::Bot.into()),
        }
    }

    /// Per stage, the people who can approve it. Everyone in an all-of stage must be a full
    /// member (a guest in the group could otherwise hold the request forever); in the other
    /// stages the approver's own account is checked when they approve.
    pub(super) async fn eligible(
        &self,
        stages: &[Stage],
        requester: &SlackUserId,
    ) -> Result<Vec<Vec<SlackUserId>>, WorkflowError> {
        let mut all = Vec::with_capacity(stages.len());
        for stage in stages {
            let mut people: Vec<SlackUserId> = Vec::new();
            for p in &stage.reviewers {
                let found = match p {
                    Principal::User(u) => vec![u.clone()],
                    Principal::Group(g) => self
                        .directory
                        .members_of(g)
                        .await
                        .map_err(WorkflowError::Directory)?,
                };
                for u in found {
                    if &u != requester && !people.contains(&u) {
                        people.push(u);
                    }
                }
            }
            if stage.need == Need::All {
                let mut members = Vec::with_capacity(people.len());
                for u in people {
                    let m = self
                        .directory
                        .membership_of(&u)
                        .await
                        .map_err(WorkflowError::Directory)?;
                    if m == Membership::Member {
                        members.push(u);
                    }
                }
                people = members;
            }
            all.push(people);
        }
        Ok(all)
    }

    /// Where a pending request stands, for its channel message: who can approve it now (the
    /// catalog's reviewers and those added in Slack, or its stage's), and when it lapses. None
    /// once it is no longer pending.
    pub(super) async fn progress_of(
        &self,
        request: &Request,
        resource: &Resource,
    ) -> Result<Option<Progress>, WorkflowError> {
        if request.status != Status::Pending {
            return Ok(None);
        }
        let reviewers = self.reviewers_of(self.db.reads(), resource).await?;
        let stages = Self::stages_of(resource, &reviewers);
        let eligible = self.eligible(&stages, &request.requester).await?;
        let given = approvals::of_request(self.db.reads(), request.id).await?;
        let mut shown = progress(&stages, &eligible, &given);
        shown.lapses_at = Some(super::lapse_at(request, resource.lapse_after));
        Ok(Some(shown))
    }
}

/// The progress shown for `given` approvals.
pub(super) fn progress(
    stages: &[Stage],
    eligible: &[Vec<SlackUserId>],
    given: &[Given],
) -> Progress {
    let approved = given.iter().map(|g| g.user.clone()).collect();
    match approval::standing(stages, eligible, given) {
        Standing::Waiting { stage, more, .. } => Progress {
            step: stage + 1,
            steps: stages.len(),
            more,
            approved,
            can_approve: stages
                .get(stage)
                .map(|s| s.reviewers.clone())
                .unwrap_or_default(),
            lapses_at: None,
        },
        Standing::Met => Progress {
            step: stages.len(),
            steps: stages.len(),
            more: 0,
            approved,
            can_approve: Vec::new(),
            lapses_at: None,
        },
    }
}

/// A stage's reviewers in words, for a refusal.
pub(super) fn who_can(stage: &Stage) -> String {
    let names: Vec<String> = stage
        .reviewers
        .iter()
        .map(|p| match p {
            Principal::User(u) => format!("<@{u}>"),
            Principal::Group(g) => format!("<!subteam^{g}>"),
        })
        .collect();
    let need = match stage.need {
        Need::Any => "any one of".to_owned(),
        Need::All => "all of".to_owned(),
        Need::AtLeast(n) => format!("{n} of"),
    };
    format!("{need} {}", names.join(", "))
}
