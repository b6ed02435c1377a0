//! The grant record is what revocation works from, whatever the catalog becomes: it already
//! keeps the connector, the identity, the unit (`spec`) and the receipt; it now also keeps
//! whether the identity held that unit before Gatehouse granted it (`held_before`: such access
//! is left as it was when the grant ends). The row is written before the platform is changed
//! (an intent, `applied` empty), so a grant that gives up after the platform may have applied it
//! can still be checked and undone. Other live grants of the same identity are found by index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000008_grant_record"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("grants")
                .add_column(boolean("held_before").default(false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("grants_by_identity")
                .table("grants")
                .col("connector_id")
                .col("identity")
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("grants_by_identity")
                .table("grants")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("grants")
                .drop_column("held_before")
                .take(),
        )
        .await
    }
}
