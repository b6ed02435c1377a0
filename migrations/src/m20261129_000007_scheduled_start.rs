//! A request may ask for access that starts later: `starts_at`, when given, is when it is
//! granted (and its duration counts from then).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000007_scheduled_start"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("requests")
                .add_column(timestamp_with_time_zone_null("starts_at"))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("requests")
                .drop_column("starts_at")
                .take(),
        )
        .await
    }
}
