//! The fake's grants on documents: `GET /v2/grants` (filtered by `inodeId`, `userId`, `teamId`,
//! paged), `POST /v2/grants` and `DELETE /v2/grants/{grantId}`, 404 for an unknown inode or grant.
//!
//! Shaped from Sigma's API reference (https://help.sigmacomputing.com/reference/listgrants,
//! /creategrant; its OpenAPI definition `sigma-computing-rest-api-openapi.yaml`):
//! - each listed grant has `memberId` and `teamId` at its top level, one of them null, beside
//!   `grantId`, `inodeId`, `organizationId`, `permission`, `inodeType` and the timestamps;
//! - `POST /v2/grants` "create[s] a grant or update[s] an existing grant", and "can only be used
//!   to escalate the level of access": a grantee has one grant per document, raised in place,
//!   never lowered; it answers with the grant;
//! - a document may be listed under its URL slug rather than its inode UUID;
//! - `userId` lists what applies to the user, their teams' grants included.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::routes::{Caller, paged_by_50};
use super::{FakeGrant, error};

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

fn entry(s: &super::FakeState, id: &str, g: &FakeGrant) -> Value {
    let (member, team) = match g.grantee.0.as_str() {
        "memberId" => (Value::from(g.grantee.1.clone()), Value::Null),
        _ => (Value::Null, Value::from(g.grantee.1.clone())),
    };
    let inode = s.slugs.get(&g.inode).unwrap_or(&g.inode);
    json!({
        "grantId": id, "inodeId": inode, "organizationId": "org-1",
        "memberId": member, "teamId": team, "permission": g.permission, "inodeType": "workbook",
        "createdBy": "admin", "updatedBy": "admin",
        "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:00.000Z",
    })
}

/// How much a document permission gives, for "only escalate" (Can View < Can Explore < Can
/// Contribute (`organize`) < Can Manage (`edit`)); None for the others.
pub(super) fn rank(permission: &str) -> Option<usize> {
    ["view", "explore", "organize", "edit"]
        .iter()
        .position(|p| *p == permission)
}

/// `userId` matches the member's own grants and those of the teams they are in.
pub(super) async fn list_grants(c: Caller) -> Result<Response, Response> {
    let (s, q) = (c.admit()?, &c.q);
    if let Some(inode) = q.get("inodeId").filter(|i| !s.inodes.contains(*i)) {
        return Err(no_inode(inode));
    }
    let for_user = |g: &FakeGrant, user: &str| match g.grantee.0.as_str() {
        "memberId" => g.grantee.1 == user,
        _ => s
            .memberships
            .contains(&(g.grantee.1.clone(), user.to_owned())),
    };
    let all = s
        .grants
        .iter()
        .filter(|(_, g)| q.get("inodeId").is_none_or(|i| *i == g.inode))
        .filter(|(_, g)| q.get("userId").is_none_or(|u| for_user(g, u)))
        .filter(|(_, g)| {
            q.get("teamId")
                .is_none_or(|t| g.grantee.0 == "teamId" && g.grantee.1 == *t)
        })
        .map(|(id, g)| entry(&s, id, g))
        .collect();
    Ok(paged_by_50(all, c.q.clone()))
}

pub(super) async fn post_grant(c: Caller, Json(body): Json<Value>) -> Result<Response, Response> {
    let mut s = c.admit_body(&body)?;
    let grantee = match (
        body["grantee"]["memberId"].as_str(),
        body["grantee"]["teamId"].as_str(),
    ) {
        (Some(m), None) if s.members.contains_key(m) => ("memberId", m),
        (None, Some(t)) if s.teams.contains_key(t) => ("teamId", t),
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grantee must name one existing memberId or teamId",
            ));
        }
    };
    let permission = body["permission"].as_str().unwrap_or("");
    if !PERMISSIONS.contains(&permission) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("Invalid permission `{permission}`"),
        ));
    }
    let inode = body["inodeId"].as_str().unwrap_or("");
    if !s.inodes.contains(inode) {
        return Err(no_inode(inode));
    }
    let id = s.escalate(inode, (grantee.0, grantee.1), permission);
    let body = entry(&s, &id, &s.grants[&id]);
    Ok(Json(body).into_response())
}

pub(super) async fn delete_grant(
    c: Caller,
    Path(grant): Path<String>,
) -> Result<Response, Response> {
    let mut s = c.admit()?;
    if s.grants.remove(&grant).is_none() {
        return Err(error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Grant {grant} not found"),
        ));
    }
    Ok(Json(json!({})).into_response())
}
