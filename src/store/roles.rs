//! App roles granted from Slack (reviewers, admins), on top of those in the catalog.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::app_roles::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreError, StoreResult, rows};
use crate::domain::Principal;

/// A role someone holds in Gatehouse itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRole {
    Reviewer,
    Admin,
}

impl AppRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AppRole::Reviewer => "reviewer",
            AppRole::Admin => "admin",
        }
    }
}

/// Where a role applies: every resource, or one.
pub const ALL_RESOURCES: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub principal: Principal,
    pub role: AppRole,
    pub scope: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<Model> for RoleGrant {
    type Error = StoreError;
    fn try_from(m: Model) -> Result<Self, StoreError> {
        Ok(RoleGrant {
            principal: m
                .principal
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("app role {}: {e}", m.id)))?,
            role: if m.role == AppRole::Admin.as_str() {
                AppRole::Admin
            } else {
                AppRole::Reviewer
            },
            scope: m.scope,
            created_by: m.created_by,
            created_at: m.created_at,
        })
    }
}

/// Adds the role; false if it was already there.
pub async fn add(
    c: &impl Conn,
    principal: &Principal,
    role: AppRole,
    scope: &str,
    by: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let row = ActiveModel {
        principal: Set(principal.to_string()),
        role: Set(role.as_str().to_owned()),
        scope: Set(scope.to_owned()),
        created_at: Set(now),
        created_by: Set(by.to_owned()),
        ..Default::default()
    };
    rows::insert_once(c, row).await
}

/// Removes the role; false if it was not there.
pub async fn remove(
    c: &impl Conn,
    principal: &Principal,
    role: AppRole,
    scope: &str,
) -> StoreResult<bool> {
    let res = Entity::delete_many()
        .filter(Column::Principal.eq(principal.to_string()))
        .filter(Column::Role.eq(role.as_str()))
        .filter(Column::Scope.eq(scope))
        .exec(c)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Everyone holding `role` for `scope` or for all resources.
pub async fn holders(c: &impl Conn, role: AppRole, scope: &str) -> StoreResult<Vec<RoleGrant>> {
    let query = Entity::find()
        .filter(Column::Role.eq(role.as_str()))
        .filter(Column::Scope.is_in([scope, ALL_RESOURCES]))
        .order_by_asc(Column::Id);
    rows::all(c, query).await
}

/// Every role granted from Slack.
pub async fn all(c: &impl Conn) -> StoreResult<Vec<RoleGrant>> {
    rows::all(c, Entity::find().order_by_asc(Column::Id)).await
}
