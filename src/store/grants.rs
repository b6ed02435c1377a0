//! The grant record: what was (or is being) granted on a platform for a request, and when it
//! was taken away. Revocation, reconciliation and "who has access" read it, never today's
//! catalog: it keeps the connector, the identity, the unit, the receipt, and whether the
//! identity held the unit before Gatehouse granted it.
//!
//! A row is written before the platform is changed (an intent: `applied` is empty) and settled
//! when the change is confirmed, so a grant that gave up after the platform may have applied it
//! still has a record to undo.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::entities::grants::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreError, StoreResult, rows};
use crate::domain::{ConnectorId, Unit};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub request_id: i64,
    pub connector_id: String,
    pub identity: String,
    /// The unit granted, as the connector's JSON (`Unit`); see [`Grant::unit`].
    pub spec: String,
    /// What the platform call did; empty while the grant is only intended.
    pub applied: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_applied: Option<String>,
    /// Which privileges the grant added, for connectors that keep such a record.
    pub receipt: Option<String>,
    /// The identity held the unit directly before Gatehouse granted it: its end leaves it.
    pub held_before: bool,
}

impl Grant {
    pub fn unit(&self) -> StoreResult<Unit> {
        serde_json::from_str(&self.spec).map_err(|e| {
            StoreError::Corrupt(format!(
                "grant {} of request {}: unit `{}`: {e}",
                self.id, self.request_id, self.spec
            ))
        })
    }

    pub fn connector(&self) -> StoreResult<ConnectorId> {
        ConnectorId::parse(&self.connector_id)
            .map_err(|e| StoreError::Corrupt(format!("grant {}: connector: {e}", self.id)))
    }

    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

impl From<Model> for Grant {
    fn from(m: Model) -> Self {
        Grant {
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
            held_before: m.held_before,
        }
    }
}

/// A grant about to be made: written before the platform is changed.
pub struct NewGrant<'a> {
    pub request_id: i64,
    pub connector_id: &'a str,
    pub identity: &'a str,
    pub unit: &'a Unit,
    pub held_before: bool,
}

pub async fn insert(c: &impl Conn, g: NewGrant<'_>, now: DateTime<Utc>) -> StoreResult<Grant> {
    let spec = serde_json::to_string(g.unit)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode the unit: {e}")))?;
    let model = ActiveModel {
        request_id: Set(g.request_id),
        connector_id: Set(g.connector_id.to_owned()),
        identity: Set(g.identity.to_owned()),
        spec: Set(spec),
        applied: Set(String::new()),
        granted_at: Set(now),
        revoked_at: Set(None),
        revoke_applied: Set(None),
        receipt: Set(None),
        held_before: Set(g.held_before),
        ..Default::default()
    };
    Ok(model.insert(c).await?.into())
}

/// The platform confirmed the grant: what it did, its receipt, and when.
pub async fn settle(
    c: &impl Conn,
    id: i64,
    applied: &str,
    receipt: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    Entity::update_many()
        .col_expr(Column::Applied, Expr::value(applied))
        .col_expr(Column::Receipt, Expr::value(receipt.map(str::to_owned)))
        .col_expr(Column::GrantedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(())
}

/// Marks one grant as taken away (or found gone). False when it already was.
pub async fn mark_revoked(
    c: &impl Conn,
    id: i64,
    applied: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let res = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .col_expr(Column::RevokeApplied, Expr::value(applied))
        .filter(Column::Id.eq(id))
        .filter(Column::RevokedAt.is_null())
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The request's grant that has not been revoked yet, if any.
pub async fn live_for_request(c: &impl Conn, request_id: i64) -> StoreResult<Option<Grant>> {
    Ok(for_request(c, request_id)
        .await?
        .into_iter()
        .rfind(Grant::is_live))
}

/// The request's latest grant, live or not.
pub async fn latest_for_request(c: &impl Conn, request_id: i64) -> StoreResult<Option<Grant>> {
    Ok(for_request(c, request_id).await?.pop())
}

pub async fn for_request(c: &impl Conn, request_id: i64) -> StoreResult<Vec<Grant>> {
    find(c, Condition::all().add(Column::RequestId.eq(request_id))).await
}

/// The grants that meet `which`, oldest first.
async fn find(c: &impl Conn, which: Condition) -> StoreResult<Vec<Grant>> {
    rows::all(c, Entity::find().filter(which).order_by_asc(Column::Id)).await
}

/// Live grants of other requests that give `identity` something on `connector`: what revoking
/// one grant must leave (two resources may share a role, or two tables a catalog).
pub async fn live_for_identity(
    c: &impl Conn,
    connector: &str,
    identity: &str,
    except_request: i64,
) -> StoreResult<Vec<Grant>> {
    let which = Condition::all()
        .add(Column::ConnectorId.eq(connector))
        .add(Column::Identity.eq(identity))
        .add(Column::RevokedAt.is_null())
        .add(Column::RequestId.ne(except_request));
    find(c, which).await
}

/// Grants through `connector` that are live, or were taken away (or made) since `since`: what
/// reconciliation compares with the platform.
pub async fn on_connector(
    c: &impl Conn,
    connector: &str,
    since: DateTime<Utc>,
) -> StoreResult<Vec<Grant>> {
    let recent = Condition::any()
        .add(Column::RevokedAt.is_null())
        .add(Column::RevokedAt.gte(since))
        .add(Column::GrantedAt.gte(since));
    find(
        c,
        Condition::all()
            .add(Column::ConnectorId.eq(connector))
            .add(recent),
    )
    .await
}

/// Live grants, counted by the resource they were asked for and what they grant (connector and
/// unit, as recorded): the start-up check compares these with the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveGroup {
    pub resource_id: String,
    pub connector_id: String,
    /// The unit as recorded (JSON); see [`Grant::unit`].
    pub spec: String,
    pub count: i64,
}

pub async fn live_by_resource(c: &impl Conn) -> StoreResult<Vec<LiveGroup>> {
    use sea_orm::Statement;
    // One grouped read, whatever the number of live grants (an ORM join per row would not be).
    let sql = "SELECT r.resource_id, g.connector_id, g.spec, COUNT(*) AS n \
               FROM grants g JOIN requests r ON r.id = g.request_id \
               WHERE g.revoked_at IS NULL \
               GROUP BY r.resource_id, g.connector_id, g.spec \
               ORDER BY r.resource_id, g.connector_id, g.spec";
    let rows = c
        .query_all_raw(Statement::from_string(c.get_database_backend(), sql))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(LiveGroup {
                resource_id: row.try_get("", "resource_id")?,
                connector_id: row.try_get("", "connector_id")?,
                spec: row.try_get("", "spec")?,
                count: row.try_get("", "n")?,
            })
        })
        .collect()
}

/// The live grants made through `connector`.
pub async fn live_on_connector(c: &impl Conn, connector: &str) -> StoreResult<Vec<Grant>> {
    let which = Condition::all()
        .add(Column::ConnectorId.eq(connector))
        .add(Column::RevokedAt.is_null());
    find(c, which).await
}
