//! A holder's asks for more time. Each is decided once (`pending` → `approved` | `denied`), or
//! goes `stale` when a newer ask replaces it or the expiry it was made against moves.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, NotSet, QueryFilter, QueryOrder, Set};

use super::entities::extension_asks::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreError, StoreResult, rows};
use crate::domain::{GrantDuration, RequestId, SlackUserId};

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const STALE: &str = "stale";

/// One ask for more time on request `request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub id: i64,
    pub request: RequestId,
    pub asked_by: SlackUserId,
    pub more: GrantDuration,
    /// The expiry when it was asked; an ask decided after the expiry moved is stale.
    pub expiry_then: Option<DateTime<Utc>>,
    pub status: String,
    pub decided_by: Option<String>,
}

impl TryFrom<Model> for Ask {
    type Error = StoreError;
    fn try_from(m: Model) -> Result<Self, StoreError> {
        Ok(Ask {
            id: m.id,
            request: RequestId::new(m.request_id),
            asked_by: SlackUserId::parse(&m.asked_by)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            more: GrantDuration::from_minutes(m.minutes).ok_or_else(|| {
                StoreError::Corrupt(format!("extension of {} minutes", m.minutes))
            })?,
            expiry_then: m.expiry_then,
            status: m.status,
            decided_by: m.decided_by,
        })
    }
}

/// Records a new ask; earlier asks of the same request still pending go stale (the newest
/// is the one reviewers decide).
pub async fn insert(
    c: &impl Conn,
    request: RequestId,
    asked_by: &SlackUserId,
    more: GrantDuration,
    expiry_then: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<Ask> {
    go_stale(c, request, now).await?;
    let m = ActiveModel {
        id: NotSet,
        request_id: Set(request.get()),
        asked_by: Set(asked_by.to_string()),
        minutes: Set(more.seconds() / 60),
        expiry_then: Set(expiry_then),
        status: Set(PENDING.to_owned()),
        decided_by: Set(None),
        asked_at: Set(now),
        decided_at: Set(None),
    }
    .insert(c)
    .await?;
    Ask::try_from(m)
}

pub async fn get(c: &impl Conn, id: i64) -> StoreResult<Option<Ask>> {
    rows::one(c, Entity::find_by_id(id)).await
}

/// The request's newest ask, if any.
pub async fn latest(c: &impl Conn, request: RequestId) -> StoreResult<Option<Ask>> {
    let query = Entity::find()
        .filter(Column::RequestId.eq(request.get()))
        .order_by_desc(Column::Id);
    rows::one(c, query).await
}

/// Decides a pending ask (`APPROVED` or `DENIED`); false when it was no longer pending, so
/// two clicks at once decide it once.
pub async fn decide(
    c: &impl Conn,
    id: i64,
    status: &str,
    by: &SlackUserId,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::DecidedBy, Expr::value(by.as_str()))
        .col_expr(Column::DecidedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(PENDING))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Every pending ask of `request` goes stale (a newer ask, another extension, the access ended).
pub async fn go_stale(c: &impl Conn, request: RequestId, now: DateTime<Utc>) -> StoreResult<u64> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(STALE))
        .col_expr(Column::DecidedAt, Expr::value(now))
        .filter(Column::RequestId.eq(request.get()))
        .filter(Column::Status.eq(PENDING))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}
