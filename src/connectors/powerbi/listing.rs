//! Listings for the identity picker: Graph's users across `@odata.nextLink` pages (followed
//! only on the configured Graph host) and the workspaces the app can see.

use std::collections::BTreeSet;

use reqwest::{Method, Url};

use super::api::{Service, rows};
use super::{PowerBi, text};
use crate::connectors::{ConnectorError, PlatformIdentity};

impl PowerBi {
    /// Every user of the tenant from Graph, following `@odata.nextLink` only on the configured
    /// Graph host (our Graph token goes nowhere else).
    pub(super) async fn graph_users(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let mut url = self.api.graph_url(&["users"]);
        url.query_pairs_mut()
            .append_pair("$select", "id,userPrincipalName,mail,displayName")
            .append_pair("$top", &self.graph_page.to_string());
        let mut out = Vec::new();
        let mut seen_ids = BTreeSet::new();
        let mut seen_links = BTreeSet::new();
        loop {
            let body = self
                .api
                .expect(Service::Graph, Method::GET, url.clone(), None)
                .await?;
            let next = text(&body, "@odata.nextLink");
            for u in rows(Service::Graph, "/users", body)? {
                let Some(upn) = text(&u, "userPrincipalName") else {
                    continue;
                };
                if !seen_ids.insert(upn.to_lowercase()) {
                    continue;
                }
                let email = text(&u, "mail");
                out.push(PlatformIdentity {
                    kind: "user".into(),
                    name: text(&u, "displayName").unwrap_or_else(|| upn.clone()),
                    email,
                    id: upn,
                });
            }
            let Some(next) = next else {
                return Ok(out);
            };
            let link = Url::parse(&next).map_err(|e| {
                ConnectorError::Permanent(format!("Graph's @odata.nextLink is not a URL: {e}"))
            })?;
            if !self.api.on_graph(&link) {
                return Err(ConnectorError::Permanent(format!(
                    "Graph's @odata.nextLink points at another host ({}); not followed",
                    link.host_str().unwrap_or("none")
                )));
            }
            if !seen_links.insert(next) {
                return Ok(out);
            }
            url = link;
        }
    }

    /// Every workspace the app can see, `$top`/`$skip` a page.
    pub(super) async fn workspaces(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut skip = 0;
        loop {
            let mut url = self.api.powerbi_url(&["groups"]);
            url.query_pairs_mut()
                .append_pair("$top", &self.workspace_page.to_string())
                .append_pair("$skip", &skip.to_string());
            let body = self
                .api
                .expect(Service::PowerBi, Method::GET, url, None)
                .await?;
            let page = rows(Service::PowerBi, "/groups", body)?;
            let (n, mut fresh) = (page.len(), 0);
            for w in page {
                let Some(id) = text(&w, "id") else { continue };
                if !seen.insert(id.clone()) {
                    continue;
                }
                fresh += 1;
                out.push(PlatformIdentity {
                    kind: "workspace".into(),
                    name: text(&w, "name").unwrap_or_else(|| id.clone()),
                    email: None,
                    id,
                });
            }
            skip += n;
            // A short page is the last; a page of nothing new (`$skip` ignored) ends it too.
            if n < self.workspace_page || fresh == 0 {
                return Ok(out);
            }
        }
    }
}
