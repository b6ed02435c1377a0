//! PostgreSQL: the unit of access is role membership (`GRANT "role" TO "user"`). Grants and
//! revokes check, change and check again, because PostgreSQL answers success (with a NOTICE or
//! WARNING) for a grant or revoke that changed nothing.
//!
//! It also owns what the servers of PostgreSQL's wire protocol (PostgreSQL, Redshift) share: the
//! time bound on a statement, the classing of their errors, and `Wire`'s calls.

use crate::connectors::bounded_probe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

use super::{Connector, ConnectorError, Holding, PlatformIdentity, Readiness, quoting, role_in};
use crate::domain::Unit;

pub struct Postgres {
    pool: PgPool,
}

/// `GRANT role TO member` or `REVOKE role FROM member`, both names quoted.
fn membership(verb: &str, role: &str, to: &str, member: &str) -> Result<String, quoting::BadName> {
    Ok(format!(
        "{verb} {} {to} {}",
        quoting::postgres(role)?,
        quoting::postgres(member)?
    ))
}

fn classify(e: sqlx::Error) -> ConnectorError {
    classify_wire(e, "PostgreSQL")
}

/// How long one statement may take (its wait for a connection included) before it is given up,
/// retryably: a GRANT queued behind another session's lock must not hold its job until the
/// job's own deadline. Shared by the SQL connectors.
const STATEMENT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A call to a SQL platform, bounded by `STATEMENT_LIMIT`. The outer error is the timeout; the
/// inner one is the driver's, for the connector to class.
pub(super) trait Bounded<T>:
    std::future::Future<Output = Result<T, sqlx::Error>> + Sized
{
    fn bounded(
        self,
        platform: &'static str,
    ) -> impl std::future::Future<Output = Result<Result<T, sqlx::Error>, ConnectorError>> {
        async move {
            tokio::time::timeout(STATEMENT_LIMIT, self)
                .await
                .map_err(|_| {
                    ConnectorError::Retryable(format!(
                        "{platform} gave no answer within {} s",
                        STATEMENT_LIMIT.as_secs()
                    ))
                })
        }
    }
}

impl<T, F: std::future::Future<Output = Result<T, sqlx::Error>>> Bounded<T> for F {}

/// `sql` with `binds` bound in order, for the SQL connectors' reads of their catalogs.
pub(super) fn bound<'q, DB: sqlx::Database>(
    sql: &'static str,
    binds: &[&'q str],
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    binds.iter().fold(sqlx::query(sql), |q, b| q.bind(*b))
}

/// Classes an error from a server speaking PostgreSQL's wire protocol (PostgreSQL, Redshift):
/// the server's own message, and whether trying again can help. Never the URL or password.
pub(super) fn classify_wire(e: sqlx::Error, platform: &str) -> ConnectorError {
    match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Serialization failures, deadlocks, lock timeouts, too many connections: try again.
            Some("40001" | "40P01" | "55P03" | "53300" | "57P03") => {
                ConnectorError::Retryable(db.message().to_owned())
            }
            // Two GRANTs (or REVOKEs) of one membership at once: PostgreSQL does not serialize
            // them, so the second fails on pg_auth_members' unique index ("duplicate key
            // value"), or finds its row gone ("tuple concurrently deleted"). Again finds it done.
            Some("23505") => ConnectorError::Retryable(db.message().to_owned()),
            Some("XX000") if db.message().starts_with("tuple concurrently") => {
                ConnectorError::Retryable(db.message().to_owned())
            }
            _ => ConnectorError::Permanent(db.message().to_owned()),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => ConnectorError::Retryable(format!("cannot reach {platform}: {e}")),
        _ => ConnectorError::Permanent(e.to_string()),
    }
}

/// A server speaking PostgreSQL's wire protocol, for the calls PostgreSQL and Redshift make
/// alike: its pool, its name in messages, and how its errors are classed.
pub(super) struct Wire<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) platform: &'static str,
    pub(super) classify: fn(sqlx::Error) -> ConnectorError,
}

impl Wire<'_> {
    /// Runs one statement whose names were quoted; says what it ran.
    pub(super) async fn run(&self, statement: String) -> Result<String, ConnectorError> {
        sqlx::raw_sql(AssertSqlSafe(statement.clone()))
            .execute(self.pool)
            .bounded(self.platform)
            .await?
            .map_err(self.classify)?;
        Ok(statement)
    }

    /// The first column of the one row `sql` answers with `binds` (a count, a yes or no).
    pub(super) async fn one<T>(
        &self,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<T, ConnectorError>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        bound(sql, binds)
            .fetch_one(self.pool)
            .bounded(self.platform)
            .await?
            .map_err(self.classify)?
            .try_get::<T, _>(0)
            .map_err(self.classify)
    }

    /// The roles `sql` names in its first column for `member` ($1) and `role` ($2): those
    /// through which the member holds the role, as `role `…``.
    pub(super) async fn roles_through(
        &self,
        sql: &'static str,
        member: &str,
        role: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let rows = sqlx::query(sql)
            .bind(member)
            .bind(role)
            .fetch_all(self.pool)
            .bounded(self.platform)
            .await?
            .map_err(self.classify)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map(|p| format!("role `{p}`")))
            .collect::<Result<_, _>>()
            .map_err(self.classify)
    }
}

/// What `account` (the service account, or None when unknown) needs to grant `role` on a
/// server of `server_version_num` (`160000` for 16.0): from PostgreSQL 16, `CREATEROLE` no
/// longer lets a role grant membership in roles it did not create; it needs `ADMIN OPTION` on
/// each (release notes of 16, "Restrict the privileges of CREATEROLE").
pub(crate) fn right_to_grant(server_version_num: i32, role: &str, account: Option<&str>) -> String {
    let role = quoting::postgres(role).unwrap_or_else(|_| "the role".into());
    let account = account
        .and_then(|a| quoting::postgres(a).ok())
        .unwrap_or_else(|| "<service account>".into());
    if server_version_num >= 160_000 {
        format!(
            "PostgreSQL 16 and later need ADMIN OPTION on the role: run \
             `GRANT {role} TO {account} WITH ADMIN OPTION` as a superuser or the role's \
             admin (CREATEROLE alone is no longer enough)"
        )
    } else {
        format!(
            "give the service account CREATEROLE (`ALTER ROLE {account} CREATEROLE`), or ADMIN \
             OPTION on the role (`GRANT {role} TO {account} WITH ADMIN OPTION`)"
        )
    }
}

/// What the service account may do with one role, as `readiness` reads it from the catalogs.
struct RoleRights {
    account: String,
    version: i32,
    account_is_superuser: bool,
    account_creates_roles: bool,
    role_is_superuser: bool,
    admin_option: bool,
}

impl RoleRights {
    fn readiness(&self, role: &str) -> Readiness {
        let account = &self.account;
        if self.account_is_superuser {
            return Readiness::Ready(format!(
                "role `{role}` exists; the service account `{account}` is a superuser"
            ));
        }
        if self.admin_option {
            return Readiness::Ready(format!(
                "role `{role}` exists; the service account `{account}` has ADMIN OPTION on it"
            ));
        }
        if self.role_is_superuser {
            return Readiness::Missing {
                what: format!(
                    "role `{role}` is a superuser role, which only a superuser may grant"
                ),
                fix: "grant a role without SUPERUSER instead, in the catalog's `grant`".into(),
            };
        }
        if self.version < 160_000 && self.account_creates_roles {
            return Readiness::Ready(format!(
                "role `{role}` exists; the service account `{account}` has CREATEROLE (enough before PostgreSQL 16)"
            ));
        }
        Readiness::Missing {
            what: format!("the service account `{account}` may not grant role `{role}`"),
            fix: right_to_grant(self.version, role, Some(account)),
        }
    }
}

impl Postgres {
    fn wire(&self) -> Wire<'_> {
        Wire {
            pool: &self.pool,
            platform: "PostgreSQL",
            classify,
        }
    }

    /// `server_version_num` (`150019` for 15.19).
    async fn server_version_num(&self) -> Result<i32, ConnectorError> {
        let sql = "SELECT current_setting('server_version_num')::int";
        self.wire().one(sql, &[]).await
    }

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
        let sql = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)";
        self.wire().one(sql, &[name]).await
    }

    /// Is `member` a direct member of `role`?
    async fn is_member(&self, member: &str, role: &str) -> Result<bool, ConnectorError> {
        let sql = "SELECT EXISTS (SELECT 1 FROM pg_auth_members a \
             JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
             WHERE r.rolname = $1 AND m.rolname = $2)";
        self.wire().one(sql, &[role, member]).await
    }

    /// The roles `member` belongs to directly that themselves lead to `role`.
    async fn inherited_through(
        &self,
        member: &str,
        role: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let sql = "SELECT p.rolname::text FROM pg_auth_members a \
             JOIN pg_roles p ON p.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
             JOIN pg_roles r ON r.rolname = $2 \
             WHERE m.rolname = $1 AND p.oid <> r.oid AND pg_has_role(p.oid, r.oid, 'MEMBER') \
             ORDER BY 1";
        self.wire().roles_through(sql, member, role).await
    }

    /// What the connecting account may do with `role`; None when the role does not exist.
    async fn rights_on(&self, role: &str) -> Result<Option<RoleRights>, ConnectorError> {
        let row = sqlx::query(
            "SELECT current_user::text, current_setting('server_version_num')::int, \
             me.rolsuper, me.rolcreaterole, r.rolsuper, \
             pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION') \
             FROM pg_roles r JOIN pg_roles me ON me.rolname = current_user \
             WHERE r.rolname = $1",
        )
        .bind(role)
        .fetch_optional(&self.pool)
        .bounded("PostgreSQL")
        .await?
        .map_err(classify)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RoleRights {
            account: row.try_get(0).map_err(classify)?,
            version: row.try_get(1).map_err(classify)?,
            account_is_superuser: row.try_get(2).map_err(classify)?,
            account_creates_roles: row.try_get(3).map_err(classify)?,
            role_is_superuser: row.try_get(4).map_err(classify)?,
            admin_option: row.try_get(5).map_err(classify)?,
        }))
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

    /// Runs one statement whose names were quoted by `quoting::postgres`.
    async fn run(&self, statement: String) -> Result<String, ConnectorError> {
        self.wire().run(statement).await
    }
}

#[async_trait::async_trait]
impl Connector for Postgres {
    /// A round trip to the server, bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        bounded_probe("PostgreSQL", async { probe.await.map_err(classify) }).await
    }

    async fn check(&self, member: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let role = role_in(unit, "PostgreSQL")?;
        Ok(Holding {
            direct: self.is_member(member, role).await?,
            through: self.inherited_through(member, role).await?,
        })
    }

    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        let role = role_in(unit, "PostgreSQL")?;
        Ok(match self.rights_on(role).await? {
            Some(rights) => rights.readiness(role),
            None => Readiness::Missing {
                what: format!("role `{role}` does not exist on the server"),
                fix: format!(
                    "create it (`CREATE ROLE {} NOLOGIN`) and give it its privileges, or correct `grant` in the catalog",
                    quoting::postgres(role)?
                ),
            },
        })
    }

    async fn add(&self, member: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let role = role_in(unit, "PostgreSQL")?;
        let statement = membership("GRANT", role, "TO", member)?;
        self.both_exist(member, role).await?;
        match self.run(statement).await {
            // Refused for want of a right: say which one this server's version needs.
            Err(ConnectorError::Permanent(said))
                if said.contains("admin option") || said.contains("permission denied") =>
            {
                let version = self.server_version_num().await.unwrap_or(0);
                Err(ConnectorError::Permanent(format!(
                    "{said}; {}",
                    right_to_grant(version, role, None)
                )))
            }
            other => other,
        }
    }

    async fn remove(&self, member: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let role = role_in(unit, "PostgreSQL")?;
        let statement = membership("REVOKE", role, "FROM", member)?;
        // A membership granted by another grantor survives this (PostgreSQL 16+); the re-check
        // that follows reports it.
        self.run(statement).await
    }

    /// Login roles are users, the rest are roles; PostgreSQL's own `pg_*` roles are left out.
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let rows = sqlx::query("SELECT rolname::text, rolcanlogin FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY rolname")
            .fetch_all(&self.pool)
            .bounded("PostgreSQL")
            .await?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_to_grant_follows_the_servers_version() {
        let old = right_to_grant(150_019, "analytics_ro", Some("gatehouse"));
        assert!(
            old.contains("CREATEROLE (`ALTER ROLE \"gatehouse\" CREATEROLE`), or ADMIN OPTION"),
            "{old}"
        );
        let new = right_to_grant(160_002, "analytics_ro", None);
        assert!(
            new.contains("PostgreSQL 16 and later need ADMIN OPTION")
                && new.contains("GRANT \"analytics_ro\" TO <service account> WITH ADMIN OPTION"),
            "{new}"
        );
    }
}
