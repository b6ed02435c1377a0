//! A request may ask for access that starts later: `starts_at`, when given, is when it is
//! granted (and its duration counts from then).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::parts::{add_column, drop_column, migration};

migration! {
    up(m) {
        m.alter_table(add_column(
            "requests",
            timestamp_with_time_zone_null("starts_at"),
        ))
        .await
    }
    down(m) {
        m.alter_table(drop_column("requests", "starts_at")).await
    }
}
