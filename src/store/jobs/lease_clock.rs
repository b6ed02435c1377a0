//! What time leases are judged by: the database server's clock (`database_now`), unless the
//! app's `Clock` decides it (`lease_now`), so that processes whose own clocks disagree still
//! agree on whose lease has lapsed.

use chrono::{DateTime, Utc};
use sea_orm::{DbBackend, Statement};

use crate::clock::Clock;
use crate::store::{Conn, StoreError, StoreResult};

/// The database server's current time, to the microsecond (SQLite: to the millisecond). Our
/// Db is SQLite or PostgreSQL; anything but PostgreSQL is asked in SQLite's words.
pub async fn database_now(c: &impl Conn) -> StoreResult<DateTime<Utc>> {
    let backend = c.get_database_backend();
    let sql = match backend {
        // clock_timestamp(), not now(): now() is when the transaction began.
        DbBackend::Postgres => {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS micros"
        }
        _ => {
            "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000 AS micros"
        }
    };
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
