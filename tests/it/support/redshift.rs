//! A stand-in Redshift cluster on the PostgreSQL server, for one test: a schema of its own
//! holding views named like Redshift's system views (`svv_roles`, `svv_user_grants`,
//! `svv_role_grants`) over `pg_roles` and `pg_auth_members`, the roles the test made, and the
//! URL that puts the schema first on the connector's search_path. `drop_all` removes it all.

use gatehouse::connectors::redshift::Redshift;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;

pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The name as Redshift stores it (ASCII letters lower-cased), which is what the stand-in server
/// must hold for the connector to find it.
fn folded(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A stand-in cluster for one test: its schema of Redshift views, the roles it made (names
/// start with `gh_t`, which CI drops if a test dies), and the URL the connector uses.
pub struct Stage {
    pub admin: PgPool,
    /// The test's prefix (`gh_t` and 8 hex digits); every name the test makes starts with it.
    pub p: String,
    pub schema: String,
    /// The connector's URL: the server's, with the schema first on the search_path.
    pub url: String,
    made: Vec<String>,
}

impl Stage {
    pub async fn new(server: &str) -> Stage {
        let p = format!("gh_t{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let schema = format!("{p}_rs");
        let admin = PgPool::connect(server).await.unwrap();
        // Redshift roles are the non-login roles named `<p>_role…`; groups are all non-login
        // roles (PostgreSQL's `pg_group`), so a role of ours is listed as a group too.
        let views = format!(
            "CREATE SCHEMA {schema};
             CREATE VIEW {schema}.svv_roles AS
               SELECT oid::int AS role_id, rolname::text AS role_name, 'postgres'::text AS role_owner
               FROM pg_roles WHERE NOT rolcanlogin AND starts_with(rolname, '{p}_role');
             CREATE VIEW {schema}.svv_user_grants AS
               SELECT m.rolname::text AS user_name, r.role_name, a.admin_option
               FROM pg_auth_members a JOIN {schema}.svv_roles r ON r.role_id = a.roleid::int
               JOIN pg_roles m ON m.oid = a.member WHERE m.rolcanlogin;
             CREATE VIEW {schema}.svv_role_grants AS
               SELECT m.role_name, r.role_name AS granted_role_name
               FROM pg_auth_members a JOIN {schema}.svv_roles r ON r.role_id = a.roleid::int
               JOIN {schema}.svv_roles m ON m.role_id = a.member::int;"
        );
        sqlx::raw_sql(AssertSqlSafe(views))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-csearch_path%3D{schema},pg_catalog");
        Stage {
            admin,
            p,
            schema,
            url,
            made: Vec::new(),
        }
    }

    pub fn connector(&self) -> Redshift {
        Redshift::new(&self.url).unwrap()
    }

    pub async fn exec(&self, sql: String) {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&self.admin)
            .await
            .unwrap();
    }

    /// Makes a role as Redshift would store `name`; returns the stored name.
    async fn make(&mut self, name: &str, login: bool) -> String {
        let stored = folded(name);
        assert!(stored.len() <= 63, "PostgreSQL would cut {stored:?} short");
        let login = if login { "LOGIN" } else { "NOLOGIN" };
        self.exec(format!("CREATE ROLE {} {login}", quoted(&stored)))
            .await;
        self.made.push(stored.clone());
        stored
    }

    pub async fn user(&mut self, name: &str) -> String {
        self.make(name, true).await
    }

    /// A login without superuser that may read the stand-in views, and the connector's URL for
    /// logging in as it.
    pub async fn service_user(&mut self, name: &str, password: &str) -> (String, String) {
        let user = self.user(name).await;
        let (u, schema) = (quoted(&user), &self.schema);
        self.exec(format!("ALTER ROLE {u} PASSWORD '{password}'"))
            .await;
        self.exec(format!(
            "GRANT USAGE ON SCHEMA {schema} TO {u}; GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {u}"
        ))
        .await;
        let (scheme, rest) = self.url.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        (user.clone(), format!("{scheme}://{user}:{password}@{host}"))
    }

    /// A group, or a Redshift role when the name starts with `<p>_role`.
    pub async fn group(&mut self, name: &str) -> String {
        self.make(name, false).await
    }

    /// The members of `group` as the server holds them.
    pub async fn members(&self, group: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT m.rolname::text FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid \
             JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = $1 ORDER BY 1",
        )
        .bind(group)
        .fetch_all(&self.admin)
        .await
        .unwrap()
    }

    pub async fn drop_all(self) {
        // The schema first: a service user's privileges on it would keep its role alive.
        self.exec(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await;
        for name in self.made.iter().rev() {
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS {}",
                quoted(name)
            )))
            .execute(&self.admin)
            .await;
        }
        self.admin.close().await;
    }
}
