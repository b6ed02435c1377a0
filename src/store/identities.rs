//! Identities ingested from platforms (users, roles, groups): upserted by sync, marked when
//! they disappear (never deleted), searched by admins.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::NullOrdering;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::identities::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreResult, rows};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub connector_id: String,
    /// `user`, `role` or `group`, in the platform's sense.
    pub kind: String,
    pub platform_id: String,
    pub name: String,
    pub email: Option<String>,
    pub last_seen_at: DateTime<Utc>,
    pub missing_since: Option<DateTime<Utc>>,
}

impl From<Model> for Identity {
    fn from(m: Model) -> Self {
        Identity {
            connector_id: m.connector_id,
            kind: m.kind,
            platform_id: m.platform_id,
            name: m.name,
            email: m.email,
            last_seen_at: m.last_seen_at,
            missing_since: m.missing_since,
        }
    }
}

/// What a platform reported about one identity.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    pub kind: &'a str,
    pub platform_id: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

/// Records an identity a platform reported now (and clears its `missing_since`).
pub async fn upsert(
    c: &impl Conn,
    connector: &str,
    seen: &Seen<'_>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    Entity::insert(ActiveModel {
        connector_id: Set(connector.to_owned()),
        kind: Set(seen.kind.to_owned()),
        platform_id: Set(seen.platform_id.to_owned()),
        name: Set(seen.name.to_owned()),
        email: Set(seen.email.map(str::to_lowercase)),
        attributes: Set("{}".to_owned()),
        first_seen_at: Set(now),
        last_seen_at: Set(now),
        missing_since: Set(None),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([Column::ConnectorId, Column::Kind, Column::PlatformId])
            .update_columns([
                Column::Name,
                Column::Email,
                Column::LastSeenAt,
                Column::MissingSince,
            ])
            .to_owned(),
    )
    .exec(c)
    .await?;
    Ok(())
}

/// Whose name, platform id or email contains `query` (case-insensitive).
fn containing(query: &str) -> Condition {
    let q = query.trim().to_lowercase();
    // LIKE wildcards typed by a person are matched literally.
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    let like = |col: Column| {
        Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'))
    };
    Condition::any()
        .add(like(Column::Name))
        .add(like(Column::PlatformId))
        .add(like(Column::Email))
}

/// Identities whose name, id or email contains `query` (case-insensitive), missing ones last.
pub async fn search(c: &impl Conn, query: &str, limit: u64) -> StoreResult<Vec<Identity>> {
    let query = Entity::find()
        .filter(containing(query))
        .order_by_with_nulls(Column::MissingSince, Order::Asc, NullOrdering::First)
        .order_by_asc(Column::ConnectorId)
        .order_by_asc(Column::Name)
        .limit(limit);
    rows::all(c, query).await
}

/// Marks the connector's identities not seen since `synced_at` (the sync that just ran) as
/// missing; returns how many went missing now.
pub async fn mark_missing(
    c: &impl Conn,
    connector: &str,
    synced_at: DateTime<Utc>,
) -> StoreResult<u64> {
    let res = Entity::update_many()
        .col_expr(Column::MissingSince, Expr::value(synced_at))
        .filter(Column::ConnectorId.eq(connector))
        .filter(Column::LastSeenAt.lt(synced_at))
        .filter(Column::MissingSince.is_null())
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}

/// The platform ids of a connector's present users, by name.
pub async fn users_of(c: &impl Conn, connector: &str, limit: u64) -> StoreResult<Vec<String>> {
    Ok(present_users(connector)
        .limit(limit)
        .all(c)
        .await?
        .into_iter()
        .map(|m| m.platform_id)
        .collect())
}

/// The connector's present users whose platform id, name or email contains `query`
/// (case-insensitive), by platform id; `first`, when it is one of them, comes before the rest,
/// so that it is offered even when more than `limit` match.
pub async fn search_users_of(
    c: &impl Conn,
    connector: &str,
    query: &str,
    first: Option<&str>,
    limit: u64,
) -> StoreResult<Vec<Identity>> {
    let mut found = present(connector).filter(containing(query));
    if let Some(first) = first {
        // True sorts after false in SQLite and PostgreSQL alike.
        found = found.order_by(Expr::col(Column::PlatformId).eq(first), Order::Desc);
    }
    let found = found.order_by_asc(Column::PlatformId).limit(limit);
    rows::all(c, found).await
}

/// The connector's present users whose email is `email` (emails are stored lower-cased).
pub async fn users_with_email(
    c: &impl Conn,
    connector: &str,
    email: &str,
) -> StoreResult<Vec<Identity>> {
    let query = present_users(connector).filter(Column::Email.eq(email.trim().to_lowercase()));
    rows::all(c, query).await
}

/// The connector's present users whose id or name is exactly `name`.
pub async fn users_named(c: &impl Conn, connector: &str, name: &str) -> StoreResult<Vec<Identity>> {
    let query = present_users(connector).filter(
        Condition::any()
            .add(Column::PlatformId.eq(name))
            .add(Column::Name.eq(name)),
    );
    rows::all(c, query).await
}

/// One identity of the connector by its platform id, present or missing.
pub async fn find(
    c: &impl Conn,
    connector: &str,
    platform_id: &str,
) -> StoreResult<Option<Identity>> {
    let query = Entity::find()
        .filter(Column::ConnectorId.eq(connector))
        .filter(Column::PlatformId.eq(platform_id))
        .order_by_asc(Column::Kind);
    rows::one(c, query).await
}

/// Has the connector ever listed an identity?
pub async fn any_synced(c: &impl Conn, connector: &str) -> StoreResult<bool> {
    Ok(Entity::find()
        .filter(Column::ConnectorId.eq(connector))
        .one(c)
        .await?
        .is_some())
}

/// The connector's users that its last sync still listed.
fn present(connector: &str) -> sea_orm::Select<Entity> {
    Entity::find()
        .filter(Column::ConnectorId.eq(connector))
        .filter(Column::Kind.eq("user"))
        .filter(Column::MissingSince.is_null())
}

/// The same, by platform id.
fn present_users(connector: &str) -> sea_orm::Select<Entity> {
    present(connector).order_by_asc(Column::PlatformId)
}
