//! Snowflake through the SQL API v2 with key-pair authentication: the unit of access is role
//! membership (`GRANT ROLE "R" TO USER "U"`). Snowflake answers success for a grant its role may
//! not make (a `status` row saying "Grant not executed: …"), so every change's status is read,
//! and `grant`/`revoke` check again afterwards. Names reach SQL only through
//! `quoting::snowflake`.

mod api;
mod jwt;
mod parse;
mod readiness;

use crate::connectors::bounded_probe;
use std::collections::BTreeSet;

use super::{Connector, ConnectorError, Holding, PlatformIdentity, Readiness, quoting, role_in};
use crate::config::SnowflakeSettings;
use crate::domain::Unit;
use api::SqlError;
use parse::ResultSet;

/// Users listed per `SHOW USERS` page (Snowflake allows up to 10,000).
const PAGE: usize = 1000;

pub struct Snowflake {
    api: api::Api,
    page_size: usize,
}

/// The name as Snowflake stores it and SHOW prints it: what `quoting::snowflake` quotes.
/// The unit's role and the user, both quoted for a statement.
fn role_and_user(unit: &Unit, user: &str) -> Result<(String, String), ConnectorError> {
    let role = role_in(unit, "Snowflake")?;
    Ok((quoting::snowflake(role)?, quoting::snowflake(user)?))
}

fn stored(name: &str) -> Result<String, ConnectorError> {
    let quoted = quoting::snowflake(name)?;
    Ok(quoted[1..quoted.len() - 1].replace("\"\"", "\""))
}

/// A change that Snowflake accepted without making says so in its `status` column.
fn refused(result: &ResultSet) -> Option<String> {
    result
        .rows()
        .filter_map(|r| r.get("status"))
        .find(|s| s.to_ascii_lowercase().contains("not executed"))
        .map(str::to_owned)
}

impl Snowflake {
    /// Reads the key and prepares the client; nothing is sent until the first call.
    pub fn new(settings: &SnowflakeSettings, private_key_pem: &str) -> Result<Self, String> {
        let account = settings.account.trim();
        if account.is_empty() || settings.user.trim().is_empty() {
            return Err("a Snowflake connector needs `account` and `user`".into());
        }
        let tokens = jwt::Tokens::new(account, &settings.user, private_key_pem)?;
        let base = match &settings.base_url {
            Some(url) => url.clone(),
            None => format!("https://{}", jwt::host_for(account)),
        };
        let api = api::Api::new(
            &base,
            tokens,
            settings.role.clone(),
            settings.warehouse.clone(),
        )?;
        Ok(Snowflake {
            api,
            page_size: PAGE,
        })
    }

    /// Lists users `n` at a time (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The roles granted to `user` directly, as SHOW prints them; the statement's own failure
    /// apart, for `check` to read its code.
    async fn roles_of_user(
        &self,
        user: &str,
    ) -> Result<Result<Vec<String>, SqlError>, ConnectorError> {
        let statement = format!("SHOW GRANTS TO USER {}", quoting::snowflake(user)?);
        let set = match self.api.try_execute(&statement).await? {
            Ok(set) => set,
            Err(failed) => return Ok(Err(failed)),
        };
        Ok(Ok(set
            .rows()
            .map(|r| r.need("role").map(str::to_owned))
            .collect::<Result<_, _>>()?))
    }

    /// `SHOW GRANTS TO USER` failed with 002003, which Snowflake answers both for a user that
    /// is gone (dropped, or renamed away from this name) and for one the service role may not
    /// see. Gone holds nothing, so the check answers "not held", but only when two other
    /// answers agree: SHOW USERS does not list the name, and the role's own grants (SHOW GRANTS
    /// OF ROLE) do not name the user either. SHOW USERS leaves out users the active role may
    /// not see (bundle 2023_06, bcr-975); that SHOW GRANTS OF ROLE, on a role the service role
    /// grants, still lists such a user is assumed, not yet seen on a real account. Anything else
    /// keeps the first error; a role that does not exist stays an error too. Run only after the
    /// check failed, so a user who exists costs nothing more.
    async fn unless_gone(
        &self,
        user: &str,
        role: &str,
        failed: SqlError,
    ) -> Result<Holding, ConnectorError> {
        let name = stored(user)?;
        let listed = self
            .api
            .execute(&format!(
                "SHOW USERS STARTS WITH {}",
                quoting::snowflake_string(&name)?
            ))
            .await?;
        for r in listed.rows() {
            if r.need("name")? == name {
                return Err(failed.into());
            }
        }
        let grants = self.show_grants("OF", role).await?;
        for r in grants.rows() {
            if r.need("granted_to")?.eq_ignore_ascii_case("USER") && r.need("grantee_name")? == name
            {
                return Err(failed.into());
            }
        }
        Ok(Holding::default())
    }

    /// `SHOW GRANTS <which> ROLE <quoted>` (`OF`: who holds the role; `TO`: what it holds;
    /// `ON`: who owns it), the statement's own failure apart from the others.
    async fn try_show_grants(
        &self,
        which: &str,
        quoted: &str,
    ) -> Result<Result<ResultSet, SqlError>, ConnectorError> {
        self.api
            .try_execute(&format!("SHOW GRANTS {which} ROLE {quoted}"))
            .await
    }

    /// [`Snowflake::try_show_grants`] for a role by name; every failure is an error.
    async fn show_grants(&self, which: &str, role: &str) -> Result<ResultSet, ConnectorError> {
        Ok(self
            .try_show_grants(which, &quoting::snowflake(role)?)
            .await??)
    }

    /// The roles granted to `role` (its `USAGE ON ROLE` rows).
    async fn roles_of_role(&self, role: &str) -> Result<Vec<String>, ConnectorError> {
        let set = self.show_grants("TO", role).await?;
        let mut out = Vec::new();
        for r in set.rows() {
            if r.need("granted_on")?.eq_ignore_ascii_case("ROLE")
                && r.need("privilege")?.eq_ignore_ascii_case("USAGE")
            {
                out.push(r.need("name")?.to_owned());
            }
        }
        Ok(out)
    }

    /// Runs a GRANT or REVOKE and reads its status; returns the statement for the audit log.
    async fn change(&self, statement: String) -> Result<String, ConnectorError> {
        let result = self.api.execute(&statement).await?;
        match refused(&result) {
            Some(status) => Err(ConnectorError::Permanent(format!(
                "Snowflake did not make the change `{statement}`: {status}"
            ))),
            None => Ok(statement),
        }
    }

    async fn users(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut from: Option<String> = None;
        loop {
            let mut statement = format!("SHOW USERS LIMIT {}", self.page_size);
            if let Some(last) = &from {
                statement.push_str(&format!(" FROM {}", quoting::snowflake_string(last)?));
            }
            let page = self.api.execute(&statement).await?;
            let mut last = None;
            for r in page.rows() {
                let name = r.need("name")?.to_owned();
                last = Some(name.clone());
                if !seen.insert(name.clone()) {
                    continue;
                }
                let login = r.get("login_name").filter(|l| !l.is_empty());
                out.push(PlatformIdentity {
                    kind: "user".into(),
                    name: login.unwrap_or(&name).to_owned(),
                    email: r.get("email").filter(|e| !e.is_empty()).map(str::to_owned),
                    id: name,
                });
            }
            // A short page is the last; a page of names already seen would loop forever.
            if page.len() < self.page_size || last.is_none() || last == from {
                return Ok(out);
            }
            from = last;
        }
    }
}

#[async_trait::async_trait]
impl Connector for Snowflake {
    /// `SELECT 1`, bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        bounded_probe("Snowflake", self.api.execute("SELECT 1")).await
    }

    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let mut all = self.users().await?;
        let roles = self.api.execute("SHOW ROLES").await?;
        for r in roles.rows() {
            let name = r.need("name")?.to_owned();
            all.push(PlatformIdentity {
                kind: "role".into(),
                id: name.clone(),
                name,
                email: None,
            });
        }
        Ok(all)
    }

    /// Direct: a `SHOW GRANTS TO USER` row names the role. Through: the user's other roles that
    /// hold it themselves. One level is looked at (a role granted to a role granted to the user),
    /// which is what a reviewer can act on; deeper chains are not followed. A user who no
    /// longer exists holds nothing (see `unless_gone`).
    async fn check(&self, user: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let named = role_in(unit, "Snowflake")?;
        let role = stored(named)?;
        let held = match self.roles_of_user(user).await? {
            Ok(held) => held,
            Err(failed) if failed.is_missing_or_hidden() => {
                return self.unless_gone(user, named, failed).await;
            }
            Err(failed) => return Err(failed.into()),
        };
        let direct = held.contains(&role);
        let mut through = Vec::new();
        for parent in held.iter().filter(|r| **r != role) {
            if self.roles_of_role(parent).await?.contains(&role) {
                through.push(format!("role `{parent}`"));
            }
        }
        Ok(Holding { direct, through })
    }

    /// The role exists, and the service role owns it (or inherits its owner) or holds MANAGE
    /// GRANTS: see `readiness.rs`.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        self.role_readiness(role_in(unit, "Snowflake")?).await
    }

    async fn add(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let (role, user) = role_and_user(unit, user)?;
        self.change(format!("GRANT ROLE {role} TO USER {user}"))
            .await
    }

    async fn remove(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let (role, user) = role_and_user(unit, user)?;
        self.change(format!("REVOKE ROLE {role} FROM USER {user}"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_as_snowflake_stores_them() {
        assert_eq!(stored("analyst").unwrap(), "ANALYST");
        assert_eq!(stored("Mixed Case").unwrap(), "Mixed Case");
        assert_eq!(stored("a\"b").unwrap(), "a\"b");
    }
}
