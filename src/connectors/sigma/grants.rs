//! Sigma's grants on documents (a workbook, folder or workspace, by its inode id), as its API
//! reference has them (https://help.sigmacomputing.com/reference/listgrants, /creategrant,
//! /deletegrant): listed with `GET /v2/grants?inodeId=…&userId=…&directGrantsOnly=true`, each
//! grant naming its grantee at the top level (`memberId` or `teamId`, the other null); made with
//! `POST /v2/grants`, which creates the grantee's grant on the document or *raises* the one it
//! has ("can only be used to escalate"); taken away with `DELETE /v2/grants/{grantId}`.
//!
//! A member has one grant per document. So a grant over a lower one the member held replaces
//! it: its receipt keeps what it was (`{"was":"view"}`), and its end deletes the grant and
//! grants that permission again. A grant below what the member holds is refused: Sigma would
//! not lower it, and Gatehouse does not take more away than it gave.

use reqwest::Method;
use serde_json::{Value, json};

use super::Sigma;
use crate::connectors::{Added, ConnectorError, Holding};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Grant {
    grant_id: String,
    #[serde(default)]
    member_id: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    permission: String,
}

/// How much a document permission gives (Can View < Can Explore < Can Contribute, listed as
/// `organize` < Can Manage, listed as `edit`); None for the others, which are not ordered.
fn rank(permission: &str) -> Option<usize> {
    ["view", "explore", "organize", "edit"]
        .iter()
        .position(|p| *p == permission)
}

/// Whether `held` gives more than `wanted`, so that Sigma would keep it over a grant of `wanted`.
fn gives_more(held: &str, wanted: &str) -> bool {
    matches!((rank(held), rank(wanted)), (Some(h), Some(w)) if h > w)
}

impl Sigma {
    /// The grants on `inode` Sigma lists for `member` (theirs and their teams'), direct ones
    /// only. Sigma filters by the inode; the entries may name it by its URL slug, so they are
    /// not compared with the id asked for.
    async fn grants(&self, member: &str, inode: &str) -> Result<Vec<Grant>, ConnectorError> {
        let query = [
            ("inodeId", inode),
            ("userId", member),
            ("directGrantsOnly", "true"),
        ];
        self.api.all(&["grants"], &query, self.page_size).await
    }

    /// The member's own grant on `inode`, if any.
    async fn own_grant(&self, member: &str, inode: &str) -> Result<Option<Grant>, ConnectorError> {
        Ok(self
            .grants(member, inode)
            .await?
            .into_iter()
            .find(|g| g.member_id.as_deref() == Some(member)))
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
            match (&g.member_id, &g.team_id) {
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

    /// Grants `permission` on `inode`; the receipt keeps the member's own lower permission it
    /// raised, if it raised one.
    pub(super) async fn add_grant(
        &self,
        member: &str,
        inode: &str,
        permission: &str,
    ) -> Result<Added, ConnectorError> {
        let own = self.own_grant(member, inode).await?;
        if let Some(g) = &own
            && gives_more(&g.permission, permission)
        {
            return Err(ConnectorError::Permanent(format!(
                "{member} already has the `{}` permission on document `{inode}`, which gives more \
                 than `{permission}`; Sigma only raises a grant and Gatehouse does not lower it",
                g.permission
            )));
        }
        let did = self.post_grant(member, inode, permission).await?;
        Ok(Added {
            did,
            receipt: own.map(|g| json!({ "was": g.permission }).to_string()),
        })
    }

    async fn post_grant(
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

    /// Deletes the member's own grant when it is of exactly `permission`, never another; with a
    /// receipt of the permission it raised (`{"was":…}`), grants that one again.
    pub(super) async fn remove_grant(
        &self,
        member: &str,
        inode: &str,
        permission: &str,
        receipt: Option<&str>,
    ) -> Result<String, ConnectorError> {
        let was = receipt
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .and_then(|r| r["was"].as_str().map(str::to_owned));
        let own = self.own_grant(member, inode).await?;
        let Some(g) = own.filter(|g| g.permission == permission) else {
            return Ok(format!(
                "no direct `{permission}` grant on `{inode}` left to delete"
            ));
        };
        let url = self.api.url(&["grants", &g.grant_id]);
        self.api.call(Method::DELETE, url, None).await?;
        let deleted = format!("DELETE /v2/grants/{}", g.grant_id);
        match was {
            Some(was) => {
                let put_back = self.post_grant(member, inode, &was).await?;
                Ok(format!("{deleted}; {put_back} (the `{was}` it had before)"))
            }
            None => Ok(deleted),
        }
    }
}
