//! Whose turn it is to write on SQLite, where one connection writes at a time: a write someone
//! is waiting on (a submission before its ack, a reviewer's decision) goes before the queued
//! background writes (job claims, completions), so it waits for at most the write in progress.
//!
//! Hand-written because the pool's own queue (sqlx's) is first come, first served, and no
//! well-kept crate offers a two-class lock: two tokio mutexes make one. A background writer
//! takes `queue`, then `turn`, and holds both until its transaction ends, so at most one of
//! them ever waits on `turn`; a foreground writer takes `turn` directly and so overtakes every
//! background writer behind the one at the head.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Which writers a write goes before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Work nobody is watching: it waits for every foreground write.
    Background,
    /// A person is waiting for this write (an ack, a decision they made).
    Foreground,
}

#[derive(Debug, Default)]
pub(super) struct WriteTurn {
    turn: Arc<Mutex<()>>,
    queue: Arc<Mutex<()>>,
}

/// Held while a transaction is open; dropping it gives the turn on.
#[derive(Debug)]
pub(super) struct Held {
    // Declared in release order: the turn first, so a foreground writer waiting on it is
    // handed it before the next background writer leaves the queue.
    _turn: OwnedMutexGuard<()>,
    _queue: Option<OwnedMutexGuard<()>>,
}

impl WriteTurn {
    pub(super) async fn take(&self, priority: Priority) -> Held {
        let queue = match priority {
            Priority::Background => Some(self.queue.clone().lock_owned().await),
            Priority::Foreground => None,
        };
        let turn = self.turn.clone().lock_owned().await;
        Held {
            _turn: turn,
            _queue: queue,
        }
    }
}

/// A connection held with its turn (on SQLite) until dropped: a write transaction (`Tx`), or
/// the pool itself for a single statement written outside one (`Db::background`).
#[derive(Debug)]
pub struct Turned<C> {
    // Dropped before `held`: the rollback of an abandoned transaction is queued on the
    // connection before the next writer gets its turn.
    inner: C,
    _held: Option<Held>,
}

/// A write transaction, holding its turn (on SQLite) until it is committed, rolled back or
/// dropped.
pub type Tx = Turned<DatabaseTransaction>;

/// The pool, holding a turn (on SQLite) for statements written outside a transaction.
pub type Writer = Turned<sea_orm::DatabaseConnection>;

impl<C> Turned<C> {
    pub(super) fn new(inner: C, held: Option<Held>) -> Turned<C> {
        Turned { inner, _held: held }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.inner.rollback().await
    }
}

// Delegation only: a `Turned` is used wherever sea-orm takes a connection.
#[async_trait]
impl<C: ConnectionTrait + Send + Sync> ConnectionTrait for Turned<C> {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.inner.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.inner.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.inner.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.inner.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.inner.support_returning()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// With a background writer at work and two more queued, a foreground writer is next.
    #[tokio::test]
    async fn a_foreground_writer_goes_before_the_queued_background_writers() {
        let turn = Arc::new(WriteTurn::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = turn.take(Priority::Background).await;
        let mut waiting = Vec::new();
        for (name, priority) in [
            ("background 1", Priority::Background),
            ("background 2", Priority::Background),
            ("foreground", Priority::Foreground),
        ] {
            let (turn, order) = (turn.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _held = turn.take(priority).await;
                order.lock().map(|mut o| o.push(name)).ok();
            }));
            // Let each join its queue before the next arrives.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(first);
        for w in waiting {
            w.await.ok();
        }
        let order = order.lock().map(|o| o.clone()).unwrap_or_default();
        assert_eq!(order, ["foreground", "background 1", "background 2"]);
    }

    /// A statement written outside a transaction (a job's outcome) waits for its turn like a
    /// transaction does: with a background write in progress and an outcome queued behind it,
    /// a submission's transaction is next, not third.
    #[tokio::test]
    async fn a_write_outside_a_transaction_waits_behind_a_foreground_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let db = crate::store::Db::connect(&url).await.unwrap();
        db.conn()
            .execute_unprepared("CREATE TABLE t (who TEXT NOT NULL)")
            .await
            .unwrap();
        let first = db.begin().await.unwrap();
        let outcome = tokio::spawn({
            let db = db.clone();
            async move {
                let c = db.writer(Priority::Background).await;
                c.execute_unprepared("INSERT INTO t VALUES ('outcome')")
                    .await
                    .unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let submission = tokio::spawn({
            let db = db.clone();
            async move {
                let tx = db.begin_foreground().await.unwrap();
                tx.execute_unprepared("INSERT INTO t VALUES ('submission')")
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.commit().await.unwrap();
        outcome.await.unwrap();
        submission.await.unwrap();
        let rows = db
            .reads()
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT who FROM t ORDER BY rowid",
            ))
            .await
            .unwrap();
        let order: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "who").unwrap())
            .collect();
        assert_eq!(order, ["submission", "outcome"]);
    }
}
