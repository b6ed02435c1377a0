//! Looker through API 4.0 with an API key: the unit of access is membership of a Looker group,
//! named in the catalog by the group's name and resolved to its id on every call (a renamed or
//! deleted group is noticed at once). Ids reach URL paths only as pushed path segments.

mod api;
mod readiness;

use crate::connectors::bounded_probe;
use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::http::text;
use super::{Connector, ConnectorError, Holding, PlatformIdentity, Readiness, group_in};
use crate::config::{ApiSettings, Secret};
use crate::domain::Unit;
use api::id_of;

/// Rows asked for per page (Looker publishes no maximum; its SDKs use a few hundred).
const PAGE: usize = 500;

#[derive(Debug)]
pub struct Looker {
    api: api::Api,
    page_size: usize,
}

impl Looker {
    /// Prepares the client; nothing is sent until the first call.
    pub fn new(settings: &ApiSettings, client_secret: Secret) -> Result<Self, String> {
        Ok(Looker {
            api: api::Api::new(&settings.base_url, &settings.client_id, client_secret)?,
            page_size: PAGE,
        })
    }

    /// Lists `n` rows a page (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The id of the group called `name`.
    async fn group_id(&self, name: &str) -> Result<String, ConnectorError> {
        let group = self.find_group(name).await?.ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "Looker has no group named `{name}` (or the API user cannot see it); check \
                 the resource's grant in the catalog"
            ))
        })?;
        Ok(id_of(&group))
    }

    /// The group called `name` (`id`, `name`, `externally_managed`), or `None`.
    /// `GET /groups/search?name=` matches case-insensitively and treats `%` and `_` as
    /// wildcards, so the answer is filtered to the exact name (or, when none matches exactly,
    /// the one group whose name differs only in case).
    async fn find_group(&self, name: &str) -> Result<Option<Value>, ConnectorError> {
        let rows = self
            .api
            .all(
                &["groups", "search"],
                &[("name", name), ("fields", "id,name,externally_managed")],
                self.page_size,
            )
            .await?;
        let named = |exact: bool| -> Vec<&Value> {
            rows.iter()
                .filter(|r| match r["name"].as_str() {
                    Some(n) if exact => n == name,
                    Some(n) => n.to_lowercase() == name.to_lowercase(),
                    None => false,
                })
                .filter(|r| !id_of(r).is_empty())
                .collect()
        };
        let exact = named(true);
        let found = if exact.is_empty() {
            named(false)
        } else {
            exact
        };
        match found.as_slice() {
            [group] => Ok(Some((*group).clone())),
            [] => Ok(None),
            _ => Err(ConnectorError::Permanent(format!(
                "Looker has several groups named `{name}`; rename one so the grant is unambiguous"
            ))),
        }
    }

    async fn listing(&self, segments: &[&str], fields: &str) -> Result<Vec<Value>, ConnectorError> {
        self.api
            .all(segments, &[("fields", fields)], self.page_size)
            .await
    }
}

#[async_trait::async_trait]
impl Connector for Looker {
    /// `GET /api/4.0/user?fields=id` (the API user itself, logging in first if needed),
    /// bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let mut url = self.api.url(&["user"]);
        url.query_pairs_mut().append_pair("fields", "id");
        let call = self.api.expect(Method::GET, url, None);
        bounded_probe("Looker", call).await
    }

    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let mut all = Vec::new();
        let mut seen = BTreeSet::new();
        for u in self.listing(&["users"], "id,email,display_name").await? {
            let id = id_of(&u);
            if id.is_empty() || !seen.insert(id.clone()) {
                continue;
            }
            let email = text(&u, "email");
            all.push(PlatformIdentity {
                kind: "user".into(),
                name: text(&u, "display_name")
                    .or_else(|| email.clone())
                    .unwrap_or_else(|| id.clone()),
                email,
                id,
            });
        }
        let mut seen = BTreeSet::new();
        for g in self.listing(&["groups"], "id,name").await? {
            let id = id_of(&g);
            if id.is_empty() || !seen.insert(id.clone()) {
                continue;
            }
            all.push(PlatformIdentity {
                kind: "group".into(),
                name: text(&g, "name").unwrap_or_else(|| id.clone()),
                email: None,
                id,
            });
        }
        Ok(all)
    }

    /// Direct: the user is among the group's users (`GET /groups/{id}/users`, which lists the
    /// users *directly* in the group). `through` stays empty: Looker's nested groups
    /// (`/groups/{id}/groups`) would each need their own listing, and membership through them is
    /// not Gatehouse's to add or take away; a reviewer sees the group's users in Looker itself.
    async fn check(&self, user: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let gid = self.group_id(group_in(unit, "Looker")?).await?;
        let members = self.listing(&["groups", &gid, "users"], "id").await?;
        Ok(Holding {
            direct: members.iter().any(|m| id_of(m) == user),
            through: Vec::new(),
        })
    }

    /// The group exists and is managed in Looker, and the API user is a Looker admin.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        self.group_readiness(group_in(unit, "Looker")?).await
    }

    /// `POST /groups/{id}/users {"user_id": …}`. An externally managed group (SCIM, SAML, LDAP)
    /// is refused by Looker with a 4xx, reported in its words.
    async fn add(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let name = group_in(unit, "Looker")?;
        let gid = self.group_id(name).await?;
        let url = self.api.url(&["groups", &gid, "users"]);
        let body = json!({ "user_id": user });
        self.api.expect(Method::POST, url, Some(&body)).await?;
        Ok(format!(
            "added Looker user {user} to group `{name}` (POST /api/4.0/groups/{gid}/users)"
        ))
    }

    /// `DELETE /groups/{id}/users/{user}` (204). A 404 (the user left the group meanwhile) is
    /// left to `revoke`'s second check, which says whether the membership is gone.
    async fn remove(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let name = group_in(unit, "Looker")?;
        let gid = self.group_id(name).await?;
        let url = self.api.url(&["groups", &gid, "users", user]);
        let (status, _) = self.api.call(Method::DELETE, url, None).await?;
        let note = if status == StatusCode::NOT_FOUND {
            " (Looker: not a member)"
        } else {
            ""
        };
        Ok(format!(
            "removed Looker user {user} from group `{name}` (DELETE /api/4.0/groups/{gid}/users/{user}){note}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretRef;

    fn settings(base_url: &str) -> ApiSettings {
        ApiSettings {
            base_url: base_url.into(),
            client_id: "abc".into(),
            client_secret: SecretRef::Env("LOOKER_SECRET".into()),
        }
    }

    #[test]
    fn ids_are_pushed_as_one_encoded_segment_under_api_4_0() {
        let l = Looker::new(
            &settings("https://acme.cloud.looker.com:19999/api/4.0/"),
            Secret::new("s3cr3t"),
        )
        .unwrap();
        let url = l.api.url(&["groups", "1/../../x?y#z", "users"]);
        assert_eq!(
            url.as_str(),
            "https://acme.cloud.looker.com:19999/api/4.0/groups/1%2F..%2F..%2Fx%3Fy%23z/users"
        );
        assert!(!format!("{l:?}").contains("s3cr3t"), "{l:?}");
    }

    #[test]
    fn lookers_error_bodies_are_quoted_in_its_words() {
        let body = json!({"message": "Validation Failed", "errors": [
            {"field": "user_id", "code": "invalid", "message": "is externally managed"}],
            "documentation_url": "https://cloud.google.com/looker/docs/"});
        assert_eq!(
            api::platform_message(&body),
            "Validation Failed: user_id: is externally managed"
        );
        assert_eq!(
            api::platform_message(&json!({"message": "Not found"})),
            "Not found"
        );
        assert_eq!(api::platform_message(&Value::Null), "no message");
    }

    #[test]
    fn a_unit_other_than_a_group_is_refused() {
        let err = group_in(&Unit::Role { role: "x".into() }, "Looker").unwrap_err();
        assert!(err.to_string().contains("group memberships"), "{err}");
    }
}
