//! What was actually granted on a platform for a request, and when it was taken away.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::grants::{ActiveModel, Column, Entity};
use super::{Conn, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub request_id: i64,
    pub connector_id: String,
    pub identity: String,
    pub spec: String,
    pub applied: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_applied: Option<String>,
    /// Which privileges the grant added, for connectors that keep such a record.
    pub receipt: Option<String>,
}

pub struct NewGrant<'a> {
    pub request_id: i64,
    pub connector_id: &'a str,
    pub identity: &'a str,
    pub spec: &'a str,
    pub applied: &'a str,
    pub receipt: Option<&'a str>,
}

pub async fn insert(c: &impl Conn, g: NewGrant<'_>, now: DateTime<Utc>) -> StoreResult<i64> {
    let model = ActiveModel {
        request_id: Set(g.request_id),
        connector_id: Set(g.connector_id.to_owned()),
        identity: Set(g.identity.to_owned()),
        spec: Set(g.spec.to_owned()),
        applied: Set(g.applied.to_owned()),
        granted_at: Set(now),
        revoked_at: Set(None),
        revoke_applied: Set(None),
        receipt: Set(g.receipt.map(str::to_owned)),
        ..Default::default()
    };
    Ok(model.insert(c).await?.id)
}

/// Marks the request's live grants as revoked.
pub async fn mark_revoked(
    c: &impl Conn,
    request_id: i64,
    applied: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let res = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .col_expr(Column::RevokeApplied, Expr::value(applied))
        .filter(Column::RequestId.eq(request_id))
        .filter(Column::RevokedAt.is_null())
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}

/// The request's grant that has not been revoked yet, if any.
pub async fn live_for_request(c: &impl Conn, request_id: i64) -> StoreResult<Option<Grant>> {
    Ok(for_request(c, request_id)
        .await?
        .into_iter()
        .rfind(|g| g.revoked_at.is_none()))
}

pub async fn for_request(c: &impl Conn, request_id: i64) -> StoreResult<Vec<Grant>> {
    Ok(Entity::find()
        .filter(Column::RequestId.eq(request_id))
        .order_by_asc(Column::Id)
        .all(c)
        .await?
        .into_iter()
        .map(|m| Grant {
            id: m.id,
            request_id: m.request_id,
            connector_id: m.connector_id,
            identity: m.identity,
            spec: m.spec,
            applied: m.applied,
            granted_at: m.granted_at,
            revoked_at: m.revoked_at,
            revoke_applied: m.revoke_applied,
            receipt: m.receipt,
        })
        .collect())
}
