//! Whether a dataset entry or a table role can be granted before anyone asks, by reads only.
//!
//! A table: `tables.get` (it exists), then `tables.testIamPermissions` for the two permissions
//! a grant uses, `bigquery.tables.getIamPolicy` and `bigquery.tables.setIamPolicy`
//! (https://cloud.google.com/bigquery/docs/reference/rest/v2/tables/testIamPermissions; it
//! answers an empty set for a table that does not exist, hence the `tables.get` first).
//!
//! A dataset: `datasets.get` (it exists, and its access list). The v2 datasets resource has no
//! testIamPermissions (its methods are delete, get, insert, list, patch, undelete and update:
//! https://cloud.google.com/bigquery/docs/reference/rest/v2/datasets), so the right to change
//! the access list, `bigquery.datasets.update`, is seen either in that list (the service
//! account an OWNER of the dataset) or through Resource Manager's
//! `projects.testIamPermissions` on the dataset's project
//! (https://cloud.google.com/resource-manager/reference/rest/v1/projects/testIamPermissions),
//! which covers roles held on the project or above it, not a group's OWNER entry.

use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use super::access::{dataset_in, same_role};
use super::api::{self, Service};
use super::iam::{TableRef, table_in};
use super::{Bigquery, ConnectorError};
use crate::connectors::Readiness;
use crate::domain::Unit;

const DATASET_UPDATE: &str = "bigquery.datasets.update";
const TABLE_PERMISSIONS: [&str; 2] = [
    "bigquery.tables.getIamPolicy",
    "bigquery.tables.setIamPolicy",
];

/// What a read answered: the resource, or Google saying it has none or refusing the caller.
enum Probe {
    Found(Value),
    NotFound,
    Denied(String),
}

fn missing(what: String, fix: String) -> Readiness {
    Readiness::Missing { what, fix }
}

/// The permissions a testIamPermissions answer grants (`{}` when none).
fn granted(answer: &Value) -> Vec<&str> {
    answer["permissions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether an access entry makes `email` an OWNER of the dataset.
fn owns(entry: &Value, email: &str) -> bool {
    let by_email = entry["userByEmail"]
        .as_str()
        .is_some_and(|u| u.eq_ignore_ascii_case(email));
    let by_member = entry["iamMember"]
        .as_str()
        .and_then(|m| m.strip_prefix("serviceAccount:"))
        .is_some_and(|m| m.eq_ignore_ascii_case(email));
    entry.get("condition").is_none()
        && (by_email || by_member)
        && entry["role"]
            .as_str()
            .is_some_and(|r| same_role(r, "OWNER"))
}

impl Bigquery {
    pub(super) async fn unit_readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        if let Unit::TableRole { .. } = unit {
            return self.table_readiness(&table_in(unit)?).await;
        }
        let (project, dataset, _) = dataset_in(unit)?;
        self.dataset_readiness(project, dataset).await
    }

    /// One call whose 404 and 403 are answers here, not failures.
    async fn probe(
        &self,
        service: Service,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Probe, ConnectorError> {
        let a = self
            .api
            .call_allowing(
                service,
                method,
                url,
                None,
                body,
                Some(StatusCode::FORBIDDEN),
            )
            .await?;
        Ok(match a.status {
            StatusCode::NOT_FOUND => Probe::NotFound,
            StatusCode::FORBIDDEN => Probe::Denied(api::platform_message(&a.json)),
            _ => Probe::Found(a.json),
        })
    }

    async fn dataset_readiness(
        &self,
        project: &str,
        dataset: &str,
    ) -> Result<Readiness, ConnectorError> {
        let email = self.api.client_email().to_owned();
        let name = format!("{project}.{dataset}");
        let fix = format!(
            "make {email} an OWNER of dataset `{name}` (an access entry {{role: OWNER, \
             userByEmail: {email}}}), or grant it roles/bigquery.dataOwner on the dataset or \
             project `{project}`"
        );
        let url = self.dataset_url(project, dataset);
        let found = match self
            .probe(Service::Bigquery, Method::GET, url, None)
            .await?
        {
            Probe::Found(found) => found,
            Probe::NotFound => return Ok(no_such("dataset", &name)),
            Probe::Denied(said) => {
                let what = format!("{email} may not read dataset `{name}` ({said})");
                return Ok(missing(what, fix));
            }
        };
        let access = found["access"].as_array().into_iter().flatten();
        if access.clone().any(|e| owns(e, &email)) {
            return Ok(Readiness::Ready(format!(
                "dataset `{name}` exists; {email} is an OWNER in its access list"
            )));
        }
        match self.project_grants(project, DATASET_UPDATE).await? {
            Ok(true) => Ok(Readiness::Ready(format!(
                "dataset `{name}` exists; {email} holds {DATASET_UPDATE} on project `{project}`"
            ))),
            Ok(false) => Ok(missing(
                format!(
                    "{email} may not change the access of dataset `{name}`: it lacks \
                     {DATASET_UPDATE} (it is no OWNER of the dataset, and holds no role with it \
                     on project `{project}`)"
                ),
                fix,
            )),
            Err(said) => Ok(missing(
                format!(
                    "whether {email} may change the access of dataset `{name}` cannot be told: it \
                     is no OWNER of the dataset, and Resource Manager refused to test \
                     {DATASET_UPDATE} on project `{project}` ({said})"
                ),
                format!(
                    "{fix}; or enable the Cloud Resource Manager API in project `{project}` so \
                     the project's roles can be seen"
                ),
            )),
        }
    }

    /// `projects.testIamPermissions`: whether the service account holds `permission` on the
    /// project; Google's words when it refused to say.
    async fn project_grants(
        &self,
        project: &str,
        permission: &str,
    ) -> Result<Result<bool, String>, ConnectorError> {
        let verb = format!("{project}:testIamPermissions");
        let url = self
            .api
            .url(Service::ResourceManager, &["v1", "projects", &verb]);
        let body = json!({ "permissions": [permission] });
        let answer = self
            .probe(Service::ResourceManager, Method::POST, url, Some(&body))
            .await?;
        Ok(match answer {
            Probe::Found(a) => Ok(granted(&a).contains(&permission)),
            Probe::NotFound => Err(format!("no project `{project}`")),
            Probe::Denied(said) => Err(said),
        })
    }

    async fn table_readiness(&self, t: &TableRef<'_>) -> Result<Readiness, ConnectorError> {
        let email = self.api.client_email().to_owned();
        let fix = format!(
            "grant {email} a role holding {} on table `{t}` or its dataset, such as \
             roles/bigquery.dataOwner",
            TABLE_PERMISSIONS.join(" and ")
        );
        let segments = [
            "bigquery", "v2", "projects", t.project, "datasets", t.dataset, "tables", t.table,
        ];
        let url = self.api.url(Service::Bigquery, &segments);
        match self
            .probe(Service::Bigquery, Method::GET, url, None)
            .await?
        {
            Probe::Found(_) => {}
            Probe::NotFound => return Ok(no_such("table", &t.to_string())),
            Probe::Denied(said) => {
                let what = format!("{email} may not read table `{t}` ({said})");
                return Ok(missing(what, fix));
            }
        }
        let body = json!({ "permissions": TABLE_PERMISSIONS });
        let url = self.table_url(t, "testIamPermissions");
        let answer = match self
            .probe(Service::Bigquery, Method::POST, url, Some(&body))
            .await?
        {
            Probe::Found(a) => a,
            Probe::NotFound => return Ok(no_such("table", &t.to_string())),
            Probe::Denied(said) => {
                let what = format!("{email} may not test its permissions on table `{t}` ({said})");
                return Ok(missing(what, fix));
            }
        };
        let held = granted(&answer);
        let lacking: Vec<&str> = TABLE_PERMISSIONS
            .into_iter()
            .filter(|p| !held.contains(p))
            .collect();
        if lacking.is_empty() {
            return Ok(Readiness::Ready(format!(
                "table `{t}` exists; {email} may read and set its IAM policy"
            )));
        }
        Ok(missing(
            format!(
                "{email} may not change the IAM policy of table `{t}`: it lacks {}",
                lacking.join(" and ")
            ),
            fix,
        ))
    }
}

fn no_such(kind: &str, name: &str) -> Readiness {
    missing(
        format!("{kind} `{name}` does not exist (or the service account cannot see it)"),
        "create it, or correct `grant` in the catalog".into(),
    )
}
