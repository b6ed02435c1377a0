//! A request's jobs run in order within a lane, and lanes run side by side: the requester's
//! DMs, the channel's card and thread, and the platform's grants and revocations do not wait
//! for one another. Jobs queued before this migration share the platform lane (`""`), which
//! only keeps them in the one order they had.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000010_job_lanes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("jobs")
                .add_column(ColumnDef::new("lane").string().not_null().default(""))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("jobs_by_request_lane")
                .table("jobs")
                .col("request_id")
                .col("lane")
                .col("status")
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("jobs_by_request_lane")
                .table("jobs")
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table("jobs").drop_column("lane").to_owned())
            .await
    }
}
