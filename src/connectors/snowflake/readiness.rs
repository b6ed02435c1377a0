//! Whether a role can be granted before anyone asks: it exists (`SHOW ROLES LIKE`), and the
//! service role may grant it, which GRANT ROLE's access control requirements say takes
//! OWNERSHIP of the role or the global MANAGE GRANTS privilege
//! (docs.snowflake.com/en/sql-reference/sql/grant-role). Ownership held by a role granted to
//! the service role counts too, since privileges flow up the hierarchy; one level is looked
//! at, as in `check`. Only SHOW statements run.

use super::api::SqlError;
use super::{Snowflake, stored};
use crate::connectors::{ConnectorError, Readiness, quoting};

/// What the service role holds that lets it grant: the roles granted to it, and whether it
/// has MANAGE GRANTS on the account.
struct Powers {
    roles: Vec<String>,
    manage_grants: bool,
}

/// A role, as Snowflake prints it and as SQL names it.
struct Named {
    stored: String,
    quoted: String,
}

/// `SHOW ROLES LIKE` treats `%` and `_` as wildcards (and maybe `\` as an escape), so the
/// pattern is only a filter: a backslash becomes `_`, which matches it whichever way Snowflake
/// reads it, and the rows are then compared exactly.
fn like_pattern(stored: &str) -> Result<String, ConnectorError> {
    Ok(quoting::snowflake_string(&stored.replace('\\', "_"))?)
}

fn fix(role: &Named, service: &Named) -> String {
    format!(
        "give the service role one of them: `GRANT OWNERSHIP ON ROLE {} TO ROLE {} COPY CURRENT \
         GRANTS`, or `GRANT MANAGE GRANTS ON ACCOUNT TO ROLE {}` (as SECURITYADMIN)",
        role.quoted, service.quoted, service.quoted
    )
}

/// The service role cannot see what it needs to: as good as not having the right.
fn unseen(role: &Named, service: &Named, failed: &SqlError) -> Readiness {
    Readiness::Missing {
        what: format!(
            "the service role `{}` may not read the grants on role `{}`, so it holds neither \
             OWNERSHIP on it nor MANAGE GRANTS ({})",
            service.stored, role.stored, failed.said
        ),
        fix: fix(role, service),
    }
}

impl Snowflake {
    pub(super) async fn role_readiness(&self, name: &str) -> Result<Readiness, ConnectorError> {
        let role = Named {
            stored: stored(name)?,
            quoted: quoting::snowflake(name)?,
        };
        if !self.role_exists(&role.stored).await? {
            return Ok(Readiness::Missing {
                what: format!("role `{}` does not exist on the account", role.stored),
                fix: format!(
                    "create it (`CREATE ROLE {}`) or correct `grant` in the catalog",
                    role.quoted
                ),
            });
        }
        let Some(service) = self.api.role() else {
            return Ok(Readiness::Missing {
                what: format!(
                    "the connector names no `role`, so whether Gatehouse may grant role `{}` \
                     cannot be told",
                    role.stored
                ),
                fix: "set `role = \"…\"` on the connector: the role Gatehouse grants with, one \
                      that owns the granted roles or holds MANAGE GRANTS"
                    .into(),
            });
        };
        let service = Named {
            stored: stored(service)?,
            quoted: quoting::snowflake(service)?,
        };
        let owner = match self.owner(&role.quoted).await? {
            Ok(owner) => owner,
            Err(failed) => return Ok(unseen(&role, &service, &failed)),
        };
        let powers = match self.powers(&service.quoted).await? {
            Ok(powers) => powers,
            Err(failed) => return Ok(unseen(&role, &service, &failed)),
        };
        Ok(judge(&role, &service, owner.as_deref(), &powers))
    }

    async fn role_exists(&self, stored: &str) -> Result<bool, ConnectorError> {
        let statement = format!("SHOW ROLES LIKE {}", like_pattern(stored)?);
        let rows = self.api.execute(&statement).await?;
        for r in rows.rows() {
            if r.need("name")? == stored {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The role holding OWNERSHIP on the role (`SHOW GRANTS ON ROLE`), if a row says.
    async fn owner(
        &self,
        quoted: &str,
    ) -> Result<Result<Option<String>, SqlError>, ConnectorError> {
        let set = match self.try_show_grants("ON", quoted).await? {
            Ok(set) => set,
            Err(failed) => return Ok(Err(failed)),
        };
        for r in set.rows() {
            if r.need("privilege")?.eq_ignore_ascii_case("OWNERSHIP") {
                return Ok(Ok(Some(r.need("grantee_name")?.to_owned())));
            }
        }
        Ok(Ok(None))
    }

    /// `SHOW GRANTS TO ROLE <service role>`: the roles it inherits, and MANAGE GRANTS.
    async fn powers(&self, quoted: &str) -> Result<Result<Powers, SqlError>, ConnectorError> {
        let set = match self.try_show_grants("TO", quoted).await? {
            Ok(set) => set,
            Err(failed) => return Ok(Err(failed)),
        };
        let mut powers = Powers {
            roles: Vec::new(),
            manage_grants: false,
        };
        for r in set.rows() {
            let (privilege, on) = (r.need("privilege")?, r.need("granted_on")?);
            if on.eq_ignore_ascii_case("ROLE") && privilege.eq_ignore_ascii_case("USAGE") {
                powers.roles.push(r.need("name")?.to_owned());
            } else if on.eq_ignore_ascii_case("ACCOUNT")
                && privilege.eq_ignore_ascii_case("MANAGE GRANTS")
            {
                powers.manage_grants = true;
            }
        }
        Ok(Ok(powers))
    }
}

fn judge(role: &Named, service: &Named, owner: Option<&str>, powers: &Powers) -> Readiness {
    let (r, s) = (&role.stored, &service.stored);
    match owner {
        Some(o) if o == s => {
            return Readiness::Ready(format!("role `{r}` exists; the service role `{s}` owns it"));
        }
        Some(o) if powers.roles.iter().any(|held| held == o) => {
            return Readiness::Ready(format!(
                "role `{r}` exists; it is owned by role `{o}`, which is granted to the service role `{s}`"
            ));
        }
        _ => {}
    }
    if powers.manage_grants {
        return Readiness::Ready(format!(
            "role `{r}` exists; the service role `{s}` holds MANAGE GRANTS on the account"
        ));
    }
    let owned_by = owner.map_or("no owner is shown".to_owned(), |o| format!("`{o}` owns it"));
    Readiness::Missing {
        what: format!(
            "the service role `{s}` may not grant role `{r}`: {owned_by}, and `{s}` holds neither \
             OWNERSHIP on it nor MANAGE GRANTS"
        ),
        fix: fix(role, service),
    }
}
