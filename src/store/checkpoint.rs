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

/// Runs checkpoints until stopped or dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
    conn: DatabaseConnection,
}

impl Checkpointer {
    pub(super) async fn start(url: &str) -> StoreResult<Checkpointer> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30));
        let conn = Database::connect(opts).await?;
        let task = tokio::spawn(run(conn.clone()));
        Ok(Checkpointer { task, conn })
    }

    /// Stops, closing its connection: the database's last connection to close (the writer,
    /// after this) copies the log back and removes it, so a clean stop leaves one file.
    pub(super) async fn stop(mut self) -> StoreResult<()> {
        self.task.abort();
        // The task's clone of the pool goes with it; closing waits for the connection.
        let _ = (&mut self.task).await;
        Ok(self.conn.clone().close().await?)
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
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use sea_orm::ConnectionTrait;

    use crate::store::Db;

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// A database file in `dir` with a table `t` of blobs; its file and its log.
    async fn with_a_table(dir: &Path) -> (Db, PathBuf, PathBuf) {
        let (file, wal) = (dir.join("g.db"), dir.join("g.db-wal"));
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        db.conn()
            .execute_unprepared("CREATE TABLE t (x BLOB)")
            .await
            .unwrap();
        (db, file, wal)
    }

    async fn write_5_mb(db: &Db) {
        for _ in 0..20 {
            let tx = db.begin().await.unwrap();
            tx.execute_unprepared("INSERT INTO t VALUES (randomblob(250000))")
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }

    /// With SQLite's own checkpoints off, what is written reaches the database file, and the
    /// log is then started over rather than grown: 10 MB written leave a log of about 5.
    #[tokio::test]
    async fn the_write_ahead_log_is_copied_back_and_started_over() {
        let dir = tempfile::tempdir().unwrap();
        let (db, file, wal) = with_a_table(dir.path()).await;
        write_5_mb(&db).await;
        // Without the checkpointer the file stays as it was and the pages stay in the log.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while size(&file) < 5_000_000 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the database file is {} bytes after 5 MB written; the log {}",
                size(&file),
                size(&wal)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The file is sized before the pages are copied: let the copy finish.
        tokio::time::sleep(Duration::from_millis(500)).await;
        write_5_mb(&db).await;
        assert!(
            size(&wal) < 8_000_000,
            "the log grew to {} bytes for 10 MB written",
            size(&wal)
        );
        db.close().await.unwrap();
    }

    /// A clean close leaves the database in its one file, the log copied back and removed, as
    /// SQLite's own last close does.
    #[tokio::test]
    async fn a_clean_close_leaves_no_log_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (db, file, wal) = with_a_table(dir.path()).await;
        write_5_mb(&db).await;
        db.close().await.unwrap();
        assert_eq!(size(&wal), 0, "the log is left behind");
        assert!(size(&file) > 5_000_000, "the file is {} bytes", size(&file));
    }
}
