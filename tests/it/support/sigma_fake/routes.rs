//! The fake's listing and membership routes: the documented page shape and team changes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Shared, admit, error};

pub(super) fn call(method: &str, path: &str, q: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    if pairs.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{}", pairs.join("&"))
    }
}

/// One page of `all` as Sigma answers it: `limit` entries from the opaque `page`; without
/// `limit`, the whole list as a bare array (the unpaginated answer, until 2026-06-02).
pub(super) fn paged(all: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let Some(limit) = q.get("limit") else {
        return Json(Value::Array(all)).into_response();
    };
    let limit = match limit.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "limit must be between 1 and 1000",
            );
        }
    };
    let from = match q
        .get("page")
        .map(|p| p.strip_prefix("pg_").and_then(|n| n.parse::<usize>().ok()))
    {
        None => 0,
        Some(Some(n)) if n <= all.len() => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid page token",
            );
        }
    };
    let to = (from + limit).min(all.len());
    let more = to < all.len();
    Json(
        json!({ "entries": all[from..to], "hasMore": more, "total": all.len(),
        "nextPage": more.then(|| format!("pg_{to}")) }),
    )
    .into_response()
}

/// Members' JSON as `GET /v2/members` lists them.
fn member_json(id: &str, m: &super::FakeMember, member_type: &str) -> Value {
    json!({
        "organizationId": "org-1", "memberId": id, "memberType": member_type,
        "firstName": m.first_name, "lastName": m.last_name, "email": m.email,
        "profileImgUrl": null, "createdBy": "admin", "updatedBy": "admin",
        "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:00.000Z",
        "homeFolderId": format!("home-{id}"), "userKind": "internal",
        "isArchived": false, "isInactive": m.inactive,
    })
}

/// `GET /v2/whoami`: `{userId, organizationId}` of the credentials' owner (Whoami in Sigma's
/// API reference, https://help.sigmacomputing.com/reference/whoami).
pub(super) async fn whoami(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, "GET /v2/whoami".into()) {
        return r;
    }
    Json(json!({ "userId": s.owner.0, "organizationId": "org-1" })).into_response()
}

/// `GET /v2/members/{memberId}`: one member, with its account type as `memberType`.
pub(super) async fn member(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, format!("GET /v2/members/{id}")) {
        return r;
    }
    if id == s.owner.0 {
        let owner = super::FakeMember {
            email: "owner@example.com".into(),
            first_name: "API".into(),
            last_name: "Owner".into(),
            inactive: false,
        };
        return Json(member_json(&id, &owner, &s.owner.1)).into_response();
    }
    match s.members.get(&id) {
        Some(m) => Json(member_json(&id, m, "Creator")).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Member {id} not found"),
        ),
    }
}

/// `GET /v2/files/{inodeId}` (Get file information, https://help.sigmacomputing.com/reference/
/// filesget): `id`, `urlId` (the slug), `name`, `type`, `permission` (the caller's), `path`,
/// `isArchived` and the rest; 404 for an unknown inode.
pub(super) async fn file(
    State(state): State<Shared>,
    Path(inode): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, format!("GET /v2/files/{inode}")) {
        return r;
    }
    if !s.inodes.contains(&inode) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Inode {inode} not found"),
        );
    }
    let url_id = s
        .slugs
        .get(&inode)
        .cloned()
        .unwrap_or_else(|| format!("url-{inode}"));
    Json(json!({
        "id": inode, "urlId": url_id, "name": format!("Workbook {inode}"), "type": "workbook",
        "parentId": "folder-1", "parentUrlId": "url-folder-1", "permission": "edit",
        "path": "Shared/Finance", "badge": null, "isArchived": false, "ownerId": "m-owner",
        "createdBy": "m-owner", "updatedBy": "m-owner",
        "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:00.000Z",
    }))
    .into_response()
}

pub(super) async fn members(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, call("GET", "/v2/members", &q)) {
        return r;
    }
    // Inactive members are listed with their flag: the connector must leave them out itself.
    let all = s
        .members
        .iter()
        .filter(|(_, m)| {
            q.get("email")
                .is_none_or(|e| e.eq_ignore_ascii_case(&m.email))
        })
        .map(|(id, m)| member_json(id, m, "Creator"))
        .collect();
    paged(all, &q)
}

pub(super) async fn teams(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(&mut s, &headers, call("GET", "/v2/teams", &q)) {
        return r;
    }
    let all = s
        .teams
        .iter()
        .map(|(id, name)| {
            json!({
                "teamId": id, "name": name, "description": null, "visibility": "private",
                "createdBy": "admin", "updatedBy": "admin", "isArchived": false,
                "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:00.000Z",
            })
        })
        .collect();
    paged(all, &q)
}

pub(super) async fn team_members(
    State(state): State<Shared>,
    Path(team): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(
        &mut s,
        &headers,
        call("GET", &format!("/v2/teams/{team}/members"), &q),
    ) {
        return r;
    }
    if !s.teams.contains_key(&team) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Team {team} not found"),
        );
    }
    let all = s
        .memberships
        .iter()
        .filter(|(t, _)| *t == team)
        .map(|(_, m)| json!({ "userId": m, "isTeamAdmin": false, "addedBy": "admin" }))
        .collect();
    // This endpoint is always paginated.
    let mut q = q;
    q.entry("limit".into()).or_insert_with(|| "50".into());
    paged(all, &q)
}

pub(super) async fn patch_team(
    State(state): State<Shared>,
    Path(team): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = admit(
        &mut s,
        &headers,
        format!("PATCH /v2/teams/{team}/members {body}"),
    ) {
        return r;
    }
    if !s.teams.contains_key(&team) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Team {team} not found"),
        );
    }
    let ids = |key: &str| -> Option<Vec<String>> {
        match &body[key] {
            Value::Null => Some(Vec::new()),
            Value::Array(a) => a.iter().map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => None,
        }
    };
    let (Some(add), Some(remove)) = (ids("add"), ids("remove")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "add and remove must be arrays of memberIds",
        );
    };
    // All or nothing: every member is checked before anything changes.
    for id in add.iter().chain(&remove) {
        match s.members.get(id) {
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("Member {id} not found"),
                );
            }
            Some(m) if m.inactive => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!(
                        "Member {id} is inactive: inactive members cannot be added or removed from a team"
                    ),
                );
            }
            Some(_) => {}
        }
    }
    for id in add {
        s.memberships.insert((team.clone(), id));
    }
    for id in remove {
        s.memberships.remove(&(team.clone(), id));
    }
    Json(json!({})).into_response()
}
