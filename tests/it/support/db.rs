//! Fresh databases for tests: a SQLite file in a temp dir, and a new PostgreSQL database per
//! test when GATEHOUSE_TEST_POSTGRES_URL names a server (dropped again by `TestDb::close`).

use std::io::Write;
use std::sync::Once;

use gatehouse::store::Db;
use sea_orm::{ConnectionTrait, Database};

pub struct TestDb {
    pub url: String,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

static SKIP_NOTE: Once = Once::new();

/// SQLite, plus PostgreSQL when configured. Under CI (GATEHOUSE_TEST_REQUIRE_POSTGRES=1) a
/// missing or unreachable PostgreSQL is a failure, never a skip.
pub async fn backends() -> Vec<TestDb> {
    let mut all = vec![TestDb::sqlite()];
    if let Some(pg) = TestDb::postgres().await {
        all.push(pg);
    }
    all
}

/// The PostgreSQL server's admin URL for tests that need the server itself (not a database of
/// ours), or None with a note; under CI a missing server is a failure.
pub fn postgres_server(test: &str) -> Option<String> {
    server(
        test,
        "PostgreSQL",
        "GATEHOUSE_TEST_POSTGRES_URL",
        "GATEHOUSE_TEST_REQUIRE_POSTGRES",
    )
}

/// The MariaDB (or MySQL) server's admin URL, like `postgres_server`.
pub fn mariadb_server(test: &str) -> Option<String> {
    server(
        test,
        "MariaDB",
        "GATEHOUSE_TEST_MARIADB_URL",
        "GATEHOUSE_TEST_REQUIRE_MARIADB",
    )
}

/// The URL in `url_var`, or None with a note that `test` was skipped for want of a `server`;
/// a failure instead when `required_var` is 1 (CI).
fn server(test: &str, server: &str, url_var: &str, required_var: &str) -> Option<String> {
    match std::env::var(url_var) {
        Ok(url) => Some(url),
        Err(_) => {
            let required = std::env::var(required_var).is_ok_and(|v| v == "1");
            assert!(!required, "{required_var}=1 but {url_var} is not set");
            let _ = writeln!(
                std::io::stderr(),
                "note: {test} SKIPPED: it needs a {server} server; set {url_var}"
            );
            None
        }
    }
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gatehouse.db").display()
        );
        TestDb {
            url,
            name: "sqlite",
            _dir: Some(dir),
            pg: None,
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let required = std::env::var("GATEHOUSE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let Ok(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL") else {
            assert!(
                !required,
                "GATEHOUSE_TEST_REQUIRE_POSTGRES=1 but GATEHOUSE_TEST_POSTGRES_URL is not set"
            );
            SKIP_NOTE.call_once(|| {
                // Written past the test harness's capture, so that the skip is seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "note: PostgreSQL runs of the database tests are SKIPPED: GATEHOUSE_TEST_POSTGRES_URL is not set (SQLite runs still happen; see README, Testing)"
                );
            });
            return None;
        };
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at GATEHOUSE_TEST_POSTGRES_URL is unreachable: {e}")
            });
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .expect("GATEHOUSE_TEST_POSTGRES_URL ends with /DATABASE");
        Some(TestDb {
            url: format!("{base}/{name}"),
            name: "postgres",
            _dir: None,
            pg: Some((admin_url, name)),
        })
    }

    pub async fn connect(&self) -> Db {
        Db::connect(&self.url)
            .await
            .expect("connect to test database")
    }

    /// A connection to this database with Gatehouse's schema in place, for the tests that use
    /// the store and the job queue without an app.
    pub async fn migrated(&self) -> Db {
        let conn = self.connect().await;
        conn.migrate().await.unwrap();
        conn
    }

    /// Drops a PostgreSQL test database (SQLite's temp dir goes away by itself).
    pub async fn close(self) {
        if let Some((admin_url, name)) = &self.pg
            && let Ok(admin) = Database::connect(admin_url.as_str()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            admin.close().await.ok();
        }
    }
}
