//! Whether a workspace role can be granted: the workspace exists and Gatehouse's app sees it
//! (`GET /groups` lists only the workspaces it is in), and the app's service principal may add,
//! change and remove the workspace's users. Members may only "add members or others with lower
//! permissions"; adding or removing people "including other admins" is the Admin's (Roles in
//! workspaces, https://learn.microsoft.com/en-us/fabric/fundamentals/roles-workspaces), and a
//! revocation removes people, so the app must be Admin. Its role is read from Groups - Get Group
//! Users, where it is the user of type `App` whose `identifier` is its object id (the `oid` of
//! its own token). Nothing is changed.

use reqwest::{Method, StatusCode};

use super::api::{Service, rows};
use super::{PowerBi, text};
use crate::connectors::{ConnectorError, Readiness};

/// The app is not Admin of `workspace`; `seen` says what it is instead.
fn not_admin(workspace: &str, seen: &str) -> Readiness {
    Readiness::Missing {
        what: format!(
            "Gatehouse's app {seen} workspace `{workspace}`, and only an Admin of a workspace may \
             add, change and remove its users"
        ),
        fix: format!(
            "add the app's service principal to workspace `{workspace}` as Admin (Manage access \
             in Power BI)"
        ),
    }
}

impl PowerBi {
    pub(super) async fn workspace_readiness(
        &self,
        workspace: &str,
    ) -> Result<Readiness, ConnectorError> {
        let Some(wid) = self.find_workspace(workspace).await? else {
            return Ok(Readiness::Missing {
                what: format!(
                    "workspace `{workspace}` does not exist in Power BI, or Gatehouse's app is not \
                     in it"
                ),
                fix: format!(
                    "add the app's service principal to workspace `{workspace}` as Admin, or \
                     correct `grant` in the catalog"
                ),
            });
        };
        match self.app_role(&wid).await? {
            Some(role) if role.eq_ignore_ascii_case("Admin") => Ok(Readiness::Ready(format!(
                "workspace `{workspace}` exists; Gatehouse's app (its service principal) is Admin \
                 of it"
            ))),
            Some(role) => Ok(not_admin(workspace, &format!("is only {role} of"))),
            None => Ok(not_admin(workspace, "is not itself a user of")),
        }
    }

    /// The app's own role in workspace `wid`; `None` when it is not listed (it may be in the
    /// workspace through a group) or Power BI refuses to list the users (401, 403).
    async fn app_role(&self, wid: &str) -> Result<Option<String>, ConnectorError> {
        let ids = [
            self.api.own_object_id().await?,
            Some(self.api.client_id().to_owned()),
        ];
        let url = self.api.powerbi_url(&["groups", wid, "users"]);
        let kept = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
        let (status, body) = self
            .api
            .call_keeping(Service::PowerBi, Method::GET, url, None, &kept)
            .await?;
        if !status.is_success() {
            return Ok(None);
        }
        let users = rows(Service::PowerBi, "/groups/{id}/users", body)?;
        let me = |u: &serde_json::Value| {
            let id = text(u, "identifier").unwrap_or_default();
            text(u, "principalType").as_deref() == Some("App")
                && ids
                    .iter()
                    .flatten()
                    .any(|mine| mine.eq_ignore_ascii_case(&id))
        };
        Ok(users
            .iter()
            .find(|u| me(u))
            .and_then(|u| text(u, "groupUserAccessRight")))
    }
}
