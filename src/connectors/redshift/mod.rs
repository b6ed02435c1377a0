//! Amazon Redshift over the PostgreSQL wire protocol: the unit of access is an RBAC role
//! (`GRANT ROLE "r" TO "u"`) or a legacy group (`ALTER GROUP "g" ADD USER "u"`). Memberships are
//! read from Redshift's catalogs (`svv_user_grants`, `pg_group`) before and after each change.
//! Names are folded to lower case as Redshift folds them, in statements and in checks alike.
//! This module owns the connection and the calls; `sql` owns the words sent.

mod sql;

use crate::connectors::bounded_probe;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

use super::postgres::{Bounded, Wire, classify_wire};
use super::{Connector, ConnectorError, Holding, PlatformIdentity, Readiness, quoting};
use crate::domain::Unit;

/// Names read from each catalog per query; a large cluster is read in pages of this many.
pub const PAGE_SIZE: usize = 1000;

/// Redshift refuses a connection that sets `extra_float_digits` above 2 (FATAL 22023), so it is
/// set here, whatever the driver's default.
pub const EXTRA_FLOAT_DIGITS: i8 = 2;

/// How long a call waits for a free connection before it gives up (and may be retried).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Redshift {
    pool: PgPool,
    page_size: usize,
}

/// What a unit names on Redshift.
enum Target<'u> {
    Role(&'u str),
    Group(&'u str),
}

fn target(unit: &Unit) -> Result<Target<'_>, ConnectorError> {
    match unit {
        Unit::Role { role } => Ok(Target::Role(role)),
        Unit::Group { group } => Ok(Target::Group(group)),
        other => Err(ConnectorError::Permanent(format!(
            "Redshift grants roles and groups, not a {}; write grant = {{ role = \"…\" }} or grant = {{ group = \"…\" }}",
            other.kind().word()
        ))),
    }
}

/// A name as Redshift stores it, for comparing with its catalogs; a name that could not be an
/// identifier is refused before it reaches any query, bound or not.
fn stored(name: &str) -> Result<String, ConnectorError> {
    quoting::redshift(name)?;
    Ok(quoting::redshift_folded(name))
}

fn classify(e: sqlx::Error) -> ConnectorError {
    // Redshift reports a serializable isolation violation as error 1023, which a retry clears.
    if let sqlx::Error::Database(db) = &e
        && (db.message().starts_with("1023")
            || db.message().contains("Serializable isolation violation"))
    {
        return ConnectorError::Retryable(db.message().to_owned());
    }
    classify_wire(e, "Redshift")
}

/// The connection options for `url` (`postgres://user:password@host:5439/db?sslmode=require`),
/// made acceptable to Redshift. A bad URL is reported without the URL, which holds the password.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, ConnectorError> {
    let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
        ConnectorError::Permanent(format!(
            "unusable Redshift URL: {}",
            e.to_string().replace(url, "***")
        ))
    })?;
    Ok(options.extra_float_digits(EXTRA_FLOAT_DIGITS))
}

impl Redshift {
    /// A small lazy pool: nothing connects until the first call.
    pub fn new(url: &str) -> Result<Self, ConnectorError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(connect_options(url)?);
        Ok(Redshift {
            pool,
            page_size: PAGE_SIZE,
        })
    }

    /// Reads identities in pages of `size` names (at least 1) instead of [`PAGE_SIZE`].
    pub fn with_page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    fn wire(&self) -> Wire<'_> {
        Wire {
            pool: &self.pool,
            platform: "Redshift",
            classify,
        }
    }

    /// A `SELECT COUNT(*)` with bound names.
    async fn count(&self, query: &'static str, names: &[&str]) -> Result<i64, ConnectorError> {
        self.wire().one(query, names).await
    }

    /// Refuses a change for a name the cluster does not know, saying which.
    async fn must_exist(
        &self,
        query: &'static str,
        what: &str,
        name: &str,
    ) -> Result<(), ConnectorError> {
        if self.count(query, &[name]).await? == 0 {
            return Err(ConnectorError::Permanent(format!(
                "there is no {what} named `{name}` on the Redshift cluster"
            )));
        }
        Ok(())
    }

    /// The user this connector logs in as.
    async fn current_user(&self) -> Result<String, ConnectorError> {
        self.wire().one("SELECT current_user::text", &[]).await
    }

    /// The roles `user` is granted that carry `role` (one level down).
    async fn role_through(&self, user: &str, role: &str) -> Result<Vec<String>, ConnectorError> {
        self.wire()
            .roles_through(sql::ROLE_THROUGH, user, role)
            .await
    }

    /// Runs one statement built by `sql` (every name quoted by `quoting::redshift`).
    async fn run(&self, statement: String) -> Result<String, ConnectorError> {
        self.wire().run(statement).await
    }

    /// Every name in one catalog, page after page.
    async fn list(&self, listing: sql::Listing) -> Result<Vec<String>, ConnectorError> {
        let mut names: Vec<String> = Vec::new();
        loop {
            let page = listing.page(!names.is_empty(), self.page_size);
            let mut q = sqlx::query(AssertSqlSafe(page));
            if let Some(last) = names.last() {
                q = q.bind(last.clone());
            }
            let rows = q
                .fetch_all(&self.pool)
                .bounded("Redshift")
                .await?
                .map_err(classify)?;
            let got = rows.len();
            for row in rows {
                names.push(row.try_get::<String, _>(0).map_err(classify)?);
            }
            if got < self.page_size {
                return Ok(names);
            }
        }
    }
}

#[async_trait::async_trait]
impl Connector for Redshift {
    /// A round trip to the cluster, bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        bounded_probe("Redshift", async { probe.await.map_err(classify) }).await
    }

    /// Users (`pg_user`), roles (`svv_roles`) and groups (`pg_group`), each read in pages.
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let mut all = Vec::new();
        for listing in sql::LISTINGS {
            for name in self.list(listing).await? {
                all.push(PlatformIdentity {
                    kind: listing.kind.into(),
                    id: name.clone(),
                    name,
                    email: None,
                });
            }
        }
        Ok(all)
    }

    async fn check(&self, user: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let user = stored(user)?;
        Ok(match target(unit)? {
            Target::Role(role) => {
                let role = stored(role)?;
                Holding {
                    direct: self.count(sql::HAS_ROLE, &[&user, &role]).await? > 0,
                    through: self.role_through(&user, &role).await?,
                }
            }
            Target::Group(group) => {
                let group = stored(group)?;
                Holding {
                    direct: self.count(sql::IN_GROUP, &[&group, &user]).await? > 0,
                    through: Vec::new(),
                }
            }
        })
    }

    /// A role: superusers and the role's administrators may grant it; a group: superusers only.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        let (exists, what, name) = match target(unit)? {
            Target::Role(role) => (sql::ROLE_EXISTS, "role", role),
            Target::Group(group) => (sql::GROUP_EXISTS, "group", group),
        };
        let quoted = quoting::redshift(name)?;
        let name = stored(name)?;
        if self.count(exists, &[&name]).await? == 0 {
            let create = if what == "role" {
                "CREATE ROLE"
            } else {
                "CREATE GROUP"
            };
            return Ok(Readiness::Missing {
                what: format!("{what} `{name}` does not exist on the cluster"),
                fix: format!("create it (`{create} {quoted}`), or correct `grant` in the catalog"),
            });
        }
        let me = self.current_user().await?;
        if self.count(sql::AM_SUPERUSER, &[]).await? > 0 {
            return Ok(Readiness::Ready(format!(
                "{what} `{name}` exists; the service user `{me}` is a superuser"
            )));
        }
        if what == "role" && self.count(sql::AM_ROLE_ADMIN, &[&name]).await? > 0 {
            return Ok(Readiness::Ready(format!(
                "role `{name}` exists; the service user `{me}` owns it or has ADMIN OPTION on it"
            )));
        }
        let me_quoted = quoting::redshift(&me)?;
        Ok(Readiness::Missing {
            what: format!("the service user `{me}` may not change members of {what} `{name}`"),
            fix: if what == "role" {
                format!(
                    "as a superuser or the role's owner, run `GRANT ROLE {quoted} TO {me_quoted} WITH ADMIN OPTION`"
                )
            } else {
                format!(
                    "only a superuser alters groups: make `{me}` one (`ALTER USER {me_quoted} CREATEUSER`), or grant a role instead of a group"
                )
            },
        })
    }

    async fn add(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let (statement, exists, what, name) = match target(unit)? {
            Target::Role(role) => (sql::grant_role(role, user)?, sql::ROLE_EXISTS, "role", role),
            Target::Group(group) => (
                sql::add_to_group(group, user)?,
                sql::GROUP_EXISTS,
                "group",
                group,
            ),
        };
        self.must_exist(sql::USER_EXISTS, "user", &stored(user)?)
            .await?;
        self.must_exist(exists, what, &stored(name)?).await?;
        self.run(statement).await
    }

    async fn remove(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let statement = match target(unit)? {
            Target::Role(role) => sql::revoke_role(role, user)?,
            Target::Group(group) => sql::drop_from_group(group, user)?,
        };
        self.run(statement).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redshift rejects sqlx's historical `extra_float_digits=3`; the options we build carry 2,
    /// and keep what the URL says.
    #[test]
    fn the_connection_options_carry_an_extra_float_digits_redshift_accepts() {
        let options = connect_options(
            "postgres://gatehouse:pw@example.redshift.amazonaws.com:5439/dev?sslmode=require",
        )
        .unwrap();
        let shown = format!("{options:?}");
        assert!(shown.contains("extra_float_digits: Some(\"2\")"), "{shown}");
        assert_eq!(options.get_port(), 5439);
        assert_eq!(options.get_username(), "gatehouse");
        assert_eq!(options.get_database(), Some("dev"));
        assert!(matches!(
            options.get_ssl_mode(),
            sqlx::postgres::PgSslMode::Require
        ));
    }

    #[test]
    fn a_bad_url_is_refused_without_showing_it() {
        let url = "postgres://gatehouse:s3cret@host:notaport/dev";
        let Err(err) = connect_options(url) else {
            panic!("a port that is not a number is refused");
        };
        let text = err.to_string();
        assert!(text.starts_with("unusable Redshift URL"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn only_roles_and_groups_are_units_here() {
        let task = Unit::Task {
            task: "add to the sheet".into(),
        };
        let Err(err) = target(&task) else {
            panic!("a task is not a Redshift unit");
        };
        assert!(
            err.to_string()
                .contains("Redshift grants roles and groups, not a task")
        );
    }
}
