//! Databricks. Two units of access: membership of a workspace group through the SCIM 2.0 API,
//! the group named in the catalog by its display name and resolved to its id on every call
//! (`filter=displayName eq "…"`), so a renamed or deleted group is noticed at once; and Unity
//! Catalog read access to a table (`uc.rs`). Ids and names reach URL paths only as pushed path
//! segments. Identities are SCIM ids either way.

mod api;
mod readiness;
mod uc;

use crate::connectors::bounded_probe;
use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::http::text;
use super::{Added, Connector, ConnectorError, Holding, PlatformIdentity, Readiness, Undo};
use crate::config::{DatabricksSettings, Secret};
use crate::domain::Unit;

/// Resources asked for per page (the workspace SCIM API accepts far more; 100 keeps pages small).
const PAGE: usize = 100;
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug)]
pub struct Databricks {
    api: api::Api,
    page_size: usize,
}

/// The group a unit names.
fn group_in(unit: &Unit) -> Result<&str, ConnectorError> {
    match unit {
        Unit::Group { group } => Ok(group),
        other => Err(ConnectorError::Permanent(format!(
            "Databricks grants group memberships and table reads, not a {}; write grant = \
             {{ group = \"…\" }} or grant = {{ table = \"main.sales.orders\" }}",
            other.kind().word()
        ))),
    }
}

/// A SCIM filter's string literal: `"` and `\` escaped (RFC 7644 §3.4.2.2 uses JSON strings).
fn scim_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A user's email: the primary one, else the first, else the userName when it is one.
fn email_of(u: &Value) -> Option<String> {
    let emails = u["emails"].as_array().cloned().unwrap_or_default();
    let pick = emails
        .iter()
        .find(|e| e["primary"].as_bool() == Some(true))
        .or_else(|| emails.first())
        .and_then(|e| text(e, "value"));
    pick.or_else(|| text(u, "userName").filter(|n| n.contains('@')))
}

/// Says what is wrong with the connector's way of signing in, and what to write instead.
pub fn check_auth(settings: &DatabricksSettings) -> Result<(), String> {
    let id = settings
        .client_id
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty());
    let problem = match (
        settings.token.is_some(),
        id,
        settings.client_secret.is_some(),
    ) {
        (true, false, false) | (false, true, true) => return Ok(()),
        (true, _, _) => "it has both a token and OAuth settings",
        (false, false, false) => "it has neither",
        (false, true, false) => "it has a client_id but no client_secret",
        (false, false, true) => "it has a client_secret but no client_id",
    };
    Err(format!(
        "a Databricks connector signs in with either `token = {{ env = \"DATABRICKS_TOKEN\" }}` \
         (a personal access token) or `client_id = \"<application id>\"` with `client_secret = \
         {{ env = \"DATABRICKS_CLIENT_SECRET\" }}` (a service principal's OAuth secret); {problem}"
    ))
}

impl Databricks {
    /// Prepares the client from the settings and their resolved secrets; nothing is sent until
    /// the first call. Exactly one way of signing in must be configured.
    pub fn new(
        settings: &DatabricksSettings,
        token: Option<Secret>,
        client_secret: Option<Secret>,
    ) -> Result<Self, String> {
        check_auth(settings)?;
        let auth = match (token, &settings.client_id, client_secret) {
            (Some(t), _, None) => api::Auth::Token(t),
            (None, Some(id), Some(secret)) => api::Auth::OAuth {
                client_id: id.trim().to_owned(),
                client_secret: secret,
                tokens: Default::default(),
            },
            _ => {
                return Err(
                    "the Databricks connector's secrets do not match its settings (token, or \
                     client_id with client_secret)"
                        .into(),
                );
            }
        };
        Ok(Databricks {
            api: api::Api::new(&settings.host, auth)?,
            page_size: PAGE,
        })
    }

    /// Lists `n` resources a page (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// The id of the group whose display name is `name`. SCIM's `eq` on displayName ignores
    /// case, so the answer is narrowed to the exact name (or, when none matches exactly, the one
    /// group whose name differs only in case).
    async fn group_id(&self, name: &str) -> Result<String, ConnectorError> {
        let filter = format!("displayName eq {}", scim_string(name));
        let query = [
            ("filter", filter.as_str()),
            ("attributes", "id,displayName"),
        ];
        let rows = self.api.all("Groups", &query, self.page_size).await?;
        let found = matching_ids(&rows, name);
        match found.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(ConnectorError::Permanent(format!(
                "Databricks has no workspace group named `{name}` (or the service principal \
                 cannot see it); check the resource's grant in the catalog"
            ))),
            _ => Err(ConnectorError::Permanent(format!(
                "Databricks has several groups named `{name}`; rename one so the grant is \
                 unambiguous"
            ))),
        }
    }

    /// `GET /Groups/{id}`: its members (`value` = the member's id; `$ref` `Users/…`,
    /// `Groups/…` or `ServicePrincipals/…`).
    async fn members(&self, gid: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut url = self.api.url(&["Groups", gid]);
        url.query_pairs_mut()
            .append_pair("attributes", "id,displayName,members");
        let group = self.api.expect(Method::GET, url, None).await?;
        Ok(group["members"].as_array().cloned().unwrap_or_default())
    }

    async fn patch(&self, gid: &str, operation: Value) -> Result<(), ConnectorError> {
        let body = json!({ "schemas": [PATCH_OP], "Operations": [operation] });
        let url = self.api.url(&["Groups", gid]);
        self.api.expect(Method::PATCH, url, Some(&body)).await?;
        Ok(())
    }
}

/// The ids of the groups named `name` among SCIM rows (SCIM's `eq` on displayName ignores
/// case, so a name differing only in case is found too when none matches exactly).
fn matching_ids(rows: &[Value], name: &str) -> Vec<String> {
    super::http::ids_named(rows, "displayName", name)
}

fn is_group(member: &Value) -> bool {
    member["$ref"]
        .as_str()
        .is_some_and(|r| r.starts_with("Groups/"))
        || member["type"].as_str() == Some("Group")
}

#[async_trait::async_trait]
impl Connector for Databricks {
    /// `GET /api/2.0/preview/scim/v2/Me` (the principal Gatehouse signs in as, fetching a token
    /// first if needed), bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let call = self.api.expect(Method::GET, self.api.url(&["Me"]), None);
        bounded_probe("Databricks", call).await
    }

    /// Users (`user`), groups (`group`) and service principals (`service_principal`), by SCIM id.
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let lists = [
            ("Users", "id,userName,displayName,emails", "user"),
            ("Groups", "id,displayName", "group"),
            (
                "ServicePrincipals",
                "id,applicationId,displayName",
                "service_principal",
            ),
        ];
        let mut all = Vec::new();
        for (resource, attributes, kind) in lists {
            let rows = self
                .api
                .all(resource, &[("attributes", attributes)], self.page_size)
                .await?;
            let mut seen = BTreeSet::new();
            for r in rows {
                let Some(id) = text(&r, "id").filter(|id| seen.insert(id.clone())) else {
                    continue;
                };
                let email = if kind == "user" { email_of(&r) } else { None };
                let name = text(&r, "displayName")
                    .or_else(|| text(&r, "userName"))
                    .or_else(|| text(&r, "applicationId"))
                    .unwrap_or_else(|| id.clone());
                all.push(PlatformIdentity {
                    kind: kind.into(),
                    id,
                    name,
                    email,
                });
            }
        }
        Ok(all)
    }

    /// Only groups can be granted (service principals are members, not units).
    async fn list_grantable(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let all = self.list_identities().await?;
        Ok(all.into_iter().filter(|i| i.kind == "group").collect())
    }

    /// Direct: the user's id is among the group's members. Through: the groups among those
    /// members that list the user themselves, one level deep (deeper nesting is not followed;
    /// it is Databricks' to resolve, and not Gatehouse's to add or take away).
    async fn check(&self, user: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        if let Unit::Table { table } = unit {
            return self.check_table(user, table).await;
        }
        let gid = self.group_id(group_in(unit)?).await?;
        let members = self.members(&gid).await?;
        let direct = members.iter().any(|m| m["value"].as_str() == Some(user));
        let mut through = Vec::new();
        for nested in members.iter().filter(|m| is_group(m)) {
            let Some(nid) = text(nested, "value") else {
                continue;
            };
            let inner = self.members(&nid).await?;
            if inner.iter().any(|m| m["value"].as_str() == Some(user)) {
                let name = text(nested, "display").unwrap_or(nid);
                through.push(format!("group `{name}`"));
            }
        }
        Ok(Holding { direct, through })
    }

    /// A group exists and Gatehouse is a workspace admin; a table exists and Gatehouse may grant
    /// on it, its schema and its catalog: see `readiness.rs`.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        match unit {
            Unit::Table { table } => self.table_readiness(table).await,
            _ => self.group_readiness(group_in(unit)?).await,
        }
    }

    /// `PATCH /Groups/{id}` with a PatchOp `add` of the member. A group synced from the
    /// account or an identity provider may be refused by Databricks, reported in its words.
    async fn add(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        if let Unit::Table { table } = unit {
            return Ok(self.add_table(user, table).await?.did);
        }
        let name = group_in(unit)?;
        let gid = self.group_id(name).await?;
        let op = json!({ "op": "add", "value": { "members": [{ "value": user }] } });
        self.patch(&gid, op).await?;
        Ok(format!(
            "added Databricks user {user} to group `{name}` (PATCH \
             /api/2.0/preview/scim/v2/Groups/{gid}, op add)"
        ))
    }

    /// `PATCH /Groups/{id}` with a PatchOp `remove` of `members[value eq "<id>"]`.
    async fn remove(&self, user: &str, unit: &Unit) -> Result<String, ConnectorError> {
        if let Unit::Table { table } = unit {
            return self.remove_table(user, table, Undo::default()).await;
        }
        let name = group_in(unit)?;
        let gid = self.group_id(name).await?;
        let path = format!("members[value eq {}]", scim_string(user));
        self.patch(&gid, json!({ "op": "remove", "path": path }))
            .await?;
        Ok(format!(
            "removed Databricks user {user} from group `{name}` (PATCH \
             /api/2.0/preview/scim/v2/Groups/{gid}, op remove)"
        ))
    }

    /// A table grant keeps a receipt of the privileges it added; a group grant needs none.
    async fn add_recorded(&self, user: &str, unit: &Unit) -> Result<Added, ConnectorError> {
        match unit {
            Unit::Table { table } => self.add_table(user, table).await,
            _ => Ok(Added {
                did: self.add(user, unit).await?,
                receipt: None,
            }),
        }
    }

    async fn remove_recorded(
        &self,
        user: &str,
        unit: &Unit,
        undo: Undo<'_>,
    ) -> Result<String, ConnectorError> {
        match unit {
            Unit::Table { table } => self.remove_table(user, table, undo).await,
            _ => self.remove(user, unit).await,
        }
    }
}

#[cfg(test)]
mod tests;
