//! Accounts and roles on the machine's real MariaDB server, made for one test and dropped after it.

use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Row};

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

pub fn prefix() -> String {
    format!("gh_t{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}
