//! A holder's asks for more time, each decided once: a second click on Approve, or an ask that
//! a later extension made stale, can no longer move the expiry.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::parts::{drop_table, index, migration};

migration! {
    up(m) {
        m.create_table(
            Table::create()
                .table("extension_asks")
                .col(big_pk_auto("id"))
                .col(big_integer("request_id"))
                .col(string("asked_by"))
                .col(big_integer("minutes"))
                // The expiry the ask was made against: once it moved, the ask is stale.
                .col(timestamp_with_time_zone_null("expiry_then"))
                // pending, approved, denied or stale.
                .col(string("status"))
                .col(string_null("decided_by"))
                .col(timestamp_with_time_zone("asked_at"))
                .col(timestamp_with_time_zone_null("decided_at"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "extension_asks",
            "extension_asks_by_request",
            &["request_id"],
        ))
        .await
    }
    down(m) {
        m.drop_table(drop_table("extension_asks")).await
    }
}
