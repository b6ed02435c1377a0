//! A stateful fake of Google's OAuth token endpoint, the BigQuery datasets API and the Admin SDK
//! Directory users API on 127.0.0.1. The token endpoint verifies the service account's JWT
//! assertion (RS256 signature with the registered public key, `kid`, `iss`, `aud`, `exp` at most
//! an hour after `iat`, and `sub` only for the delegated Directory scope) and issues expiring
//! tokens; each API checks the bearer token and its scope. Datasets hold an `access` list and an
//! `etag` that changes on every update; PATCH needs `If-Match` with the current etag (412
//! otherwise) and replaces the whole list. Tables hold an IAM policy (`tables/{t}:getIamPolicy`,
//! `:setIamPolicy`) whose etag changes on every write; a stale etag is refused 409 ABORTED.
//! Directory users are paged with `pageToken`. Knobs: expire every token, add someone else's
//! entry just before the next PATCH (→ 412) or someone else's member just before the next
//! setIamPolicy (→ 409), answer the next calls 429 (or 403 `rateLimitExceeded`) or 503; every
//! call is logged.
//!
//! `tables.get` and `tables/{t}:testIamPermissions` (an empty set for a table that does not
//! exist, as https://cloud.google.com/bigquery/docs/reference/rest/v2/tables/testIamPermissions
//! says), and Resource Manager's `v1/projects/{p}:testIamPermissions` (scope `cloud-platform` or
//! `cloud-platform.read-only`, no permission needed to call it:
//! https://cloud.google.com/resource-manager/reference/rest/v1/projects/testIamPermissions),
//! both answering `{"permissions": [...]}` with what the service account holds (knob: `lacks`).
//!
//! Chosen here where Google documents nothing: a PATCH without `If-Match` is refused 412 too,
//! and a setIamPolicy without an etag 400 (so the connector is seen to send them); a policy
//! with a conditional binding read below version 3 is refused 400; the 5-updates-per-10-s
//! quota is not enforced.

mod routes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse::config::{BigquerySettings, Secret, SecretRef};
use gatehouse::connectors::bigquery::Bigquery;
use jsonwebtoken::DecodingKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use crate::support::rest_fake::{self, Req};

pub const CLIENT_EMAIL: &str = "gatehouse@acme-data.iam.gserviceaccount.com";
pub const KEY_ID: &str = "5f1c0a7e9d2b4c6e8a0f1e2d3c4b5a6978877665";
pub const PROJECT: &str = "acme-data";
pub const ADMIN: &str = "it-admin@example.com";
pub const KEY_PEM: &str = include_str!("../../../fixtures/snowflake_test_key.pem");
pub const OTHER_KEY_PEM: &str = include_str!("../../../fixtures/snowflake_other_test_key.pem");

/// One request as received: method, path, query and the status it was answered with.
pub use crate::support::rest_fake::Call;

#[derive(Clone, Debug)]
pub struct Dataset {
    pub access: Vec<Value>,
    pub etag: String,
    pub updates: usize,
}

/// A table's IAM policy as Google answers it (`version`, `etag`, `bindings`, and whatever else
/// was set, such as `auditConfigs`).
#[derive(Clone, Debug)]
pub struct Table {
    pub policy: Value,
    pub updates: usize,
}

#[derive(Clone, Debug)]
pub struct DirectoryUser {
    pub email: String,
    pub full_name: String,
}

/// A token issued: what it may do and until when.
#[derive(Clone, Debug)]
struct Issued {
    scopes: Vec<String>,
    sub: Option<String>,
}

pub struct FakeState {
    /// By `project.dataset`.
    pub datasets: BTreeMap<String, Dataset>,
    /// By `project.dataset.table`.
    pub tables: BTreeMap<String, Table>,
    pub users: Vec<DirectoryUser>,
    tokens: BTreeMap<String, Issued>,
    decoding: DecodingKey,
    token_url: String,
    next_etag: u64,
    /// Token exchanges granted, with the `sub` each asked for.
    pub exchanges: Vec<Option<String>>,
    /// An entry someone else adds just before the next PATCH is compared with its etag.
    pub concurrent_next: Option<Value>,
    /// A binding `(role, member)` someone else adds just before the next setIamPolicy is
    /// compared with its etag.
    pub concurrent_policy_next: Option<(String, String)>,
    /// setIamPolicy answers 403, as for a service account without the permission.
    pub deny_set_policy: bool,
    /// IAM permissions the service account lacks on the project (and so on every dataset and
    /// table in it, unless a dataset's access list makes it an OWNER): testIamPermissions leaves
    /// them out, and a dataset PATCH without `bigquery.datasets.update` is refused 403.
    pub lacks: BTreeSet<String>,
    pub throttle_next: usize,
    /// 429 by default; 403 answers with reason `rateLimitExceeded`.
    pub throttle_status: u16,
    pub retry_after: Option<u64>,
    pub unavailable_next: usize,
    pub log: Vec<Call>,
}

#[derive(Clone)]
pub struct BigqueryFake {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    dir: Arc<tempfile::TempDir>,
}

/// Google's error body.
pub(super) fn error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": status.as_u16(), "message": message,
        "errors": [{ "message": message, "domain": "global", "reason": reason }],
        "status": match status.as_u16() {
            401 => "UNAUTHENTICATED", 403 => "PERMISSION_DENIED", 404 => "NOT_FOUND",
            409 => "ABORTED",
            412 => "FAILED_PRECONDITION", 429 => "RESOURCE_EXHAUSTED", 503 => "UNAVAILABLE",
            _ => "INVALID_ARGUMENT" } } });
    (status, axum::Json(body)).into_response()
}

impl rest_fake::Answers for FakeState {
    fn answer(&mut self, r: &Req) -> Response {
        let token_call = r.method == Method::POST && r.path == ["token"];
        if token_call {
            // The token endpoint is never faulted: the knobs wait for the next API call.
            return self.exchange(&r.text());
        }
        let throttle_status = StatusCode::from_u16(self.throttle_status).unwrap();
        let knobs = rest_fake::knobs!(self);
        let fault = knobs.fault(
            || {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backendError",
                    "The service is currently unavailable.",
                )
            },
            || {
                error(
                    throttle_status,
                    "rateLimitExceeded",
                    "Exceeded rate limits: too many api requests per user per method for this user_method.",
                )
            },
        );
        if let Some(fault) = fault {
            return fault;
        }
        match rest_fake::token(&r.headers, "Bearer ")
            .and_then(|t| self.tokens.get(t))
            .cloned()
        {
            Some(issued) => self.serve(&issued, &r.method, &r.path, &r.query, &r.headers, &r.body),
            None => error(
                StatusCode::UNAUTHORIZED,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            ),
        }
    }
}

impl rest_fake::Logged for FakeState {
    fn log_mut(&mut self) -> &mut Vec<Call> {
        &mut self.log
    }
}

/// The public key of a PKCS#8 private key, for checking signatures.
fn public_of(private_pem: &str) -> DecodingKey {
    let private = rsa::PrivateKey::from_pkcs8_pem(private_pem.trim()).unwrap();
    let pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

impl BigqueryFake {
    /// No datasets, no users; the service account's public key registered.
    pub async fn start() -> BigqueryFake {
        let (listener, url) = rest_fake::bind().await;
        let state = FakeState {
            datasets: BTreeMap::new(),
            users: Vec::new(),
            tokens: BTreeMap::new(),
            decoding: public_of(KEY_PEM),
            token_url: format!("{url}/token"),
            next_etag: 0,
            exchanges: Vec::new(),
            tables: BTreeMap::new(),
            concurrent_next: None,
            concurrent_policy_next: None,
            deny_set_policy: false,
            lacks: BTreeSet::new(),
            throttle_next: 0,
            throttle_status: 429,
            retry_after: None,
            unavailable_next: 0,
            log: Vec::new(),
        };
        let state = rest_fake::serve_answers_on(listener, state);
        let dir = tempfile::tempdir().unwrap();
        let fake = BigqueryFake {
            url,
            state,
            dir: Arc::new(dir),
        };
        std::fs::write(fake.key_file(), fake.key_json(KEY_PEM)).unwrap();
        fake
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// A service account JSON key whose token_uri is this fake.
    pub fn key_json(&self, pem: &str) -> String {
        json!({ "type": "service_account", "project_id": PROJECT, "private_key_id": KEY_ID,
            "private_key": pem, "client_email": CLIENT_EMAIL, "client_id": "1029384756",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.url) })
        .to_string()
    }

    /// The key in a file, for catalogs (`key = { file = … }`).
    pub fn key_file(&self) -> String {
        self.dir.path().join("sa.json").display().to_string()
    }

    pub fn settings(&self, directory_admin: Option<&str>) -> BigquerySettings {
        BigquerySettings {
            key: SecretRef::File(self.key_file().into()),
            directory_admin: directory_admin.map(str::to_owned),
            customer: None,
            api_url: Some(self.url.clone()),
            directory_url: Some(self.url.clone()),
        }
    }

    /// The connector as Gatehouse would build it, acting as the Directory admin.
    pub fn connector(&self) -> Bigquery {
        Bigquery::new(
            &self.settings(Some(ADMIN)),
            Secret::new(self.key_json(KEY_PEM)),
        )
        .unwrap()
    }

    /// A dataset (`project.dataset`) with these entries.
    pub fn add_dataset(&self, name: &str, access: Vec<Value>) {
        let mut s = self.state();
        let etag = s.new_etag();
        s.datasets.insert(
            name.to_owned(),
            Dataset {
                access,
                etag,
                updates: 0,
            },
        );
    }

    /// A table (`project.dataset.table`) whose IAM policy has these bindings; `extra` fields
    /// (such as `auditConfigs`) are merged into the policy.
    pub fn add_table(&self, name: &str, bindings: Vec<Value>, extra: Value) {
        let mut s = self.state();
        let etag = s.new_etag();
        let version = if bindings.iter().any(|b| b.get("condition").is_some()) {
            3
        } else {
            1
        };
        let mut policy = json!({ "version": version, "etag": etag, "bindings": bindings });
        for (k, v) in extra.as_object().into_iter().flatten() {
            policy[k] = v.clone();
        }
        s.tables
            .insert(name.to_owned(), Table { policy, updates: 0 });
    }

    pub fn policy(&self, table: &str) -> Value {
        self.state().tables[table].policy.clone()
    }

    pub fn table_updates(&self, table: &str) -> usize {
        self.state().tables[table].updates
    }

    /// Whether an unconditional binding of `role` lists `user:<email>`.
    pub fn table_holds(&self, table: &str, email: &str, role: &str) -> bool {
        let member = json!(format!("user:{email}"));
        self.policy(table)["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|b| {
                b["role"] == role
                    && b.get("condition").is_none()
                    && b["members"].as_array().is_some_and(|m| m.contains(&member))
            })
    }

    pub fn add_user(&self, email: &str, full_name: &str) {
        self.state().users.push(DirectoryUser {
            email: email.into(),
            full_name: full_name.into(),
        });
    }

    pub fn access(&self, dataset: &str) -> Vec<Value> {
        self.state().datasets[dataset].access.clone()
    }

    pub fn updates(&self, dataset: &str) -> usize {
        self.state().datasets[dataset].updates
    }

    /// Whether the dataset holds `{"role": role, "userByEmail": email}`.
    pub fn holds(&self, dataset: &str, email: &str, role: &str) -> bool {
        self.access(dataset)
            .iter()
            .any(|e| e["userByEmail"] == email && e["role"] == role)
    }

    /// Every issued token stops working, as after their hour.
    pub fn expire_tokens(&self) {
        self.state().tokens.clear();
    }

    pub fn log(&self) -> Vec<Call> {
        self.state().log.clone()
    }

    /// How many `method` calls to a path ending in `suffix` were answered `status`.
    pub fn calls(&self, method: &str, suffix: &str, status: u16) -> usize {
        self.log()
            .iter()
            .filter(|c| c.method == method && c.path.ends_with(suffix) && c.status == status)
            .count()
    }
}
