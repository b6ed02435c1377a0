//! Sigma Computing through its REST API v2: the unit of access is team membership
//! (`grant = { team = "Finance" }`, the team's name), changed with
//! `PATCH /v2/teams/{teamId}/members {"add"|"remove": [memberId]}` and checked in the team's
//! member list, or a permission on a document (`grant = { document = "<inode id>",
//! permission = "view" }`, see `grants`). Identities are members (by memberId, with their
//! email) and teams.

mod api;
mod grants;
mod readiness;

use crate::connectors::bounded_probe;
use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::{Added, Connector, ConnectorError, Holding, PlatformIdentity, Readiness, Undo};
use crate::config::{ApiSettings, Secret};
use crate::domain::Unit;

/// Entries asked for per page (Sigma's maximum).
const PAGE: usize = 1000;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    member_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    is_archived: bool,
    #[serde(default)]
    is_inactive: bool,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Team {
    team_id: String,
    name: String,
    #[serde(default)]
    is_archived: bool,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TeamMember {
    user_id: String,
}

#[derive(Debug)]
pub struct Sigma {
    api: api::Api,
    page_size: usize,
    /// Team name → teamId, from the last team listing.
    teams: tokio::sync::Mutex<BTreeMap<String, String>>,
}

/// The team a unit names.
fn team_in(unit: &Unit) -> Result<&str, ConnectorError> {
    match unit {
        Unit::Group { group } => Ok(group),
        other => Err(ConnectorError::Permanent(format!(
            "Sigma grants team membership or documents, not a {}; write grant = {{ team = \"…\" }} \
             or grant = {{ document = \"…\", permission = \"view\" }}",
            other.kind().word()
        ))),
    }
}

/// The inode and permission a document unit names.
fn document_in(unit: &Unit) -> Option<(&str, &str)> {
    match unit {
        Unit::Document {
            document,
            permission,
        } => Some((document.trim(), permission.trim())),
        _ => None,
    }
}

fn member_in(identity: &str) -> Result<&str, ConnectorError> {
    let id = identity.trim();
    if id.is_empty() {
        return Err(ConnectorError::Permanent("an empty Sigma memberId".into()));
    }
    Ok(id)
}

impl Sigma {
    /// Prepares the client; nothing is sent until the first call.
    pub fn new(settings: &ApiSettings, client_secret: Secret) -> Result<Self, String> {
        Ok(Sigma {
            api: api::Api::new(&settings.base_url, &settings.client_id, client_secret)?,
            page_size: PAGE,
            teams: tokio::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// Lists `n` entries a page (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.clamp(1, PAGE);
        self
    }

    /// Every team not archived, and the name → id cache refreshed from them.
    async fn list_teams(&self) -> Result<Vec<Team>, ConnectorError> {
        let teams: Vec<Team> = self.api.all(&["teams"], &[], self.page_size).await?;
        let teams: Vec<Team> = teams.into_iter().filter(|t| !t.is_archived).collect();
        let mut cache = self.teams.lock().await;
        *cache = teams
            .iter()
            .map(|t| (t.name.clone(), t.team_id.clone()))
            .collect();
        Ok(teams)
    }

    /// The teamId of the team named `name`: from the cache, else from a new listing.
    async fn team_id(&self, name: &str) -> Result<String, ConnectorError> {
        if let Some(id) = self.teams.lock().await.get(name) {
            return Ok(id.clone());
        }
        self.find_team(name).await?.ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "Sigma has no team named `{name}`; the resource's grant = {{ team = \"{name}\" }} \
                 must name an existing team exactly"
            ))
        })
    }

    /// The teamId of the team named `name` in a new listing (never the cache), or `None`.
    async fn find_team(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        let teams = self.list_teams().await?;
        Ok(teams
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.team_id))
    }

    async fn change(
        &self,
        member: &str,
        unit: &Unit,
        verb: &str,
    ) -> Result<String, ConnectorError> {
        let member = member_in(member)?;
        let team = self.team_id(team_in(unit)?).await?;
        let body = json!({ verb: [member] });
        let url = self.api.url(&["teams", &team, "members"]);
        self.api.call(Method::PATCH, url, Some(&body)).await?;
        Ok(format!("PATCH /v2/teams/{team}/members {body}"))
    }
}

#[async_trait::async_trait]
impl Connector for Sigma {
    /// A one-member listing (which also fetches a token), bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let mut url = self.api.url(&["members"]);
        url.query_pairs_mut().append_pair("limit", "1");
        let call = self.api.call(Method::GET, url, None);
        bounded_probe("Sigma", call).await
    }

    /// Active members (archived and inactive ones are left out: they cannot be added to a
    /// team), then teams.
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let members: Vec<Member> = self.api.all(&["members"], &[], self.page_size).await?;
        let mut all: Vec<PlatformIdentity> = members
            .into_iter()
            .filter(|m| !m.is_archived && !m.is_inactive)
            .map(|m| {
                let full = format!(
                    "{} {}",
                    m.first_name.as_deref().unwrap_or(""),
                    m.last_name.as_deref().unwrap_or("")
                );
                let email = m.email.filter(|e| !e.trim().is_empty());
                let name = match full.trim() {
                    "" => email.clone().unwrap_or_else(|| m.member_id.clone()),
                    n => n.to_owned(),
                };
                PlatformIdentity {
                    kind: "user".into(),
                    id: m.member_id,
                    name,
                    email,
                }
            })
            .collect();
        for t in self.list_teams().await? {
            all.push(PlatformIdentity {
                kind: "group".into(),
                id: t.team_id,
                name: t.name,
                email: None,
            });
        }
        Ok(all)
    }

    /// Direct: the member is in the team's member list (Sigma has no nested teams), or holds
    /// the document's permission by a grant of its own.
    async fn check(&self, member: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let member = member_in(member)?;
        if let Some((doc, permission)) = document_in(unit) {
            return self.check_grant(member, doc, permission).await;
        }
        let team = self.team_id(team_in(unit)?).await?;
        let entries: Vec<TeamMember> = self
            .api
            .all(&["teams", &team, "members"], &[], self.page_size)
            .await?;
        Ok(Holding {
            direct: entries.iter().any(|e| e.user_id == member),
            through: Vec::new(),
        })
    }

    /// The document or team exists, and the credentials' owner is an admin.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        let seen = match document_in(unit) {
            Some((doc, _)) => self.document_seen(doc).await?,
            None => self.team_seen(team_in(unit)?).await?,
        };
        match seen {
            Ok(seen) => self.owner_readiness(seen).await,
            Err(missing) => Ok(missing),
        }
    }

    async fn add(&self, member: &str, unit: &Unit) -> Result<String, ConnectorError> {
        Ok(self.add_recorded(member, unit).await?.did)
    }

    async fn remove(&self, member: &str, unit: &Unit) -> Result<String, ConnectorError> {
        self.remove_recorded(member, unit, Undo::default()).await
    }

    /// A document grant raising the member's own lower one keeps it as the receipt.
    async fn add_recorded(&self, member: &str, unit: &Unit) -> Result<Added, ConnectorError> {
        match document_in(unit) {
            Some((doc, permission)) => self.add_grant(member_in(member)?, doc, permission).await,
            None => Ok(Added {
                did: self.change(member, unit, "add").await?,
                receipt: None,
            }),
        }
    }

    async fn remove_recorded(
        &self,
        member: &str,
        unit: &Unit,
        undo: Undo<'_>,
    ) -> Result<String, ConnectorError> {
        match document_in(unit) {
            Some((doc, p)) => {
                let member = member_in(member)?;
                self.remove_grant(member, doc, p, undo.receipt).await
            }
            None => self.change(member, unit, "remove").await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_team_is_a_sigma_unit() {
        let team = Unit::Group {
            group: "Finance".into(),
        };
        assert_eq!(team_in(&team).unwrap(), "Finance");
        let role = Unit::Role { role: "x".into() };
        assert!(team_in(&role).unwrap_err().to_string().contains("team = "));
        assert!(member_in("  ").is_err());
        let doc = Unit::Document {
            document: " wb-1 ".into(),
            permission: "view".into(),
        };
        assert_eq!(document_in(&doc), Some(("wb-1", "view")));
        assert_eq!(document_in(&team), None);
    }
}
