//! Jobs of one request run one at a time and in order, whichever worker or process claims them:
//! a claim looks for the request's other running or earlier due jobs, by this index.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000005_jobs_by_request"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("jobs_by_request")
                .table("jobs")
                .col("request_id")
                .col("status")
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("jobs_by_request")
                .table("jobs")
                .to_owned(),
        )
        .await
    }
}
