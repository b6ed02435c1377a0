//! The SQL API v2 client: one statement per request (`POST /api/v2/statements`), 202 answers
//! polled to the end, every partition fetched, and HTTP statuses classed into
//! `ConnectorError`s. It knows nothing of roles or users.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use serde_json::{Value, json};

use super::super::ConnectorError;
use super::super::http;
use super::jwt::Tokens;
use super::parse::{FirstPartition, LaterPartition, ResultSet};

/// How long a statement may run before Snowflake cancels it (the body's `timeout`).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one HTTP exchange may take. Snowflake answers 202 after 45 s of running.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a 202 is polled before giving up (the statement keeps running on Snowflake).
const POLL_FOR: Duration = Duration::from_secs(90);

pub(super) struct Api {
    http: reqwest::Client,
    base: Url,
    tokens: Tokens,
    role: Option<String>,
    warehouse: Option<String>,
}

/// A statement Snowflake refused to run: HTTP 422 with a QueryFailureStatus, `{"code":
/// "002003", "sqlState": "02000", "message": "…", "statementHandle": "…", …}`
/// (docs.snowflake.com/en/developer-guide/sql-api/handling-errors). Kept apart from the other
/// failures so that the caller can tell one error code from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SqlError {
    pub(super) code: Option<String>,
    /// The platform's words, with the code: what a `ConnectorError` carries.
    pub(super) said: String,
}

impl SqlError {
    /// 002003: "Object 'X' does not exist or not authorized" (`User 'X'`, `Role 'X'`, …).
    /// Snowflake answers the same for an object that is missing and for one the active role
    /// may not see.
    pub(super) fn is_missing_or_hidden(&self) -> bool {
        self.code.as_deref() == Some("002003")
    }
}

impl From<SqlError> for ConnectorError {
    fn from(e: SqlError) -> Self {
        ConnectorError::Permanent(e.said)
    }
}

/// Snowflake's error body: `{"code": "002003", "message": "…", "sqlState": "02000", …}`.
fn platform_message(body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or("").trim();
    match body["code"].as_str() {
        Some(code) if !message.is_empty() => format!("{message} (Snowflake error {code})"),
        _ if !message.is_empty() => message.to_owned(),
        // Not Snowflake's JSON (a proxy's page): its start, to tell what answered.
        _ => http::quoted(body),
    }
}

fn unreachable_error(e: &reqwest::Error) -> ConnectorError {
    // The URL in reqwest's message holds only the request id: nothing secret.
    let what = http::no_answer(e);
    ConnectorError::Retryable(format!("cannot reach Snowflake ({what}): {e}"))
}

fn http_client() -> Result<reqwest::Client, String> {
    http::client(REQUEST_TIMEOUT)
}

impl Api {
    pub(super) fn new(
        base_url: &str,
        tokens: Tokens,
        role: Option<String>,
        warehouse: Option<String>,
    ) -> Result<Self, String> {
        let base = http::base_url(base_url.trim_end_matches('/'), "Snowflake URL", base_url)?;
        Ok(Api {
            http: http_client()?,
            base,
            tokens,
            role,
            warehouse,
        })
    }

    /// The role statements run as, when the connector names one.
    pub(super) fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    fn url(&self, handle: Option<&str>) -> Url {
        let path = ["api", "v2", "statements"].into_iter().chain(handle);
        http::join(&self.base, path)
    }

    /// One HTTP exchange, authenticated; the answer's status, headers and JSON body.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, header::HeaderMap, Value), ConnectorError> {
        let token = self.tokens.bearer().map_err(ConnectorError::Permanent)?;
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(token)
            .header("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT")
            .header(header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| unreachable_error(&e))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.map_err(|e| unreachable_error(&e))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, headers, json))
    }

    /// Classes an answer other than 200 or 202.
    fn failure(
        &self,
        status: StatusCode,
        headers: &header::HeaderMap,
        body: &Value,
    ) -> ConnectorError {
        let said = platform_message(body);
        match status.as_u16() {
            401 | 403 => ConnectorError::Permanent(format!(
                "Snowflake refused the key-pair login of {} (HTTP {}: {said}); check that the \
                 user's RSA_PUBLIC_KEY is the public half of the configured private key \
                 (fingerprint {}) and that the account and user names are right",
                self.tokens.qualified_user(),
                status.as_u16(),
                self.tokens.fingerprint()
            )),
            429 => ConnectorError::Throttled {
                message: format!("Snowflake is throttling requests (HTTP 429: {said})"),
                retry_after: super::super::http::retry_after(headers),
            },
            408 => ConnectorError::Retryable(format!("Snowflake timed the statement out: {said}")),
            s if s >= 500 => {
                ConnectorError::Retryable(format!("Snowflake answered HTTP {s}: {said}"))
            }
            422 => ConnectorError::Permanent(said),
            s => ConnectorError::Permanent(format!("Snowflake answered HTTP {s}: {said}")),
        }
    }

    /// Runs one statement and returns every row of its result.
    pub(super) async fn execute(&self, statement: &str) -> Result<ResultSet, ConnectorError> {
        Ok(self.try_execute(statement).await??)
    }

    /// [`Api::execute`], with the statement's own failure (HTTP 422) apart from the others
    /// (unreachable, throttled, refused login …), for a caller that handles some error codes.
    pub(super) async fn try_execute(
        &self,
        statement: &str,
    ) -> Result<Result<ResultSet, SqlError>, ConnectorError> {
        let deadline = tokio::time::Instant::now() + POLL_FOR;
        let mut body = json!({ "statement": statement, "timeout": STATEMENT_TIMEOUT.as_secs() });
        if let Some(role) = &self.role {
            body["role"] = json!(role);
        }
        if let Some(warehouse) = &self.warehouse {
            body["warehouse"] = json!(warehouse);
        }
        let mut url = self.url(None);
        url.query_pairs_mut()
            .append_pair("requestId", &uuid::Uuid::new_v4().to_string());
        let (mut status, mut headers, mut answer) =
            self.send(Method::POST, url, Some(&body)).await?;
        let mut pause = Duration::from_millis(50);
        while status == StatusCode::ACCEPTED {
            let handle = answer["statementHandle"].as_str().ok_or_else(|| {
                ConnectorError::Retryable(
                    "Snowflake answered 202 without a statement handle".into(),
                )
            })?;
            let url = self.url(Some(handle));
            if tokio::time::Instant::now() + pause > deadline {
                return Err(ConnectorError::Retryable(format!(
                    "Snowflake was still running the statement after {} s (handle {handle})",
                    POLL_FOR.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            (status, headers, answer) = self.send(Method::GET, url, None).await?;
        }
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            return Ok(Err(SqlError {
                code: answer["code"].as_str().map(str::to_owned),
                said: platform_message(&answer),
            }));
        }
        if status != StatusCode::OK {
            return Err(self.failure(status, &headers, &answer));
        }
        let first: FirstPartition = serde_json::from_value(answer).map_err(|e| {
            ConnectorError::Permanent(format!("Snowflake's answer is not a result set: {e}"))
        })?;
        let mut later = Vec::new();
        if first.partitions() > 1 {
            let handle = first.statement_handle.clone().ok_or_else(|| {
                ConnectorError::Permanent(
                    "a result in partitions without a statement handle".into(),
                )
            })?;
            for n in 1..first.partitions() {
                let mut url = self.url(Some(&handle));
                url.query_pairs_mut()
                    .append_pair("partition", &n.to_string());
                let (status, headers, part) = self.send(Method::GET, url, None).await?;
                if status != StatusCode::OK {
                    return Err(self.failure(status, &headers, &part));
                }
                later.push(serde_json::from_value::<LaterPartition>(part).map_err(|e| {
                    ConnectorError::Permanent(format!("Snowflake's partition {n} has no rows: {e}"))
                })?);
            }
        }
        Ok(Ok(ResultSet::new(first, later)))
    }
}
