//! Microsoft Power BI through its REST API with an Entra app (client credentials): the unit of
//! access is a workspace role (Viewer, Contributor, Member or Admin) for a user, named in the
//! catalog by the workspace's name and resolved to its id on every call. The identity is the
//! user's UPN (guests' look like `ann_corp.com#EXT#@tenant.onmicrosoft.com`); it reaches URL
//! paths only as a pushed, percent-encoded segment. Users are listed from Microsoft Graph.

mod api;
mod listing;
mod readiness;

use crate::connectors::bounded_probe;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::http::text;
use super::{Added, Connector, ConnectorError, Holding, PlatformIdentity, Readiness, Undo};
use crate::config::{PowerbiSettings, Secret};
use crate::domain::Unit;
use api::{Service, rows};

/// Workspace roles, from least to most rights: each includes the ones before it.
const ROLES: [&str; 4] = ["Viewer", "Contributor", "Member", "Admin"];
/// Graph users per page (Graph's maximum for `/users`).
const GRAPH_PAGE: usize = 999;
/// Workspaces per page (`$top` of `GET /groups`, which allows up to 5000).
const WORKSPACE_PAGE: usize = 1000;

#[derive(Debug)]
pub struct PowerBi {
    api: api::Api,
    graph_page: usize,
    workspace_page: usize,
}

/// The workspace and the role (in Power BI's spelling) a unit names.
fn workspace_role(unit: &Unit) -> Result<(&str, &'static str), ConnectorError> {
    let Unit::WorkspaceRole { workspace, role } = unit else {
        return Err(ConnectorError::Permanent(format!(
            "Power BI grants workspace roles, not a {}; write grant = {{ workspace = \"…\", role = \"Viewer\" }}",
            unit.kind().word()
        )));
    };
    let canonical = ROLES
        .iter()
        .find(|r| r.eq_ignore_ascii_case(role.trim()))
        .ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "`{role}` is not a Power BI workspace role; use one of {}",
                ROLES.join(", ")
            ))
        })?;
    Ok((workspace, canonical))
}

fn rank(role: &str) -> Option<usize> {
    ROLES.iter().position(|r| r.eq_ignore_ascii_case(role))
}

/// An OData string literal: in single quotes, a quote doubled.
fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl PowerBi {
    /// Prepares the client; nothing is sent until the first call.
    pub fn new(settings: &PowerbiSettings, client_secret: Secret) -> Result<Self, String> {
        Ok(PowerBi {
            api: api::Api::new(settings, client_secret)?,
            graph_page: GRAPH_PAGE,
            workspace_page: WORKSPACE_PAGE,
        })
    }

    /// Lists `n` Graph users and workspaces a page (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.graph_page = n.max(1);
        self.workspace_page = n.max(1);
        self
    }

    /// The id of the workspace called `name` (`$filter=name eq '…'`; the exact name is taken, or
    /// failing that the one whose name differs only in case).
    async fn workspace_id(&self, name: &str) -> Result<String, ConnectorError> {
        self.find_workspace(name).await?.ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "Power BI has no workspace named `{name}` that Gatehouse's app can see (it must \
                 be Admin or Member of it); check the resource's grant in the catalog"
            ))
        })
    }

    /// [`PowerBi::workspace_id`], with a workspace the app cannot see as `None`.
    async fn find_workspace(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        let mut url = self.api.powerbi_url(&["groups"]);
        url.query_pairs_mut()
            .append_pair("$filter", &format!("name eq {}", odata_string(name)));
        let body = self
            .api
            .expect(Service::PowerBi, Method::GET, url, None)
            .await?;
        let found = rows(Service::PowerBi, "/groups", body)?;
        // OData's `eq` is exact; Power BI's names are not, so a name differing in case counts.
        match super::http::ids_named(&found, "name", name).as_slice() {
            [id] => Ok(Some(id.clone())),
            [] => Ok(None),
            _ => Err(ConnectorError::Permanent(format!(
                "Power BI has several workspaces named `{name}`; rename one so the grant is \
                 unambiguous"
            ))),
        }
    }

    /// Gives `upn` `role` in workspace `wid`: `PUT` (Groups - Update Group User) when they are
    /// a user of it already, `POST` (Groups - Add Group User) when not.
    async fn put_or_post(
        &self,
        wid: &str,
        upn: &str,
        role: &str,
        in_workspace: bool,
    ) -> Result<(), ConnectorError> {
        let url = self.api.powerbi_url(&["groups", wid, "users"]);
        let body = json!({ "identifier": upn, "principalType": "User",
            "groupUserAccessRight": role });
        let method = if in_workspace {
            Method::PUT
        } else {
            Method::POST
        };
        self.api
            .expect(Service::PowerBi, method, url, Some(&body))
            .await?;
        Ok(())
    }

    /// The role `upn` has in workspace `wid` as a user, if any (identifiers compared without
    /// case, as Entra compares UPNs).
    async fn role_of(&self, wid: &str, upn: &str) -> Result<Option<String>, ConnectorError> {
        let url = self.api.powerbi_url(&["groups", wid, "users"]);
        let body = self
            .api
            .expect(Service::PowerBi, Method::GET, url, None)
            .await?;
        let users = rows(Service::PowerBi, "/groups/{id}/users", body)?;
        Ok(users
            .iter()
            .filter(|u| text(u, "principalType").is_none_or(|t| t == "User"))
            .find(|u| {
                text(u, "identifier").is_some_and(|i| i.eq_ignore_ascii_case(upn.trim()))
                    || text(u, "emailAddress").is_some_and(|e| e.eq_ignore_ascii_case(upn.trim()))
            })
            .and_then(|u| text(u, "groupUserAccessRight")))
    }
}

#[async_trait::async_trait]
impl Connector for PowerBi {
    /// `GET /v1.0/myorg/groups?$top=1` (fetching a token first if needed), bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let mut url = self.api.powerbi_url(&["groups"]);
        url.query_pairs_mut().append_pair("$top", "1");
        let call = self.api.expect(Service::PowerBi, Method::GET, url, None);
        bounded_probe("Power BI", call).await
    }

    /// Graph's users (kind "user", id = UPN) and Power BI's workspaces (kind "workspace").
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let mut all = self.graph_users().await?;
        all.extend(self.workspaces().await?);
        Ok(all)
    }

    /// Direct: the workspace's users list the UPN with exactly this role. `through`: a higher
    /// role, which includes this one's rights and is not Gatehouse's to take away. Access
    /// through an Entra group that is itself a workspace user is not looked into (that would
    /// need Graph's transitive membership for every group).
    async fn check(&self, upn: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let (workspace, role) = workspace_role(unit)?;
        let wid = self.workspace_id(workspace).await?;
        let held = self.role_of(&wid, upn).await?;
        let mut holding = Holding::default();
        match held {
            Some(h) if h.eq_ignore_ascii_case(role) => holding.direct = true,
            Some(h) if rank(&h) > rank(role) => {
                holding
                    .through
                    .push(format!("the {h} role in the workspace"));
            }
            _ => {}
        }
        Ok(holding)
    }

    /// The workspace exists and the app's service principal is its Admin.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        let (workspace, _) = workspace_role(unit)?;
        self.workspace_readiness(workspace).await
    }

    /// `POST /groups/{id}/users` for someone not in the workspace; `PUT` (a role change) for
    /// someone with a lower role. Someone with a higher role is not lowered.
    async fn add(&self, upn: &str, unit: &Unit) -> Result<String, ConnectorError> {
        Ok(self.add_recorded(upn, unit).await?.did)
    }

    /// [`Connector::add`], keeping the role a raise replaced (`{"was":"Viewer"}`) as the
    /// receipt, so that the grant's end puts it back instead of removing the person.
    async fn add_recorded(&self, upn: &str, unit: &Unit) -> Result<Added, ConnectorError> {
        let (workspace, role) = workspace_role(unit)?;
        let wid = self.workspace_id(workspace).await?;
        let held = self.role_of(&wid, upn).await?;
        if let Some(h) = &held
            && rank(h) > rank(role)
        {
            return Err(ConnectorError::Permanent(format!(
                "{upn} already has the {h} role in workspace `{workspace}`, which is more than \
                 {role}; Gatehouse does not lower it"
            )));
        }
        self.put_or_post(&wid, upn, role, held.is_some()).await?;
        Ok(match held {
            Some(h) => Added {
                did: format!(
                    "changed {upn}'s role in Power BI workspace `{workspace}` from {h} to {role} \
                     (PUT /v1.0/myorg/groups/{wid}/users)"
                ),
                receipt: Some(json!({ "was": h }).to_string()),
            },
            None => Added {
                did: format!(
                    "gave {upn} the {role} role in Power BI workspace `{workspace}` \
                     (POST /v1.0/myorg/groups/{wid}/users)"
                ),
                receipt: None,
            },
        })
    }

    /// With a receipt of the role a raise replaced, and the raised role still held: `PUT` the
    /// earlier role back (Groups - Update Group User), which the person had before Gatehouse.
    async fn remove_recorded(
        &self,
        upn: &str,
        unit: &Unit,
        undo: Undo<'_>,
    ) -> Result<String, ConnectorError> {
        let was = undo
            .receipt
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .and_then(|r| text(&r, "was"))
            .and_then(|w| ROLES.iter().find(|r| r.eq_ignore_ascii_case(&w)).copied());
        let Some(was) = was else {
            return self.remove(upn, unit).await;
        };
        let (workspace, role) = workspace_role(unit)?;
        let wid = self.workspace_id(workspace).await?;
        match self.role_of(&wid, upn).await? {
            Some(h) if h.eq_ignore_ascii_case(role) => {
                self.put_or_post(&wid, upn, was, true).await?;
                Ok(format!(
                    "put {upn}'s role in Power BI workspace `{workspace}` back from {role} to \
                     {was} (PUT /v1.0/myorg/groups/{wid}/users)"
                ))
            }
            Some(h) => Ok(format!(
                "left {upn}'s {h} role in Power BI workspace `{workspace}` as it is (not \
                 the {role} role Gatehouse granted)"
            )),
            None => Ok(format!(
                "{upn} is no longer in Power BI workspace `{workspace}`"
            )),
        }
    }

    /// `DELETE /groups/{id}/users/{upn}`, only while the UPN holds exactly this role: another
    /// role is not Gatehouse's to remove, and `revoke`'s second check speaks for it.
    async fn remove(&self, upn: &str, unit: &Unit) -> Result<String, ConnectorError> {
        let (workspace, role) = workspace_role(unit)?;
        let wid = self.workspace_id(workspace).await?;
        match self.role_of(&wid, upn).await? {
            Some(h) if h.eq_ignore_ascii_case(role) => {}
            Some(h) => {
                return Ok(format!(
                    "left {upn}'s {h} role in Power BI workspace `{workspace}` as it is (not \
                     the {role} role Gatehouse granted)"
                ));
            }
            None => {
                return Ok(format!(
                    "{upn} is no longer in Power BI workspace `{workspace}`"
                ));
            }
        }
        let url = self.api.powerbi_url(&["groups", &wid, "users", upn]);
        let shown = url.path().to_owned();
        let (status, _) = self
            .api
            .call(Service::PowerBi, Method::DELETE, url, None)
            .await?;
        let note = if status == StatusCode::NOT_FOUND {
            " (Power BI: not a user of the workspace)"
        } else {
            ""
        };
        Ok(format!(
            "removed {upn}'s {role} role in Power BI workspace `{workspace}` (DELETE {shown}){note}"
        ))
    }
}

#[cfg(test)]
mod tests;
