//! The schema of Gatehouse's own database, for SQLite and PostgreSQL alike. Migrations are
//! append-only: a released one is never edited; a change is a new file.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_tables;
mod m20261128_000002_app_settings;
mod m20261129_000003_grant_receipts;
mod m20261129_000004_requests_by_identity;
mod m20261129_000005_jobs_by_request;
mod m20261129_000006_approvals;
mod m20261129_000007_scheduled_start;
mod m20261206_000008_grant_record;
mod m20261206_000009_extension_asks;
mod m20261206_000010_job_lanes;
mod parts;

/// The first audit row's `prev_hash`.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_tables::Migration),
            Box::new(m20261128_000002_app_settings::Migration),
            Box::new(m20261129_000003_grant_receipts::Migration),
            Box::new(m20261129_000004_requests_by_identity::Migration),
            Box::new(m20261129_000005_jobs_by_request::Migration),
            Box::new(m20261129_000006_approvals::Migration),
            Box::new(m20261129_000007_scheduled_start::Migration),
            Box::new(m20261206_000008_grant_record::Migration),
            Box::new(m20261206_000009_extension_asks::Migration),
            Box::new(m20261206_000010_job_lanes::Migration),
        ]
    }
}
