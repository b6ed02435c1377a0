//! Approvals given toward a request's policy stages: one row per person per request, so a
//! second ✅ from the same reviewer (or a redelivered one) cannot count twice.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000006_approvals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("approvals")
                // The order approvals were given in, whatever the clock said.
                .col(big_pk_auto("id"))
                .col(big_integer("request_id"))
                .col(string("approver"))
                .col(integer("stage"))
                .col(string("via"))
                .col(timestamp_with_time_zone("given_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("approvals_once_per_person")
                .table("approvals")
                .col("request_id")
                .col("approver")
                .unique()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("approvals").take()).await
    }
}
