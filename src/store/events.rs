//! The ledger of Slack events already acted on, so a redelivered event is acted on once.

use chrono::{DateTime, Utc};
use sea_orm::Set;

use super::entities::processed_events::ActiveModel;
use super::{Conn, StoreResult};

/// Records `event_id`; false when it was already there.
pub async fn record(c: &impl Conn, event_id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
    let row = ActiveModel {
        event_id: Set(event_id.to_owned()),
        received_at: Set(now),
    };
    super::rows::insert_once(c, row).await
}
