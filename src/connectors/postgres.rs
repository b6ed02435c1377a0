//! PostgreSQL: the unit of access is role membership (`GRANT "role" TO "user"`). Grants and
//! revokes check, change and check again, because PostgreSQL answers success (with a NOTICE or
//! WARNING) for a grant or revoke that changed nothing.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

use super::quoting;
use super::{ConnectorError, PlatformIdentity};

pub struct Postgres {
    pool: PgPool,
}

fn classify(e: sqlx::Error) -> ConnectorError {
    match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Serialization failures, deadlocks, lock timeouts, too many connections: try again.
            Some("40001" | "40P01" | "55P03" | "53300" | "57P03") => {
                ConnectorError::Retryable(db.message().to_owned())
            }
            _ => ConnectorError::Permanent(db.message().to_owned()),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => ConnectorError::Retryable(format!("cannot reach PostgreSQL: {e}")),
        _ => ConnectorError::Permanent(e.to_string()),
    }
}

impl Postgres {
    /// A small lazy pool: nothing connects until the first grant or check.
    pub fn new(url: &str) -> Result<Self, ConnectorError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_lazy(url)
            .map_err(|e| {
                ConnectorError::Permanent(format!(
                    "unusable PostgreSQL URL: {}",
                    e.to_string().replace(url, "***")
                ))
            })?;
        Ok(Postgres { pool })
    }

    async fn role_exists(&self, name: &str) -> Result<bool, ConnectorError> {
        let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        row.try_get::<bool, _>(0).map_err(classify)
    }

    /// A round trip to the server, bounded to 2 s (App Home waits for it).
    pub async fn ping(&self) -> Result<(), ConnectorError> {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
            Ok(result) => result.map(drop).map_err(classify),
            Err(_) => Err(ConnectorError::Retryable("no answer within 2 s".into())),
        }
    }

    /// Is `member` a direct member of `role`?
    pub async fn check(&self, member: &str, role: &str) -> Result<bool, ConnectorError> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM pg_auth_members a \
             JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
             WHERE r.rolname = $1 AND m.rolname = $2)",
        )
        .bind(role)
        .bind(member)
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        row.try_get::<bool, _>(0).map_err(classify)
    }

    async fn both_exist(&self, member: &str, role: &str) -> Result<(), ConnectorError> {
        for (name, what) in [(member, "user"), (role, "role")] {
            if !self.role_exists(name).await? {
                return Err(ConnectorError::Permanent(format!(
                    "there is no {what} named `{name}` on the PostgreSQL server"
                )));
            }
        }
        Ok(())
    }

    pub async fn grant(&self, member: &str, role: &str) -> Result<String, ConnectorError> {
        let statement = format!(
            "GRANT {} TO {}",
            quoting::postgres(role)?,
            quoting::postgres(member)?
        );
        self.both_exist(member, role).await?;
        if self.check(member, role).await? {
            return Ok("already held".into());
        }
        // Quoted above: the names are one identifier each, whatever they contain.
        sqlx::raw_sql(AssertSqlSafe(statement.clone()))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        if !self.check(member, role).await? {
            return Err(ConnectorError::Permanent(format!(
                "`{statement}` succeeded but `{member}` is still not a member of `{role}`"
            )));
        }
        Ok(statement)
    }

    pub async fn revoke(&self, member: &str, role: &str) -> Result<String, ConnectorError> {
        let statement = format!(
            "REVOKE {} FROM {}",
            quoting::postgres(role)?,
            quoting::postgres(member)?
        );
        if !self.role_exists(member).await?
            || !self.role_exists(role).await?
            || !self.check(member, role).await?
        {
            return Ok("already absent".into());
        }
        // Quoted above: the names are one identifier each, whatever they contain.
        sqlx::raw_sql(AssertSqlSafe(statement.clone()))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        if self.check(member, role).await? {
            // Typically a membership granted by another grantor (PostgreSQL 16+).
            return Err(ConnectorError::Permanent(format!(
                "`{statement}` succeeded but `{member}` is still a member of `{role}`"
            )));
        }
        Ok(statement)
    }

    /// Login roles are users, the rest are roles; PostgreSQL's own `pg_*` roles are left out.
    pub async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let rows = sqlx::query("SELECT rolname::text, rolcanlogin FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY rolname")
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(0).map_err(classify)?;
                let login: bool = r.try_get(1).map_err(classify)?;
                Ok(PlatformIdentity {
                    kind: if login { "user" } else { "role" }.into(),
                    id: name.clone(),
                    name,
                    email: None,
                })
            })
            .collect()
    }
}
