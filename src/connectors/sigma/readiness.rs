//! Whether a team or a document can be granted: it exists, and the API credentials may change
//! team members and grants. Credentials act with "the permissions of [their owner's] account
//! type" (Generate API client credentials, help.sigmacomputing.com/docs/
//! generate-api-client-credentials); managing teams and other people's access is an Admin
//! account type's, so the owner (`GET /v2/whoami`, then `GET /v2/members/{memberId}`, whose
//! `memberType` is the account type) must be an Admin. A document is looked up with
//! `GET /v2/files/{inodeId}`; as for grants, its answer may name it by its URL slug, so only
//! the answer's status is read, not its `id`. Nothing is changed.

use reqwest::{Method, StatusCode};

use super::Sigma;
use crate::connectors::{ConnectorError, Readiness};

/// What was seen of the unit, or what is missing.
type Seen = Result<String, Readiness>;

impl Sigma {
    pub(super) async fn document_seen(&self, inode: &str) -> Result<Seen, ConnectorError> {
        let url = self.api.url(&["files", inode]);
        let kept = [StatusCode::NOT_FOUND, StatusCode::FORBIDDEN];
        let (status, _) = self.api.call_keeping(Method::GET, url, None, &kept).await?;
        if status.is_success() {
            return Ok(Ok(format!("document `{inode}` exists")));
        }
        Ok(Err(Readiness::Missing {
            what: format!(
                "document `{inode}` does not exist in Sigma (or the API credentials cannot see it)"
            ),
            fix:
                "correct `grant`'s document in the catalog (its inode id, from the document's URL \
                  or GET /v2/files), or share the document with the credentials' owner"
                    .into(),
        }))
    }

    pub(super) async fn team_seen(&self, team: &str) -> Result<Seen, ConnectorError> {
        if self.find_team(team).await?.is_some() {
            return Ok(Ok(format!("team `{team}` exists")));
        }
        Ok(Err(Readiness::Missing {
            what: format!("team `{team}` does not exist in Sigma"),
            fix: "create it in Sigma (Administration > Teams), or correct `grant` in the catalog"
                .into(),
        }))
    }

    /// Ready when the credentials' owner has the Admin account type.
    pub(super) async fn owner_readiness(&self, seen: String) -> Result<Readiness, ConnectorError> {
        let me = self
            .api
            .call(Method::GET, self.api.url(&["whoami"]), None)
            .await?;
        let Some(owner) = me["userId"].as_str().filter(|id| !id.is_empty()) else {
            return Err(ConnectorError::Permanent(
                "Sigma's answer to GET /v2/whoami has no userId".into(),
            ));
        };
        let url = self.api.url(&["members", owner]);
        let kept = [StatusCode::FORBIDDEN];
        let (status, member) = self.api.call_keeping(Method::GET, url, None, &kept).await?;
        let account = member["memberType"]
            .as_str()
            .filter(|_| status.is_success());
        if account == Some("Admin") {
            return Ok(Readiness::Ready(format!(
                "{seen}; the API credentials' owner has the Admin account type"
            )));
        }
        let whose = match account {
            Some(t) => format!("the {t} account type"),
            None => "an account type Sigma would not show".to_owned(),
        };
        Ok(Readiness::Missing {
            what: format!(
                "the API credentials' owner has {whose}, and only admins may change team members \
                 and other people's access to documents"
            ),
            fix: "give the credentials' owner the Admin account type in Sigma (Administration > \
                  People), or create credentials owned by an admin"
                .into(),
        })
    }
}
