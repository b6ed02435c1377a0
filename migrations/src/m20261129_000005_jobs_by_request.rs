//! Jobs of one request run one at a time and in order, whichever worker or process claims them:
//! a claim looks for the request's other running or earlier due jobs, by this index.

use sea_orm_migration::prelude::*;

use crate::parts::{drop_index, index, migration};

migration! {
    up(m) {
        m.create_index(index("jobs", "jobs_by_request", &["request_id", "status"]))
            .await
    }
    down(m) {
        m.drop_index(drop_index("jobs", "jobs_by_request")).await
    }
}
