//! Revoking a grant looks up the identity's other live grants on the same connector (what the
//! revocation must leave). Without this index that lookup scans every active request, so each
//! revocation cost grew with the number of active grants (about 70 a second with 100,000).

use sea_orm_migration::prelude::*;

use crate::parts::{drop_index, index, migration};

migration! {
    up(m) {
        m.create_index(index(
            "requests",
            "requests_by_identity",
            &["connector_id", "identity"],
        ))
        .await
    }
    down(m) {
        m.drop_index(drop_index("requests", "requests_by_identity"))
            .await
    }
}
