//! Approvals given toward a request's policy stages: one row per person per request, so a
//! second ✅ from the same reviewer (or a redelivered one) cannot count twice.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::parts::{drop_table, migration, unique_index};

migration! {
    up(m) {
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
        m.create_index(unique_index(
            "approvals",
            "approvals_once_per_person",
            &["request_id", "approver"],
        ))
        .await
    }
    down(m) {
        m.drop_table(drop_table("approvals")).await
    }
}
