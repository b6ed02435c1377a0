//! The statements migrations are made of, each built one way: a named index over columns, one
//! column added or dropped, a table dropped. A migration then reads as the change it makes.

use sea_orm_migration::prelude::*;

/// `CREATE INDEX name ON table (cols…)`.
pub fn index(
    table: &'static str,
    name: &'static str,
    cols: &[&'static str],
) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(*c);
    }
    i.take()
}

/// `CREATE UNIQUE INDEX name ON table (cols…)`.
pub fn unique_index(
    table: &'static str,
    name: &'static str,
    cols: &[&'static str],
) -> IndexCreateStatement {
    index(table, name, cols).unique().take()
}

/// `DROP INDEX name` (of `table`).
pub fn drop_index(table: &'static str, name: &'static str) -> IndexDropStatement {
    Index::drop().name(name).table(table).to_owned()
}

/// `ALTER TABLE table ADD COLUMN …`.
pub fn add_column(table: &'static str, col: impl IntoColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(col).take()
}

/// `ALTER TABLE table DROP COLUMN col`.
pub fn drop_column(table: &'static str, col: &'static str) -> TableAlterStatement {
    Table::alter().table(table).drop_column(col).take()
}

/// `DROP TABLE table`.
pub fn drop_table(table: &'static str) -> TableDropStatement {
    Table::drop().table(table).take()
}

/// The migration a file holds: its name is the file's (`DeriveMigrationName`), `up` makes the
/// change and `down` undoes it, each on the schema manager named in the parentheses.
macro_rules! migration {
    (up($m:ident) $up:block down($d:ident) $down:block) => {
        #[derive(DeriveMigrationName)]
        pub struct Migration;

        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, $m: &SchemaManager) -> Result<(), DbErr> $up

            async fn down(&self, $d: &SchemaManager) -> Result<(), DbErr> $down
        }
    };
}
pub(crate) use migration;
