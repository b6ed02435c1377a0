//! Run-time settings changed from Slack, by key.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};

use super::entities::app_settings::{ActiveModel, Column, Entity};
use super::{Conn, StoreResult};

pub const REQUESTS_CHANNEL: &str = "requests_channel";

pub async fn get(c: &impl Conn, key: &str) -> StoreResult<Option<String>> {
    Ok(Entity::find_by_id(key.to_owned())
        .one(c)
        .await?
        .map(|m| m.value))
}

pub async fn set(
    c: &impl Conn,
    key: &str,
    value: &str,
    by: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    Entity::insert(ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now),
        updated_by: Set(by.to_owned()),
    })
    .on_conflict(
        OnConflict::column(Column::Key)
            .update_columns([Column::Value, Column::UpdatedAt, Column::UpdatedBy])
            .to_owned(),
    )
    .exec(c)
    .await?;
    Ok(())
}
