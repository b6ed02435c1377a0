//! Links from Slack users to platform identities, one per user and connector: set by an admin,
//! or found by email or by the connector's rule and remembered.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::identity_links::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreResult, rows};

/// How a link was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// An admin said so; it wins over everything and is never replaced automatically.
    Admin,
    /// The platform user's email is the Slack user's email.
    Email,
    /// The connector's rule derived the name from the Slack user's email.
    Rule,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Admin => "admin",
            Method::Email => "email",
            Method::Rule => "rule",
        }
    }

    fn parse(s: &str) -> Method {
        match s {
            "admin" => Method::Admin,
            "email" => Method::Email,
            _ => Method::Rule,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub slack_user: String,
    pub connector_id: String,
    pub platform_id: String,
    pub method: Method,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
}

impl From<Model> for Link {
    fn from(m: Model) -> Self {
        Link {
            slack_user: m.slack_user_id,
            connector_id: m.connector_id,
            method: Method::parse(&m.method),
            platform_id: m.platform_id,
            created_at: m.created_at,
            created_by: m.created_by,
        }
    }
}

pub async fn get(c: &impl Conn, slack_user: &str, connector: &str) -> StoreResult<Option<Link>> {
    let query = Entity::find()
        .filter(Column::SlackUserId.eq(slack_user))
        .filter(Column::ConnectorId.eq(connector));
    rows::one(c, query).await
}

/// Every link of one Slack user, by connector.
pub async fn of_user(c: &impl Conn, slack_user: &str) -> StoreResult<Vec<Link>> {
    let query = Entity::find()
        .filter(Column::SlackUserId.eq(slack_user))
        .order_by_asc(Column::ConnectorId);
    rows::all(c, query).await
}

/// Every link to a user of `connector`.
pub async fn of_connector(c: &impl Conn, connector: &str) -> StoreResult<Vec<Link>> {
    let query = Entity::find()
        .filter(Column::ConnectorId.eq(connector))
        .order_by_asc(Column::SlackUserId);
    rows::all(c, query).await
}

/// Sets (or replaces) the user's link for the connector.
pub async fn set(
    c: &impl Conn,
    slack_user: &str,
    connector: &str,
    platform_id: &str,
    method: Method,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    Entity::insert(ActiveModel {
        slack_user_id: Set(slack_user.to_owned()),
        connector_id: Set(connector.to_owned()),
        platform_id: Set(platform_id.to_owned()),
        method: Set(method.as_str().to_owned()),
        created_at: Set(now),
        created_by: Set(by.map(str::to_owned)),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([Column::SlackUserId, Column::ConnectorId])
            .update_columns([
                Column::PlatformId,
                Column::Method,
                Column::CreatedAt,
                Column::CreatedBy,
            ])
            .to_owned(),
    )
    .exec(c)
    .await?;
    Ok(())
}

/// Removes the user's link for the connector; true if there was one.
pub async fn remove(c: &impl Conn, slack_user: &str, connector: &str) -> StoreResult<bool> {
    let res = Entity::delete_many()
        .filter(Column::SlackUserId.eq(slack_user))
        .filter(Column::ConnectorId.eq(connector))
        .exec(c)
        .await?;
    Ok(res.rows_affected > 0)
}

/// The links to any of these platform ids (on any connector; callers match the connector).
pub async fn to_identities(c: &impl Conn, platform_ids: &[String]) -> StoreResult<Vec<Link>> {
    if platform_ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = Entity::find()
        .filter(Column::PlatformId.is_in(platform_ids.iter().cloned()))
        .order_by_asc(Column::SlackUserId);
    rows::all(c, query).await
}
