//! Test scaffolding: databases, a stateful fake platform, and an app builder.

pub mod app;
pub mod audit;
pub mod bigquery_fake;
pub mod bin;
pub mod catalog;
pub mod contract;
pub mod databricks_fake;
pub mod db;
pub mod group_platform;
pub mod here;
pub mod home;
pub mod looker_fake;
pub mod made_roles;
pub mod mariadb;
pub mod opsgenie_fake;
pub mod pagerduty_fake;
pub mod pg;
pub mod platform;
pub mod powerbi_fake;
pub mod queue;
pub mod redshift;
pub mod rest_fake;
pub mod roles;
pub mod round_trip;
pub mod scenario;
pub mod serve_env;
pub mod sigma_fake;
pub mod slack;
pub mod snowflake_fake;
pub mod sql_suite;
pub mod tableau_fake;

pub use app::{TestApp, u};
pub use db::{TestDb, backends};
