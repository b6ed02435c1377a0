//! The fake's endpoints, with Tableau's JSON shapes: `{"credentials":…}`, `{"pagination":…,
//! "users":{"user":[…]}}`, `{"error":{"summary","detail","code"}}`, and numbers as strings.
//! In XML mode `gate` rewrites each JSON answer into the XML Tableau sends for it (`xml`).

#![expect(
    clippy::result_large_err,
    reason = "a test fake; a refusal is the response"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::{FakeState, Session, new_id};
use crate::support::rest_fake;

type Shared = Arc<Mutex<FakeState>>;
type Q = Query<HashMap<String, String>>;

pub(super) fn router(state: Shared) -> axum::Router {
    axum::Router::new()
        .route("/api/{ver}/auth/signin", post(sign_in))
        .route("/api/{ver}/sites/{site}/users", get(users))
        .route("/api/{ver}/sites/{site}/users/{uid}", get(user))
        .route("/api/{ver}/sites/{site}/users/{uid}/groups", get(groups_of))
        .route("/api/{ver}/sites/{site}/groups", get(groups))
        .route("/api/{ver}/sites/{site}/groups/{gid}/users", post(add))
        .route(
            "/api/{ver}/sites/{site}/groups/{gid}/users/{uid}",
            delete(remove),
        )
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

pub(super) fn error(status: StatusCode, code: &str, summary: &str, detail: &str) -> Response {
    let body = json!({ "error": { "summary": summary, "detail": detail, "code": code } });
    (status, Json(body)).into_response()
}

/// Logs every call; answers 503 or 429 first when told to; insists on JSON being accepted;
/// renders the answer in XML when told to.
async fn gate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let line = format!(
        "{} {}",
        req.method(),
        req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("")
    );
    let early = {
        let mut guard = state.lock().unwrap();
        let s = &mut *guard;
        let json = req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        let throttled = || {
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "429000",
                "Too Many Requests",
                "Too many requests. Retry after 1 minutes.",
            )
        };
        let fault = rest_fake::plain_fault(rest_fake::knobs!(s), throttled);
        if fault.is_some() {
            fault
        } else if !json {
            Some(error(
                StatusCode::NOT_ACCEPTABLE,
                "406000",
                "Not Acceptable",
                "This fake answers JSON only: send Accept: application/json",
            ))
        } else {
            None
        }
    };
    let resp = match early {
        Some(r) => r,
        None => next.run(req).await,
    };
    let xml = {
        let mut s = state.lock().unwrap();
        s.log.push(format!("{line} -> {}", resp.status().as_u16()));
        s.xml
    };
    let is_json = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(xml && is_json) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    parts.headers.insert(
        "content-type",
        "application/xml;charset=utf-8".parse().unwrap(),
    );
    parts.headers.remove("content-length");
    Response::from_parts(parts, axum::body::Body::from(xml::ts_response(&value)))
}

/// Tableau's XML for the JSON answer the fake made: the same tree, as in
/// tableau/server-client-python's test assets (auth_sign_in.xml, user_get.xml, group_get.xml,
/// group_add_user.xml): strings are attributes, objects are child elements, a list is its
/// element repeated, and only the error's summary and detail are text elements.
mod xml {
    use quick_xml::escape::{escape, partial_escape};
    use serde_json::Value;

    pub(super) fn ts_response(answer: &Value) -> String {
        let mut out = String::from(
            "<?xml version='1.0' encoding='UTF-8'?>\n<tsResponse xmlns=\"http://tableau.com/api\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"http://tableau.com/api http://tableau.com/api/ts-api-3.24.xsd\">",
        );
        children(&mut out, answer);
        out.push_str("</tsResponse>");
        out
    }

    fn children(out: &mut String, v: &Value) {
        let Value::Object(map) = v else { return };
        for (key, v) in map {
            match v {
                Value::Object(_) => element(out, key, v),
                Value::Array(items) => items.iter().for_each(|i| element(out, key, i)),
                _ => {}
            }
        }
        // Tableau's order (the map's own is alphabetical).
        for key in ["summary", "detail"] {
            if let Some(Value::String(text)) = map.get(key) {
                out.push_str(&format!("<{key}>{}</{key}>", partial_escape(text.as_str())));
            }
        }
    }

    fn is_text(key: &str) -> bool {
        matches!(key, "summary" | "detail")
    }

    fn element(out: &mut String, name: &str, v: &Value) {
        out.push_str(&format!("<{name}"));
        let Value::Object(map) = v else {
            out.push_str("/>");
            return;
        };
        for (key, v) in map {
            let text = match v {
                Value::String(s) if !is_text(key) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            out.push_str(&format!(" {key}=\"{}\"", escape(text.as_str())));
        }
        let mut inner = String::new();
        children(&mut inner, v);
        if inner.is_empty() {
            out.push_str("/>");
        } else {
            out.push_str(&format!(">{inner}</{name}>"));
        }
    }
}

/// The session's token must be valid and for this site.
/// A call on a site: the fake's state, the call's headers and the site its path names.
struct OnSite {
    state: Shared,
    headers: HeaderMap,
    site: String,
}

impl FromRequestParts<Shared> for OnSite {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<OnSite, Self::Rejection> {
        // `/api/{ver}/sites/{site}/…`
        let site = rest_fake::segments(&parts.uri, rest_fake::decode).swap_remove(3);
        Ok(OnSite {
            state: state.clone(),
            headers: parts.headers.clone(),
            site,
        })
    }
}

impl OnSite {
    /// The state, once the session is seen to be signed in to the site.
    fn authenticate(&self) -> Result<MutexGuard<'_, FakeState>, Response> {
        let s = self.state.lock().unwrap();
        authenticate(&s, &self.headers, &self.site)?;
        Ok(s)
    }
}

/// 404002, the answer for a user the site does not have.
fn no_user(uid: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "404002",
        "Resource Not Found",
        &format!("User '{uid}' could not be found."),
    )
}

fn authenticate(s: &FakeState, headers: &HeaderMap, site: &str) -> Result<(), Response> {
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "401002",
            "Unauthorized Access",
            "Invalid authentication credentials were provided.",
        )
    };
    let token = headers
        .get("x-tableau-auth")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let session = s.sessions.get(token).ok_or_else(unauthorized)?;
    if session.expires <= Instant::now() {
        return Err(unauthorized());
    }
    if site != s.site_id {
        return Err(error(
            StatusCode::FORBIDDEN,
            "403000",
            "Forbidden",
            "The session is not signed in to this site.",
        ));
    }
    Ok(())
}

/// Sign In with a personal access token: `credentials` holds the session's token, the site
/// and the user the token belongs to (`<credentials token><site id contentUrl/><user id/>`,
/// Authentication Methods, help.tableau.com/current/api/rest_api/en-us/REST/
/// rest_api_ref_authentication.htm, "Sign In").
async fn sign_in(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = state.lock().unwrap();
    let c = &body["credentials"];
    let name = c["personalAccessTokenName"].as_str().unwrap_or("");
    let secret = c["personalAccessTokenSecret"].as_str().unwrap_or("");
    let site = c["site"]["contentUrl"].as_str();
    let known = s.tokens.get(name).is_some_and(|s| s == secret);
    if !known || site != Some(s.content_url.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "401001",
            "Signin Error",
            "Error signing in to Tableau Server",
        );
    }
    s.sign_ins += 1;
    // A personal access token holds one session: signing in again ends the earlier one.
    s.sessions.retain(|_, session| session.token_name != name);
    let token = format!("{}|{}", new_id().replace('-', ""), new_id());
    let expires = Instant::now() + s.session_life;
    s.sessions.insert(
        token.clone(),
        Session {
            token_name: name.to_owned(),
            expires,
        },
    );
    Json(json!({ "credentials": {
        "site": { "id": s.site_id, "contentUrl": s.content_url },
        "user": { "id": s.token_user.id },
        "token": token,
    }}))
    .into_response()
}

/// One page of `items` per `pageSize` (default 100, 1 to 1000) and `pageNumber` (from 1).
fn page(q: &HashMap<String, String>, outer: &str, inner: &str, items: Vec<Value>) -> Response {
    let size = q.get("pageSize").map_or(Ok(100), |v| v.parse::<usize>());
    let number = q.get("pageNumber").map_or(Ok(1), |v| v.parse::<usize>());
    let (Ok(size @ 1..=1000), Ok(number @ 1..)) = (size, number) else {
        return error(
            StatusCode::BAD_REQUEST,
            "400006",
            "Bad Request",
            "The page size or page number is not valid.",
        );
    };
    let total = items.len();
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((number - 1) * size)
        .take(size)
        .collect();
    let list = if chunk.is_empty() {
        json!({})
    } else {
        json!({ inner: chunk })
    };
    Json(json!({
        "pagination": { "pageNumber": number.to_string(), "pageSize": size.to_string(),
                        "totalAvailable": total.to_string() },
        outer: list,
    }))
    .into_response()
}

async fn users(on: OnSite, Query(q): Q) -> Result<Response, Response> {
    let s = on.authenticate()?;
    let fields = q.get("fields").map(String::as_str).unwrap_or("");
    let with_email = fields.split(',').any(|f| f == "email" || f == "_all_");
    let items = s
        .users
        .iter()
        .map(|u| {
            let mut v = json!({ "id": u.id, "name": u.name, "siteRole": u.site_role,
                "externalAuthUserId": "", "lastLogin": "2026-11-01T09:00:00Z" });
            if let (true, Some(e)) = (with_email, &u.email) {
                v["email"] = json!(e);
            }
            v
        })
        .collect();
    Ok(page(&q, "users", "user", items))
}

fn group_json(g: &super::Group) -> Value {
    json!({ "id": g.id, "name": g.name, "domain": { "name": "local" } })
}

async fn groups(on: OnSite, Query(q): Q) -> Result<Response, Response> {
    let s = on.authenticate()?;
    // `filter=name:eq:<value>`: the only filter the connector sends (names compare without case).
    // "Filter expressions can't contain ampersand (&) or comma (,) characters because these
    // characters are used as field expression separators", encoded or not
    // (https://help.tableau.com/current/api/rest_api/en-us/REST/rest_api_concepts_filtering_and_sorting.htm).
    let wanted = match q.get("filter") {
        None => None,
        Some(f) => match f.strip_prefix("name:eq:") {
            Some(v) if !v.contains([',', '&']) => Some(v.to_lowercase()),
            Some(_) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "400065",
                    "Bad Request",
                    &format!(
                        "The filter expression '{f}' is invalid: filter expressions can't contain ampersand (&) or comma (,) characters."
                    ),
                ));
            }
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "400065",
                    "Bad Request",
                    &format!("The filter expression '{f}' is not supported by this fake."),
                ));
            }
        },
    };
    let items = s
        .groups
        .iter()
        .filter(|g| wanted.as_ref().is_none_or(|w| g.name.to_lowercase() == *w))
        .map(group_json)
        .collect();
    Ok(page(&q, "groups", "group", items))
}

/// Query User on Site (`GET users/{id}`): the user with its `siteRole`, or 404 with code 404002, "User not found:
/// the user ID in the URI doesn't correspond to an existing user", as the reference's error
/// table for this method says (Users and Groups Methods, help.tableau.com/current/api/
/// rest_api/en-us/REST/rest_api_ref_users_and_groups.htm, "Query User on Site"; read here as
/// generated from that reference in github.com/iamdavehart/tabbycat, src/api-errors.js,
/// `queryUserOnSite`).
async fn user(
    on: OnSite,
    Path((_ver, _site, uid)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let s = on.authenticate()?;
    let token_user = Some(&s.token_user).filter(|u| u.id == uid);
    let u = s.users.iter().find(|u| u.id == uid).or(token_user);
    let u = u.ok_or_else(|| no_user(&uid))?;
    Ok(Json(
        json!({ "user": { "id": u.id, "name": u.name, "siteRole": u.site_role,
        "externalAuthUserId": "", "lastLogin": "2026-11-01T09:00:00Z" } }),
    )
    .into_response())
}

/// Get Groups for a User: 404 for a user the site does not have. The reference's error table
/// for this method names the case "User not found" but gives it the code 404012 (which other
/// methods use for a missing group) and words it as a group ID, so the code is not to be relied
/// on; this fake answers 404002, as Query User on Site does.
async fn groups_of(
    on: OnSite,
    Path((_ver, _site, uid)): Path<(String, String, String)>,
    Query(q): Q,
) -> Result<Response, Response> {
    let s = on.authenticate()?;
    if !s.users.iter().any(|u| u.id == uid) {
        return Err(no_user(&uid));
    }
    let items = s
        .groups
        .iter()
        .filter(|g| s.members.contains(&(g.id.clone(), uid.clone())))
        .map(group_json)
        .collect();
    Ok(page(&q, "groups", "group", items))
}

/// 404011 for an unknown group, 404002 for an unknown user.
fn both_exist(s: &FakeState, gid: &str, uid: &str) -> Result<(), Response> {
    if !s.groups.iter().any(|g| g.id == gid) {
        return Err(error(
            StatusCode::NOT_FOUND,
            "404011",
            "Resource Not Found",
            &format!("Group '{gid}' could not be found."),
        ));
    }
    if !s.users.iter().any(|u| u.id == uid) {
        return Err(no_user(uid));
    }
    Ok(())
}

async fn add(
    on: OnSite,
    Path((_ver, _site, gid)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, Response> {
    let mut s = on.authenticate()?;
    let Some(uid) = body["user"]["id"].as_str().map(str::to_owned) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "400000",
            "Bad Request",
            "The request body has no user.id.",
        ));
    };
    both_exist(&s, &gid, &uid)?;
    if !s.members.insert((gid.clone(), uid.clone())) {
        return Err(error(
            StatusCode::CONFLICT,
            "409011",
            "Resource Conflict",
            &format!("User '{uid}' is already a member of group '{gid}'."),
        ));
    }
    let u = s.users.iter().find(|u| u.id == uid).unwrap();
    let user = json!({ "user": { "id": u.id, "name": u.name, "siteRole": u.site_role } });
    Ok(Json(user).into_response())
}

async fn remove(
    on: OnSite,
    Path((_ver, _site, gid, uid)): Path<(String, String, String, String)>,
) -> Result<Response, Response> {
    let mut s = on.authenticate()?;
    both_exist(&s, &gid, &uid)?;
    if !s.members.remove(&(gid.clone(), uid.clone())) {
        return Err(error(
            StatusCode::NOT_FOUND,
            "404002",
            "Resource Not Found",
            &format!("User '{uid}' is not a member of group '{gid}'."),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
