//! The fake's routes: the token exchange, datasets get/list/patch and Directory users.list.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};

use super::{ADMIN, CLIENT_EMAIL, FakeState, Issued, KEY_ID, error};
use crate::support::rest_fake::pairs;

const BIGQUERY: &str = "https://www.googleapis.com/auth/bigquery";
const DIRECTORY: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
/// The scopes Resource Manager's projects.testIamPermissions accepts (among others).
const CLOUD_PLATFORM: [&str; 2] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/cloud-platform.read-only",
];
const PRINCIPALS: [&str; 6] = [
    "userByEmail",
    "groupByEmail",
    "domain",
    "specialGroup",
    "iamMember",
    "view",
];

/// OAuth's error body, as Google's token endpoint answers.
fn oauth_error(error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

impl FakeState {
    pub(super) fn new_etag(&mut self) -> String {
        self.next_etag += 1;
        format!("etag-{}", self.next_etag)
    }

    /// `POST /token`: a JWT-bearer grant, the assertion checked as Google does.
    pub(super) fn exchange(&mut self, body: &str) -> Response {
        let form = pairs(body);
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return oauth_error("unsupported_grant_type", "Invalid grant_type: ");
        }
        let assertion = form.get("assertion").cloned().unwrap_or_default();
        let Ok(header) = jsonwebtoken::decode_header(&assertion) else {
            return oauth_error("invalid_request", "Invalid JWT.");
        };
        if header.kid.as_deref() != Some(KEY_ID) || header.alg != Algorithm::RS256 {
            return oauth_error("invalid_grant", "Invalid JWT Signature.");
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[self.token_url.as_str()]);
        v.set_issuer(&[CLIENT_EMAIL]);
        v.required_spec_claims = ["exp", "iat", "iss", "aud"].map(String::from).into();
        v.leeway = 0;
        let claims = match jsonwebtoken::decode::<Value>(&assertion, &self.decoding, &v) {
            Ok(d) => d.claims,
            Err(e) => {
                let why = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid JWT Signature.",
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
                    }
                    _ => "Invalid JWT: claims are not as expected.",
                };
                return oauth_error("invalid_grant", why);
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap_or(0),
            claims["exp"].as_u64().unwrap_or(0),
        );
        if exp > iat + 3600 || iat > now + 60 {
            return oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
            );
        }
        let scopes: Vec<String> = claims["scope"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if scopes.is_empty() {
            return oauth_error(
                "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.",
            );
        }
        let sub = claims["sub"].as_str().map(str::to_owned);
        // Domain-wide delegation is set up for the Directory scope, acting as ADMIN only.
        if let Some(who) = &sub
            && (who != ADMIN || scopes.iter().any(|s| s != DIRECTORY))
        {
            return oauth_error(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
            );
        }
        self.exchanges.push(sub.clone());
        let token = format!("ya29.{}", uuid::Uuid::new_v4().simple());
        self.tokens.insert(token.clone(), Issued { scopes, sub });
        axum::Json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
            .into_response()
    }

    /// The dataset as `datasets.get` shows it. "If unset or if 0 or 1 value is used for dataset
    /// with conditional bindings, access entry with condition will have role string appended by
    /// 'withcond' string followed by a hash value" (datasets.get, `accessPolicyVersion`:
    /// https://cloud.google.com/bigquery/docs/reference/v2/datasets/get).
    fn dataset_json(&self, name: &str, policy_version_3: bool) -> Option<Value> {
        let d = self.datasets.get(name)?;
        let (p, id) = name.rsplit_once('.')?;
        let access: Vec<Value> = d
            .access
            .iter()
            .map(|e| match (policy_version_3, e.get("condition")) {
                (false, Some(_)) => {
                    let mut shown = e.clone();
                    let role = e["role"].as_str().unwrap_or_default();
                    shown["role"] = json!(format!("{role}_with_conditionalbinding_7a34awqsda"));
                    if let Some(o) = shown.as_object_mut() {
                        o.remove("condition");
                    }
                    shown
                }
                _ => e.clone(),
            })
            .collect();
        Some(
            json!({ "kind": "bigquery#dataset", "id": format!("{p}:{id}"), "etag": d.etag,
            "datasetReference": { "projectId": p, "datasetId": id },
            "access": access, "location": "US", "type": "DEFAULT" }),
        )
    }

    pub(super) fn serve(
        &mut self,
        issued: &Issued,
        method: &Method,
        path: &[String],
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let may = |scope: &str| issued.scopes.iter().any(|s| s == scope);
        let version_3 = query.split('&').any(|kv| kv == "accessPolicyVersion=3");
        let denied = || {
            error(
                StatusCode::FORBIDDEN,
                "insufficientPermissions",
                "Request had insufficient authentication scopes.",
            )
        };
        match (method.as_str(), p.as_slice()) {
            (_, ["bigquery", "v2", ..]) if !may(BIGQUERY) || issued.sub.is_some() => denied(),
            (_, ["v1", "projects", ..])
                if !CLOUD_PLATFORM.iter().any(|s| may(s)) || issued.sub.is_some() =>
            {
                denied()
            }
            ("POST", ["v1", "projects", last]) => match last.rsplit_once(':') {
                Some((_, "testIamPermissions")) => self.test_permissions(true, body),
                _ => error(StatusCode::NOT_FOUND, "notFound", "Not found"),
            },
            (
                verb @ ("GET" | "POST"),
                [
                    "bigquery",
                    "v2",
                    "projects",
                    project,
                    "datasets",
                    dataset,
                    "tables",
                    last,
                ],
            ) => self.table_call(verb == "POST", [project, dataset, last], body),
            (_, ["admin", ..]) if !may(DIRECTORY) || issued.sub.as_deref() != Some(ADMIN) => error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not Authorized to access this resource/api",
            ),
            ("GET", ["bigquery", "v2", "projects", project, "datasets"]) => {
                let rows: Vec<Value> = self
                    .datasets
                    .keys()
                    .filter_map(|k| k.rsplit_once('.'))
                    .filter(|(p, _)| p == project)
                    .map(|(p, d)| {
                        json!({ "kind": "bigquery#dataset", "id": format!("{p}:{d}"),
                        "datasetReference": { "projectId": p, "datasetId": d } })
                    })
                    .collect();
                axum::Json(json!({ "kind": "bigquery#datasetList", "datasets": rows }))
                    .into_response()
            }
            ("GET", ["bigquery", "v2", "projects", project, "datasets", dataset]) => {
                match self.dataset_json(&format!("{project}.{dataset}"), version_3) {
                    Some(d) => axum::Json(d).into_response(),
                    None => not_found(project, dataset),
                }
            }
            ("PATCH", ["bigquery", "v2", "projects", project, "datasets", dataset]) => {
                let name = format!("{project}.{dataset}");
                if !self.datasets.contains_key(&name) {
                    return not_found(project, dataset);
                }
                let owner = json!({ "role": "OWNER", "userByEmail": CLIENT_EMAIL });
                if self.lacks.contains("bigquery.datasets.update")
                    && !self.datasets[&name].access.contains(&owner)
                {
                    return error(
                        StatusCode::FORBIDDEN,
                        "accessDenied",
                        &format!(
                            "Access Denied: Dataset {project}:{dataset}: Permission bigquery.datasets.update denied on dataset {project}:{dataset} (or it may not exist)."
                        ),
                    );
                }
                if let Some(entry) = self.concurrent_next.take() {
                    let etag = self.new_etag();
                    let d = self.datasets.get_mut(&name).unwrap();
                    d.access.push(entry);
                    d.etag = etag;
                    d.updates += 1;
                }
                let if_match = headers.get("if-match").and_then(|v| v.to_str().ok());
                if if_match != Some(self.datasets[&name].etag.as_str()) {
                    return error(
                        StatusCode::PRECONDITION_FAILED,
                        "conditionNotMet",
                        "Precondition check failed.",
                    );
                }
                let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let Some(access) = parsed["access"].as_array() else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "Invalid dataset: no access",
                    );
                };
                for e in access {
                    // datasets.patch: "Operations updating conditional access policy binding in
                    // datasets must specify version 3"; a role read as `…_with_conditionalbinding_…`
                    // is no role at all (https://cloud.google.com/iam/docs/troubleshooting-withcond).
                    if e.get("condition").is_some() && !version_3 {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid",
                            "Requests for conditional access policy binding in datasets must specify version 3.",
                        );
                    }
                    if e["role"]
                        .as_str()
                        .is_some_and(|r| r.contains("_with_conditionalbinding_"))
                    {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid",
                            &format!("Role {} is not supported for this resource.", e["role"]),
                        );
                    }
                    let principals = PRINCIPALS.iter().filter(|k| e.get(**k).is_some()).count();
                    if principals != 1 || (e.get("view").is_none() && e["role"].as_str().is_none())
                    {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid",
                            &format!("Invalid value for access entry: {e}"),
                        );
                    }
                }
                let etag = self.new_etag();
                let d = self.datasets.get_mut(&name).unwrap();
                d.access = access.clone();
                d.etag = etag;
                d.updates += 1;
                axum::Json(self.dataset_json(&name, version_3).unwrap()).into_response()
            }
            ("GET", ["admin", "directory", "v1", "users"]) => self.users_page(&pairs(query)),
            _ => error(StatusCode::NOT_FOUND, "notFound", "Not found"),
        }
    }

    /// `GET …/tables/{table}` (`tables.get`), or `POST …/tables/{table}:{verb}` (the table's
    /// IAM calls), `at` naming the project, the dataset and the path's last segment.
    fn table_call(&mut self, post: bool, at: [&str; 3], body: &[u8]) -> Response {
        let [project, dataset, last] = at;
        let no_table = |table: &str| {
            error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("Not found: Table {project}:{dataset}.{table}"),
            )
        };
        if !post {
            let table = last;
            if !self
                .tables
                .contains_key(&format!("{project}.{dataset}.{table}"))
            {
                return no_table(table);
            }
            return axum::Json(json!({ "kind": "bigquery#table",
                "id": format!("{project}:{dataset}.{table}"), "type": "TABLE",
                "tableReference": { "projectId": project, "datasetId": dataset, "tableId": table } }))
            .into_response();
        }
        // `{table}:{verb}` is one path segment; the verb follows the last colon.
        let Some((table, verb)) = last.rsplit_once(':') else {
            return error(StatusCode::NOT_FOUND, "notFound", "Not found");
        };
        let name = format!("{project}.{dataset}.{table}");
        if verb == "testIamPermissions" {
            return self.test_permissions(self.tables.contains_key(&name), body);
        }
        if !self.tables.contains_key(&name) {
            return no_table(table);
        }
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match verb {
            "getIamPolicy" => self.get_policy(&name, &parsed),
            "setIamPolicy" => self.set_policy(&name, &parsed),
            _ => error(StatusCode::NOT_FOUND, "notFound", "Not found"),
        }
    }

    /// `…:testIamPermissions`: the asked permissions the service account holds, none on a
    /// resource that does not exist; an empty set is `{}`, as Google leaves out empty lists.
    fn test_permissions(&self, exists: bool, body: &[u8]) -> Response {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let held: Vec<&str> = parsed["permissions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|p| exists && !self.lacks.contains(*p))
            .filter(|p| !(self.deny_set_policy && *p == "bigquery.tables.setIamPolicy"))
            .collect();
        if held.is_empty() {
            return axum::Json(json!({})).into_response();
        }
        axum::Json(json!({ "permissions": held })).into_response()
    }

    /// `tables.getIamPolicy`: the policy; a conditional binding needs version 3 asked for.
    fn get_policy(&self, name: &str, body: &Value) -> Response {
        let policy = &self.tables[name].policy;
        let asked = body["options"]["requestedPolicyVersion"]
            .as_u64()
            .unwrap_or(0);
        if asked < 3 && has_condition(policy) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "The policy contains conditional role bindings; request policy version 3.",
            );
        }
        axum::Json(policy.clone()).into_response()
    }

    /// `tables.setIamPolicy`: the whole policy replaced when its etag is the current one.
    fn set_policy(&mut self, name: &str, body: &Value) -> Response {
        if self.deny_set_policy {
            return error(
                StatusCode::FORBIDDEN,
                "accessDenied",
                &format!(
                    "Access Denied: Table {name}: Permission bigquery.tables.setIamPolicy denied on table {name} (or it may not exist)."
                ),
            );
        }
        if let Some((role, member)) = self.concurrent_policy_next.take() {
            let etag = self.new_etag();
            let t = self.tables.get_mut(name).unwrap();
            if !t.policy["bindings"].is_array() {
                t.policy["bindings"] = json!([]);
            }
            let bindings = t.policy["bindings"].as_array_mut().unwrap();
            match bindings
                .iter_mut()
                .find(|b| b["role"] == role.as_str() && b.get("condition").is_none())
            {
                Some(b) => b["members"].as_array_mut().unwrap().push(json!(member)),
                None => bindings.push(json!({ "role": role, "members": [member] })),
            }
            t.policy["etag"] = json!(etag);
            t.updates += 1;
        }
        let Some(policy) = body["policy"].as_object() else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid policy: no policy",
            );
        };
        let Some(etag) = policy.get("etag").and_then(Value::as_str) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid policy: no etag",
            );
        };
        if etag != self.tables[name].policy["etag"] {
            return error(
                StatusCode::CONFLICT,
                "aborted",
                "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
            );
        }
        let policy = Value::Object(policy.clone());
        for b in policy["bindings"].as_array().into_iter().flatten() {
            let members = b["members"].as_array().map_or(0, Vec::len);
            if b["role"].as_str().is_none() || members == 0 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    &format!("Invalid binding: {b}"),
                );
            }
        }
        if has_condition(&policy) && policy["version"] != 3 {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "A policy with conditional role bindings must be version 3.",
            );
        }
        let etag = self.new_etag();
        let t = self.tables.get_mut(name).unwrap();
        t.policy = policy;
        t.policy["etag"] = json!(etag);
        t.updates += 1;
        axum::Json(t.policy.clone()).into_response()
    }

    /// `users.list`: `customer=my_customer`, `maxResults` (1–500, default 100), `pageToken`.
    fn users_page(&self, q: &HashMap<String, String>) -> Response {
        if q.get("customer").map(String::as_str) != Some("my_customer") {
            return error(StatusCode::BAD_REQUEST, "badRequest", "Bad Request");
        }
        let max: usize = q
            .get("maxResults")
            .and_then(|m| m.parse().ok())
            .unwrap_or(100)
            .clamp(1, 500);
        let start = match q.get("pageToken") {
            None => 0,
            Some(t) => match t.strip_prefix("pg~").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => return error(StatusCode::BAD_REQUEST, "invalid", "Invalid Input"),
            },
        };
        let users: Vec<Value> = self
            .users
            .iter()
            .enumerate()
            .skip(start)
            .take(max)
            .map(|(i, u)| {
                json!({ "kind": "admin#directory#user", "id": format!("10{i:06}"),
                "primaryEmail": u.email, "name": { "fullName": u.full_name } })
            })
            .collect();
        let mut page = json!({ "kind": "admin#directory#users", "users": users });
        if start + max < self.users.len() {
            page["nextPageToken"] = json!(format!("pg~{}", start + max));
        }
        axum::Json(page).into_response()
    }
}

fn has_condition(policy: &Value) -> bool {
    policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|b| b.get("condition").is_some())
}

fn not_found(project: &str, dataset: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("Not found: Dataset {project}:{dataset}"),
    )
}
