//! MySQL 8 and MariaDB: the unit of access is a role granted to an account (`user@host`), made
//! the account's default role when it has none, so that the access works at the next login.
//! Memberships are read from the server's grant tables before and after each change; which
//! tables and statements depends on the server (`mysql_flavour`), read once from its version.

use crate::connectors::bounded_probe;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Row};

use super::mysql_flavour::Flavour;
use super::postgres::{Bounded, bound};
use super::{Connector, ConnectorError, Holding, PlatformIdentity, Readiness, quoting, role_in};
use crate::domain::Unit;

/// MariaDB 10.6+ allows user and role names of up to 80 characters; hosts up to 255.
const NAME_MAX: usize = 80;
const HOST_MAX: usize = 255;

pub struct MySql {
    pool: MySqlPool,
    /// Read from the server on first use.
    flavour: tokio::sync::OnceCell<Flavour>,
}

/// An account as `user@host`; a bare `user` means `user@%`.
pub fn account(identity: &str) -> (&str, &str) {
    match identity.rsplit_once('@') {
        Some((user, host)) if !user.is_empty() && !host.is_empty() => (user, host),
        _ => (identity, "%"),
    }
}

/// A grant's two sides, read and quoted once: the role, the account (`user`@`host`), and both
/// as they go into a statement.
struct Grantee<'a> {
    role: &'a str,
    user: &'a str,
    host: &'a str,
    role_q: String,
    target: String,
}

impl<'a> Grantee<'a> {
    fn of(identity: &'a str, unit: &'a Unit) -> Result<Self, ConnectorError> {
        let role = role_in(unit, "MySQL/MariaDB")?;
        let (user, host) = account(identity);
        let target = quoted_account(user, host)?;
        let role_q = quoting::mysql(role, NAME_MAX)?;
        Ok(Grantee {
            role,
            user,
            host,
            role_q,
            target,
        })
    }
}

/// `'user'@'host'`, each side quoted within its own length limit.
fn quoted_account(user: &str, host: &str) -> Result<String, quoting::BadName> {
    Ok(format!(
        "{}@{}",
        quoting::mysql(user, NAME_MAX)?,
        quoting::mysql(host, HOST_MAX)?
    ))
}

fn classify(e: sqlx::Error) -> ConnectorError {
    match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Deadlock, lock wait timeout, too many connections: try again.
            Some("40001" | "HY000")
                if db.message().contains("Deadlock") || db.message().contains("Lock wait") =>
            {
                ConnectorError::Retryable(db.message().to_owned())
            }
            Some("08004") => ConnectorError::Retryable(db.message().to_owned()),
            _ => ConnectorError::Permanent(db.message().to_owned()),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => {
            ConnectorError::Retryable(format!("cannot reach MySQL/MariaDB: {e}"))
        }
        _ => ConnectorError::Permanent(e.to_string()),
    }
}

impl MySql {
    pub fn new(url: &str) -> Result<Self, ConnectorError> {
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_lazy(url)
            .map_err(|e| {
                ConnectorError::Permanent(format!(
                    "unusable MySQL URL: {}",
                    e.to_string().replace(url, "***")
                ))
            })?;
        Ok(MySql {
            pool,
            flavour: tokio::sync::OnceCell::new(),
        })
    }

    /// MariaDB or MySQL 8, from `VERSION()` and `@@version_comment`; any other server (MySQL
    /// before 8, TiDB…) is refused saying what to do.
    async fn flavour(&self) -> Result<Flavour, ConnectorError> {
        self.flavour
            .get_or_try_init(|| async {
                let row =
                    sqlx::query("SELECT CAST(VERSION() AS CHAR), CAST(@@version_comment AS CHAR)")
                        .fetch_one(&self.pool)
                        .bounded("MySQL/MariaDB")
                        .await?
                        .map_err(classify)?;
                let version: String = row.try_get(0).map_err(classify)?;
                let comment: Option<String> = row.try_get(1).map_err(classify)?;
                Flavour::of(&version, comment.as_deref().unwrap_or(""))
            })
            .await
            .copied()
    }

    /// The rows `sql` (one of the flavour's read statements) gives with `binds`, in order.
    async fn rows(
        &self,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<Vec<sqlx::mysql::MySqlRow>, ConnectorError> {
        bound(sql, binds)
            .fetch_all(&self.pool)
            .bounded("MySQL/MariaDB")
            .await?
            .map_err(classify)
    }

    /// The first column of the first row, a count.
    async fn count(&self, sql: &'static str, binds: &[&str]) -> Result<i64, ConnectorError> {
        match self.rows(sql, binds).await?.first() {
            Some(r) => r.try_get(0).map_err(classify),
            None => Ok(0),
        }
    }

    async fn exists(&self, user: &str, host: &str, role: bool) -> Result<bool, ConnectorError> {
        let flavour = self.flavour().await?;
        let n = if role {
            self.count(flavour.role_exists(), &[user]).await?
        } else {
            self.count(flavour.account_exists(), &[user, host]).await?
        };
        Ok(n > 0)
    }

    /// Is the account `identity` granted `role` directly?
    async fn is_granted(&self, identity: &str, role: &str) -> Result<bool, ConnectorError> {
        let (user, host) = account(identity);
        let sql = self.flavour().await?.is_granted();
        Ok(self.count(sql, &[user, host, role]).await? > 0)
    }

    /// The account's roles that were themselves granted `role` (one level, as the grant
    /// tables show).
    async fn granted_through(
        &self,
        identity: &str,
        role: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let (user, host) = account(identity);
        let sql = self.flavour().await?.granted_through();
        self.rows(sql, &[user, host, role])
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0).map(|p| format!("role `{p}`")))
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    /// The account's default roles (none, one, or on MySQL 8 several).
    async fn default_roles(&self, user: &str, host: &str) -> Result<Vec<String>, ConnectorError> {
        let sql = self.flavour().await?.default_roles();
        let mut roles = Vec::new();
        for r in self.rows(sql, &[user, host]).await? {
            if let Some(role) = r.try_get::<Option<String>, _>(0).map_err(classify)?
                && !role.is_empty()
            {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    /// The connecting account, `user@host`, as the server matched it.
    async fn current_account(&self) -> Result<String, ConnectorError> {
        let rows = self
            .rows("SELECT CAST(CURRENT_USER() AS CHAR)", &[])
            .await?;
        match rows.first() {
            Some(r) => r.try_get(0).map_err(classify),
            None => Ok(String::new()),
        }
    }

    async fn run(&self, statement: &str) -> Result<(), ConnectorError> {
        // Every name in `statement` was quoted by `quoting::mysql`.
        sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
            .execute(&self.pool)
            .bounded("MySQL/MariaDB")
            .await?
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Connector for MySql {
    /// A round trip to the server, bounded to 2 s (App Home waits for it).
    /// A round trip that also reads which server it is: one Gatehouse cannot work with is
    /// refused here, at start, rather than at the first grant.
    async fn ping(&self) -> Result<(), ConnectorError> {
        bounded_probe("MySQL/MariaDB", self.flavour()).await
    }

    async fn check(&self, identity: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let role = role_in(unit, "MySQL/MariaDB")?;
        Ok(Holding {
            direct: self.is_granted(identity, role).await?,
            through: self.granted_through(identity, role).await?,
        })
    }

    /// The role exists, the account may grant it (an admin of it), and may make it another
    /// account's default role (without which a granted role gives nothing).
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        let role = role_in(unit, "MySQL/MariaDB")?;
        let role_q = quoting::mysql(role, NAME_MAX)?;
        let flavour = self.flavour().await?;
        let me = self.current_account().await?;
        let (user, host) = me.rsplit_once('@').unwrap_or((&me, "%"));
        let me_q = quoted_account(user, host)?;
        match self.exists(role, "", true).await {
            Ok(true) => {}
            Ok(false) => {
                return Ok(Readiness::Missing {
                    what: format!("role `{role}` does not exist on the server"),
                    fix: format!(
                        "create it (`CREATE ROLE {role_q}`) and give it its privileges, or correct `grant` in the catalog"
                    ),
                });
            }
            Err(ConnectorError::Permanent(said)) if said.contains("denied") => {
                return Ok(Readiness::Missing {
                    what: format!(
                        "the service account `{me}` cannot read the grant tables ({said})"
                    ),
                    fix: format!("run `GRANT SELECT ON mysql.* TO {me_q}`"),
                });
            }
            Err(e) => return Err(e),
        }
        if self.count(flavour.role_admin(), &[role]).await? == 0 {
            return Ok(Readiness::Missing {
                what: format!("the service account `{me}` may not grant role `{role}`"),
                fix: flavour.fix_role_admin(&role_q, &me_q),
            });
        }
        if self.count(flavour.default_role_setter(), &[]).await? == 0 {
            return Ok(Readiness::Missing {
                what: format!(
                    "the service account `{me}` may not set other accounts' default roles, so a granted role would stay inactive"
                ),
                fix: flavour.fix_default_role_setter(&me_q),
            });
        }
        Ok(Readiness::Ready(format!(
            "role `{role}` exists; the service account `{me}` may grant it and set default roles"
        )))
    }

    /// Grants the role and, when the account has no default role, makes it the default: a
    /// granted role gives nothing until it is active.
    async fn add(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let g = Grantee::of(identity, unit)?;
        let (user, host, role) = (g.user, g.host, g.role);
        if !self.exists(user, host, false).await? {
            return Err(ConnectorError::Permanent(format!(
                "there is no account `{user}`@`{host}` on the server"
            )));
        }
        if !self.exists(role, "", true).await? {
            return Err(ConnectorError::Permanent(format!(
                "there is no role named `{role}` on the server"
            )));
        }
        let grant = format!("GRANT {} TO {}", g.role_q, g.target);
        self.run(&grant).await?;
        let current = self.default_roles(user, host).await?;
        if current.is_empty() {
            let default = self.flavour().await?.set_default_role(&g.role_q, &g.target);
            self.run(&default).await?;
            Ok(format!("{grant}; {default}"))
        } else {
            Ok(format!(
                "{grant} (default role left as `{}`; activate with SET ROLE)",
                current.join("`, `")
            ))
        }
    }

    /// Clears the default role if it is this one, then revokes it. Called only when the role
    /// is held: MariaDB errors on revoking what is not granted.
    async fn remove(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let g = Grantee::of(identity, unit)?;
        let mut done = Vec::new();
        if self.default_roles(g.user, g.host).await? == [g.role] {
            let clear = self.flavour().await?.clear_default_role(&g.target);
            self.run(&clear).await?;
            done.push(clear);
        }
        let revoke = format!("REVOKE {} FROM {}", g.role_q, g.target);
        self.run(&revoke).await?;
        done.push(revoke);
        Ok(done.join("; "))
    }

    /// Accounts are users (`user@host`), the rest are roles.
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let rows = self
            .rows(self.flavour().await?.list_accounts(), &[])
            .await?;
        rows.iter()
            .map(|r| {
                let user: String = r.try_get(0).map_err(classify)?;
                let host: String = r.try_get(1).map_err(classify)?;
                let is_role: String = r.try_get(2).map_err(classify)?;
                let role = is_role == "Y";
                Ok(PlatformIdentity {
                    kind: if role { "role" } else { "user" }.into(),
                    id: if role {
                        user.clone()
                    } else {
                        format!("{user}@{host}")
                    },
                    name: user,
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
    fn accounts_default_to_any_host() {
        assert_eq!(account("alice"), ("alice", "%"));
        assert_eq!(account("alice@10.0.0.%"), ("alice", "10.0.0.%"));
        assert_eq!(account("a@b@localhost"), ("a@b", "localhost"));
        assert_eq!(account("alice@"), ("alice@", "%"));
    }
}
