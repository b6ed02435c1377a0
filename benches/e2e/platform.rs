//! The platform Gatehouse grants on: the local PostgreSQL server, with a login per simulated
//! person and a group role per resource, made for the run and dropped after it.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

pub struct Platform {
    pub pool: PgPool,
    prefix: String,
    made: Vec<String>,
}

/// A pool on `url`, or the reason the server cannot be used.
pub async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    sqlx::query("SELECT 1").execute(&pool).await?;
    Ok(pool)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Platform {
    /// `people` logins `gh_bench_…_uNNN` and `roles` group roles `gh_bench_…_rNNN`, after
    /// dropping those an earlier run left (one that panicked, or was killed, before `drop_all`):
    /// left there, they would outnumber a test's users on a shared server. Runs of the bench
    /// are one at a time, so none of these belongs to a run still going.
    pub async fn make(pool: PgPool, people: usize, roles: usize) -> Platform {
        let left: Vec<String> = sqlx::query_scalar(
            "SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'gh\\_bench\\_%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if !left.is_empty() {
            eprintln!("dropping {} roles an earlier run left", left.len());
            let sql: String = left
                .iter()
                .map(|n| format!("DROP ROLE IF EXISTS {};\n", quoted(n)))
                .collect();
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
        let prefix = format!(
            "gh_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut p = Platform {
            pool,
            prefix,
            made: Vec::new(),
        };
        let mut sql = String::new();
        for i in 0..people {
            let name = p.login(i);
            sql += &format!("CREATE ROLE {} LOGIN;\n", quoted(&name));
            p.made.push(name);
        }
        for j in 0..roles {
            let name = p.role(j);
            sql += &format!("CREATE ROLE {} NOLOGIN;\n", quoted(&name));
            p.made.push(name);
        }
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&p.pool)
            .await
            .unwrap();
        p
    }

    pub fn login(&self, person: usize) -> String {
        format!("{}_u{person:03}", self.prefix)
    }

    pub fn role(&self, role: usize) -> String {
        format!("{}_r{role:03}", self.prefix)
    }

    /// Which of these (person, role) pairs hold the role on the server now: one query for all.
    pub async fn held(&self, pairs: &[(usize, usize)]) -> HashSet<(usize, usize)> {
        let logins: Vec<String> = pairs.iter().map(|p| self.login(p.0)).collect();
        let roles: Vec<String> = pairs.iter().map(|p| self.role(p.1)).collect();
        let rows = sqlx::query(
            "SELECT m.rolname::text AS member, r.rolname::text AS role FROM pg_auth_members a \
             JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
             WHERE m.rolname::text = ANY($1::text[]) AND r.rolname::text = ANY($2::text[])",
        )
        .bind(&logins)
        .bind(&roles)
        .fetch_all(&self.pool)
        .await
        .unwrap();
        let present: HashSet<(String, String)> = rows
            .iter()
            .map(|r| (r.get("member"), r.get("role")))
            .collect();
        pairs
            .iter()
            .copied()
            .filter(|p| present.contains(&(self.login(p.0), self.role(p.1))))
            .collect()
    }

    /// Drops every role made (their memberships go with them).
    pub async fn drop_all(self) {
        let sql: String = self
            .made
            .iter()
            .rev()
            .map(|n| format!("DROP ROLE IF EXISTS {};\n", quoted(n)))
            .collect();
        if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&self.pool).await {
            eprintln!("could not drop the roles {}_*: {e}", self.prefix);
        }
        self.pool.close().await;
    }
}
