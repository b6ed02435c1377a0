//! The demo's PostgreSQL side: a role and a login made for one run (named `gatehouse_demo_…`),
//! what the server says about the membership, and dropping both at the end.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const PREFIX: &str = "gatehouse_demo_";

/// The roles made for this run, and a connection to ask the server about them.
pub struct DemoRoles {
    conn: PgConnection,
    pub url: String,
    /// Where the server is, without credentials, for messages.
    pub place: String,
    /// The login the requester is (`gatehouse_demo_<run>_maya`).
    pub login: String,
    /// The role the resource grants (`gatehouse_demo_<run>_analysts`).
    pub role: String,
}

/// Either roles to use, or one line saying why the story goes on without PostgreSQL.
pub enum Setup {
    Ready(DemoRoles),
    Without(String),
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Connects (waiting at most a second) and makes the demo's role and login.
pub async fn setup(url: &str, run: &str) -> Setup {
    let opts = match PgConnectOptions::from_str(url) {
        Ok(o) => o,
        Err(_) => {
            return Setup::Without(
                "PostgreSQL: GATEHOUSE_DEMO_POSTGRES_URL is not a postgres:// URL, so the story uses the manual connector only".into(),
            );
        }
    };
    let place = format!("{}:{}", opts.get_host(), opts.get_port());
    let conn = match tokio::time::timeout(Duration::from_secs(1), PgConnection::connect_with(&opts))
        .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Setup::Without(format!(
                "PostgreSQL: none reachable at {place} ({}), so the story uses the manual connector only (set GATEHOUSE_DEMO_POSTGRES_URL to use one)",
                short(&e)
            ));
        }
        Err(_) => {
            return Setup::Without(format!(
                "PostgreSQL: no answer from {place} within 1 s, so the story uses the manual connector only (set GATEHOUSE_DEMO_POSTGRES_URL to use one)"
            ));
        }
    };
    let mut roles = DemoRoles {
        conn,
        url: url.to_owned(),
        place,
        login: format!("{PREFIX}{run}_maya"),
        role: format!("{PREFIX}{run}_analysts"),
    };
    let made = async {
        let role = format!("CREATE ROLE {} NOLOGIN", quoted(&roles.role));
        sqlx::raw_sql(AssertSqlSafe(role))
            .execute(&mut roles.conn)
            .await?;
        let login = format!("CREATE ROLE {} LOGIN", quoted(&roles.login));
        sqlx::raw_sql(AssertSqlSafe(login))
            .execute(&mut roles.conn)
            .await
    }
    .await;
    match made {
        Ok(_) => Setup::Ready(roles),
        Err(e) => {
            let place = roles.place.clone();
            roles.drop_roles().await;
            Setup::Without(format!(
                "PostgreSQL at {place} refused to create the demo roles ({}), so the story uses the manual connector only",
                short(&e)
            ))
        }
    }
}

/// The server's error in its own words, on one line.
fn short(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

impl DemoRoles {
    /// `pg_has_role(login, role, 'MEMBER')`, as the server answers it now.
    pub async fn holds(&mut self) -> Result<bool, String> {
        sqlx::query_scalar::<_, bool>("SELECT pg_has_role($1, $2, 'MEMBER')")
            .bind(&self.login)
            .bind(&self.role)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| short(&e))
    }

    /// Drops the login and the role; returns a line to print when one could not be dropped.
    pub async fn drop_roles(&mut self) -> Option<String> {
        let mut problems = Vec::new();
        for name in [&self.login, &self.role] {
            let sql = format!("DROP ROLE IF EXISTS {}", quoted(name));
            if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut self.conn)
                .await
            {
                problems.push(format!("{name}: {}", short(&e)));
            }
        }
        (!problems.is_empty()).then(|| {
            format!(
                "could not drop the demo roles on {} ({}); drop them by hand",
                self.place,
                problems.join("; ")
            )
        })
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
