//! The `requests` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub requester: String,
    pub resource_id: String,
    pub connector_id: String,
    pub duration_secs: i64,
    pub reason: Option<String>,
    pub status: String,
    pub version: i32,
    pub open_key: Option<String>,
    pub identity: Option<String>,
    pub end_reason: Option<String>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub active_since: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    pub starts_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
