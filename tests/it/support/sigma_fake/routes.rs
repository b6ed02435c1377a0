//! The fake's listing and membership routes: the documented page shape and team changes.

#![expect(
    clippy::result_large_err,
    reason = "a test fake; a refusal is the response"
)]

use std::collections::HashMap;
use std::sync::MutexGuard;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{FakeState, Shared, admit, error};
use crate::support::rest_fake;

/// A call to the API: the fake's state, the headers, the query, and the call as the log writes
/// it (`METHOD /path?sorted=query`).
pub(super) struct Caller {
    state: Shared,
    headers: HeaderMap,
    pub q: HashMap<String, String>,
    line: String,
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = axum::extract::rejection::QueryRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Caller, Self::Rejection> {
        let Query(q) = Query::try_from_uri(&parts.uri)?;
        let path = rest_fake::decode(parts.uri.path());
        Ok(Caller {
            line: call(parts.method.as_str(), &path, &q),
            state: state.clone(),
            headers: parts.headers.clone(),
            q,
        })
    }
}

impl Caller {
    /// The state, once [`admit`] lets the call through (and logs it).
    pub(super) fn admit(&self) -> Result<MutexGuard<'_, FakeState>, Response> {
        self.admit_as(self.line.clone())
    }

    /// [`Caller::admit`] for a call with a JSON body, logged after the call.
    pub(super) fn admit_body(&self, body: &Value) -> Result<MutexGuard<'_, FakeState>, Response> {
        self.admit_as(format!("{} {body}", self.line))
    }

    fn admit_as(&self, line: String) -> Result<MutexGuard<'_, FakeState>, Response> {
        let mut s = self.state.lock().unwrap();
        admit(&mut s, &self.headers, line)?;
        Ok(s)
    }
}

pub(super) fn call(method: &str, path: &str, q: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    if pairs.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{}", pairs.join("&"))
    }
}

/// [`paged`], 50 a page unless the query says otherwise (endpoints that always paginate).
pub(super) fn paged_by_50(all: Vec<Value>, mut q: HashMap<String, String>) -> Response {
    q.entry("limit".into()).or_insert_with(|| "50".into());
    paged(all, &q)
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
pub(super) async fn whoami(c: Caller) -> Result<Response, Response> {
    let s = c.admit()?;
    Ok(Json(json!({ "userId": s.owner.0, "organizationId": "org-1" })).into_response())
}

/// `GET /v2/members/{memberId}`: one member, with its account type as `memberType`.
pub(super) async fn member(c: Caller, Path(id): Path<String>) -> Result<Response, Response> {
    let s = c.admit()?;
    if id == s.owner.0 {
        let owner = super::FakeMember {
            email: "owner@example.com".into(),
            first_name: "API".into(),
            last_name: "Owner".into(),
            inactive: false,
        };
        return Ok(Json(member_json(&id, &owner, &s.owner.1)).into_response());
    }
    Ok(match s.members.get(&id) {
        Some(m) => Json(member_json(&id, m, "Creator")).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Member {id} not found"),
        ),
    })
}

/// `GET /v2/files/{inodeId}` (Get file information, https://help.sigmacomputing.com/reference/
/// filesget): `id`, `urlId` (the slug), `name`, `type`, `permission` (the caller's), `path`,
/// `isArchived` and the rest; 404 for an unknown inode.
pub(super) async fn file(c: Caller, Path(inode): Path<String>) -> Result<Response, Response> {
    let s = c.admit()?;
    if !s.inodes.contains(&inode) {
        return Err(error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Inode {inode} not found"),
        ));
    }
    let url_id = s
        .slugs
        .get(&inode)
        .cloned()
        .unwrap_or_else(|| format!("url-{inode}"));
    Ok(Json(json!({
        "id": inode, "urlId": url_id, "name": format!("Workbook {inode}"), "type": "workbook",
        "parentId": "folder-1", "parentUrlId": "url-folder-1", "permission": "edit",
        "path": "Shared/Finance", "badge": null, "isArchived": false, "ownerId": "m-owner",
        "createdBy": "m-owner", "updatedBy": "m-owner",
        "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:00.000Z",
    }))
    .into_response())
}

pub(super) async fn members(c: Caller) -> Result<Response, Response> {
    let (s, q) = (c.admit()?, &c.q);
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
    Ok(paged(all, q))
}

pub(super) async fn teams(c: Caller) -> Result<Response, Response> {
    let s = c.admit()?;
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
    Ok(paged(all, &c.q))
}

pub(super) async fn team_members(
    c: Caller,
    Path(team): Path<String>,
) -> Result<Response, Response> {
    let s = c.admit()?;
    known_team(&s, &team)?;
    let all = s
        .memberships
        .iter()
        .filter(|(t, _)| *t == team)
        .map(|(_, m)| json!({ "userId": m, "isTeamAdmin": false, "addedBy": "admin" }))
        .collect();
    // This endpoint is always paginated.
    Ok(paged_by_50(all, c.q.clone()))
}

/// 404 for a team that does not exist.
fn known_team(s: &FakeState, team: &str) -> Result<(), Response> {
    if s.teams.contains_key(team) {
        return Ok(());
    }
    Err(error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("Team {team} not found"),
    ))
}

pub(super) async fn patch_team(
    c: Caller,
    Path(team): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, Response> {
    let mut s = c.admit_body(&body)?;
    known_team(&s, &team)?;
    let ids = |key: &str| -> Option<Vec<String>> {
        match &body[key] {
            Value::Null => Some(Vec::new()),
            Value::Array(a) => a.iter().map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => None,
        }
    };
    let (Some(add), Some(remove)) = (ids("add"), ids("remove")) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "add and remove must be arrays of memberIds",
        ));
    };
    // All or nothing: every member is checked before anything changes.
    for id in add.iter().chain(&remove) {
        match s.members.get(id) {
            None => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("Member {id} not found"),
                ));
            }
            Some(m) if m.inactive => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!(
                        "Member {id} is inactive: inactive members cannot be added or removed from a team"
                    ),
                ));
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
    Ok(Json(json!({})).into_response())
}
