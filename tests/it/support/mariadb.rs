//! Accounts and roles on the machine's real MariaDB server, made for one test and dropped
//! after it; and the server as the connector contract and the SQL suite see it.

use gatehouse::connectors::Connector;
use gatehouse::connectors::mysql::MySql;
use gatehouse::domain::Unit;
use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Row};

use super::contract::{Changes, Platform, Prefixed, role_of};
use super::db::mariadb_server;
use super::sql_suite::SqlServer;

pub fn tick(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Accounts and roles made for one test (names start with `gh_t`), dropped at the end.
pub struct Server {
    pub pool: MySqlPool,
    pub users: Vec<String>,
    roles: Vec<String>,
}

impl Server {
    pub async fn new(url: &str) -> Server {
        Server {
            pool: MySqlPool::connect(url).await.unwrap(),
            users: vec![],
            roles: vec![],
        }
    }

    pub async fn exec(&self, sql: String) {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .unwrap();
    }

    pub async fn user(&mut self, name: &str) {
        self.exec(format!("CREATE USER {}@'%'", tick(name))).await;
        self.users.push(name.to_owned());
    }

    pub async fn role(&mut self, name: &str) {
        self.exec(format!("CREATE ROLE {}", tick(name))).await;
        self.roles.push(name.to_owned());
    }

    pub async fn has(&self, user: &str, role: &str) -> bool {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM mysql.roles_mapping WHERE User = ? AND Host = '%' AND Role = ?",
        )
        .bind(user)
        .bind(role)
        .fetch_one(&self.pool)
        .await
        .unwrap()
        .get(0);
        n > 0
    }

    /// The accounts at `%` granted `role` (not the one that made it, which holds it with
    /// ADMIN OPTION), in name order.
    pub async fn holders(&self, role: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT CAST(User AS CHAR) FROM mysql.roles_mapping \
             WHERE Host = '%' AND Role = ? AND Admin_option <> 'Y' ORDER BY 1",
        )
        .bind(role)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    pub async fn default_role(&self, user: &str) -> String {
        let row = sqlx::query(
            "SELECT CAST(default_role AS CHAR) FROM mysql.user WHERE User = ? AND Host = '%'",
        )
        .bind(user)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        row.get::<Option<String>, _>(0).unwrap_or_default()
    }

    pub async fn drop_all(self) {
        for u in &self.users {
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP USER IF EXISTS {}@'%'",
                tick(u)
            )))
            .execute(&self.pool)
            .await;
        }
        for r in &self.roles {
            let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP ROLE IF EXISTS {}", tick(r))))
                .execute(&self.pool)
                .await;
        }
    }
}

/// The server with the accounts alice and bob and the roles analysts, other and team (which
/// is granted analysts), made for one test; the connector's changes are counted.
pub struct Shop {
    pub server: Server,
    pub url: String,
    changes: Changes,
    pub names: Prefixed,
}

impl Platform for Shop {
    fn connector(&self) -> Box<dyn Connector> {
        self.changes.wrap(MySql::new(&self.url).unwrap())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        self.server.has(identity, role_of(unit)).await
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let role = tick(role_of(unit));
        self.server
            .exec(format!("GRANT {role} TO {}@'%'", tick(identity)))
            .await;
    }
    fn changes(&self) -> usize {
        self.changes.count()
    }
    async fn give_inherited(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
        self.through_team(identity, unit).await
    }
}

impl SqlServer for Shop {
    async fn empty(test: &str) -> Option<Shop> {
        let url = mariadb_server(test)?;
        let changes = Changes::default();
        Some(Shop {
            server: Server::new(&url).await,
            url,
            changes,
            names: Prefixed::fresh(),
        })
    }
    fn names(&self) -> &Prefixed {
        &self.names
    }
    /// A role granted to a role names no host.
    async fn nest(&self, unit: &Unit, role: &str) {
        let (granted, to) = (tick(role_of(unit)), tick(role));
        self.server.exec(format!("GRANT {granted} TO {to}")).await;
    }
    async fn login(&mut self, name: &str) -> String {
        self.server.user(name).await;
        name.to_owned()
    }
    async fn make_unit(&mut self, name: &str) {
        self.server.role(name).await;
    }
    async fn holders(&self, unit: &Unit) -> Vec<String> {
        self.server.holders(role_of(unit)).await
    }
    async fn drop_login(&self, name: &str) {
        self.server
            .exec(format!("DROP USER {}@'%'", tick(name)))
            .await;
    }
    async fn plant_canary(&self) -> String {
        let canary = self.names.name("canary");
        self.server
            .exec(format!("CREATE DATABASE {}", tick(&canary)))
            .await;
        canary
    }
    async fn canary_survives(&self) -> bool {
        let canary = self.names.name("canary");
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?")
                .bind(&canary)
                .fetch_one(&self.server.pool)
                .await
                .unwrap()
                .get(0);
        self.server
            .exec(format!("DROP DATABASE IF EXISTS {}", tick(&canary)))
            .await;
        n == 1
    }
    async fn principals(&self) -> usize {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM mysql.user WHERE User LIKE CONCAT(?, '%')")
            .bind(&self.names.0)
            .fetch_one(&self.server.pool)
            .await
            .unwrap()
            .get(0);
        n as usize
    }
    async fn finish(self) {
        self.server.drop_all().await;
    }
}
