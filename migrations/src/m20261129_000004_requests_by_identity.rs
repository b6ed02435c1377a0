//! Revoking a grant looks up the identity's other live grants on the same connector (what the
//! revocation must leave). Without this index that lookup scans every active request, so each
//! revocation cost grew with the number of active grants (about 70 a second with 100,000).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000004_requests_by_identity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("requests_by_identity")
                .table("requests")
                .col("connector_id")
                .col("identity")
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("requests_by_identity")
                .table("requests")
                .to_owned(),
        )
        .await
    }
}
