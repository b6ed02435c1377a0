//! Whether a group or a table can be granted before anyone asks, by reads only.
//!
//! A group: it exists (SCIM `Groups?filter=displayName eq "…"`), and the principal Gatehouse
//! signs in as may change its members, which takes a workspace admin, a member of the `admins`
//! group (docs.databricks.com/en/admin/users-groups/groups), seen in the `groups` of SCIM `Me`
//! (docs.databricks.com/api/workspace/currentuser/me).
//!
//! A table: it exists (`GET /api/2.1/unity-catalog/tables/{full_name}`), and Gatehouse may
//! grant on the table, its schema and its catalog (a grant adds SELECT, USE_SCHEMA and
//! USE_CATALOG). Privileges "can be granted by a metastore admin, a user with the MANAGE
//! privilege on the object, the owner of the object, or the owner of the catalog or schema
//! that contains the object" (docs.databricks.com/en/data-governance/unity-catalog/
//! manage-privileges): owners come from the tables, schemas and catalogs get APIs (`owner`, a
//! user, service principal or group), MANAGE from effective permissions, which include what is
//! inherited from parents and groups. ALL_PRIVILEGES is not counted: that page lists MANAGE,
//! not it. A metastore admin is not seen, and would be told it lacks the right.

use reqwest::StatusCode;

use super::api::platform_message;
use super::uc::TableName;
use super::{Databricks, matching_ids, text};
use crate::connectors::{ConnectorError, Readiness};

/// The principal Gatehouse signs in as: its name (a userName or an application id) and the
/// display names of its groups.
struct Caller {
    name: String,
    groups: Vec<String>,
}

impl Caller {
    /// Whether `owner` is the caller or one of its groups.
    fn is(&self, owner: &str) -> bool {
        owner.eq_ignore_ascii_case(&self.name) || self.groups.iter().any(|g| g == owner)
    }
}

fn missing(what: String, fix: impl Into<String>) -> Readiness {
    Readiness::Missing {
        what,
        fix: fix.into(),
    }
}

/// The words for a probe Databricks refused: the right to read is missing too.
fn refused(what: &str, said: &str) -> Readiness {
    missing(
        format!("Gatehouse may not read {what} ({said})"),
        "make the principal Gatehouse signs in as a workspace admin, or give it MANAGE on the \
         securable",
    )
}

/// One identifier in Databricks SQL: in backticks, backticks doubled.
fn backticked(part: &str) -> String {
    format!("`{}`", part.replace('`', "``"))
}

/// A securable's dotted name in SQL, each part quoted.
fn sql_name(full_name: &str) -> String {
    let parts: Vec<String> = full_name.split('.').map(backticked).collect();
    parts.join(".")
}

impl Databricks {
    /// SCIM `Me`: who Gatehouse is, or Databricks' words when it would not say.
    async fn caller(&self) -> Result<Result<Caller, String>, ConnectorError> {
        let (status, me) = self.api.probe(self.api.url(&["Me"]), true).await?;
        if !status.is_success() {
            return Ok(Err(platform_message(&me)));
        }
        let groups = me["groups"].as_array().into_iter().flatten();
        Ok(Ok(Caller {
            name: text(&me, "userName")
                .or_else(|| text(&me, "id"))
                .unwrap_or_default(),
            groups: groups.filter_map(|g| text(g, "display")).collect(),
        }))
    }

    /// The ids of the groups named `name`, from one filtered page (an exact name matches few).
    async fn groups_named(
        &self,
        name: &str,
    ) -> Result<Result<Vec<String>, String>, ConnectorError> {
        let mut url = self.api.url(&["Groups"]);
        url.query_pairs_mut()
            .append_pair(
                "filter",
                &format!("displayName eq {}", super::scim_string(name)),
            )
            .append_pair("attributes", "id,displayName")
            .append_pair("startIndex", "1")
            .append_pair("count", &self.page_size.to_string());
        let (status, page) = self.api.probe(url, true).await?;
        if !status.is_success() {
            return Ok(Err(platform_message(&page)));
        }
        let rows = page["Resources"].as_array().cloned().unwrap_or_default();
        Ok(Ok(matching_ids(&rows, name)))
    }

    pub(super) async fn group_readiness(&self, name: &str) -> Result<Readiness, ConnectorError> {
        let ids = match self.groups_named(name).await? {
            Ok(ids) => ids,
            Err(said) => return Ok(refused("the workspace's groups", &said)),
        };
        match ids.len() {
            0 => {
                return Ok(missing(
                    format!("group `{name}` does not exist in the workspace"),
                    "create it, or correct `grant` in the catalog",
                ));
            }
            1 => {}
            _ => {
                return Ok(missing(
                    format!("several groups are named `{name}`"),
                    "rename all but one, so the grant names one group",
                ));
            }
        }
        let me = match self.caller().await? {
            Ok(me) => me,
            Err(said) => return Ok(refused("who it signs in as", &said)),
        };
        if me.groups.iter().any(|g| g == "admins") {
            return Ok(Readiness::Ready(format!(
                "group `{name}` exists; Gatehouse's principal `{}` is a workspace admin",
                me.name
            )));
        }
        Ok(missing(
            format!(
                "Gatehouse's principal `{}` may not change the members of group `{name}`: it is \
                 not a workspace admin (not in the `admins` group)",
                me.name
            ),
            format!(
                "add `{}` to the workspace's `admins` group (Settings → Identity and access → \
                 Groups → admins)",
                me.name
            ),
        ))
    }

    /// The owner of a securable (`GET /api/2.1/unity-catalog/{kind}s/{full_name}`), or the
    /// status and words of a 403 or 404.
    async fn owner(
        &self,
        kind: &str,
        full_name: &str,
    ) -> Result<Result<String, (StatusCode, String)>, ConnectorError> {
        let url = self.api.uc_url(&[&format!("{kind}s"), full_name]);
        let (status, info) = self.api.probe(url, false).await?;
        if !status.is_success() {
            return Ok(Err((status, platform_message(&info))));
        }
        Ok(Ok(text(&info, "owner").unwrap_or_default()))
    }

    /// Whether the caller holds MANAGE on a securable, directly, through a group or a parent.
    async fn manages(
        &self,
        kind: &str,
        full_name: &str,
        me: &Caller,
    ) -> Result<Result<bool, String>, ConnectorError> {
        let rows = self
            .assignments_or_refusal("effective-permissions", kind, full_name, &me.name)
            .await?;
        Ok(rows.map_err(|(_, said)| said).map(|rows| {
            rows.iter()
                .flat_map(|a| a["privileges"].as_array().into_iter().flatten())
                .any(|p| p["privilege"].as_str() == Some("MANAGE"))
        }))
    }

    pub(super) async fn table_readiness(&self, name: &str) -> Result<Readiness, ConnectorError> {
        let t = TableName::parse(name)?;
        let levels = [
            ("catalog", t.catalog.as_str()),
            ("schema", t.schema.as_str()),
            ("table", t.table.as_str()),
        ];
        // The table first: a missing one is named before anything else is asked.
        let mut owners = Vec::new();
        for (kind, full) in levels.iter().rev() {
            match self.owner(kind, full).await? {
                Ok(owner) => owners.insert(0, owner),
                Err((StatusCode::NOT_FOUND, _)) => {
                    return Ok(missing(
                        format!("table `{name}` does not exist in Unity Catalog"),
                        "create it, or correct `grant` in the catalog",
                    ));
                }
                Err((_, said)) => return Ok(refused(&format!("{kind} `{full}`"), &said)),
            }
        }
        let me = match self.caller().await? {
            Ok(me) => me,
            Err(said) => return Ok(refused("who it signs in as", &said)),
        };
        // Owning a catalog or schema lets one grant on everything inside it.
        let owned_from = owners.iter().position(|o| me.is(o));
        let mut lacking = Vec::new();
        for (i, (kind, full)) in levels.iter().enumerate() {
            if owned_from.is_some_and(|o| o <= i) {
                continue;
            }
            match self.manages(kind, full, &me).await? {
                Ok(true) => {}
                Ok(false) => lacking.push((*kind, *full)),
                Err(said) => {
                    return Ok(refused(
                        &format!("its permissions on {kind} `{full}`"),
                        &said,
                    ));
                }
            }
        }
        Ok(judge(name, &me, &lacking))
    }
}

fn judge(name: &str, me: &Caller, lacking: &[(&str, &str)]) -> Readiness {
    let Some((kind, full)) = lacking.first() else {
        return Readiness::Ready(format!(
            "table `{name}` exists; Gatehouse's principal `{}` may grant on it, its schema and \
             its catalog (as owner or with MANAGE)",
            me.name
        ));
    };
    let on: Vec<String> = lacking.iter().map(|(k, f)| format!("{k} `{f}`")).collect();
    missing(
        format!(
            "Gatehouse's principal `{}` may not grant on {}: it neither owns them (nor what \
             holds them) nor holds MANAGE on them",
            me.name,
            on.join(", ")
        ),
        format!(
            "as the owner or a metastore admin, run `GRANT MANAGE ON {} {} TO {}` (MANAGE on \
             a catalog or schema covers what is inside it)",
            kind.to_uppercase(),
            sql_name(full),
            backticked(&me.name)
        ),
    )
}
