//! A grant's receipt: which privileges it added, for platforms that grant a unit as several
//! (Databricks Unity Catalog), so that revoking it removes only those.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::parts::{add_column, drop_column, migration};

migration! {
    up(m) {
        m.alter_table(add_column("grants", text_null("receipt")))
            .await
    }
    down(m) {
        m.alter_table(drop_column("grants", "receipt")).await
    }
}
