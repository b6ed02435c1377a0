//! Service-account authentication for Google APIs: the key's JSON is read once, an RS256 JWT
//! assertion is signed with its private key (`kid` = `private_key_id`, `aud` = the key's
//! `token_uri`) and exchanged at that `token_uri` for an access token
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`). The key never leaves this module:
//! errors say what is wrong with it, never what it holds, and `Debug` shows only the account.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header;
use serde_json::Value;

use super::super::ConnectorError;
use super::super::http;

pub(super) const BIGQUERY_SCOPE: &str = "https://www.googleapis.com/auth/bigquery";
pub(super) const DIRECTORY_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.user.readonly";
/// Read-only, enough for Resource Manager's projects.testIamPermissions (which lists it among
/// its scopes: https://cloud.google.com/resource-manager/reference/rest/v1/projects/testIamPermissions).
pub(super) const CLOUD_PLATFORM_READ_SCOPE: &str =
    "https://www.googleapis.com/auth/cloud-platform.read-only";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// `urn:ietf:params:oauth:grant-type:jwt-bearer`, form-encoded.
const JWT_BEARER_FORM: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
/// Google accepts assertions valid for at most an hour.
const LIFETIME: u64 = 3600;

/// A service account's key, parsed.
pub(super) struct ServiceAccount {
    pub(super) client_email: String,
    pub(super) project_id: Option<String>,
    pub(super) token_uri: String,
    key_id: String,
    key: EncodingKey,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

fn field(json: &Value, name: &str) -> Option<String> {
    json[name]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl ServiceAccount {
    /// Reads the JSON key a service account's "Add key → JSON" gives.
    pub(super) fn parse(json: &str) -> Result<Self, String> {
        const HOW: &str = "use the JSON key file of the service account (IAM → Service accounts → \
             Keys → Add key → JSON)";
        let v: Value = serde_json::from_str(json)
            .map_err(|_| format!("the BigQuery key is not JSON; {HOW}"))?;
        if v["type"].as_str() != Some("service_account") {
            return Err(format!(
                "the BigQuery key is not a service account key (\"type\": \"service_account\"); {HOW}"
            ));
        }
        let client_email = field(&v, "client_email")
            .ok_or(format!("the BigQuery key has no client_email; {HOW}"))?;
        let pem = v["private_key"].as_str().unwrap_or("");
        let key = EncodingKey::from_rsa_pem(pem.trim().as_bytes())
            .map_err(|_| format!("the BigQuery key's private_key is not an RSA PEM key; {HOW}"))?;
        let token_uri = field(&v, "token_uri").unwrap_or_else(|| DEFAULT_TOKEN_URI.into());
        reqwest::Url::parse(&token_uri)
            .map_err(|_| format!("the BigQuery key's token_uri `{token_uri}` is not a URL"))?;
        Ok(ServiceAccount {
            client_email,
            project_id: field(&v, "project_id"),
            token_uri,
            key_id: field(&v, "private_key_id").unwrap_or_default(),
            key,
        })
    }

    /// A signed assertion asking for `scope`, acting as `subject` (domain-wide delegation) when
    /// given. Google checks `iat`/`exp` against real time, so this reads the system clock.
    pub(super) fn assertion(&self, scope: &str, subject: Option<&str>) -> Result<String, String> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970")?
            .as_secs();
        let claims = Claims {
            iss: &self.client_email,
            scope,
            aud: &self.token_uri,
            iat,
            exp: iat + LIFETIME,
            sub: subject,
        };
        let mut head = Header::new(Algorithm::RS256);
        if !self.key_id.is_empty() {
            head.kid = Some(self.key_id.clone());
        }
        jsonwebtoken::encode(&head, &claims, &self.key)
            .map_err(|e| format!("cannot sign the BigQuery token request: {e}"))
    }

    /// Exchanges an assertion at `token_uri`: the access token and how long it lives.
    pub(super) async fn exchange(
        &self,
        client: &reqwest::Client,
        scope: &str,
        subject: Option<&str>,
    ) -> Result<(String, Duration), ConnectorError> {
        let assertion = self
            .assertion(scope, subject)
            .map_err(ConnectorError::Permanent)?;
        // A JWT holds only base64url characters and dots, which need no form encoding.
        let body = format!("grant_type={JWT_BEARER_FORM}&assertion={assertion}");
        let request = client
            .post(&self.token_uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(body);
        let (status, headers, text) =
            http::send_for_text("Google's token endpoint", request).await?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            // OAuth's error body: {"error": "invalid_grant", "error_description": "…"}.
            let said = match (json["error"].as_str(), json["error_description"].as_str()) {
                (Some(e), Some(d)) => format!("{e}: {d}"),
                (Some(e), None) => e.to_owned(),
                _ => text.chars().take(200).collect(),
            };
            return Err(match status.as_u16() {
                400 | 401 | 403 => ConnectorError::Permanent(format!(
                    "Google refused the token request of service account {} (HTTP {}: {said}); \
                     check the connector's key{}",
                    self.client_email,
                    status.as_u16(),
                    if subject.is_some() {
                        " and the domain-wide delegation of the Directory scope"
                    } else {
                        ""
                    }
                )),
                _ => http::failure("Google's token endpoint", status, &headers, &said),
            });
        }
        let token = json["access_token"].as_str().unwrap_or("").to_owned();
        if token.is_empty() {
            return Err(ConnectorError::Permanent(
                "Google's token answer has no access_token".into(),
            ));
        }
        let lives = json["expires_in"].as_u64().unwrap_or(3599);
        Ok((token, Duration::from_secs(lives)))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    const PEM: &str = include_str!("../../../tests/fixtures/snowflake_test_key.pem");

    fn key_json() -> String {
        serde_json::json!({"type": "service_account", "project_id": "acme",
            "private_key_id": "kid-1", "private_key": PEM,
            "client_email": "gatehouse@acme.iam.gserviceaccount.com",
            "token_uri": "http://127.0.0.1:9/token"})
        .to_string()
    }

    fn part(token: &str, n: usize) -> Value {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(n).unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    #[test]
    fn the_assertion_names_the_account_key_scope_and_audience() {
        let sa = ServiceAccount::parse(&key_json()).unwrap();
        let t = sa
            .assertion(BIGQUERY_SCOPE, Some("admin@acme.com"))
            .unwrap();
        assert_eq!(part(&t, 0)["kid"], "kid-1");
        assert_eq!(part(&t, 0)["alg"], "RS256");
        let c = part(&t, 1);
        assert_eq!(c["iss"], "gatehouse@acme.iam.gserviceaccount.com");
        assert_eq!(c["aud"], "http://127.0.0.1:9/token");
        assert_eq!(c["scope"], BIGQUERY_SCOPE);
        assert_eq!(c["sub"], "admin@acme.com");
        assert_eq!(
            c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
            3600
        );
        assert!(part(&sa.assertion(BIGQUERY_SCOPE, None).unwrap(), 1)["sub"].is_null());
    }

    #[test]
    fn a_bad_key_is_refused_without_being_printed() {
        let bad = key_json().replace("-----BEGIN PRIVATE KEY-----", "SECRETVALUE");
        let err = ServiceAccount::parse(&bad).unwrap_err();
        assert!(err.contains("not an RSA PEM key"), "{err}");
        assert!(!err.contains("SECRETVALUE"));
        let err = ServiceAccount::parse("{not json SECRETVALUE").unwrap_err();
        assert!(
            err.contains("not JSON") && !err.contains("SECRETVALUE"),
            "{err}"
        );
        let shown = format!("{:?}", ServiceAccount::parse(&key_json()).unwrap());
        assert!(
            !shown.contains("PRIVATE") && shown.contains("gatehouse@acme"),
            "{shown}"
        );
    }
}
