//! A stateful fake of Sigma's REST API v2 on 127.0.0.1: client-credentials tokens from
//! `/v2/auth/token` (one call a second, as documented, else 429), bearer tokens checked on every
//! call, members and teams listed in `{entries, hasMore, total, nextPage}` pages, team membership
//! changed by `PATCH /v2/teams/{teamId}/members` (inactive members refused, as documented),
//! grants on documents (`GET`/`POST /v2/grants`, `DELETE /v2/grants/{grantId}`), and knobs for expired tokens, 429 and 503 answers. Tests assert on what the organisation holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse::config::{ApiSettings, Secret, SecretRef};
use gatehouse::connectors::sigma::Sigma;
use serde_json::json;

mod contract;
mod grants;
mod routes;
use grants::{delete_grant, list_grants, post_grant};
use routes::{file, member, members, patch_team, team_members, teams, whoami};

pub const CLIENT_ID: &str = "gatehouse-client";
pub const CLIENT_SECRET: &str = "sigma-test-secret-0f9e8d";

#[derive(Clone, Default)]
pub struct FakeMember {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub inactive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeGrant {
    pub inode: String,
    /// `("memberId", id)` or `("teamId", id)`.
    pub grantee: (String, String),
    pub permission: String,
}

#[derive(Default)]
pub struct FakeState {
    /// The member who owns the client credentials, and its account type: API calls "use the
    /// permissions of this user's account type" (Generate API client credentials,
    /// https://help.sigmacomputing.com/docs/generate-api-client-credentials). Answered by
    /// `GET /v2/whoami` and `GET /v2/members/{memberId}`, but kept out of `members` so that
    /// listings hold only the tests' people.
    pub owner: (String, String),
    /// Documents (inode ids) and grantId → grant.
    pub inodes: BTreeSet<String>,
    /// inode id → the URL slug Sigma lists it under, for documents that have one.
    pub slugs: BTreeMap<String, String>,
    pub grants: BTreeMap<String, FakeGrant>,
    next_grant: usize,
    /// memberId → member; teamId → name; (teamId, memberId) memberships.
    pub members: BTreeMap<String, FakeMember>,
    pub teams: BTreeMap<String, String>,
    pub memberships: BTreeSet<(String, String)>,
    /// Issued token → when it stops working.
    tokens: HashMap<String, Instant>,
    last_token_at: Option<Instant>,
    /// Calls to the token endpoint (refused ones too) and tokens issued.
    pub token_calls: usize,
    pub tokens_issued: usize,
    /// API calls refused with 401 for their token.
    pub refused: usize,
    /// Every authenticated API call as `METHOD /path?query`, before the knobs answer it.
    pub log: Vec<String>,
    pub throttle_next: usize,
    pub unavailable_next: usize,
    pub retry_after: Option<u64>,
    /// Say `retry_after` as an HTTP date (`Retry-After: Sun, 06 Dec 2026 12:02:00 GMT`), the
    /// header's other form (RFC 9110 §10.2.3), rather than as seconds.
    pub retry_after_as_date: bool,
}

pub(super) type Shared = Arc<Mutex<FakeState>>;

#[derive(Clone)]
pub struct SigmaFake {
    pub url: String,
    state: Shared,
    secrets: crate::support::rest_fake::Secrets,
}

pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "message": message, "code": code,
        "requestId": uuid::Uuid::new_v4().to_string() });
    (status, Json(body)).into_response()
}

impl SigmaFake {
    pub async fn start() -> SigmaFake {
        let routes = Router::new()
            .route("/v2/auth/token", post(token))
            .route("/v2/whoami", get(whoami))
            .route("/v2/members", get(members))
            .route("/v2/members/{member}", get(member))
            .route("/v2/files/{inode}", get(file))
            .route("/v2/teams", get(teams))
            .route(
                "/v2/teams/{team}/members",
                get(team_members).patch(patch_team),
            )
            .route("/v2/grants", get(list_grants).post(post_grant))
            .route("/v2/grants/{grant}", delete(delete_grant));
        let (url, state) = crate::support::rest_fake::serve::<FakeState>(routes).await;
        state.lock().unwrap().owner = ("m-owner".into(), "Admin".into());
        let secrets = crate::support::rest_fake::Secrets::new(&[("sigma-secret", CLIENT_SECRET)]);
        SigmaFake {
            url,
            state,
            secrets,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    pub fn settings(&self) -> ApiSettings {
        ApiSettings {
            base_url: self.url.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: SecretRef::Env("SIGMA_TEST_SECRET_UNUSED".into()),
        }
    }

    /// A file holding the client secret, for catalogs (`client_secret = { file = … }`).
    pub fn secret_file(&self) -> String {
        self.secrets.path("sigma-secret")
    }

    /// The connector, as Gatehouse builds it, with the right secret.
    pub fn connector(&self) -> Sigma {
        self.connector_with_secret(CLIENT_SECRET)
    }

    /// The connector, built with `secret` (a wrong one, say) instead of the right one.
    pub fn connector_with_secret(&self, secret: &str) -> Sigma {
        Sigma::new(&self.settings(), Secret::new(secret)).unwrap()
    }

    pub fn add_member(&self, id: &str, email: &str, first: &str, last: &str) {
        let m = FakeMember {
            email: email.into(),
            first_name: first.into(),
            last_name: last.into(),
            inactive: false,
        };
        self.state().members.insert(id.into(), m);
    }

    /// The account type of the credentials' owner (`Admin`, `Creator`, `Viewer` or a custom one).
    pub fn owner_account_type(&self, account_type: &str) {
        self.state().owner.1 = account_type.into();
    }

    pub fn add_team(&self, id: &str, name: &str) {
        self.state().teams.insert(id.into(), name.into());
    }

    pub fn put_in_team(&self, team: &str, member: &str) {
        self.state()
            .memberships
            .insert((team.into(), member.into()));
    }

    pub fn in_team(&self, team: &str, member: &str) -> bool {
        let key = (team.to_owned(), member.to_owned());
        self.state().memberships.contains(&key)
    }

    pub fn add_document(&self, inode: &str) {
        self.state().inodes.insert(inode.into());
    }

    /// A document Sigma lists under `slug` rather than its inode id.
    pub fn add_document_with_slug(&self, inode: &str, slug: &str) {
        let mut s = self.state();
        s.inodes.insert(inode.into());
        s.slugs.insert(inode.into(), slug.into());
    }

    /// A grant made outside Gatehouse, as `POST /v2/grants` makes it (raising the grantee's
    /// grant on the document, never lowering it); `grantee` is `("memberId"|"teamId", id)`.
    /// Returns the grant's id.
    pub fn put_grant(&self, inode: &str, grantee: (&str, &str), permission: &str) -> String {
        self.state().escalate(inode, grantee, permission)
    }

    /// The permissions `member` holds on `inode` by direct grants, sorted.
    pub fn member_grants(&self, inode: &str, member: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .state()
            .grants
            .values()
            .filter(|g| g.inode == inode && g.grantee == ("memberId".into(), member.into()))
            .map(|g| g.permission.clone())
            .collect();
        out.sort();
        out
    }

    /// Every token issued so far stops working now.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        self.state().tokens.values_mut().for_each(|t| *t = now);
    }

    /// A second passes for the token endpoint, which takes a call again.
    pub fn token_window_passes(&self) {
        self.state().last_token_at = None;
    }

    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// API calls whose `METHOD /path` starts with `prefix`.
    pub fn calls(&self, prefix: &str) -> usize {
        self.log().iter().filter(|c| c.starts_with(prefix)).count()
    }
}

impl FakeState {
    /// One grant per grantee and document: a new one, or the grantee's raised in place when
    /// `permission` gives more (a permission outside the ranked four replaces it). Its id.
    pub(super) fn escalate(
        &mut self,
        inode: &str,
        grantee: (&str, &str),
        permission: &str,
    ) -> String {
        let existing = self
            .grants
            .iter_mut()
            .find(|(_, g)| g.inode == inode && g.grantee == (grantee.0.into(), grantee.1.into()));
        if let Some((id, g)) = existing {
            let raise = match (grants::rank(&g.permission), grants::rank(permission)) {
                (Some(old), Some(new)) => new > old,
                _ => g.permission != permission,
            };
            if raise {
                g.permission = permission.into();
            }
            return id.clone();
        }
        self.new_grant(FakeGrant {
            inode: inode.into(),
            grantee: (grantee.0.into(), grantee.1.into()),
            permission: permission.into(),
        })
    }

    pub(super) fn new_grant(&mut self, grant: FakeGrant) -> String {
        self.next_grant += 1;
        let id = format!("g-{}", self.next_grant);
        self.grants.insert(id.clone(), grant);
        id
    }
}

/// `POST /v2/auth/token`, form-encoded client credentials; one call a second.
async fn token(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut s = state.lock().unwrap();
    s.token_calls += 1;
    let now = Instant::now();
    if s.last_token_at
        .is_some_and(|t| now < t + Duration::from_secs(1))
    {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Rate limit exceeded: the token endpoint allows one request per second",
        );
    }
    s.last_token_at = Some(now);
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Unsupported grant_type",
        );
    }
    if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid client credentials",
        );
    }
    s.tokens_issued += 1;
    let token = format!("sigma-token-{}", uuid::Uuid::new_v4());
    s.tokens
        .insert(token.clone(), now + Duration::from_secs(3600));
    Json(
        json!({ "access_token": token, "refresh_token": format!("refresh-{}", s.tokens_issued),
        "token_type": "bearer", "expires_in": 3600 }),
    )
    .into_response()
}

/// Checks the bearer token, logs the call, then lets the 503/429 knobs answer it.
#[expect(
    clippy::result_large_err,
    reason = "a test fake; the refusal is the response"
)]
pub(super) fn admit(s: &mut FakeState, headers: &HeaderMap, call: String) -> Result<(), Response> {
    let bearer = crate::support::rest_fake::token(headers, "Bearer ");
    let valid = bearer
        .and_then(|t| s.tokens.get(t))
        .is_some_and(|until| Instant::now() < *until);
    if !valid {
        s.refused += 1;
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized: the access token is missing, invalid or expired",
        ));
    }
    s.log.push(call);
    if s.unavailable_next > 0 {
        s.unavailable_next -= 1;
        return Err((StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response());
    }
    if s.throttle_next > 0 {
        s.throttle_next -= 1;
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests",
        );
        if let Some(secs) = s.retry_after {
            let value = if s.retry_after_as_date {
                let at = std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
                httpdate::fmt_http_date(at)
            } else {
                secs.to_string()
            };
            resp.headers_mut()
                .insert("retry-after", value.parse().unwrap());
        }
        return Err(resp);
    }
    Ok(())
}
