//! A request's jobs run in order within a lane, and lanes run side by side: the requester's
//! DMs, the channel's card and thread, and the platform's grants and revocations do not wait
//! for one another. Jobs queued before this migration share the platform lane (`""`), which
//! only keeps them in the one order they had.

use sea_orm_migration::prelude::*;

use crate::parts::{add_column, drop_column, drop_index, index, migration};

migration! {
    up(m) {
        m.alter_table(add_column(
            "jobs",
            ColumnDef::new("lane").string().not_null().default(""),
        ))
        .await?;
        m.create_index(index(
            "jobs",
            "jobs_by_request_lane",
            &["request_id", "lane", "status"],
        ))
        .await
    }
    down(m) {
        m.drop_index(drop_index("jobs", "jobs_by_request_lane"))
            .await?;
        m.alter_table(drop_column("jobs", "lane")).await
    }
}
