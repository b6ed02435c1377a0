//! The grant record is what revocation works from, whatever the catalog becomes: it already
//! keeps the connector, the identity, the unit (`spec`) and the receipt; it now also keeps
//! whether the identity held that unit before Gatehouse granted it (`held_before`: such access
//! is left as it was when the grant ends). The row is written before the platform is changed
//! (an intent, `applied` empty), so a grant that gives up after the platform may have applied it
//! can still be checked and undone. A request has at most one live grant; other live grants of
//! the same identity are found by index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::parts::{add_column, drop_column, drop_index, index, migration};

migration! {
    up(m) {
        m.alter_table(add_column(
            "grants",
            boolean("held_before").default(false),
        ))
        .await?;
        m.create_index(index(
            "grants",
            "grants_by_identity",
            &["connector_id", "identity"],
        ))
        .await?;
        // One live grant per request: two workers provisioning the same request (a lease that
        // ran out under load) must share one record, not each write an intent of its own.
        // Partial unique indexes are written alike on SQLite and PostgreSQL.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX grants_live_per_request ON grants (request_id) \
                 WHERE revoked_at IS NULL",
            )
            .await?;
        Ok(())
    }
    down(m) {
        m.get_connection()
            .execute_unprepared("DROP INDEX grants_live_per_request")
            .await?;
        m.drop_index(drop_index("grants", "grants_by_identity"))
            .await?;
        m.alter_table(drop_column("grants", "held_before")).await
    }
}
