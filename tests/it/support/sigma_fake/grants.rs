//! The fake's grants on documents: `GET /v2/grants` (filtered by `inodeId`, `userId`, `teamId`,
//! paged), `POST /v2/grants` and `DELETE /v2/grants/{grantId}`, 404 for an unknown inode or grant.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::routes::{call, paged};
use super::{FakeGrant, Shared, admit, error};

/// Sigma's document permissions (connections have others, not modelled here).
const PERMISSIONS: &[&str] = &[
    "view", "explore", "organize", "edit", "create", "annotate", "apply",
];

fn no_inode(inode: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("Inode {inode} not found"),
    )
}

fn entry(id: &str, g: &FakeGrant) -> Value {
    json!({
        "grantId": id, "inodeId": g.inode, "grantee": { g.grantee.0.clone(): g.grantee.1 },
        "permission": g.permission, "createdBy": "admin", "updatedBy": "admin",
        "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:00.000Z",
    })
}

/// `userId` matches grants made to that member only: team grants are asked for by `teamId`.
pub(super) async fn list_grants(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, call("GET", "/v2/grants", &q)) {
        return r;
    }
    if let Some(inode) = q.get("inodeId").filter(|i| !s.inodes.contains(*i)) {
        return no_inode(inode);
    }
    let wants = |key: &str, g: &FakeGrant, value: &str| {
        q.get(key)
            .is_none_or(|v| g.grantee.0 == value && g.grantee.1 == *v)
    };
    let all = s
        .grants
        .iter()
        .filter(|(_, g)| q.get("inodeId").is_none_or(|i| *i == g.inode))
        .filter(|(_, g)| wants("userId", g, "memberId") && wants("teamId", g, "teamId"))
        .map(|(id, g)| entry(id, g))
        .collect();
    let mut q = q;
    q.entry("limit".into()).or_insert_with(|| "50".into());
    paged(all, &q)
}

pub(super) async fn post_grant(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, format!("POST /v2/grants {body}")) {
        return r;
    }
    let grantee = match (
        body["grantee"]["memberId"].as_str(),
        body["grantee"]["teamId"].as_str(),
    ) {
        (Some(m), None) if s.members.contains_key(m) => ("memberId", m),
        (None, Some(t)) if s.teams.contains_key(t) => ("teamId", t),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grantee must name one existing memberId or teamId",
            );
        }
    };
    let permission = body["permission"].as_str().unwrap_or("");
    if !PERMISSIONS.contains(&permission) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("Invalid permission `{permission}`"),
        );
    }
    let inode = body["inodeId"].as_str().unwrap_or("");
    if !s.inodes.contains(inode) {
        return no_inode(inode);
    }
    let grant = FakeGrant {
        inode: inode.into(),
        grantee: (grantee.0.into(), grantee.1.into()),
        permission: permission.into(),
    };
    // The same grant again changes nothing.
    if !s.grants.values().any(|g| *g == grant) {
        s.new_grant(grant);
    }
    Json(json!({})).into_response()
}

pub(super) async fn delete_grant(
    State(state): State<Shared>,
    Path(grant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, format!("DELETE /v2/grants/{grant}")) {
        return r;
    }
    if s.grants.remove(&grant).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Grant {grant} not found"),
        );
    }
    Json(json!({})).into_response()
}
