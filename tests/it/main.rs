//! Black-box tests: the real app against real databases (SQLite always; PostgreSQL too when
//! GATEHOUSE_TEST_POSTGRES_URL is set). One binary, so linking happens once.

mod support;

mod audit_log;
mod cli;
mod jobs;
mod lifecycle;
mod properties;
mod requests;
mod tidy;
