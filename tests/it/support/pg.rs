//! Roles on the machine's real PostgreSQL server, made for one test and dropped after it.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

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

pub fn prefix() -> String {
    format!("gh_t{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}
