//! Sigma's grants on documents (a workbook, folder or workspace, by its inode id): listed with
//! `GET /v2/grants?inodeId=…&userId=…&directGrantsOnly=true`, made with `POST /v2/grants` and
//! taken away with `DELETE /v2/grants/{grantId}`. Grants only escalate: a new grant never lowers
//! one already there, so a member's permissions on an inode are kept as separate grants, and
//! Gatehouse only ever deletes the one grant of the permission it gave.

use reqwest::Method;
use serde_json::json;

use super::Sigma;
use crate::connectors::{ConnectorError, Holding};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Grant {
    grant_id: String,
    #[serde(default)]
    inode_id: Option<String>,
    #[serde(default)]
    grantee: Grantee,
    #[serde(default)]
    permission: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Grantee {
    #[serde(default)]
    member_id: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
}

impl Sigma {
    /// The grants on `inode` Sigma lists for `member`, direct ones only.
    async fn grants(&self, member: &str, inode: &str) -> Result<Vec<Grant>, ConnectorError> {
        let query = [
            ("inodeId", inode),
            ("userId", member),
            ("directGrantsOnly", "true"),
        ];
        let all: Vec<Grant> = self.api.all(&["grants"], &query, self.page_size).await?;
        // The filter is Sigma's; an entry for another inode is never counted.
        Ok(all
            .into_iter()
            .filter(|g| g.inode_id.as_deref().is_none_or(|i| i == inode))
            .collect())
    }

    /// Direct: a grant of exactly `permission` to the member. Through: a grant of another
    /// permission to the member, or a grant to a team when Sigma lists one for the member.
    /// Team grants are not expanded further (no team lookups per check).
    pub(super) async fn check_grant(
        &self,
        member: &str,
        inode: &str,
        permission: &str,
    ) -> Result<Holding, ConnectorError> {
        let mut holding = Holding::default();
        for g in self.grants(member, inode).await? {
            match (&g.grantee.member_id, &g.grantee.team_id) {
                (Some(m), _) if m == member => {
                    if g.permission == permission {
                        holding.direct = true;
                    } else {
                        holding
                            .through
                            .push(format!("the `{}` permission", g.permission));
                    }
                }
                (_, Some(team)) => holding.through.push(format!(
                    "the `{}` permission of team `{team}`",
                    g.permission
                )),
                _ => {}
            }
        }
        Ok(holding)
    }

    pub(super) async fn add_grant(
        &self,
        member: &str,
        inode: &str,
        permission: &str,
    ) -> Result<String, ConnectorError> {
        let body = json!({
            "grantee": { "memberId": member },
            "permission": permission,
            "inodeId": inode,
        });
        let url = self.api.url(&["grants"]);
        self.api.call(Method::POST, url, Some(&body)).await?;
        Ok(format!("POST /v2/grants {body}"))
    }

    /// Deletes the member's own grants of exactly `permission` on `inode`, never another.
    pub(super) async fn remove_grant(
        &self,
        member: &str,
        inode: &str,
        permission: &str,
    ) -> Result<String, ConnectorError> {
        let ids: Vec<String> = self
            .grants(member, inode)
            .await?
            .into_iter()
            .filter(|g| g.grantee.member_id.as_deref() == Some(member))
            .filter(|g| g.permission == permission)
            .map(|g| g.grant_id)
            .collect();
        if ids.is_empty() {
            return Ok(format!(
                "no direct `{permission}` grant on `{inode}` left to delete"
            ));
        }
        let mut did = Vec::new();
        for id in ids {
            let url = self.api.url(&["grants", &id]);
            self.api.call(Method::DELETE, url, None).await?;
            did.push(format!("DELETE /v2/grants/{id}"));
        }
        Ok(did.join("; "))
    }
}
