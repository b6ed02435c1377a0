//! The fake's routes: what each documented call answers, from and to its state.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    APP_OBJECT_ID, CLIENT_ID, CLIENT_SECRET, FakeState, GRAPH_SCOPE, POWERBI_SCOPE, TENANT,
};
use crate::support::rest_fake::pairs;

const ROLES: [&str; 4] = ["Viewer", "Contributor", "Member", "Admin"];

/// Power BI's and Graph's error body.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = if message.is_empty() {
        json!({ "error": { "code": code, "pbi.error": { "code": code, "parameters": {}, "details": [] } } })
    } else {
        json!({ "error": { "code": code, "message": message } })
    };
    (status, axum::Json(body)).into_response()
}

/// Entra's error body.
fn entra_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description,
        "error_codes": [], "trace_id": "00000000-0000-0000-0000-000000000000" });
    (status, axum::Json(body)).into_response()
}

/// The value of `name eq '…'` (quotes doubled inside), the only `$filter` the fake knows.
fn name_filter(filter: &str) -> Option<String> {
    let literal = filter
        .trim()
        .strip_prefix("name eq '")?
        .strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // A lone quote would end the literal: only a doubled one is allowed.
            if chars.next() != Some('\'') {
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

fn number(q: &HashMap<String, String>, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

impl FakeState {
    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub(super) fn token(&mut self, path: &[&str], body: &[u8]) -> Response {
        let form = pairs(&String::from_utf8_lossy(body));
        let field = |k: &str| form.get(k).map(String::as_str);
        if path != [TENANT, "oauth2", "v2.0", "token"] {
            let tenant = path.first().copied().unwrap_or("");
            return entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("AADSTS90002: Tenant '{tenant}' not found."),
            );
        }
        if field("grant_type") != Some("client_credentials") {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            );
        }
        if field("client_id") != Some(CLIENT_ID) {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "AADSTS700016: Application was not found in the directory.",
            );
        }
        if field("client_secret") != Some(CLIENT_SECRET) {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            );
        }
        let scope = field("scope").unwrap_or("").to_owned();
        if scope != POWERBI_SCOPE && scope != GRAPH_SCOPE {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "AADSTS1002012: The provided value for scope is not valid.",
            );
        }
        let token = self.issue(&scope);
        axum::Json(
            json!({ "token_type": "Bearer", "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime, "access_token": token }),
        )
        .into_response()
    }

    fn workspace_json(&self, id: &str, name: &str) -> Value {
        json!({ "id": id, "name": name, "isReadOnly": false, "isOnDedicatedCapacity": false,
            "type": "Workspace" })
    }

    fn known_workspace(&self, id: &str) -> bool {
        self.workspaces.iter().any(|w| w.id == id)
    }

    /// The Power BI REST API under `/v1.0/myorg`.
    pub(super) fn powerbi(
        &mut self,
        method: &Method,
        path: &[&str],
        q: &HashMap<String, String>,
        body: &[u8],
    ) -> Response {
        let not_found = || {
            error(
                StatusCode::NOT_FOUND,
                "PowerBIEntityNotFound",
                "Couldn't find the entity",
            )
        };
        let Some(rest) = path.strip_prefix(&["v1.0", "myorg"]) else {
            return not_found();
        };
        match (method.as_str(), rest) {
            ("GET", ["groups"]) => {
                let wanted = match q.get("$filter") {
                    None => None,
                    Some(f) => match name_filter(f) {
                        Some(name) => Some(name),
                        None => {
                            return error(
                                StatusCode::BAD_REQUEST,
                                "InvalidRequest",
                                "Invalid $filter",
                            );
                        }
                    },
                };
                let rows: Vec<Value> = self
                    .workspaces
                    .iter()
                    .filter(|w| self.app_roles.contains_key(&w.id))
                    .filter(|w| wanted.as_ref().is_none_or(|n| *n == w.name))
                    .skip(number(q, "$skip", 0))
                    .take(number(q, "$top", 5000))
                    .map(|w| self.workspace_json(&w.id, &w.name))
                    .collect();
                axum::Json(
                    json!({ "@odata.context": "http://fake/v1.0/myorg/$metadata#groups",
                    "@odata.count": rows.len(), "value": rows }),
                )
                .into_response()
            }
            ("GET", ["groups", wid, "users"]) => {
                if !self.known_workspace(wid) {
                    return not_found();
                }
                // Groups - Get Group Users: a GroupUser's `identifier` is the UPN of a `User`
                // and the object id of any other principal, such as an `App`
                // (https://learn.microsoft.com/en-us/rest/api/power-bi/groups/get-group-users).
                let app = self.app_roles.get(*wid).map(|role| {
                    json!({ "identifier": APP_OBJECT_ID, "groupUserAccessRight": role,
                        "principalType": "App", "displayName": "Gatehouse" })
                });
                let rows: Vec<Value> = self
                    .members
                    .get(*wid)
                    .into_iter()
                    .flatten()
                    .map(|(upn, role)| {
                        let user = self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn));
                        json!({ "identifier": upn, "groupUserAccessRight": role,
                            "principalType": "User",
                            "emailAddress": user.and_then(|u| u.mail.clone()),
                            "displayName": user.map(|u| u.display_name.clone()) })
                    })
                    .chain(app)
                    .collect();
                axum::Json(json!({ "value": rows })).into_response()
            }
            ("POST" | "PUT", ["groups", wid, "users"]) => {
                if !self.known_workspace(wid) {
                    return not_found();
                }
                let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let (Some(who), Some(role)) = (
                    parsed["identifier"].as_str(),
                    parsed["groupUserAccessRight"].as_str(),
                ) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequest",
                        "Parameter userDetails is missing or invalid",
                    );
                };
                if !ROLES.contains(&role) || parsed["principalType"] != "User" {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequest",
                        "Parameter userDetails is missing or invalid",
                    );
                }
                let known = self.role(wid, who);
                if method == Method::POST && known.is_some() {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "AddingAlreadyExistsGroupUserNotSupportedError",
                        "",
                    );
                }
                if method == Method::PUT && known.is_none() {
                    return not_found();
                }
                if !self.users.iter().any(|u| u.upn.eq_ignore_ascii_case(who)) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequest",
                        &format!("The user {who} was not found in the tenant"),
                    );
                }
                let users = self.members.entry(wid.to_string()).or_default();
                users.retain(|(u, _)| !u.eq_ignore_ascii_case(who));
                users.push((who.to_owned(), role.to_owned()));
                StatusCode::OK.into_response()
            }
            ("DELETE", ["groups", wid, "users", who]) => {
                if !self.known_workspace(wid) || self.role(wid, who).is_none() {
                    return not_found();
                }
                if let Some(users) = self.members.get_mut(*wid) {
                    users.retain(|(u, _)| !u.eq_ignore_ascii_case(who));
                }
                StatusCode::OK.into_response()
            }
            _ => not_found(),
        }
    }

    /// Microsoft Graph's `/v1.0/users`, paged by `$top` with a `$skiptoken` in the next link.
    pub(super) fn graph(
        &mut self,
        method: &Method,
        path: &[&str],
        q: &HashMap<String, String>,
    ) -> Response {
        if method != Method::GET || path != ["v1.0", "users"] {
            return error(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                "Resource not found",
            );
        }
        let top = number(q, "$top", 100);
        if top == 0 || top > 999 {
            return error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Invalid page size specified",
            );
        }
        let skip = number(q, "$skiptoken", 0);
        let select: Option<Vec<&str>> = q.get("$select").map(|s| s.split(',').collect());
        let rows: Vec<Value> = self
            .users
            .iter()
            .skip(skip)
            .take(top)
            .map(|u| {
                let full = json!({ "id": u.id, "userPrincipalName": u.upn, "mail": u.mail,
                    "displayName": u.display_name, "jobTitle": null });
                match &select {
                    Some(f) => Value::Object(
                        f.iter()
                            .filter_map(|k| Some((k.to_string(), full.get(*k)?.clone())))
                            .collect(),
                    ),
                    None => full,
                }
            })
            .collect();
        let mut answer = json!({ "@odata.context":
            "https://graph.microsoft.com/v1.0/$metadata#users", "value": rows });
        if skip + top < self.users.len() {
            let mut next = reqwest::Url::parse(&self.graph_link_base).unwrap();
            next.set_path("/v1.0/users");
            next.query_pairs_mut()
                .append_pair("$select", q.get("$select").map_or("", String::as_str))
                .append_pair("$top", &top.to_string())
                .append_pair("$skiptoken", &(skip + top).to_string());
            answer["@odata.nextLink"] = json!(next.as_str());
        }
        axum::Json(answer).into_response()
    }
}
