//! Google BigQuery with a service-account key: the unit of access is an entry of a dataset's
//! access list, `{"role": "READER", "userByEmail": "a@x"}`, changed read-modify-write
//! (`datasets.get`, then `datasets.patch` with the whole `access` array and `If-Match: <etag>`;
//! a 412 means someone changed the list meanwhile, and the change is made again on a fresh
//! read, so no one else's entry is ever lost); or a role on one table, a member of the table's
//! IAM policy binding (`tables.getIamPolicy`, then `tables.setIamPolicy` with the policy's etag,
//! again after a 409 the same way). Identities are Google Workspace users from the
//! Admin SDK Directory, listed as a Workspace admin through domain-wide delegation.

mod access;
mod api;
mod auth;
mod iam;
mod readiness;

use crate::connectors::bounded_probe;
use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Connector, ConnectorError, Holding, PlatformIdentity, Readiness};
use crate::config::{BigquerySettings, Secret};
use crate::domain::Unit;
use access::{dataset_in, is_entry_of, same_role};
use api::{Api, Service};
use iam::{TableRef, table_in};

/// Directory users asked for per page (the API's maximum is 500).
const PAGE: usize = 500;
/// How many times a change is tried when each try meets a concurrent change (412 or 409).
const ATTEMPTS: usize = 5;

#[derive(Debug)]
pub struct Bigquery {
    api: Api,
    customer: String,
    page_size: usize,
}

fn text(row: &Value, pointer: &str) -> Option<String> {
    row.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Bigquery {
    /// Reads the key; nothing is sent until the first call.
    pub fn new(settings: &BigquerySettings, key: Secret) -> Result<Self, String> {
        let sa = auth::ServiceAccount::parse(key.expose())?;
        Ok(Bigquery {
            api: Api::new(
                sa,
                settings.api_url.as_deref(),
                settings.directory_url.as_deref(),
                settings.directory_admin.as_deref(),
            )?,
            customer: settings
                .customer
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .unwrap_or("my_customer")
                .to_owned(),
            page_size: PAGE,
        })
    }

    /// Lists `n` Directory users a page (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.clamp(1, PAGE);
        self
    }

    /// `datasets.get` and `datasets.patch` of a dataset, asking for access policy version 3:
    /// "Requests for conditional access policy binding in datasets must specify version 3",
    /// and an older read shows a conditional entry's role as `…_with_conditionalbinding_…`,
    /// which no write accepts (https://cloud.google.com/bigquery/docs/reference/v2/datasets/get).
    fn dataset_url(&self, project: &str, dataset: &str) -> reqwest::Url {
        let segments = ["bigquery", "v2", "projects", project, "datasets", dataset];
        let mut url = self.api.url(Service::Bigquery, &segments);
        url.query_pairs_mut()
            .append_pair("accessPolicyVersion", "3");
        url
    }

    /// `datasets.get`: the access list and its etag. An unknown dataset is named.
    async fn read(
        &self,
        project: &str,
        dataset: &str,
    ) -> Result<(Vec<Value>, String), ConnectorError> {
        let url = self.dataset_url(project, dataset);
        let json = self
            .api
            .get_found(Service::Bigquery, url, |said| format!(
                "BigQuery has no dataset `{project}.{dataset}` (or the service account cannot see it): {said}"
            ))
            .await?;
        let access = json["access"].as_array().cloned().unwrap_or_default();
        let etag = json["etag"].as_str().unwrap_or("").to_owned();
        Ok((access, etag))
    }

    /// Read, change, `datasets.patch` with `If-Match`; again on a fresh read after a 412.
    /// `change` returns false when the list needs no change.
    async fn modify(
        &self,
        project: &str,
        dataset: &str,
        change: impl Fn(&mut Vec<Value>) -> bool,
    ) -> Result<usize, ConnectorError> {
        let once = || async {
            let (mut access, etag) = self.read(project, dataset).await?;
            if !change(&mut access) {
                return Ok(Step::Done);
            }
            let url = self.dataset_url(project, dataset);
            let body = json!({ "access": access });
            let etag = (!etag.is_empty()).then_some(etag.as_str());
            let a = self
                .api
                .call(Service::Bigquery, Method::PATCH, url, etag, Some(&body))
                .await?;
            match a.status {
                StatusCode::PRECONDITION_FAILED => Ok(Step::Conflict),
                StatusCode::NOT_FOUND => Err(ConnectorError::Permanent(format!(
                    "BigQuery has no dataset `{project}.{dataset}` any more: {}",
                    api::platform_message(&a.json)
                ))),
                _ => Ok(Step::Done),
            }
        };
        retrying(once).await?.ok_or_else(|| {
            ConnectorError::Retryable(format!(
                "the access list of BigQuery dataset `{project}.{dataset}` changed during each of \
                 {ATTEMPTS} attempts (HTTP 412); try again later"
            ))
        })
    }

    /// `…/tables/{t}:getIamPolicy` or `:setIamPolicy`: the verb rides on the table's segment,
    /// which is still pushed (so percent-encoded) as one segment.
    fn table_url(&self, t: &TableRef<'_>, verb: &str) -> reqwest::Url {
        let last = format!("{}:{verb}", t.table);
        let segments = [
            "bigquery", "v2", "projects", t.project, "datasets", t.dataset, "tables", &last,
        ];
        self.api.url(Service::Bigquery, &segments)
    }

    fn no_table(t: &TableRef<'_>, a: &api::Answer) -> ConnectorError {
        ConnectorError::Permanent(format!(
            "BigQuery has no table `{t}` (or the service account cannot see it): {}",
            api::platform_message(&a.json)
        ))
    }

    /// `tables.getIamPolicy` at version 3, so conditional bindings come back as they are
    /// (at version 1 Google refuses or disguises them, and writing back would lose them).
    async fn read_policy(&self, t: &TableRef<'_>) -> Result<Value, ConnectorError> {
        let body = json!({ "options": { "requestedPolicyVersion": 3 } });
        let a = self
            .api
            .call(
                Service::Bigquery,
                Method::POST,
                self.table_url(t, "getIamPolicy"),
                None,
                Some(&body),
            )
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Err(Self::no_table(t, &a));
        }
        Ok(a.json)
    }

    /// Read the policy, change it, `tables.setIamPolicy` with the etag read; again on a fresh
    /// read when the etag went stale (IAM answers 409 ABORTED; 412 is taken the same way).
    /// The whole policy goes back, so every other binding and field stays as read.
    async fn modify_policy(
        &self,
        t: &TableRef<'_>,
        change: impl Fn(&mut Value) -> bool,
    ) -> Result<usize, ConnectorError> {
        let once = || async {
            let mut policy = self.read_policy(t).await?;
            if !change(&mut policy) {
                return Ok(Step::Done);
            }
            let body = json!({ "policy": policy });
            let a = self
                .api
                .call_allowing(
                    Service::Bigquery,
                    Method::POST,
                    self.table_url(t, "setIamPolicy"),
                    None,
                    Some(&body),
                    Some(StatusCode::CONFLICT),
                )
                .await?;
            match a.status {
                StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => Ok(Step::Conflict),
                StatusCode::NOT_FOUND => Err(Self::no_table(t, &a)),
                _ => Ok(Step::Done),
            }
        };
        retrying(once).await?.ok_or_else(|| {
            ConnectorError::Retryable(format!(
                "the IAM policy of BigQuery table `{t}` changed during each of {ATTEMPTS} \
                 attempts (HTTP 409); try again later"
            ))
        })
    }

    async fn check_table(&self, email: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        let t = table_in(unit)?;
        let policy = self.read_policy(&t).await?;
        Ok(Holding {
            direct: iam::holds(&policy, t.role, email),
            through: iam::through(&policy, t.role, email, &t.to_string()),
        })
    }

    /// Adds `email` to the binding of the unit's role on its table, or (not `adding`) takes it
    /// out, in one read-modify-write of the table's IAM policy.
    async fn change_table(
        &self,
        email: &str,
        unit: &Unit,
        adding: bool,
    ) -> Result<String, ConnectorError> {
        let t = table_in(unit)?;
        let email = email.trim();
        let (change, did, to) = if adding {
            (
                iam::add as fn(&mut Value, &str, &str) -> bool,
                "added",
                "to",
            )
        } else {
            (
                iam::remove as fn(&mut Value, &str, &str) -> bool,
                "removed",
                "from",
            )
        };
        let attempts = self.modify_policy(&t, |p| change(p, t.role, email)).await?;
        Ok(format!(
            "{did} {} {to} the {} binding of BigQuery table `{t}` (POST /bigquery/v2/projects/{}/\
             datasets/{}/tables/{}:setIamPolicy{})",
            iam::member_of(email),
            t.role,
            t.project,
            t.dataset,
            t.table,
            retried(attempts)
        ))
    }
}

/// One read-modify-write: written, or refused because someone else wrote first.
enum Step {
    Done,
    Conflict,
}

/// Runs `once` until it is not refused for a concurrent write, at most [`ATTEMPTS`] times:
/// the attempt it succeeded on, or None when every attempt met a conflict.
async fn retrying<F, Fut>(mut once: F) -> Result<Option<usize>, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Step, ConnectorError>>,
{
    for attempt in 1..=ATTEMPTS {
        if let Step::Done = once().await? {
            return Ok(Some(attempt));
        }
    }
    Ok(None)
}

#[async_trait::async_trait]
impl Connector for Bigquery {
    /// A token exchange and `datasets.list` of the key's project (one row), bounded to 2 s.
    async fn ping(&self) -> Result<(), ConnectorError> {
        let call = async {
            let Some(project) = self.api.project_id() else {
                // A key without project_id: `projects.list` (the projects it can see) instead.
                let url = self
                    .api
                    .url(Service::Bigquery, &["bigquery", "v2", "projects"]);
                return self
                    .api
                    .call(Service::Bigquery, Method::GET, url, None, None)
                    .await
                    .map(drop);
            };
            let mut url = self.api.url(
                Service::Bigquery,
                &["bigquery", "v2", "projects", project, "datasets"],
            );
            url.query_pairs_mut().append_pair("maxResults", "1");
            self.api
                .call(Service::Bigquery, Method::GET, url, None, None)
                .await
                .map(drop)
        };
        bounded_probe("BigQuery", call).await
    }

    /// Workspace users from `GET /admin/directory/v1/users`, every page (`pageToken`), as the
    /// configured `directory_admin`. Without one, BigQuery has no directory of its own, and the
    /// list is empty: reviewers link people by email (`link = "email"`).
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        if self.api.directory_admin().is_none() {
            return Ok(Vec::new());
        }
        let mut all = Vec::new();
        let mut seen = BTreeSet::new();
        let mut tokens = BTreeSet::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut url = self
                .api
                .url(Service::Directory, &["admin", "directory", "v1", "users"]);
            url.query_pairs_mut()
                .append_pair("customer", &self.customer)
                .append_pair("maxResults", &self.page_size.to_string());
            if let Some(t) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let json = self
                .api
                .get_found(Service::Directory, url, |said| {
                    format!(
                        "the Google Workspace Directory does not know customer `{}`: {said}",
                        self.customer
                    )
                })
                .await?;
            for u in json["users"].as_array().into_iter().flatten() {
                let Some(email) = text(u, "/primaryEmail") else {
                    continue;
                };
                if !seen.insert(email.to_lowercase()) {
                    continue;
                }
                all.push(PlatformIdentity {
                    kind: "user".into(),
                    name: text(u, "/name/fullName").unwrap_or_else(|| email.clone()),
                    id: email.clone(),
                    email: Some(email),
                });
            }
            match text(&json, "/nextPageToken") {
                // A token seen before would loop for ever.
                Some(t) if tokens.insert(t.clone()) => page_token = Some(t),
                _ => return Ok(all),
            }
        }
    }

    /// Direct: an entry `userByEmail` = the email (any case) with the unit's role. `through`:
    /// entries with that role for a group (`groupByEmail`, which Gatehouse does not expand, so
    /// membership is not verified), the user's `domain`, or a `specialGroup`.
    async fn check(&self, email: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        if let Unit::TableRole { .. } = unit {
            return self.check_table(email, unit).await;
        }
        let (project, dataset, role) = dataset_in(unit)?;
        let (access, _) = self.read(project, dataset).await?;
        let domain = email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        let mut holding = Holding::default();
        for e in access
            .iter()
            .filter(|e| e["role"].as_str().is_some_and(|r| same_role(r, role)))
        {
            if is_entry_of(e, email, role) {
                holding.direct = true;
            } else if let Some(g) = e["groupByEmail"].as_str() {
                holding.through.push(format!(
                    "the group {g} holds {role} on `{project}.{dataset}` (Gatehouse does not \
                     expand groups, so whether {email} is a member is not checked)"
                ));
            } else if let Some(d) = e["domain"].as_str()
                && domain.as_deref() == Some(d.to_ascii_lowercase().as_str())
            {
                holding.through.push(format!(
                    "the domain {d} holds {role} on `{project}.{dataset}`"
                ));
            } else if let Some(s) = e["specialGroup"].as_str() {
                holding.through.push(format!(
                    "the special group {s} holds {role} on `{project}.{dataset}`"
                ));
            }
        }
        Ok(holding)
    }

    /// The dataset or table exists, and the service account may change its access list or IAM
    /// policy: see `readiness.rs`.
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        self.unit_readiness(unit).await
    }

    /// Appends `{"role", "userByEmail"}` to the dataset's access list (`datasets.patch` with
    /// `If-Match`), keeping every other entry.
    async fn add(&self, email: &str, unit: &Unit) -> Result<String, ConnectorError> {
        if let Unit::TableRole { .. } = unit {
            return self.change_table(email, unit, true).await;
        }
        let (project, dataset, role) = dataset_in(unit)?;
        let email = email.trim();
        let attempts = self
            .modify(project, dataset, |access| {
                if access.iter().any(|e| is_entry_of(e, email, role)) {
                    return false;
                }
                access.push(json!({ "role": role, "userByEmail": email }));
                true
            })
            .await?;
        Ok(format!(
            "added {{role: {role}, userByEmail: {email}}} to the access of BigQuery dataset \
             `{project}.{dataset}` (PATCH /bigquery/v2/projects/{project}/datasets/{dataset}{})",
            retried(attempts)
        ))
    }

    /// Drops exactly the user's entries with that role (`datasets.patch` with `If-Match`).
    async fn remove(&self, email: &str, unit: &Unit) -> Result<String, ConnectorError> {
        if let Unit::TableRole { .. } = unit {
            return self.change_table(email, unit, false).await;
        }
        let (project, dataset, role) = dataset_in(unit)?;
        let attempts = self
            .modify(project, dataset, |access| {
                let before = access.len();
                access.retain(|e| !is_entry_of(e, email, role));
                access.len() != before
            })
            .await?;
        Ok(format!(
            "removed {{role: {role}, userByEmail: {email}}} from the access of BigQuery dataset \
             `{project}.{dataset}` (PATCH /bigquery/v2/projects/{project}/datasets/{dataset}{})",
            retried(attempts)
        ))
    }
}

fn retried(attempts: usize) -> String {
    match attempts {
        1 => String::new(),
        n => format!(", made again after {} concurrent change(s)", n - 1),
    }
}
