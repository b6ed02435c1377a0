//! Roles on the machine's real PostgreSQL server, made for one test and dropped after it; and
//! the server as the connector contract and the SQL suite see it.

use gatehouse::connectors::Connector;
use gatehouse::connectors::postgres::Postgres;
use gatehouse::domain::Unit;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use super::contract::{Changes, Platform, Prefixed, role_of};
use super::db::postgres_server;
use super::sql_suite::SqlServer;

/// The prefix the other tests on this server name what they make with.
pub use super::contract::prefix;

/// Roles made for one test, dropped at the end; names start with `gh_t` (CI drops leftovers).
pub struct Roles {
    pub admin: DatabaseConnection,
    pub made: Vec<String>,
}

pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Roles {
    pub async fn new(url: &str) -> Roles {
        Roles {
            admin: Database::connect(url).await.unwrap(),
            made: Vec::new(),
        }
    }

    pub async fn make(&mut self, name: &str, login: bool) {
        let sql = format!(
            "CREATE ROLE {} {}",
            quoted(name),
            if login { "LOGIN" } else { "NOLOGIN" }
        );
        self.admin.execute_unprepared(&sql).await.unwrap();
        self.made.push(name.to_owned());
    }

    pub async fn member(&self, member: &str, role: &str) -> bool {
        let sql = format!(
            "SELECT 1 FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
             WHERE r.rolname = '{}' AND m.rolname = '{}'",
            role.replace('\'', "''"),
            member.replace('\'', "''")
        );
        self.admin
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await
            .unwrap()
            .is_some()
    }

    /// The direct members of `role`, in name order, but for the test's own login (which
    /// PostgreSQL 16 makes a member of the roles a CREATEROLE login creates).
    pub async fn members(&self, role: &str) -> Vec<String> {
        let sql = format!(
            "SELECT m.rolname::text AS m FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid \
             JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = '{}' AND m.rolname <> current_user ORDER BY 1",
            role.replace('\'', "''")
        );
        let rows = self
            .admin
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "m").unwrap())
            .collect()
    }

    pub async fn drop_all(self) {
        for name in self.made.iter().rev() {
            let _ = self
                .admin
                .execute_unprepared(&format!("DROP ROLE IF EXISTS {}", quoted(name)))
                .await;
        }
    }
}

/// The server with the logins alice and bob and the roles analysts, other and team (which
/// gives analysts), made for one test; the connector's changes are counted.
pub struct Server {
    pub roles: Roles,
    pub url: String,
    changes: Changes,
    pub names: Prefixed,
    canary: String,
}

impl Server {
    pub async fn exec(&self, sql: String) {
        self.roles.admin.execute_unprepared(&sql).await.unwrap();
    }

    async fn one(&self, sql: String) -> bool {
        let stmt = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql);
        let row = self.roles.admin.query_one_raw(stmt).await.unwrap();
        row.is_some()
    }
}

impl Platform for Server {
    fn connector(&self) -> Box<dyn Connector> {
        self.changes.wrap(Postgres::new(&self.url).unwrap())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        self.roles.member(identity, role_of(unit)).await
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let role = quoted(role_of(unit));
        self.exec(format!("GRANT {role} TO {}", quoted(identity)))
            .await;
    }
    fn changes(&self) -> usize {
        self.changes.count()
    }
    async fn give_inherited(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
        self.through_team(identity, unit).await
    }
}

impl SqlServer for Server {
    async fn empty(test: &str) -> Option<Server> {
        let url = postgres_server(test)?;
        let names = Prefixed::fresh();
        let changes = Changes::default();
        let canary = names.name("canary");
        Some(Server {
            roles: Roles::new(&url).await,
            url,
            changes,
            names,
            canary,
        })
    }
    fn names(&self) -> &Prefixed {
        &self.names
    }
    /// On PostgreSQL a role is given to a role as to a login.
    async fn nest(&self, unit: &Unit, role: &str) {
        self.give(role, unit).await;
    }
    async fn login(&mut self, name: &str) -> String {
        self.roles.make(name, true).await;
        name.to_owned()
    }
    async fn make_unit(&mut self, name: &str) {
        self.roles.make(name, false).await;
    }
    async fn holders(&self, unit: &Unit) -> Vec<String> {
        self.roles.members(role_of(unit)).await
    }
    async fn drop_login(&self, name: &str) {
        self.exec(format!("DROP ROLE {}", quoted(name))).await;
    }
    async fn plant_canary(&self) -> String {
        self.exec(format!("CREATE TABLE {} (x int)", self.canary))
            .await;
        self.canary.clone()
    }
    async fn canary_survives(&self) -> bool {
        let sql = format!(
            "SELECT 1 FROM pg_tables WHERE tablename = '{}'",
            self.canary
        );
        let there = self.one(sql).await;
        self.exec(format!("DROP TABLE IF EXISTS {}", self.canary))
            .await;
        there
    }
    async fn principals(&self) -> usize {
        let sql = format!(
            "SELECT 1 FROM pg_roles WHERE starts_with(rolname, '{}')",
            self.names.0
        );
        let stmt = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql);
        self.roles.admin.query_all_raw(stmt).await.unwrap().len()
    }
    async fn finish(self) {
        self.roles.drop_all().await;
    }
}
