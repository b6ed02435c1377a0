//! Black-box tests: the real app against real databases (SQLite always; PostgreSQL too when
//! GATEHOUSE_TEST_POSTGRES_URL is set). One binary, so linking happens once.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should stop loudly"
)]

mod support;

mod admin_and_overlap;
mod approvals;
mod ask;
mod ask_llm;
mod audit_log;
mod authorization;
mod auto_approval_races;
mod bigquery_connector;
mod break_glass;
mod catch_up;
mod cli;
mod containers;
mod databricks_connector;
mod deciders;
mod demo;
mod directory_events;
mod docs;
mod expiry;
mod faults;
mod grant_races;
mod grant_records;
mod hostile_names;
mod identity_choice;
mod jobs;
mod leases;
mod lifecycle;
mod linking;
mod logs;
mod looker_connector;
mod manifest;
mod mysql_connector;
mod oncall;
mod ops;
mod postgres_connector;
mod powerbi_connector;
mod properties;
mod redshift_connector;
mod requesters;
mod requests;
mod revoke_now;
mod scheduled;
mod serve;
mod sigma_connector;
mod slack_admin;
mod slack_again;
mod slack_answers;
mod slack_card;
mod slack_confirm;
mod slack_delivery;
mod slack_dms;
mod slack_flow;
mod slack_forms;
mod slack_home;
mod slack_identities;
mod slack_limits;
mod slack_manual;
mod slack_resilience;
mod snowflake_connector;
mod socket_mode;
mod structure;
mod tableau_connector;
mod tidy;
