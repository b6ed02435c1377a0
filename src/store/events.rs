//! The ledger of Slack events already acted on, so a redelivered event is acted on once.

use chrono::{DateTime, Utc};
use sea_orm::{EntityTrait, Set};

use super::entities::processed_events::{ActiveModel, Entity};
use super::{Conn, StoreError, StoreResult};

/// Records `event_id`; false when it was already there.
pub async fn record(c: &impl Conn, event_id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
    let res = Entity::insert(ActiveModel {
        event_id: Set(event_id.to_owned()),
        received_at: Set(now),
    })
    .exec(c)
    .await
    .map_err(StoreError::from);
    match res {
        Ok(_) => Ok(true),
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}
