//! The catalog's resources as last loaded, so that stored requests can name what they were for
//! even after a resource leaves the catalog (it is marked inactive, never deleted).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::resources::{ActiveModel, Column, Entity};
use super::{Conn, StoreResult};
use crate::config::Resource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResource {
    pub id: String,
    pub name: String,
    pub connector_id: String,
    pub active: bool,
}

/// Upserts every catalog resource as active and marks the others inactive.
pub async fn sync(c: &impl Conn, resources: &[Resource], now: DateTime<Utc>) -> StoreResult<()> {
    for r in resources {
        let definition = serde_json::json!({
            "grant": r.grant,
            "reviewers": r.reviewers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "min_duration": r.durations.min,
            "default_duration": r.durations.default,
            "max_duration": r.durations.max,
            "reason_required": r.reason_required,
        });
        Entity::insert(ActiveModel {
            id: Set(r.id.to_string()),
            name: Set(r.name.clone()),
            description: Set(r.description.clone()),
            connector_id: Set(r.connector.to_string()),
            definition: Set(definition.to_string()),
            active: Set(true),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(Column::Id)
                .update_columns([
                    Column::Name,
                    Column::Description,
                    Column::ConnectorId,
                    Column::Definition,
                    Column::Active,
                    Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(c)
        .await?;
    }
    let ids: Vec<String> = resources.iter().map(|r| r.id.to_string()).collect();
    Entity::update_many()
        .col_expr(Column::Active, Expr::value(false))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.is_not_in(ids))
        .filter(Column::Active.eq(true))
        .exec(c)
        .await?;
    Ok(())
}

pub async fn list(c: &impl Conn) -> StoreResult<Vec<StoredResource>> {
    Ok(Entity::find()
        .order_by_asc(Column::Id)
        .all(c)
        .await?
        .into_iter()
        .map(|m| StoredResource {
            id: m.id,
            name: m.name,
            connector_id: m.connector_id,
            active: m.active,
        })
        .collect())
}
