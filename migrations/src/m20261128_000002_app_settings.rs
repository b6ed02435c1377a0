//! Settings people change from Slack at run time (e.g. the Access Requests channel).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::parts::{drop_table, migration};

migration! {
    up(m) {
        m.create_table(
            Table::create()
                .table("app_settings")
                .col(string("key").primary_key())
                .col(text("value"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(string("updated_by"))
                .take(),
        )
        .await
    }
    down(m) {
        m.drop_table(drop_table("app_settings")).await
    }
}
