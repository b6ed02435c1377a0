//! The fake's routes: what each documented call answers, from and to its state.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{CLIENT_ID, CLIENT_SECRET};
use super::{DOCS, FakeState, Group, Role, User};
use crate::support::rest_fake::{Req, pairs};

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message, "documentation_url": DOCS });
    (status, axum::Json(body)).into_response()
}

fn invalid(field: &str, code: &str, message: &str) -> Response {
    let body = json!({ "message": "Validation Failed", "documentation_url": DOCS,
        "errors": [{ "field": field, "code": code, "message": message, "documentation_url": DOCS }] });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// SQL LIKE, case-insensitive, as Looker's search parameters match.
fn like(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|i| like(rest, &text[i..])),
        Some((p, rest)) => match text.split_first() {
            Some((t, more)) if *p == '_' || p.to_lowercase().eq(t.to_lowercase()) => {
                like(rest, more)
            }
            _ => false,
        },
    }
}

/// The rows with only the requested `fields`, `offset` skipped and at most `limit` kept.
fn page(rows: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let offset = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let fields: Option<Vec<&str>> = q.get("fields").map(|f| f.split(',').collect());
    let rows: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|r| match &fields {
            Some(f) => Value::Object(
                f.iter()
                    .filter_map(|k| Some((k.to_string(), r.get(*k)?.clone())))
                    .collect(),
            ),
            None => r,
        })
        .collect();
    axum::Json(rows).into_response()
}

/// 422 for a change to a group whose membership is managed outside Looker.
fn managed_externally() -> Response {
    invalid(
        "group",
        "externally_managed",
        "Group membership is managed externally and cannot be changed in Looker",
    )
}

impl FakeState {
    fn user_json(&self, u: &User) -> Value {
        let group_ids: Vec<&str> = self
            .members
            .iter()
            .filter(|(_, uid)| *uid == u.id)
            .map(|(g, _)| g.as_str())
            .collect();
        json!({ "id": u.id, "email": u.email, "display_name": u.display_name,
            "group_ids": group_ids, "is_disabled": false, "url": format!("/api/4.0/users/{}", u.id) })
    }

    fn group_json(&self, g: &Group) -> Value {
        let count = self.members.iter().filter(|(gid, _)| *gid == g.id).count();
        json!({ "id": g.id, "name": g.name, "externally_managed": g.externally_managed,
            "user_count": count, "include_by_default": false, "can_add_to_content_metadata": true })
    }

    /// A Role with its permission set and model set inlined, as `GET /users/{id}/roles`
    /// answers (types/Role and types/PermissionSet in the API 4.0 reference,
    /// https://cloud.google.com/looker/docs/reference/looker-api/latest/types/Role).
    fn role_json(r: &Role) -> Value {
        json!({ "id": r.id, "name": r.name, "can": {},
            "permission_set": { "id": format!("ps-{}", r.id), "name": r.name,
                "all_access": r.all_access, "built_in": r.all_access, "permissions": r.permissions },
            "model_set": { "id": "1", "name": "All", "all_access": true, "built_in": true,
                "models": [] },
            "url": format!("/api/4.0/roles/{}", r.id), "users_url": format!("/api/4.0/roles/{}/users", r.id) })
    }

    fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub(super) fn login(&mut self, body: &str) -> Response {
        let form = pairs(body);
        let id = form.get("client_id").map(String::as_str);
        let secret = form.get("client_secret").map(String::as_str);
        if id != Some(CLIENT_ID) || secret != Some(CLIENT_SECRET) {
            return error(StatusCode::NOT_FOUND, "Not found");
        }
        self.logins += 1;
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.tokens.insert(token.clone());
        axum::Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3600 }))
            .into_response()
    }

    /// An API call, `prefix` segments into the path.
    pub(super) fn serve(&mut self, r: &Req, prefix: usize) -> Response {
        let ((method, p), q, body) = (r.route(prefix), &r.q, &r.body[..]);
        match (method, p.as_slice()) {
            ("GET", ["user"]) => {
                axum::Json(json!({ "id": "1", "display_name": "Gatehouse API" })).into_response()
            }
            // User: user_roles (`GET /users/{user_id}/roles`): the user's roles, those through
            // its groups too unless `direct_association_only`; the API user is id 1.
            ("GET", ["users", "1", "roles"]) => {
                page(self.api_user_roles.iter().map(Self::role_json).collect(), q)
            }
            ("GET", ["users", uid, "roles"]) => {
                if !self.users.iter().any(|u| u.id == *uid) {
                    return error(StatusCode::NOT_FOUND, "Not found");
                }
                page(Vec::new(), q)
            }
            ("GET", ["users"]) => page(self.users.iter().map(|u| self.user_json(u)).collect(), q),
            ("GET", ["groups"]) => {
                page(self.groups.iter().map(|g| self.group_json(g)).collect(), q)
            }
            ("GET", ["groups", "search"]) => {
                let name: Vec<char> = q
                    .get("name")
                    .map(|n| n.chars().collect())
                    .unwrap_or_default();
                let rows = self
                    .groups
                    .iter()
                    .filter(|g| name.is_empty() || like(&name, &g.name.chars().collect::<Vec<_>>()))
                    .map(|g| self.group_json(g))
                    .collect();
                page(rows, q)
            }
            ("GET", ["groups", gid, "users"]) => {
                if self.group(gid).is_none() {
                    return error(StatusCode::NOT_FOUND, "Not found");
                }
                let rows = self
                    .users
                    .iter()
                    .filter(|u| self.members.contains(&(gid.to_string(), u.id.clone())))
                    .map(|u| self.user_json(u))
                    .collect();
                page(rows, q)
            }
            ("POST", ["groups", gid, "users"]) => {
                let Some(group) = self.group(gid).cloned() else {
                    return error(StatusCode::NOT_FOUND, "Not found");
                };
                let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let Some(uid) = parsed["user_id"].as_str() else {
                    return invalid("user_id", "missing", "This field is required.");
                };
                let Some(user) = self.users.iter().find(|u| u.id == uid).cloned() else {
                    return error(StatusCode::NOT_FOUND, "Not found");
                };
                if group.externally_managed {
                    return managed_externally();
                }
                self.members.insert((group.id, user.id.clone()));
                axum::Json(self.user_json(&user)).into_response()
            }
            ("DELETE", ["groups", gid, "users", uid]) => {
                let Some(group) = self.group(gid).cloned() else {
                    return error(StatusCode::NOT_FOUND, "Not found");
                };
                if group.externally_managed {
                    return managed_externally();
                }
                if self.members.remove(&(group.id, uid.to_string())) {
                    StatusCode::NO_CONTENT.into_response()
                } else {
                    error(StatusCode::NOT_FOUND, "Not found")
                }
            }
            _ => error(StatusCode::NOT_FOUND, "Not found"),
        }
    }
}
