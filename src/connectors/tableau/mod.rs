//! Tableau Server or Cloud through the REST API with a personal access token: the unit of access
//! is group membership. The catalog names the group; it is resolved to its id on every call
//! (a renamed or recreated group is found again). Users are named by their id, as listed.
//! Adding a member who is one already (409) and removing one who is not (404) count as done;
//! a user removed from the site holds nothing.

mod api;
mod readiness;

use crate::connectors::bounded_probe;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Connector, ConnectorError, Holding, PlatformIdentity, Readiness, group_in};
use crate::config::{Secret, TableauSettings};
use crate::domain::Unit;

/// Items listed per page (Tableau's maximum).
const PAGE: usize = 1000;

#[derive(Debug)]
pub struct Tableau {
    api: api::Api,
    page_size: usize,
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Tableau {
    /// Prepares the client; nothing is sent until the first call.
    pub fn new(settings: &TableauSettings, token_secret: &str) -> Result<Self, String> {
        let api = api::Api::new(
            &settings.base_url,
            &settings.api_version,
            &settings.site,
            &settings.token_name,
            Secret::new(token_secret),
        )?;
        Ok(Tableau {
            api,
            page_size: PAGE,
        })
    }

    /// Lists `n` items a page (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.clamp(1, PAGE);
        self
    }

    /// The id of the group called `name`. Tableau's filter values may hold neither `&` nor
    /// `,`, "even encoded" (they separate expressions: Filtering and Sorting in the REST API),
    /// and `:` separates the filter's own parts, so such names are looked for in the whole
    /// list; the exact name wins over a match that differs only in case.
    async fn group_id(&self, name: &str) -> Result<String, ConnectorError> {
        self.find_group(name).await?.ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "Tableau has no group `{name}` on this site; check the resource's \
                 grant = {{ group = \"…\" }} against the site's groups"
            ))
        })
    }

    /// [`Tableau::group_id`], with a group the site does not have as `None`.
    async fn find_group(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        let filter = format!("name:eq:{name}");
        let query: Vec<(&str, &str)> = if name.contains([',', ':', '&']) {
            Vec::new()
        } else {
            vec![("filter", filter.as_str())]
        };
        let groups = self
            .api
            .all_pages(&["groups"], &query, |a| a.groups.group, self.page_size)
            .await?;
        let named = |g: &&api::Item| g.name.as_deref() == Some(name);
        let alike = |g: &&api::Item| {
            g.name
                .as_deref()
                .is_some_and(|n| n.to_lowercase() == name.to_lowercase())
        };
        let found = match groups.iter().find(named) {
            Some(g) => Some(g),
            None => {
                let near: Vec<&api::Item> = groups.iter().filter(alike).collect();
                (near.len() == 1).then(|| near[0])
            }
        };
        Ok(found.and_then(|g| text(&g.id)))
    }

    /// The ids of the groups `user` belongs to; the inner `Err` is Tableau's 404 (Get Groups
    /// for a User names no other resource than the site, known to exist by then, and the user).
    async fn groups_of(
        &self,
        user: &str,
    ) -> Result<Result<Vec<String>, api::Reply>, ConnectorError> {
        let groups = self
            .api
            .all_pages_of_found(
                &["users", user, "groups"],
                &[],
                |a| a.groups.group,
                self.page_size,
            )
            .await?;
        Ok(groups.map(|g| g.iter().filter_map(|g| text(&g.id)).collect()))
    }

    /// Get Groups for a User answered 404. Its documented error table names the case "User
    /// not found" but with a code other methods use for a group, so Query User on Site
    /// (`GET users/{id}`) is asked: its 404002 "User not found" means the user was removed from
    /// the site and holds nothing here. Any other answer keeps the first 404 as the error.
    /// Asked only after the check failed, so a user who is there costs nothing more.
    async fn unless_gone(&self, user: &str, failed: api::Reply) -> Result<Holding, ConnectorError> {
        let reply = self
            .api
            .call(Method::GET, &["users", user], &[], None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND && reply.code() == "404002" {
            return Ok(Holding::default());
        }
        Err(failed.failure())
    }
}

#[async_trait::async_trait]
impl Connector for Tableau {
    /// Signs in (once per session) and reads one group, bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let call = self
            .api
            .call(Method::GET, &["groups"], &[("pageSize", "1")], None);
        bounded_probe("Tableau", async { call.await?.ok() }).await
    }

    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        // Get Users on Site leaves the email out unless asked for.
        let users = self
            .api
            .all_pages(
                &["users"],
                &[("fields", "_default_,email")],
                |a| a.users.user,
                self.page_size,
            )
            .await?;
        let mut all = Vec::new();
        for u in &users {
            let (Some(id), Some(name)) = (text(&u.id), text(&u.name)) else {
                continue;
            };
            // On Tableau Cloud the user name is the email address itself.
            let email = text(&u.email).or_else(|| name.contains('@').then(|| name.clone()));
            all.push(PlatformIdentity {
                kind: "user".into(),
                id,
                name,
                email,
            });
        }
        let groups = self
            .api
            .all_pages(&["groups"], &[], |a| a.groups.group, self.page_size)
            .await?;
        for g in &groups {
            if let (Some(id), Some(name)) = (text(&g.id), text(&g.name)) {
                all.push(PlatformIdentity {
                    kind: "group".into(),
                    id,
                    name,
                    email: None,
                });
            }
        }
        Ok(all)
    }

    /// Direct: the group is among the user's groups. Tableau groups do not nest, so nothing
    /// else gives the membership.
    async fn check(&self, user: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let group = self.group_id(group_in(unit, "Tableau")?).await?;
        let groups = match self.groups_of(user).await? {
            Ok(groups) => groups,
            Err(not_found) => return self.unless_gone(user, not_found).await,
        };
        Ok(Holding {
            direct: groups.contains(&group),
            through: Vec::new(),
        })
    }

    /// The group exists, and the token's user has a site role that may change memberships.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        self.group_readiness(group_in(unit, "Tableau")?).await
    }

    async fn add(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let name = group_in(unit, "Tableau")?;
        let group = self.group_id(name).await?;
        let body = json!({ "user": { "id": user } });
        let reply = self
            .api
            .call(Method::POST, &["groups", &group, "users"], &[], Some(&body))
            .await?;
        // 409011: already a member, which is what was asked.
        if !reply.status.is_success() && reply.status != StatusCode::CONFLICT {
            return Err(reply.failure());
        }
        Ok(format!(
            "POST groups/{group}/users {{\"user\":{{\"id\":\"{user}\"}}}} (add to group `{name}`)"
        ))
    }

    async fn remove(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let name = group_in(unit, "Tableau")?;
        let group = self.group_id(name).await?;
        let reply = self
            .api
            .call(
                Method::DELETE,
                &["groups", &group, "users", user],
                &[],
                None,
            )
            .await?;
        // A 404 for the membership is done; one for the group itself (404011) is not.
        let gone = reply.status == StatusCode::NOT_FOUND && reply.code() != "404011";
        if !reply.status.is_success() && !gone {
            return Err(reply.failure());
        }
        Ok(format!(
            "DELETE groups/{group}/users/{user} (remove from group `{name}`)"
        ))
    }
}
