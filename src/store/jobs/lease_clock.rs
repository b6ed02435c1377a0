//! What time leases are judged by: the database server's clock (`database_now`), unless the
//! app's `Clock` decides it (`lease_now`), so that processes whose own clocks disagree still
//! agree on whose lease has lapsed.

use chrono::{DateTime, Utc};
use sea_orm::{DbBackend, Statement};

use chrono::DurationRound;

use crate::clock::{Clock, SystemClock};
use crate::store::{Conn, StoreError, StoreResult};

/// The database server's current time, to the microsecond (SQLite: to the millisecond, as its
/// own `julianday('now')` tells it). Our Db is SQLite or PostgreSQL. A SQLite database is a file
/// on this host (its WAL needs memory shared between the processes using it, so they all run
/// here), so its clock is this machine's and is read without a round trip to its thread.
pub async fn database_now(c: &impl Conn) -> StoreResult<DateTime<Utc>> {
    let backend = c.get_database_backend();
    if backend != DbBackend::Postgres {
        let now = SystemClock.now();
        return Ok(now
            .duration_trunc(chrono::TimeDelta::milliseconds(1))
            .unwrap_or(now));
    }
    // clock_timestamp(), not now(): now() is when the transaction began.
    let sql = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS micros";
    let row = c
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| StoreError::Corrupt("the database did not tell its time".into()))?;
    let micros: i64 = row.try_get("", "micros")?;
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("the database's time is {micros} µs")))
}

/// The time leases are judged by: the database's clock, which every process sharing the
/// database reads alike whatever its own clock says, unless `clock` decides it (a test's manual
/// clock does, so that moving it lapses leases as it makes jobs due). The time is read here and
/// bound like any other, so it is stored and compared in the column's own format (on SQLite a
/// text timestamp, which the database's `CURRENT_TIMESTAMP` would not match).
pub async fn lease_now(c: &impl Conn, clock: &dyn Clock) -> StoreResult<DateTime<Utc>> {
    match clock.lease_now() {
        Some(now) => Ok(now),
        None => database_now(c).await,
    }
}
