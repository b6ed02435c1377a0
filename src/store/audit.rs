//! Rows of the audit chain and its head. Hashing and verification live in `crate::audit`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entities::{audit_events, audit_head};
use super::{Conn, StoreError, StoreResult, rows};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub request_id: Option<i64>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<audit_events::Model> for StoredEvent {
    fn from(m: audit_events::Model) -> Self {
        StoredEvent {
            seq: m.seq,
            at: m.at,
            actor: m.actor,
            action: m.action,
            request_id: m.request_id,
            details: m.details,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// The chain's last seq and hash, locked until the transaction ends (PostgreSQL: `FOR UPDATE`;
/// SQLite has one writer at a time anyway), so two appenders can never fork the chain.
pub async fn lock_head(c: &impl Conn) -> StoreResult<(i64, String)> {
    let head = audit_head::Entity::find_by_id(1)
        .lock_exclusive()
        .one(c)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit_head row is missing".into()))?;
    Ok((head.seq, head.hash))
}

pub async fn head(c: &impl Conn) -> StoreResult<(i64, String)> {
    let head = audit_head::Entity::find_by_id(1)
        .one(c)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit_head row is missing".into()))?;
    Ok((head.seq, head.hash))
}

/// Appends one event and moves the head to it. Call after `lock_head` in the same transaction.
pub async fn append(c: &impl Conn, e: &StoredEvent) -> StoreResult<()> {
    audit_events::Entity::insert(audit_events::ActiveModel {
        seq: Set(e.seq),
        at: Set(e.at),
        actor: Set(e.actor.clone()),
        action: Set(e.action.clone()),
        request_id: Set(e.request_id),
        details: Set(e.details.clone()),
        prev_hash: Set(e.prev_hash.clone()),
        hash: Set(e.hash.clone()),
    })
    .exec(c)
    .await?;
    audit_head::Entity::update_many()
        .col_expr(audit_head::Column::Seq, Expr::value(e.seq))
        .col_expr(audit_head::Column::Hash, Expr::value(e.hash.clone()))
        .filter(audit_head::Column::Id.eq(1))
        .exec(c)
        .await?;
    Ok(())
}

/// Up to `limit` events after `after_seq`, in chain order.
pub async fn page(c: &impl Conn, after_seq: i64, limit: u64) -> StoreResult<Vec<StoredEvent>> {
    page_in_range(c, None, None, after_seq, limit).await
}

/// Up to `limit` events at or after `since` and before `until`, after `after_seq`.
pub async fn page_in_range(
    c: &impl Conn,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    after_seq: i64,
    limit: u64,
) -> StoreResult<Vec<StoredEvent>> {
    let mut q = audit_events::Entity::find().filter(audit_events::Column::Seq.gt(after_seq));
    if let Some(s) = since {
        q = q.filter(audit_events::Column::At.gte(s));
    }
    if let Some(u) = until {
        q = q.filter(audit_events::Column::At.lt(u));
    }
    rows::all(c, q.order_by_asc(audit_events::Column::Seq).limit(limit)).await
}

pub async fn for_request(c: &impl Conn, request_id: i64) -> StoreResult<Vec<StoredEvent>> {
    let query = audit_events::Entity::find()
        .filter(audit_events::Column::RequestId.eq(request_id))
        .order_by_asc(audit_events::Column::Seq);
    rows::all(c, query).await
}
