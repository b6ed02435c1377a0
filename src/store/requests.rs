//! Access requests: insert, read, and status changes guarded by the status and version read.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::requests::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreError, StoreResult, rows};
use crate::domain::{
    ConnectorId, EndReason, GrantDuration, RequestId, ResourceId, SlackUserId, Status,
};

/// A request as stored, every field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: RequestId,
    pub requester: SlackUserId,
    pub resource: ResourceId,
    pub connector: ConnectorId,
    pub duration: GrantDuration,
    pub reason: Option<String>,
    pub status: Status,
    pub version: i32,
    /// The platform identity (user or role) the grant applies to, once settled.
    pub identity: Option<String>,
    pub end_reason: Option<EndReason>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub active_since: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    /// When the access is to start, for a request that asked for a later start.
    pub starts_at: Option<DateTime<Utc>>,
}

fn corrupt(id: i64, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("request {id}: {what}: {e}"))
}

impl TryFrom<Model> for Request {
    type Error = StoreError;
    fn try_from(m: Model) -> Result<Self, StoreError> {
        let id = m.id;
        Ok(Request {
            id: RequestId::new(id),
            requester: SlackUserId::parse(&m.requester).map_err(|e| corrupt(id, "requester", e))?,
            resource: ResourceId::parse(&m.resource_id).map_err(|e| corrupt(id, "resource", e))?,
            connector: ConnectorId::parse(&m.connector_id)
                .map_err(|e| corrupt(id, "connector", e))?,
            duration: GrantDuration::from_seconds(m.duration_secs)
                .ok_or_else(|| corrupt(id, "duration", m.duration_secs))?,
            reason: m.reason,
            status: m
                .status
                .parse()
                .map_err(|e: String| corrupt(id, "status", e))?,
            version: m.version,
            identity: m.identity,
            end_reason: match m.end_reason {
                None => None,
                Some(r) => Some(EndReason::parse(&r).ok_or_else(|| corrupt(id, "end_reason", r))?),
            },
            decided_by: m.decided_by,
            decision_note: m.decision_note,
            created_at: m.created_at,
            updated_at: m.updated_at,
            decided_at: m.decided_at,
            active_since: m.active_since,
            expires_at: m.expires_at,
            ended_at: m.ended_at,
            slack_channel: m.slack_channel,
            slack_ts: m.slack_ts,
            starts_at: m.starts_at,
        })
    }
}

#[derive(Clone, Copy)]
pub struct NewRequest<'a> {
    pub requester: &'a SlackUserId,
    pub resource: &'a ResourceId,
    pub connector: &'a ConnectorId,
    pub duration: GrantDuration,
    pub reason: Option<&'a str>,
    pub identity: Option<&'a str>,
    /// None: as soon as it is approved.
    pub starts_at: Option<DateTime<Utc>>,
}

fn open_key(requester: &SlackUserId, resource: &ResourceId) -> String {
    format!("{requester}/{resource}")
}

/// Inserts a pending request. A unique violation means this person already has an open
/// request for this resource (see `StoreError::is_unique_violation`).
pub async fn insert(
    c: &impl Conn,
    new: NewRequest<'_>,
    now: DateTime<Utc>,
) -> StoreResult<Request> {
    let model = ActiveModel {
        requester: Set(new.requester.to_string()),
        resource_id: Set(new.resource.to_string()),
        connector_id: Set(new.connector.to_string()),
        duration_secs: Set(new.duration.seconds()),
        reason: Set(new.reason.map(str::to_owned)),
        status: Set(Status::Pending.as_str().to_owned()),
        version: Set(0),
        open_key: Set(Some(open_key(new.requester, new.resource))),
        identity: Set(new.identity.map(str::to_owned)),
        end_reason: Set(None),
        decided_by: Set(None),
        decision_note: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        decided_at: Set(None),
        active_since: Set(None),
        expires_at: Set(None),
        ended_at: Set(None),
        slack_channel: Set(None),
        slack_ts: Set(None),
        starts_at: Set(new.starts_at),
        ..Default::default()
    };
    model.insert(c).await?.try_into()
}

pub async fn get(c: &impl Conn, id: RequestId) -> StoreResult<Option<Request>> {
    rows::one(c, Entity::find_by_id(id.get())).await
}

/// The request, its row locked until the transaction ends (`SELECT … FOR UPDATE` on
/// PostgreSQL), so that two people deciding on it at once are served one after the other and
/// the second reads what the first wrote. SQLite has one writer and no row locks: its
/// transactions are already serial.
pub async fn get_for_update(c: &impl Conn, id: RequestId) -> StoreResult<Option<Request>> {
    use sea_orm::QuerySelect;
    rows::one(c, Entity::find_by_id(id.get()).lock_exclusive()).await
}

/// The open request of this person for this resource, if any.
pub async fn find_open(
    c: &impl Conn,
    requester: &SlackUserId,
    resource: &ResourceId,
) -> StoreResult<Option<Request>> {
    let query = Entity::find().filter(Column::OpenKey.eq(open_key(requester, resource)));
    rows::one(c, query).await
}

pub async fn list_by_status(c: &impl Conn, status: Status) -> StoreResult<Vec<Request>> {
    let query = Entity::find()
        .filter(Column::Status.eq(status.as_str()))
        .order_by_asc(Column::Id);
    rows::all(c, query).await
}

pub async fn list_all(c: &impl Conn) -> StoreResult<Vec<Request>> {
    rows::all(c, Entity::find().order_by_asc(Column::Id)).await
}

/// Fields a change sets besides the status; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub identity: Option<String>,
    pub end_reason: Option<EndReason>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub active_since: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
}

/// Moves `from` (as read, at `version`) to `to`. Returns false, writing nothing, when someone
/// else changed the request first: the caller reports a conflict instead of acting twice.
pub async fn update_guarded(
    c: &impl Conn,
    from: &Request,
    to: Status,
    changes: Changes,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut q = Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .col_expr(Column::Version, Expr::value(from.version + 1))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if to.is_final() {
        q = q.col_expr(Column::OpenKey, Expr::value(Option::<String>::None));
    }
    let Changes {
        identity,
        end_reason,
        decided_by,
        decision_note,
        decided_at,
        active_since,
        expires_at,
        ended_at,
        slack_channel,
        slack_ts,
    } = changes;
    let set_text = [
        (Column::Identity, identity),
        (Column::EndReason, end_reason.map(|r| r.as_str().to_owned())),
        (Column::DecidedBy, decided_by),
        (Column::DecisionNote, decision_note),
        (Column::SlackChannel, slack_channel),
        (Column::SlackTs, slack_ts),
    ];
    for (col, value) in set_text {
        if let Some(v) = value {
            q = q.col_expr(col, Expr::value(v));
        }
    }
    let set_time = [
        (Column::DecidedAt, decided_at),
        (Column::ActiveSince, active_since),
        (Column::ExpiresAt, expires_at),
        (Column::EndedAt, ended_at),
    ];
    for (col, value) in set_time {
        if let Some(v) = value {
            q = q.col_expr(col, Expr::value(v));
        }
    }
    let res = q
        .filter(Column::Id.eq(from.id.get()))
        .filter(Column::Status.eq(from.status.as_str()))
        .filter(Column::Version.eq(from.version))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records where the request's channel message is. Not a change of the request itself, so the
/// version stays: a decision being made at the same moment is not disturbed.
pub async fn set_message(c: &impl Conn, id: RequestId, channel: &str, ts: &str) -> StoreResult<()> {
    Entity::update_many()
        .col_expr(Column::SlackChannel, Expr::value(channel))
        .col_expr(Column::SlackTs, Expr::value(ts))
        .filter(Column::Id.eq(id.get()))
        .exec(c)
        .await?;
    Ok(())
}

pub async fn find_by_message(
    c: &impl Conn,
    channel: &str,
    ts: &str,
) -> StoreResult<Option<Request>> {
    let query = Entity::find()
        .filter(Column::SlackChannel.eq(channel))
        .filter(Column::SlackTs.eq(ts));
    rows::one(c, query).await
}

pub async fn list_by_requester(
    c: &impl Conn,
    requester: &SlackUserId,
) -> StoreResult<Vec<Request>> {
    let query = Entity::find()
        .filter(Column::Requester.eq(requester.as_str()))
        .order_by_desc(Column::Id);
    rows::all(c, query).await
}

/// Sets the identity to grant to, guarded like a status change (and bumping the version).
pub async fn set_identity(
    c: &impl Conn,
    from: &Request,
    identity: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    update_guarded(
        c,
        from,
        from.status,
        Changes {
            identity: Some(identity.to_owned()),
            ..Changes::default()
        },
        now,
    )
    .await
}

/// How many requests are in each status (statuses without any are absent).
pub async fn count_by_status(
    c: &impl Conn,
) -> StoreResult<std::collections::BTreeMap<Status, u64>> {
    use sea_orm::QuerySelect;
    let rows: Vec<(String, i64)> = Entity::find()
        .select_only()
        .column(Column::Status)
        .column_as(Column::Id.count(), "n")
        .group_by(Column::Status)
        .into_tuple()
        .all(c)
        .await?;
    rows.into_iter()
        .map(|(status, n)| {
            let status = status.parse::<Status>().map_err(StoreError::Corrupt)?;
            Ok((status, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}
