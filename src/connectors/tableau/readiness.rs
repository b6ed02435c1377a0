//! Whether a group can be granted: it exists on the site, and the user the personal access
//! token signs in as may change its members. Add User to Group and Remove User from Group
//! "can only be called by server administrators and site administrators" (Users and Groups
//! Methods, help.tableau.com/current/api/rest_api/en-us/REST/rest_api_ref_users_and_groups.htm),
//! so the token's user (named by the sign-in answer) is looked up with Query User on Site and
//! its `siteRole` read. Nothing is changed.

use reqwest::{Method, StatusCode};

use super::{Tableau, api, text};
use crate::connectors::{ConnectorError, Readiness};

/// The site roles of server and site administrators (`SiteAdministrator` is the name older
/// servers give the role that became the two site administrator roles).
const ADMIN_ROLES: [&str; 4] = [
    "ServerAdministrator",
    "SiteAdministratorCreator",
    "SiteAdministratorExplorer",
    "SiteAdministrator",
];

/// The token's user may not change memberships; `seen` is its site role, if Tableau said.
fn not_admin(token: &str, seen: Option<&str>) -> Readiness {
    let whose = match seen {
        Some(role) => format!("a user whose site role is {role}"),
        None => "a user who is not a site administrator".to_owned(),
    };
    Readiness::Missing {
        what: format!(
            "the personal access token `{token}` signs in as {whose}, and only administrators \
             may add users to groups or remove them"
        ),
        fix: "give that user the Site Administrator Creator or Site Administrator Explorer site \
              role in Tableau, or use a token of a site administrator"
            .into(),
    }
}

impl Tableau {
    pub(super) async fn group_readiness(&self, group: &str) -> Result<Readiness, ConnectorError> {
        let (site, token) = self.api.names();
        if self.find_group(group).await?.is_none() {
            return Ok(Readiness::Missing {
                what: format!("group `{group}` does not exist on site `{site}`"),
                fix: "create it in Tableau, or correct `grant` in the catalog".into(),
            });
        }
        let role = self.token_site_role().await?;
        match role.as_deref() {
            Some(r) if ADMIN_ROLES.contains(&r) => {}
            seen => return Ok(not_admin(token, seen)),
        }
        let role = role.unwrap_or_default();
        Ok(Readiness::Ready(format!(
            "group `{group}` exists on site `{site}`; the token's user is a site administrator \
             ({role})"
        )))
    }

    /// The token's user's site role; `None` when Tableau refuses to say (403: the user may
    /// not look users up, which only administrators may do for others).
    async fn token_site_role(&self) -> Result<Option<String>, ConnectorError> {
        let Some(me) = self.api.token_user().await? else {
            return Err(ConnectorError::Permanent(
                "Tableau's sign-in answer does not name the token's user (credentials.user.id)"
                    .into(),
            ));
        };
        let reply = self
            .api
            .call(Method::GET, &["users", &me], &[], None)
            .await?;
        if reply.status == StatusCode::FORBIDDEN {
            return Ok(None);
        }
        let answer: api::Answer = reply.ok()?.read()?;
        let role = answer.user.and_then(|u| text(&u.site_role));
        role.map(Some).ok_or_else(|| {
            ConnectorError::Permanent("Tableau's Query User on Site answer has no siteRole".into())
        })
    }
}
