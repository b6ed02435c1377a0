//! Property: whatever a user or role is called — quotes, backticks, semicolons, comment
//! markers, spaces, unicode, over-long — each connector either quotes it into one identifier or
//! refuses it with a clear message; and the real PostgreSQL and MariaDB servers, running the
//! statements, change nothing but that one membership: a canary survives, and the server's
//! roles and memberships afterwards are exactly the ones the test expects.

use std::cell::Cell;

use gatehouse::connectors::mysql::MySql;
use gatehouse::connectors::postgres::Postgres;
use proptest::prelude::*;
use sea_orm::ConnectionTrait;
use sqlx::Row;

use crate::support::db::{mariadb_server, postgres_server};
use crate::support::mariadb::{self, Server, tick};
use crate::support::pg::{self, Roles, quoted};
use crate::support::roles::RoleOps;

/// Names assembled from the fragments injections are made of.
fn hostile_name() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("\"".to_owned()),
        Just("`".to_owned()),
        Just("'".to_owned()),
        Just(";".to_owned()),
        Just("--".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just(" ".to_owned()),
        Just("\\".to_owned()),
        Just("%".to_owned()),
        Just("$$".to_owned()),
        Just("DROP TABLE canary".to_owned()),
        Just(") OR (1=1".to_owned()),
        "[a-zA-Z0-9_]{1,6}",
        "[é✅ñ漢ß]{1,3}",
    ];
    prop::collection::vec(fragment, 1..7).prop_map(|parts| parts.concat())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// How many roles whose names start with the test's prefix the server holds.
async fn count_ours(admin: &sea_orm::DatabaseConnection, p: &str) -> i64 {
    let sql = format!("SELECT count(*)::bigint AS n FROM pg_roles WHERE rolname LIKE '{p}%'");
    let row = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[test]
fn postgres_runs_only_the_grant_whatever_the_names() {
    let Some(url) = postgres_server("postgres_runs_only_the_grant_whatever_the_names") else {
        return;
    };
    let rt = runtime();
    let p = pg::prefix();
    let (roles, pg_conn) = rt.block_on(async {
        let mut roles = Roles::new(&url).await;
        roles.make(&format!("{p}_role"), false).await;
        let canary = format!("{p}_canary");
        roles
            .admin
            .execute_unprepared(&format!("CREATE TABLE {canary} (x int)"))
            .await
            .unwrap();
        (roles, Postgres::new(&url).unwrap())
    });
    let role = format!("{p}_role");
    let n = Cell::new(0);
    let cell = tokio::sync::Mutex::new(roles);
    proptest!(config(), |(tail in hostile_name())| {
        n.set(n.get() + 1);
        let name = format!("{p}{}{tail}", n.get());
        rt.block_on(async {
            let mut roles = cell.lock().await;
            if name.len() > 63 {
                let err = pg_conn.grant_role(&name, &role).await.unwrap_err();
                prop_assert!(err.to_string().contains("longer than 63 bytes"), "{err}");
                return Ok(());
            }
            let before = count_ours(&roles.admin, &p).await;
            roles.make(&name, true).await;
            let granted = pg_conn.grant_role(&name, &role).await.unwrap();
            prop_assert_eq!(&granted, &format!("GRANT {} TO {}", quoted(&role), quoted(&name)));
            prop_assert!(roles.member(&name, &role).await, "{:?}", name);
            pg_conn.revoke_role(&name, &role).await.unwrap();
            prop_assert!(!roles.member(&name, &role).await, "{:?}", name);
            prop_assert_eq!(count_ours(&roles.admin, &p).await, before + 1, "no role made or dropped but the test's");
            Ok(())
        })?;
    });
    let mut roles = cell.into_inner();
    rt.block_on(async {
        let canary = roles
            .admin
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT 1 FROM pg_tables WHERE tablename = '{p}_canary'"),
            ))
            .await
            .unwrap();
        assert!(canary.is_some(), "the canary table survived every name");
        roles
            .admin
            .execute_unprepared(&format!("DROP TABLE {p}_canary"))
            .await
            .unwrap();
        std::mem::take(&mut roles.made);
        let made: Vec<String> = {
            let rows = roles
                .admin
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT rolname::text AS r FROM pg_roles WHERE rolname LIKE '{p}%'"),
                ))
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "r").unwrap())
                .collect()
        };
        roles.made = made;
        roles.drop_all().await;
    });
}

#[test]
fn mariadb_runs_only_the_grant_whatever_the_names() {
    let Some(url) = mariadb_server("mariadb_runs_only_the_grant_whatever_the_names") else {
        return;
    };
    let rt = runtime();
    let p = mariadb::prefix();
    let role = format!("{p}_role");
    let canary = format!("{p}_canary");
    let (server, db) = rt.block_on(async {
        let mut server = Server::new(&url).await;
        server.role(&role).await;
        server
            .exec(format!("CREATE DATABASE {}", tick(&canary)))
            .await;
        (server, MySql::new(&url).unwrap())
    });
    let n = Cell::new(0);
    let cell = tokio::sync::Mutex::new(server);
    proptest!(config(), |(tail in hostile_name())| {
        n.set(n.get() + 1);
        let name = format!("{p}{}{tail}", n.get());
        rt.block_on(async {
            let mut server = cell.lock().await;
            let chars = name.chars().count();
            if chars > 80 || name.ends_with(' ') {
                let err = db.grant_role(&name, &role).await.unwrap_err().to_string();
                prop_assert!(err.contains("longer than") || err.contains("ends with a space"), "{err}");
                return Ok(());
            }
            server.user(&name).await;
            db.grant_role(&name, &role).await.unwrap();
            prop_assert!(server.has(&name, &role).await, "{:?}", name);
            db.revoke_role(&name, &role).await.unwrap();
            prop_assert!(!server.has(&name, &role).await, "{:?}", name);
            let ours: i64 = sqlx::query("SELECT COUNT(*) FROM mysql.user WHERE User LIKE CONCAT(?, '%')")
                .bind(&p)
                .fetch_one(&server.pool)
                .await
                .unwrap()
                .get(0);
            prop_assert_eq!(ours as usize, server.users.len() + 1, "no account made or dropped but the test's");
            Ok(())
        })?;
    });
    let server = cell.into_inner();
    rt.block_on(async {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?")
                .bind(&canary)
                .fetch_one(&server.pool)
                .await
                .unwrap()
                .get(0);
        assert_eq!(n, 1, "the canary database survived every name");
        server
            .exec(format!("DROP DATABASE {}", tick(&canary)))
            .await;
        server.drop_all().await;
    });
}
