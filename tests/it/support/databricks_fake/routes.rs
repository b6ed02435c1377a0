//! The fake's routes: what each SCIM call and the token endpoint answer, from and to its state.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{CLIENT_ID, CLIENT_SECRET, FakeState};
use crate::support::rest_fake::{Req, pairs};

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// SCIM's error body: `{"schemas": [Error], "detail", "status"}` (status as a string).
pub(super) fn scim_error(status: StatusCode, detail: &str) -> Response {
    let body =
        json!({ "schemas": [ERROR], "detail": detail, "status": status.as_u16().to_string() });
    (status, axum::Json(body)).into_response()
}

/// `attr eq "value"` → (attr, value), the value read as the JSON string it is.
fn eq_filter(filter: &str) -> Option<(String, String)> {
    let (attr, rest) = filter.trim().split_once(' ')?;
    let literal = rest.trim_start().strip_prefix("eq ")?.trim();
    let value: String = serde_json::from_str(literal).ok()?;
    Some((attr.to_owned(), value))
}

/// One page of `rows` from the 1-based `startIndex`, `count` long, after `filter`.
fn list(rows: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let rows: Vec<Value> = match q.get("filter") {
        None => rows,
        Some(f) => match eq_filter(f) {
            // SCIM compares displayName and userName ignoring case.
            Some((attr, value)) => rows
                .into_iter()
                .filter(|r| {
                    r[&attr]
                        .as_str()
                        .is_some_and(|v| v.to_lowercase() == value.to_lowercase())
                })
                .collect(),
            None => {
                return scim_error(StatusCode::BAD_REQUEST, &format!("Invalid filter: {f}"));
            }
        },
    };
    let start: usize = q
        .get("startIndex")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let count: usize = q
        .get("count")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let total = rows.len();
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start.max(1) - 1)
        .take(count)
        .collect();
    let mut body = json!({ "schemas": [LIST], "totalResults": total, "startIndex": start,
        "itemsPerPage": page.len() });
    if !page.is_empty() {
        body["Resources"] = Value::Array(page);
    }
    axum::Json(body).into_response()
}

impl FakeState {
    fn user_json(&self, i: usize) -> Value {
        let u = &self.users[i];
        let emails: Vec<Value> = u
            .emails
            .iter()
            .map(|(v, p)| json!({ "value": v, "type": "work", "primary": p }))
            .collect();
        let mut row = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": u.id, "userName": u.user_name, "emails": emails, "active": true });
        if let Some(d) = &u.display_name {
            row["displayName"] = json!(d);
        }
        row
    }

    fn member_json(&self, id: &str) -> Value {
        if let Some(u) = self.users.iter().find(|u| u.id == id) {
            let display = u.display_name.clone().unwrap_or(u.user_name.clone());
            return json!({ "value": id, "display": display, "$ref": format!("Users/{id}") });
        }
        if let Some(g) = self.groups.iter().find(|g| g.id == id) {
            return json!({ "value": id, "display": g.display_name, "$ref": format!("Groups/{id}") });
        }
        let sp = self.service_principals.iter().find(|s| s.0 == id);
        let display = sp.map(|s| s.2.clone()).unwrap_or_default();
        json!({ "value": id, "display": display, "$ref": format!("ServicePrincipals/{id}") })
    }

    fn group_json(&self, i: usize) -> Value {
        let g = &self.groups[i];
        let members: Vec<Value> = self
            .members
            .iter()
            .filter(|(gid, _)| *gid == g.id)
            .map(|(_, m)| self.member_json(m))
            .collect();
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": g.id, "displayName": g.display_name, "members": members })
    }

    fn principal_exists(&self, id: &str) -> bool {
        self.users.iter().any(|u| u.id == id)
            || self.groups.iter().any(|g| g.id == id)
            || self.service_principals.iter().any(|s| s.0 == id)
    }

    /// `POST /oidc/v1/token`: HTTP Basic client id and secret, a client-credentials form.
    pub(super) fn token(&mut self, auth: &str, body: &str) -> Response {
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        let form = pairs(body);
        if auth.strip_prefix("Basic ") != Some(expected.as_str()) {
            let body = json!({ "error": "invalid_client",
                "error_description": "Client authentication failed" });
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
        if form.get("grant_type").map(String::as_str) != Some("client_credentials")
            || form.get("scope").map(String::as_str) != Some("all-apis")
        {
            let body = json!({ "error": "invalid_request",
                "error_description": "grant_type must be client_credentials with scope all-apis" });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        self.tokens_issued += 1;
        let token = format!("eyJ.{}", uuid::Uuid::new_v4().simple());
        self.tokens.insert(token.clone());
        axum::Json(
            json!({ "access_token": token, "token_type": "Bearer", "scope": "all-apis",
            "expires_in": 3600 }),
        )
        .into_response()
    }

    /// A SCIM call, `prefix` segments into the path.
    pub(super) fn serve(&mut self, r: &Req, prefix: usize) -> Response {
        let ((method, p), q, body) = (r.route(prefix), &r.q, &r.body[..]);
        match (method, p.as_slice()) {
            // The caller as a User resource, with its `groups` ({display, value, $ref, type}) as
            // docs.databricks.com/api/workspace/currentuser/me shows them.
            ("GET", ["Me"]) => {
                let groups = if self.caller_is_admin {
                    json!([{ "display": "admins", "value": "9", "$ref": "Groups/9", "type": "direct" }])
                } else {
                    json!([])
                };
                axum::Json(json!({ "id": "1", "userName": CLIENT_ID, "groups": groups }))
                    .into_response()
            }
            ("GET", ["Users"]) => list(
                (0..self.users.len()).map(|i| self.user_json(i)).collect(),
                q,
            ),
            ("GET", ["Groups"]) => list(
                (0..self.groups.len()).map(|i| self.group_json(i)).collect(),
                q,
            ),
            ("GET", ["ServicePrincipals"]) => {
                let rows = self
                    .service_principals
                    .iter()
                    .map(|(id, app, name)| {
                        json!({ "id": id, "applicationId": app,
                        "displayName": name, "active": true })
                    })
                    .collect();
                list(rows, q)
            }
            ("GET", ["Users", uid]) => match self.users.iter().position(|u| u.id == *uid) {
                Some(i) => axum::Json(self.user_json(i)).into_response(),
                None => scim_error(
                    StatusCode::NOT_FOUND,
                    &format!("User with id {uid} not found."),
                ),
            },
            ("GET", ["ServicePrincipals", sid]) => {
                match self.service_principals.iter().find(|s| s.0 == *sid) {
                    Some((id, app, name)) => axum::Json(json!({ "id": id,
                        "applicationId": app, "displayName": name, "active": true }))
                    .into_response(),
                    None => scim_error(
                        StatusCode::NOT_FOUND,
                        &format!("ServicePrincipal with id {sid} not found."),
                    ),
                }
            }
            ("GET", ["Groups", gid]) => match self.groups.iter().position(|g| g.id == *gid) {
                Some(i) => axum::Json(self.group_json(i)).into_response(),
                None => scim_error(
                    StatusCode::NOT_FOUND,
                    &format!("Group with id {gid} not found."),
                ),
            },
            ("PATCH", ["Groups", gid]) => {
                if !self.groups.iter().any(|g| g.id == *gid) {
                    return scim_error(
                        StatusCode::NOT_FOUND,
                        &format!("Group with id {gid} not found."),
                    );
                }
                if !self.caller_is_admin {
                    return scim_error(StatusCode::FORBIDDEN, "User not authorized.");
                }
                self.patch(gid, body)
            }
            _ => scim_error(StatusCode::NOT_FOUND, "No API found"),
        }
    }

    /// A PatchOp: `add` of `value.members[].value`, `remove` of `members[value eq "<id>"]`.
    fn patch(&mut self, gid: &str, body: &[u8]) -> Response {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if parsed["schemas"][0].as_str() != Some(PATCH_OP) {
            return scim_error(StatusCode::BAD_REQUEST, "Invalid schemas in the request");
        }
        let ops = parsed["Operations"].as_array().cloned().unwrap_or_default();
        if ops.is_empty() {
            return scim_error(StatusCode::BAD_REQUEST, "No Operations in the request");
        }
        let mut changes = Vec::new();
        for op in ops {
            match op["op"].as_str().map(str::to_lowercase).as_deref() {
                Some("add") => {
                    for m in op["value"]["members"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        let Some(id) = m["value"].as_str() else {
                            return scim_error(StatusCode::BAD_REQUEST, "A member has no value");
                        };
                        if !self.principal_exists(id) {
                            return scim_error(
                                StatusCode::NOT_FOUND,
                                &format!("Principal with id {id} not found."),
                            );
                        }
                        changes.push((true, id.to_owned()));
                    }
                }
                Some("remove") => {
                    let path = op["path"].as_str().unwrap_or("");
                    let inner = path
                        .strip_prefix("members[")
                        .and_then(|r| r.strip_suffix(']'))
                        .and_then(eq_filter);
                    match inner {
                        Some((attr, id)) if attr == "value" => changes.push((false, id)),
                        _ => {
                            return scim_error(
                                StatusCode::BAD_REQUEST,
                                &format!("Unsupported path: {path}"),
                            );
                        }
                    }
                }
                _ => return scim_error(StatusCode::BAD_REQUEST, "Unsupported op"),
            }
        }
        for (add, id) in changes {
            let key = (gid.to_owned(), id);
            if add {
                self.members.insert(key);
            } else {
                self.members.remove(&key);
            }
        }
        StatusCode::NO_CONTENT.into_response()
    }
}
