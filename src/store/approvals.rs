//! Approvals counted toward a request's policy stages, one per person per request.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, NotSet, QueryFilter, QueryOrder, Set};

use super::entities::approvals::{ActiveModel, Column, Entity, Model};
use super::{Conn, StoreError, StoreResult, rows};
use crate::domain::approval::Given;
use crate::domain::{RequestId, SlackUserId};

impl TryFrom<Model> for Given {
    type Error = StoreError;
    fn try_from(r: Model) -> Result<Self, StoreError> {
        Ok(Given {
            user: SlackUserId::parse(&r.approver)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            stage: usize::try_from(r.stage)
                .map_err(|_| StoreError::Corrupt(format!("approval stage {}", r.stage)))?,
        })
    }
}

/// Records `approver`'s approval toward `stage`; false when they had already approved.
pub async fn record(
    c: &impl Conn,
    request: RequestId,
    approver: &SlackUserId,
    stage: usize,
    via: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let row = ActiveModel {
        id: NotSet,
        request_id: Set(request.get()),
        approver: Set(approver.to_string()),
        stage: Set(i32::try_from(stage).unwrap_or(i32::MAX)),
        via: Set(via.to_owned()),
        given_at: Set(now),
    };
    rows::insert_once(c, row).await
}

/// The approvals given so far, oldest first.
pub async fn of_request(c: &impl Conn, request: RequestId) -> StoreResult<Vec<Given>> {
    let query = Entity::find()
        .filter(Column::RequestId.eq(request.get()))
        .order_by_asc(Column::Id);
    rows::all(c, query).await
}

/// Forgets the request's approvals (what they approved changed); how many there were.
pub async fn clear(c: &impl Conn, request: RequestId) -> StoreResult<u64> {
    let res = Entity::delete_many()
        .filter(Column::RequestId.eq(request.get()))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}
