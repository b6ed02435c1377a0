//! Whether a group can be granted: it exists, Looker manages its members (not LDAP, SAML,
//! OpenID Connect or SCIM: "Groups that cannot be edited … are externally managed", Admin
//! settings - Groups, https://cloud.google.com/looker/docs/admin-panel-users-groups), and the
//! API key's user may change them. Group membership is edited on the Admin panel's Groups page,
//! which the docs leave to the Admin role (the same page's note: without the Admin role it
//! "may not be visible"); no narrower permission for it is documented. So the API user's roles
//! (`GET /user`, then User: user_roles, `GET /users/{id}/roles`, which includes roles given
//! through groups) must include one whose permission set has `all_access`, as the built-in
//! Admin set does (types/PermissionSet in the API 4.0 reference). Nothing is changed.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Looker;
use super::api::id_of;
use crate::connectors::{ConnectorError, Readiness, http};

/// What the API user lacks, and how to give it.
fn not_admin(seen: &str) -> Readiness {
    Readiness::Missing {
        what: format!(
            "the API key's user has no role with the Admin permission set ({seen}), and only \
             Looker admins may add users to groups or remove them"
        ),
        fix: "give the API key's user the Admin role in Looker (Admin > Users), or use an API key \
              of an admin"
            .into(),
    }
}

impl Looker {
    pub(super) async fn group_readiness(&self, group: &str) -> Result<Readiness, ConnectorError> {
        let Some(found) = self.find_group(group).await? else {
            return Ok(Readiness::Missing {
                what: format!(
                    "group `{group}` does not exist in Looker (or the API user cannot see it)"
                ),
                fix: "create it in Looker (Admin > Groups), or correct `grant` in the catalog"
                    .into(),
            });
        };
        if found["externally_managed"].as_bool() == Some(true) {
            return Ok(Readiness::Missing {
                what: format!(
                    "the members of group `{group}` are managed outside Looker (LDAP, SAML, \
                     OpenID Connect or SCIM)"
                ),
                fix: "grant it in the identity provider that manages it, or name a group managed \
                      in Looker in the catalog's `grant`"
                    .into(),
            });
        }
        let roles = match self.api_user_roles().await? {
            Some(roles) => roles,
            None => return Ok(not_admin("Looker refused to list its roles")),
        };
        let admin = roles
            .iter()
            .find(|r| r["permission_set"]["all_access"].as_bool() == Some(true));
        let Some(admin) = admin else {
            let names: Vec<&str> = roles.iter().filter_map(|r| r["name"].as_str()).collect();
            return Ok(not_admin(&format!("its roles: {}", names.join(", "))));
        };
        Ok(Readiness::Ready(format!(
            "group `{group}` exists and is managed in Looker; the API key's user has the `{}` role \
             (Admin permission set)",
            admin["name"].as_str().unwrap_or("?")
        )))
    }

    /// The API user's roles with their permission sets; `None` when Looker refuses (403).
    async fn api_user_roles(&self) -> Result<Option<Vec<Value>>, ConnectorError> {
        let mut url = self.api.url(&["user"]);
        url.query_pairs_mut().append_pair("fields", "id");
        let me = id_of(&self.api.expect(Method::GET, url, None).await?);
        if me.is_empty() {
            return Err(ConnectorError::Permanent(
                "Looker's answer to GET /user has no id".into(),
            ));
        }
        let mut url = self.api.url(&["users", &me, "roles"]);
        url.query_pairs_mut()
            .append_pair("fields", "name,permission_set");
        let kept = [StatusCode::FORBIDDEN];
        let (status, body) = self.api.call_keeping(Method::GET, url, None, &kept).await?;
        if status == StatusCode::FORBIDDEN {
            return Ok(None);
        }
        match body {
            Value::Array(roles) => Ok(Some(roles)),
            other => Err(ConnectorError::Permanent(format!(
                "Looker's answer to /users/{me}/roles is not a list: {}",
                http::start_of(&other)
            ))),
        }
    }
}
