//! SQLite's write-ahead log is copied back into the database file (a checkpoint) here, on a
//! connection of its own, once a second — not inside whichever commit crosses SQLite's
//! 1,000-page mark, as it would by default: that commit holds the one writer through the copy
//! and its fsync, and a submission waiting for its ack waits behind it.
//!
//! PASSIVE never waits for, nor blocks, a writer or a reader: frames a reader still needs are
//! copied on a later turn. Once everything in the log has been copied, the next write starts the
//! log over from its beginning, so the file stays as large as about a second of writes.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

use super::StoreResult;

/// How often the log is copied back.
const EVERY: Duration = Duration::from_secs(1);
/// Frames (pages) left uncopied past which something is holding the log open: said once.
const STUCK_FRAMES: i64 = 100_000;

/// Runs checkpoints until dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    pub(super) async fn start(url: &str) -> StoreResult<Checkpointer> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30));
        let conn = Database::connect(opts).await?;
        let task = tokio::spawn(run(conn));
        Ok(Checkpointer { task })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(conn: DatabaseConnection) {
    let mut said_stuck = false;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match checkpoint(&conn).await {
            Ok((log, copied)) if log - copied > STUCK_FRAMES && !said_stuck => {
                said_stuck = true;
                tracing::warn!(
                    log,
                    copied,
                    "SQLite's write-ahead log keeps growing: a long read is holding it open"
                );
            }
            Ok(_) => {}
            // Another process's checkpoint in progress, or a transient error: next turn.
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint skipped"),
        }
    }
}

/// One passive checkpoint: the log's frames, and how many of them are now in the database.
async fn checkpoint(conn: &DatabaseConnection) -> Result<(i64, i64), sea_orm::DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    let Some(row) = row else {
        return Ok((0, 0));
    };
    // The pragma's row is (busy, log frames, checkpointed frames), both -1 outside WAL mode.
    let log: i64 = row.try_get_by_index(1)?;
    let copied: i64 = row.try_get_by_index(2)?;
    Ok((log, copied))
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use crate::store::Db;

    /// 15 MB written over three seconds with SQLite's own checkpoints off: the log is copied
    /// back and started over as it goes, so it never holds more than a few seconds' writes.
    #[tokio::test]
    async fn the_write_ahead_log_is_copied_back_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        db.conn()
            .execute_unprepared("CREATE TABLE t (x BLOB)")
            .await
            .unwrap();
        let wal = dir.path().join("g.db-wal");
        let mut largest = 0;
        for _ in 0..60 {
            let tx = db.begin().await.unwrap();
            tx.execute_unprepared("INSERT INTO t VALUES (randomblob(250000))")
                .await
                .unwrap();
            tx.commit().await.unwrap();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            largest < 9_000_000,
            "the log grew to {largest} bytes for 15 MB written"
        );
        db.close().await.unwrap();
    }
}
