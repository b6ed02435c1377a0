//! Gatehouse's own database: the only code that names sea-orm entities or writes SQL for it.
//! Each function takes a connection or a transaction, so `workflow` decides what is atomic.

pub mod approvals;
pub mod audit;
mod checkpoint;
mod entities;
pub mod events;
pub mod extension_asks;
pub mod grants;
pub mod identities;
pub mod jobs;
pub mod links;
pub mod requests;
pub mod resources;
pub mod roles;
mod rows;
pub mod settings;
mod write_turn;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

pub use sea_orm::ConnectionTrait as Conn;
use write_turn::WriteTurn;
pub use write_turn::{Priority, Turned, Tx, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A unique index said no: the thing exists already (an open request, a processed event…).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))))
    }
}

/// A conversion that cannot fail (a row read as it is) fails the same way as one that can.
impl From<std::convert::Infallible> for StoreError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SQLite connections for reads (`Db::reads`).
const READERS: u32 = 4;

/// A pool on SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite only: connections for reads, which WAL lets run beside the one writer instead of
    /// queueing behind every write on its single connection.
    reader: Option<DatabaseConnection>,
    /// SQLite only: who writes next on its one write connection (`begin`).
    turn: Option<std::sync::Arc<WriteTurn>>,
    /// SQLite on a file only: copies the write-ahead log back off the writer (`checkpoint`).
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    /// When this process last looked for jobs past their lease (`jobs::claim`).
    lapsed_looked: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Db {
    /// Whether `every` has passed since this process last looked for jobs past their lease;
    /// if so, the look is counted as made now.
    pub(crate) fn lapsed_due(&self, every: Duration) -> bool {
        let mut last = self.lapsed_looked.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= every);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// SQLite gets WAL, a busy timeout and one connection for writes: one writer at a time is
    /// SQLite's own rule, and keeping it in the pool avoids "database is locked" between our own
    /// tasks. Reads that need not see a transaction of their own go through `reads`.
    pub async fn connect(url: &str) -> StoreResult<Db> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(30));
        // An in-memory database is one per connection: it has no readers apart.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if url.starts_with("sqlite:") {
            opts.max_connections(1)
                .min_connections(1)
                .map_sqlx_sqlite_opts(move |o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        // `checkpoint` does it, on a connection of its own.
                        .pragma("wal_autocheckpoint", if in_memory { "1000" } else { "0" })
                });
        } else {
            opts.max_connections(10).min_connections(1);
        }
        let conn = Database::connect(opts).await?;
        let reader = if url.starts_with("sqlite:") && !in_memory {
            let mut opts = ConnectOptions::new(url.to_owned());
            opts.sqlx_logging(false)
                .acquire_timeout(Duration::from_secs(30))
                .max_connections(READERS)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|o| {
                    o.busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        .read_only(true)
                });
            Some(Database::connect(opts).await?)
        } else {
            None
        };
        let turn = url
            .starts_with("sqlite:")
            .then(|| std::sync::Arc::new(WriteTurn::default()));
        let checkpointer = match reader.is_some() {
            true => Some(std::sync::Arc::new(
                checkpoint::Checkpointer::start(url).await?,
            )),
            false => None,
        };
        Ok(Db {
            conn,
            reader,
            turn,
            _checkpointer: checkpointer,
            lapsed_looked: Default::default(),
        })
    }

    /// Brings the schema up to date. On PostgreSQL several processes may start at once: a
    /// transaction-scoped advisory lock makes the others wait, then find nothing to do.
    pub async fn migrate(&self) -> StoreResult<()> {
        if !self.is_postgres() {
            Migrator::up(&self.conn, None).await?;
            return Ok(());
        }
        let tx = self.conn.begin().await?;
        tx.execute_unprepared("SELECT pg_advisory_xact_lock(7243001)")
            .await?;
        Migrator::up(&tx, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The migrations this binary has that the database has not had yet, by name, oldest
    /// first. Reads only: unlike `migrate`, it creates nothing, not even the migrations table,
    /// so commands that must not change the schema can refuse a database that is behind.
    pub async fn pending_migrations(&self) -> StoreResult<Vec<String>> {
        Ok(Migrator::get_pending_migrations_read_only(&self.conn)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    }

    pub fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Postgres
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// For reads only, outside any transaction: on SQLite a pool of read-only connections
    /// beside the writer (each read sees everything committed before it began); elsewhere the
    /// same pool as `conn`.
    pub fn reads(&self) -> &DatabaseConnection {
        self.reader.as_ref().unwrap_or(&self.conn)
    }

    /// Begins a write transaction for background work (a job's claim, its outcome).
    pub async fn begin(&self) -> StoreResult<Tx> {
        self.begin_as(Priority::Background).await
    }

    /// Begins a write transaction a person is waiting on: a submission before its ack, a
    /// decision they made. On SQLite it goes before the queued background writes.
    pub async fn begin_foreground(&self) -> StoreResult<Tx> {
        self.begin_as(Priority::Foreground).await
    }

    /// The pool, for statements written outside a transaction (a job's outcome, its lease's
    /// renewal, the event ledger). On SQLite it first waits for its turn, as `begin` does, so
    /// that a write someone is waiting on is not queued in the pool behind background writes.
    pub async fn writer(&self, priority: Priority) -> Writer {
        Turned::new(self.conn.clone(), self.turn(priority).await)
    }

    async fn turn(&self, priority: Priority) -> Option<write_turn::Held> {
        match &self.turn {
            Some(turn) => Some(turn.take(priority).await),
            None => None,
        }
    }

    /// On SQLite, waits for its turn (`write_turn`), then takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a transaction that read first and wrote later would otherwise fail with
    /// "database is locked" when another process wrote in between, instead of waiting its turn.
    async fn begin_as(&self, priority: Priority) -> StoreResult<Tx> {
        let held = self.turn(priority).await;
        let opts = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(Tx::new(self.conn.begin_with_options(opts).await?, held))
    }

    pub async fn ping(&self) -> StoreResult<()> {
        Ok(self.conn.ping().await?)
    }

    pub async fn close(self) -> StoreResult<()> {
        // Other clones of this Db still open keep it running; it stops with the last.
        if let Some(checkpointer) = self
            ._checkpointer
            .and_then(|c| std::sync::Arc::try_unwrap(c).ok())
        {
            checkpointer.stop().await?;
        }
        if let Some(reader) = self.reader {
            reader.close().await?;
        }
        Ok(self.conn.close().await?)
    }
}
