//! A stateful fake of Snowflake's SQL API v2 on 127.0.0.1: key-pair JWTs verified against the
//! registered public key, a strict grammar of the statements the connector sends, the documented
//! response shapes (ResultSet with partitions, 202 QueryStatus, 422 errors), and knobs for
//! 202/429/503 answers. Tests assert on what its account holds, not on what was sent.

pub mod contract;
mod exec;
pub mod sql;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use gatehouse::config::{SecretRef, SnowflakeSettings};
use gatehouse::connectors::snowflake::Snowflake;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::rest_fake;

pub use exec::{Account, User};

pub const KEY_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/snowflake_test_key.pem"
);
pub const OTHER_KEY_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/snowflake_other_test_key.pem"
);
pub const ACCOUNT: &str = "gatehouse-test";
pub const SERVICE_USER: &str = "GATEHOUSE_SVC";

/// A registered public key: its fingerprint and the key to check signatures with.
struct PublicKey {
    fingerprint: String,
    decoding: DecodingKey,
}

/// A result kept for status polls and partition fetches.
struct Kept {
    columns: Vec<(&'static str, &'static str)>,
    partitions: Vec<Vec<Vec<Option<String>>>>,
    /// Still "running": the next status poll answers it and clears this.
    running: bool,
}

pub struct FakeState {
    pub account: Account,
    /// Every statement that passed authentication and the knobs, as received.
    pub log: Vec<String>,
    /// `ACCOUNT.USER` → the key registered as its RSA_PUBLIC_KEY.
    keys: HashMap<String, PublicKey>,
    kept: HashMap<String, Kept>,
    pub accept_next: usize,
    pub throttle_next: usize,
    pub retry_after: Option<u64>,
    pub unavailable_next: usize,
    pub partition_size: usize,
    /// Status polls and partition fetches answered, for tests to see that they happened.
    pub polls: usize,
    pub partitions_fetched: usize,
    /// Seconds the fake's clock runs ahead of the system's (to expire tokens).
    pub clock_ahead: u64,
}

#[derive(Clone)]
pub struct SnowflakeFake {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
}

/// The SPKI fingerprint Snowflake shows as RSA_PUBLIC_KEY_FP, and the public key, of a PEM key.
fn public_of(private_pem: &str) -> PublicKey {
    let private = rsa::PrivateKey::from_pkcs8_pem(private_pem.trim()).unwrap();
    let public = private.to_public_key();
    let der = public.to_public_key_der().unwrap();
    let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
    PublicKey {
        fingerprint: format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(der.as_bytes()))
        ),
        decoding: DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    }
}

fn error(status: StatusCode, code: &str, message: &str, sql_state: &str) -> Response {
    let body = json!({ "code": code, "message": message, "sqlState": sql_state,
        "statementHandle": uuid::Uuid::new_v4().to_string() });
    (status, Json(body)).into_response()
}

/// A statement that failed: HTTP 422 with a QueryFailureStatus (`code`, `sqlState`, `message`,
/// `statementHandle`, `createdOn`, `statementStatusUrl`), as
/// docs.snowflake.com/en/developer-guide/sql-api/handling-errors and the SQL API reference
/// (docs.snowflake.com/en/developer-guide/sql-api/reference, response 422) describe it.
fn sql_error(code: &str, message: &str, sql_state: &str) -> Response {
    let handle = uuid::Uuid::new_v4().to_string();
    let body = json!({ "code": code, "message": message, "sqlState": sql_state,
        "statementHandle": handle, "createdOn": 1764320400000u64,
        "statementStatusUrl": format!("/api/v2/statements/{handle}") });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

fn unauthorized(why: &str) -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "390144",
        &format!("JWT token is invalid. [{why}]"),
        "",
    )
}

impl SnowflakeFake {
    /// A fake account whose service user has the test key registered.
    pub async fn start() -> SnowflakeFake {
        Self::start_as(&ACCOUNT.to_uppercase()).await
    }

    /// A fake account that knows itself as `account` in JWTs: key-pair authentication wants
    /// `iss` and `sub` to start with "the account identifier in uppercase", the account locator
    /// without its region or cloud, the `orgname-account_name` form with a hyphen, and no
    /// `.privatelink` (docs.snowflake.com/en/developer-guide/sql-api/authenticating, "Generate a
    /// JWT"; /en/user-guide/admin-account-identifier for the forms).
    pub async fn start_as(account: &str) -> SnowflakeFake {
        let mut keys = HashMap::new();
        let key = std::fs::read_to_string(KEY_FILE).unwrap();
        keys.insert(format!("{account}.{SERVICE_USER}"), public_of(&key));
        let state = Arc::new(Mutex::new(FakeState {
            account: Account::default(),
            log: Vec::new(),
            keys,
            kept: HashMap::new(),
            accept_next: 0,
            throttle_next: 0,
            retry_after: None,
            unavailable_next: 0,
            partition_size: 1000,
            polls: 0,
            partitions_fetched: 0,
            clock_ahead: 0,
        }));
        let app = axum::Router::new()
            .route("/api/v2/statements", post(submit))
            .route("/api/v2/statements/{handle}", get(status))
            .with_state(state.clone());
        let url = rest_fake::listen(app).await;
        SnowflakeFake { url, state }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// Connector settings for this fake, with the private key read from `key_file`.
    pub fn settings(&self, key_file: &str) -> SnowflakeSettings {
        SnowflakeSettings {
            account: ACCOUNT.into(),
            user: SERVICE_USER.to_lowercase(),
            private_key: SecretRef::File(key_file.into()),
            role: Some("USERADMIN".into()),
            warehouse: None,
            base_url: Some(self.url.clone()),
        }
    }

    /// The connector, as Gatehouse would build it, signing with the registered key.
    pub fn connector(&self) -> Snowflake {
        self.connector_with(KEY_FILE)
    }

    pub fn connector_with(&self, key_file: &str) -> Snowflake {
        let pem = std::fs::read_to_string(key_file).unwrap();
        Snowflake::new(&self.settings(key_file), &pem).unwrap()
    }

    pub fn add_user(&self, name: &str, email: Option<&str>) {
        let user = User {
            login_name: name.to_lowercase(),
            email: email.map(str::to_owned),
        };
        self.state().account.users.insert(name.to_owned(), user);
    }

    pub fn add_role(&self, name: &str) {
        self.state().account.roles.insert(name.to_owned());
    }

    /// OWNERSHIP on `role` moved to `owner` (`GRANT OWNERSHIP ON ROLE …`).
    pub fn set_owner(&self, role: &str, owner: &str) {
        let mut s = self.state();
        s.account.owners.insert(role.to_owned(), owner.to_owned());
    }

    /// `GRANT MANAGE GRANTS ON ACCOUNT TO ROLE <role>`.
    pub fn grant_manage_grants(&self, role: &str) {
        self.state().account.manage_grants.insert(role.to_owned());
    }

    pub fn grant_to_role(&self, parent: &str, child: &str) {
        let pair = (parent.to_owned(), child.to_owned());
        self.state().account.role_grants.insert(pair);
    }

    /// `DROP USER` run on the platform behind Gatehouse's back.
    pub fn drop_user(&self, name: &str) {
        self.state().account.drop_user(name);
    }

    pub fn holds(&self, user: &str, role: &str) -> bool {
        let pair = (user.to_owned(), role.to_owned());
        self.state().account.user_grants.contains(&pair)
    }

    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    pub fn executed(&self, prefix: &str) -> usize {
        self.log().iter().filter(|s| s.starts_with(prefix)).count()
    }
}

/// Checks the headers and the JWT as Snowflake does: type, RS256 signature by the key registered
/// for `sub`, `iss` = `sub` + that key's fingerprint, and expiry.
#[expect(
    clippy::result_large_err,
    reason = "a test fake; the refusal is the response"
)]
fn authenticate(state: &FakeState, headers: &HeaderMap) -> Result<(), Response> {
    if headers.get("user-agent").is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "391903",
            "User-Agent header is missing.",
            "",
        ));
    }
    let kind = headers
        .get("x-snowflake-authorization-token-type")
        .and_then(|v| v.to_str().ok());
    if kind != Some("KEYPAIR_JWT") {
        return Err(unauthorized("unsupported authorization token type"));
    }
    let token =
        rest_fake::token(headers, "Bearer ").ok_or_else(|| unauthorized("no bearer token"))?;
    // Which key to check the signature with depends on `sub`, read before the check.
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .map_err(|_| unauthorized("malformed"))?
        .claims;
    let sub = claims["sub"].as_str().unwrap_or_default();
    let key = state
        .keys
        .get(sub)
        .ok_or_else(|| unauthorized("no such user or no public key"))?;
    let mut strict = Validation::new(Algorithm::RS256);
    strict.validate_exp = false;
    strict.required_spec_claims = ["exp", "iat", "iss", "sub"].map(String::from).into();
    strict.set_issuer(&[format!("{sub}.{}", key.fingerprint)]);
    let claims = jsonwebtoken::decode::<Value>(token, &key.decoding, &strict)
        .map_err(|e| unauthorized(&format!("{:?}", e.kind())))?
        .claims;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + state.clock_ahead;
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    if exp <= now || exp > iat + 3600 {
        return Err(unauthorized("expired"));
    }
    Ok(())
}

/// The documented ResultSet for partition 0 of a kept result.
fn result_set(handle: &str, kept: &Kept) -> Value {
    let rows: usize = kept.partitions.iter().map(Vec::len).sum();
    json!({
        "resultSetMetaData": {
            "numRows": rows,
            "format": "jsonv2",
            "rowType": kept.columns.iter().map(|(name, kind)| json!({
                "name": name, "type": kind, "nullable": true, "length": null,
                "precision": null, "scale": null, "database": "", "schema": "", "table": ""
            })).collect::<Vec<_>>(),
            "partitionInfo": kept.partitions.iter().map(|p| json!({
                "rowCount": p.len(), "uncompressedSize": 64 * p.len()
            })).collect::<Vec<_>>(),
        },
        "data": kept.partitions[0],
        "code": "090001",
        "statementStatusUrl": format!("/api/v2/statements/{handle}"),
        "requestId": uuid::Uuid::new_v4().to_string(),
        "sqlState": "00000",
        "statementHandle": handle,
        "message": "Statement executed successfully.",
        "createdOn": 1764320400000u64,
    })
}

async fn submit(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut guard = state.lock().unwrap();
    let s = &mut *guard;
    if let Err(refused) = authenticate(s, &headers) {
        return refused;
    }
    if !query.contains_key("requestId") {
        return error(
            StatusCode::BAD_REQUEST,
            "391902",
            "requestId is required by this fake.",
            "",
        );
    }
    let throttled = || {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "390501",
            "Request rate exceeds max.",
            "",
        )
    };
    if let Some(fault) = rest_fake::plain_fault(rest_fake::knobs!(s), throttled) {
        return fault;
    }
    let Some(text) = body["statement"].as_str() else {
        return error(
            StatusCode::BAD_REQUEST,
            "391901",
            "statement is required.",
            "",
        );
    };
    s.log.push(text.to_owned());
    let statement = match sql::parse(text) {
        Ok(st) => st,
        Err(e) => {
            let message = format!(
                "SQL compilation error:\nsyntax error line 1 at position {} unexpected '{}'.",
                e.position, e.near
            );
            return sql_error("001003", &message, "42000");
        }
    };
    let rows = match s.account.run(&statement) {
        Ok(rows) => rows,
        Err(e) => return sql_error(e.code, &e.message, e.sql_state),
    };
    let size = s.partition_size.max(1);
    let mut partitions: Vec<_> = rows.data.chunks(size).map(<[_]>::to_vec).collect();
    if partitions.is_empty() {
        partitions.push(Vec::new());
    }
    let handle = uuid::Uuid::new_v4().to_string();
    let running = s.accept_next > 0;
    let kept = Kept {
        columns: rows.columns,
        partitions,
        running,
    };
    let answer = if running {
        s.accept_next -= 1;
        let body = json!({ "code": "333334", "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
            "statementHandle": handle, "statementStatusUrl": format!("/api/v2/statements/{handle}") });
        (StatusCode::ACCEPTED, Json(body)).into_response()
    } else {
        Json(result_set(&handle, &kept)).into_response()
    };
    s.kept.insert(handle, kept);
    answer
}

async fn status(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(handle): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(refused) = authenticate(&s, &headers) {
        return refused;
    }
    if query.contains_key("partition") {
        s.partitions_fetched += 1;
    } else {
        s.polls += 1;
    }
    let Some(kept) = s.kept.get_mut(&handle) else {
        return error(StatusCode::NOT_FOUND, "333333", "Statement not found.", "");
    };
    if kept.running {
        kept.running = false;
        if query.contains_key("partition") {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "333335",
                "Statement still running.",
                "",
            );
        }
        return Json(result_set(&handle, kept)).into_response();
    }
    match query.get("partition").map(|p| p.parse::<usize>()) {
        None => Json(result_set(&handle, kept)).into_response(),
        // Partitions after the first come gzip-compressed ("Content-Encoding: gzip"; their
        // PartitionInfo gives a `compressedSize`: docs.snowflake.com/en/developer-guide/sql-api/
        // handling-responses, "Retrieving additional partitions").
        Some(Ok(n)) if n < kept.partitions.len() => {
            let body = json!({ "data": kept.partitions[n] }).to_string();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut gz, body.as_bytes()).unwrap();
            let headers = [
                (axum::http::header::CONTENT_TYPE, "application/json"),
                (axum::http::header::CONTENT_ENCODING, "gzip"),
            ];
            (headers, gz.finish().unwrap()).into_response()
        }
        Some(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "333336",
            "Partition out of range.",
            "",
        ),
    }
}
