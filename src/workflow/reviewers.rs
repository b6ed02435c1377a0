//! Admins manage who reviews what; every change is audited.

use serde_json::json;

use super::{Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::domain::{Principal, ResourceId, SlackUserId};
use crate::store::roles::{self, ALL_RESOURCES, AppRole, RoleGrant};

/// Where a reviewer reviews: one resource, or every resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Resource(ResourceId),
}

impl Scope {
    fn as_str(&self) -> &str {
        match self {
            Scope::All => ALL_RESOURCES,
            Scope::Resource(r) => r.as_str(),
        }
    }
}

impl Workflow {
    fn check_scope(&self, scope: &Scope) -> Result<(), WorkflowError> {
        match scope {
            Scope::Resource(r) if self.catalog.resource(r).is_none() => {
                Err(WorkflowError::UnknownResource {
                    name: r.to_string(),
                    suggestion: self.suggest(r.as_str()),
                })
            }
            _ => Ok(()),
        }
    }

    /// Adds a reviewer; false when they already were one (nothing is written then).
    pub async fn add_reviewer(
        &self,
        by: &SlackUserId,
        reviewer: &Principal,
        scope: &Scope,
    ) -> Result<bool, WorkflowError> {
        self.change_reviewer(by, reviewer, scope, true).await
    }

    /// Removes a reviewer added from Slack; false when there was none. Reviewers named in the
    /// catalog stay until the catalog changes.
    pub async fn remove_reviewer(
        &self,
        by: &SlackUserId,
        reviewer: &Principal,
        scope: &Scope,
    ) -> Result<bool, WorkflowError> {
        self.change_reviewer(by, reviewer, scope, false).await
    }

    async fn change_reviewer(
        &self,
        by: &SlackUserId,
        reviewer: &Principal,
        scope: &Scope,
        add: bool,
    ) -> Result<bool, WorkflowError> {
        self.check_scope(scope)?;
        self.require_admin(by).await?;
        let tx = self.db.begin().await?;
        let now = self.clock.now();
        let changed = if add {
            roles::add(
                &tx,
                reviewer,
                AppRole::Reviewer,
                scope.as_str(),
                by.as_str(),
                now,
            )
            .await?
        } else {
            roles::remove(&tx, reviewer, AppRole::Reviewer, scope.as_str()).await?
        };
        if changed {
            audit::record(
                &tx,
                now,
                Entry::new(
                    &Actor::User(by.clone()),
                    if add {
                        "reviewer_added"
                    } else {
                        "reviewer_removed"
                    },
                    json!({ "reviewer": reviewer.to_string(), "scope": scope.as_str() }),
                ),
            )
            .await?;
        }
        self.commit(tx, false).await?;
        Ok(changed)
    }

    /// Reviewers added from Slack for `scope` (including those for every resource).
    pub async fn reviewers_added(&self, scope: &Scope) -> Result<Vec<RoleGrant>, WorkflowError> {
        Ok(roles::holders(self.db.reads(), AppRole::Reviewer, scope.as_str()).await?)
    }
}
