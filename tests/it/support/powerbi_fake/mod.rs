//! A stateful fake of the three Microsoft services the Power BI connector talks to, each on its
//! own 127.0.0.1 port over one shared state: the Entra token endpoint
//! (`/{tenant}/oauth2/v2.0/token`, client credentials, expiring tokens per scope), the Power BI
//! REST API (workspaces with `$filter`/`$top`/`$skip`, workspace users added, changed and
//! removed) and Microsoft Graph users (`$select`, `$top`, `@odata.nextLink`). A token issued for
//! one service is refused by the other. Knobs: expire tokens, the next N API calls answered 429
//! (with Retry-After) or 503, a call log. Tests assert on what it holds.
//!
//! Documented or observed: POST for an existing workspace user answers 400
//! `AddingAlreadyExistsGroupUserNotSupportedError`; errors are `{"error": {"code", "message"}}`;
//! Entra errors `{"error", "error_description"}` with AADSTS codes. Chosen here (undocumented):
//! PUT or DELETE of a non-user answers 404 `PowerBIEntityNotFound`; POST of a UPN that Graph
//! does not know answers 400 `InvalidRequest`; an expired or foreign token answers 401. The
//! 429/503 knobs apply to Power BI and Graph calls, not to the token endpoint.

mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse::config::{PowerbiSettings, Secret, SecretRef};
use gatehouse::connectors::powerbi::PowerBi;

use crate::support::rest_fake::{self, Req};

pub const TENANT: &str = "7f1d2c3b-contoso-tenant";
pub const CLIENT_ID: &str = "5a6b7c8d-gatehouse-app";
pub const CLIENT_SECRET: &str = "pbi-test-secret-Q8~xYz";
pub const POWERBI_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The object id of the app's service principal in the tenant: the `oid` claim of its tokens
/// and its `identifier` among a workspace's users.
pub const APP_OBJECT_ID: &str = "9e8d7c6b-gatehouse-service-principal";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Entra,
    PowerBi,
    Graph,
}

#[derive(Clone, Debug)]
pub struct GraphUser {
    pub id: String,
    pub upn: String,
    pub mail: Option<String>,
    pub display_name: String,
}

#[derive(Clone, Debug)]
pub struct Workspace {
    pub id: String,
    pub name: String,
}

/// One request as received: the service, method, raw (encoded) path, query and the status.
#[derive(Clone, Debug)]
pub struct Call {
    pub service: Service,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

#[derive(Default)]
pub struct FakeState {
    pub users: Vec<GraphUser>,
    pub workspaces: Vec<Workspace>,
    /// workspace id → (identifier as added, role).
    pub members: BTreeMap<String, Vec<(String, String)>>,
    /// workspace id → the role of the app's service principal. `GET /groups` lists only the
    /// workspaces it is in ("Returns a list of workspaces the user has access to", Groups - Get
    /// Groups, https://learn.microsoft.com/en-us/rest/api/power-bi/groups/get-groups), and
    /// `GET /groups/{id}/users` lists it as a user of type `App`.
    pub app_roles: BTreeMap<String, String>,
    /// token → (scope, valid until).
    tokens: HashMap<String, (String, Instant)>,
    /// Tokens issued, by scope.
    pub issued: BTreeMap<String, usize>,
    /// How long new tokens live.
    pub token_lifetime: u64,
    /// The Graph base written into `@odata.nextLink` (another host, to test it is not followed).
    pub graph_link_base: String,
    pub throttle_next: usize,
    pub retry_after: Option<u64>,
    pub unavailable_next: usize,
    pub log: Vec<Call>,
}

type Shared = Arc<Mutex<FakeState>>;

#[derive(Clone)]
pub struct PowerBiFake {
    pub authority_url: String,
    pub api_url: String,
    pub graph_url: String,
    state: Shared,
    secrets: rest_fake::Secrets,
}

async fn handle(State((state, service)): State<(Shared, Service)>, r: Req) -> Response {
    let mut s = state.lock().unwrap();
    let answer = s.answer(service, &r);
    s.log.push(Call {
        service,
        method: r.method.to_string(),
        path: r.uri.path().to_owned(),
        query: r.query,
        status: answer.status().as_u16(),
    });
    answer
}

async fn serve(state: &Shared, service: Service) -> String {
    let app = axum::Router::new()
        .fallback(handle)
        .with_state((state.clone(), service));
    rest_fake::listen(app).await
}

impl PowerBiFake {
    /// A tenant with no users and no workspaces.
    pub async fn start() -> PowerBiFake {
        let state: Shared = Arc::new(Mutex::new(FakeState {
            token_lifetime: 3599,
            ..FakeState::default()
        }));
        let authority_url = serve(&state, Service::Entra).await;
        let api_url = serve(&state, Service::PowerBi).await;
        let graph_url = serve(&state, Service::Graph).await;
        state.lock().unwrap().graph_link_base = graph_url.clone();
        PowerBiFake {
            authority_url,
            api_url,
            graph_url,
            state,
            secrets: rest_fake::Secrets::new(&[("powerbi-secret", CLIENT_SECRET)]),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// A file holding the app's secret, for catalogs (`client_secret = { file = … }`).
    pub fn secret_file(&self) -> String {
        self.secrets.path("powerbi-secret")
    }

    pub fn settings(&self) -> PowerbiSettings {
        PowerbiSettings {
            tenant_id: TENANT.into(),
            client_id: CLIENT_ID.into(),
            client_secret: SecretRef::File(self.secret_file().into()),
            authority_url: Some(self.authority_url.clone()),
            api_url: Some(self.api_url.clone()),
            graph_url: Some(self.graph_url.clone()),
        }
    }

    /// The connector, as Gatehouse would build it.
    pub fn connector(&self) -> PowerBi {
        self.connector_with_secret(CLIENT_SECRET)
    }

    /// The connector, built with `secret` (a wrong one, say) instead of the right one.
    pub fn connector_with_secret(&self, secret: &str) -> PowerBi {
        PowerBi::new(&self.settings(), Secret::new(secret)).unwrap()
    }

    /// Adds a Graph user and returns its UPN.
    pub fn add_user(&self, upn: &str, display_name: &str, mail: Option<&str>) -> String {
        let mut s = self.state();
        let id = format!("00000000-0000-0000-0000-{:012}", s.users.len() + 1);
        s.users.push(GraphUser {
            id,
            upn: upn.to_owned(),
            mail: mail.map(str::to_owned),
            display_name: display_name.to_owned(),
        });
        upn.to_owned()
    }

    /// Adds a workspace and returns its id.
    pub fn add_workspace(&self, name: &str) -> String {
        let mut s = self.state();
        let id = format!("aaaaaaaa-0000-0000-0000-{:012}", s.workspaces.len() + 1);
        s.workspaces.push(Workspace {
            id: id.clone(),
            name: name.to_owned(),
        });
        s.app_roles.insert(id.clone(), "Admin".into());
        id
    }

    /// The app's role in workspace `id` (`None`: it is not in the workspace).
    pub fn app_role(&self, id: &str, role: Option<&str>) {
        let mut s = self.state();
        match role {
            Some(r) => s.app_roles.insert(id.to_owned(), r.to_owned()),
            None => s.app_roles.remove(id),
        };
    }

    pub fn set_role(&self, workspace: &str, upn: &str, role: &str) {
        let mut s = self.state();
        let users = s.members.entry(workspace.to_owned()).or_default();
        users.retain(|(u, _)| !u.eq_ignore_ascii_case(upn));
        users.push((upn.to_owned(), role.to_owned()));
    }

    /// The role `upn` has in workspace `id`, if any.
    pub fn role(&self, workspace: &str, upn: &str) -> Option<String> {
        self.state().role(workspace, upn)
    }

    /// Every issued token stops working, as after their hour.
    pub fn expire_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Tokens issued for `scope` so far.
    pub fn issued(&self, scope: &str) -> usize {
        self.state().issued.get(scope).copied().unwrap_or(0)
    }

    /// Issues a token directly, as the token endpoint would.
    pub fn token_for(&self, scope: &str) -> String {
        self.state().issue(scope)
    }

    pub fn log(&self) -> Vec<Call> {
        self.state().log.clone()
    }

    /// How many `method` calls to `path` (raw, encoded) were answered `status`.
    pub fn calls(&self, method: &str, path: &str, status: u16) -> usize {
        let log = self.log();
        let calls = log.iter().filter(|c| c.method == method && c.path == path);
        calls.filter(|c| c.status == status).count()
    }
}

impl FakeState {
    fn role(&self, workspace: &str, upn: &str) -> Option<String> {
        self.members
            .get(workspace)?
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(upn))
            .map(|(_, r)| r.clone())
    }

    /// An access token shaped as Entra's: a JWT whose payload carries `aud`, `appid`, `tid`
    /// and `oid`, "the object ID of the service principal" for an app's own token (Access token
    /// claims reference, https://learn.microsoft.com/en-us/entra/identity-platform/
    /// access-token-claims-reference). Not signed: the fake knows its tokens by their text.
    fn issue(&mut self, scope: &str) -> String {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let audience = scope.trim_end_matches("/.default");
        let token = format!(
            "{}.{}.{}",
            b64(serde_json::json!({ "typ": "JWT", "alg": "none" })),
            b64(
                serde_json::json!({ "aud": audience, "appid": CLIENT_ID, "tid": TENANT,
                "oid": APP_OBJECT_ID, "idtyp": "app", "uti": uuid::Uuid::new_v4().simple().to_string() })
            ),
            uuid::Uuid::new_v4().simple()
        );
        let until = Instant::now() + Duration::from_secs(self.token_lifetime);
        self.tokens.insert(token.clone(), (scope.to_owned(), until));
        *self.issued.entry(scope.to_owned()).or_default() += 1;
        token
    }

    /// Whether `headers` carry a live token for `scope`.
    fn authorized(&self, headers: &HeaderMap, scope: &str) -> bool {
        let bearer = rest_fake::token(headers, "Bearer ");
        matches!(bearer.and_then(|t| self.tokens.get(t)),
            Some((s, until)) if s == scope && Instant::now() < *until)
    }

    fn answer(&mut self, service: Service, r: &Req) -> Response {
        let (method, headers, body) = (&r.method, &r.headers, &r.body[..]);
        let p: Vec<&str> = r.path.iter().map(String::as_str).collect();
        if service == Service::Entra {
            return self.token(&p, body);
        }
        let knobs = rest_fake::knobs!(self);
        let fault = knobs.fault(
            || routes::error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", ""),
            || {
                let says = "Too many requests, retry later";
                routes::error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", says)
            },
        );
        if let Some(fault) = fault {
            return fault;
        }
        let q = &r.q;
        match service {
            Service::PowerBi if !self.authorized(headers, POWERBI_SCOPE) => routes::error(
                StatusCode::UNAUTHORIZED,
                "TokenExpired",
                "Access token has expired or is not for Power BI",
            ),
            Service::Graph if !self.authorized(headers, GRAPH_SCOPE) => routes::error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience or expired.",
            ),
            Service::PowerBi => self.powerbi(method, &p, q, body),
            _ => self.graph(method, &p, q),
        }
    }
}
