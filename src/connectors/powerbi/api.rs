//! The HTTP side of Power BI: Entra ID client credentials (`POST
//! {authority}/{tenant}/oauth2/v2.0/token`, form-encoded) with one cached token per audience
//! (the Power BI REST API and Microsoft Graph each want their own), `Authorization: Bearer …`
//! on every call, one fresh token and retry when a service says the token is no longer good,
//! and HTTP statuses classed into `ConnectorError`s in the service's words.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::super::ConnectorError;
use super::super::http::{self, TokenCache};
use crate::config::{PowerbiSettings, Secret};

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const ENTRA: &str = "Microsoft Entra ID";

/// Which service a call goes to; each has its own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Service {
    PowerBi,
    Graph,
}

impl Service {
    pub(super) fn name(self) -> &'static str {
        match self {
            Service::PowerBi => "Power BI",
            Service::Graph => "Microsoft Graph",
        }
    }

    fn scope(self) -> &'static str {
        match self {
            Service::PowerBi => "https://analysis.windows.net/powerbi/api/.default",
            Service::Graph => "https://graph.microsoft.com/.default",
        }
    }
}

pub(super) struct Api {
    http: reqwest::Client,
    token_url: Url,
    /// `https://api.powerbi.com` (or the configured override), without `/v1.0`.
    powerbi: Url,
    /// `https://graph.microsoft.com` (or the configured override), without `/v1.0`.
    graph: Url,
    client_id: String,
    client_secret: Secret,
    powerbi_tokens: TokenCache,
    graph_tokens: TokenCache,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerBiApi")
            .field("token_url", &self.token_url.as_str())
            .field("powerbi", &self.powerbi.as_str())
            .field("graph", &self.graph.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A base URL from the settings (or its default), checked and stripped of query and fragment.
fn base(configured: Option<&str>, default: &str, what: &str) -> Result<Url, String> {
    let raw = configured.map(str::trim).filter(|s| !s.is_empty());
    let text = raw.unwrap_or(default).trim_end_matches('/');
    let text = text.strip_suffix("/v1.0").unwrap_or(text);
    let mut url = http::base_url(text, what, text)?;
    url.set_fragment(None);
    Ok(url)
}

/// The service's words from an error body: Power BI and Graph send
/// `{"error": {"code", "message"}}` (Power BI sometimes only a code, or `pbi.error.code`), Entra
/// `{"error": "invalid_client", "error_description": "AADSTS…"}`. Anything else (a proxy's
/// page) is quoted by its start.
pub(super) fn platform_message(body: &Value) -> String {
    let err = &body["error"];
    let code = err["code"]
        .as_str()
        .or_else(|| err["pbi.error"]["code"].as_str())
        .or_else(|| err.as_str())
        .unwrap_or("")
        .trim();
    let message = err["message"]
        .as_str()
        .or_else(|| body["error_description"].as_str())
        .unwrap_or("")
        .trim();
    match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {message}"),
        (false, true) => code.to_owned(),
        (true, false) => message.to_owned(),
        (true, true) => http::quoted(body),
    }
}

impl Api {
    pub(super) fn new(settings: &PowerbiSettings, client_secret: Secret) -> Result<Self, String> {
        let tenant = settings.tenant_id.trim();
        if tenant.is_empty() {
            return Err("a Power BI connector needs the Entra `tenant_id`".into());
        }
        if settings.client_id.trim().is_empty() {
            return Err("a Power BI connector needs the app registration's `client_id`".into());
        }
        let authority = base(
            settings.authority_url.as_deref(),
            "https://login.microsoftonline.com",
            "Entra authority URL",
        )?;
        Ok(Api {
            http: http::client(REQUEST_TIMEOUT)?,
            token_url: http::join(&authority, [tenant, "oauth2", "v2.0", "token"]),
            powerbi: base(
                settings.api_url.as_deref(),
                "https://api.powerbi.com",
                "Power BI API URL",
            )?,
            graph: base(
                settings.graph_url.as_deref(),
                "https://graph.microsoft.com",
                "Microsoft Graph URL",
            )?,
            client_id: settings.client_id.trim().to_owned(),
            client_secret,
            powerbi_tokens: TokenCache::default(),
            graph_tokens: TokenCache::default(),
        })
    }

    /// `{api}/v1.0/myorg/<segments…>`.
    pub(super) fn powerbi_url(&self, segments: &[&str]) -> Url {
        let mut all = vec!["v1.0", "myorg"];
        all.extend_from_slice(segments);
        http::join(&self.powerbi, &all)
    }

    /// `{graph}/v1.0/<segments…>`.
    pub(super) fn graph_url(&self, segments: &[&str]) -> Url {
        let mut all = vec!["v1.0"];
        all.extend_from_slice(segments);
        http::join(&self.graph, &all)
    }

    /// Whether a `@odata.nextLink` points at the configured Graph (scheme, host and port), so
    /// that our Graph token is never sent elsewhere.
    pub(super) fn on_graph(&self, link: &Url) -> bool {
        link.scheme() == self.graph.scheme()
            && link.host_str() == self.graph.host_str()
            && link.port_or_known_default() == self.graph.port_or_known_default()
    }

    fn tokens(&self, service: Service) -> &TokenCache {
        match service {
            Service::PowerBi => &self.powerbi_tokens,
            Service::Graph => &self.graph_tokens,
        }
    }

    /// A client-credentials token for `service`, and how long it lives.
    async fn fetch_token(&self, service: Service) -> Result<(String, Duration), ConnectorError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", service.scope()),
        ];
        let resp = http::form_post(&self.http, self.token_url.clone(), &form)
            .send()
            .await
            .map_err(|e| http::unreachable(ENTRA, &e))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let json = http::read_json(ENTRA, resp).await?;
        let refused = |status: StatusCode, said: &str| {
            format!(
                "{ENTRA} refused a {} token to app {} (HTTP {}: {said}); check the \
                 connector's tenant_id, client_id and client_secret",
                service.name(),
                self.client_id,
                status.as_u16()
            )
        };
        let whose = format!("{ENTRA}'s token answer");
        let answer = (status, headers, json);
        http::token_answer(ENTRA, answer, platform_message, refused, &whose, 3599)
    }

    /// One authenticated call. A 401 (or Power BI's 403 `TokenExpired`) means the token died
    /// early: it is forgotten, a new one fetched, and the call sent once more. A 404 is
    /// returned to the caller, which knows whether it is a failure.
    pub(super) async fn call(
        &self,
        service: Service,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ConnectorError> {
        let kept = [StatusCode::NOT_FOUND];
        self.call_keeping(service, method, url, body, &kept).await
    }

    /// [`Api::call`], returning the statuses in `kept` (after the one renewal a stale token
    /// gets) to the caller rather than as failures.
    pub(super) async fn call_keeping(
        &self,
        service: Service,
        method: Method,
        url: Url,
        body: Option<&Value>,
        kept: &[StatusCode],
    ) -> Result<(StatusCode, Value), ConnectorError> {
        let cache = self.tokens(service);
        let request = |token: &str| http::bearer_json(&self.http, &method, &url, token, body);
        let stale = |status, json: &Value| {
            status == StatusCode::UNAUTHORIZED
                || (status == StatusCode::FORBIDDEN
                    && platform_message(json).starts_with("TokenExpired"))
        };
        let token = || cache.get(|| self.fetch_token(service));
        let answer =
            http::send_renewing(service.name(), token, Some(cache), request, stale).await?;
        http::kept_or_failure(service.name(), answer, kept, platform_message)
    }

    /// The object id of the app's service principal: the `oid` claim of its Power BI token
    /// (Entra's access tokens are JWTs; only the payload is read, to find the app among a
    /// workspace's users, never to trust anything). `None` when the token does not say.
    pub(super) async fn own_object_id(&self) -> Result<Option<String>, ConnectorError> {
        use base64::Engine as _;
        let service = Service::PowerBi;
        let token = self
            .tokens(service)
            .get(|| self.fetch_token(service))
            .await?;
        let payload = token.split('.').nth(1).unwrap_or("").trim_end_matches('=');
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        Ok(claims.and_then(|c| c["oid"].as_str().map(str::to_owned)))
    }

    /// The app registration's client id.
    pub(super) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A call whose 404 is a failure too.
    pub(super) async fn expect(
        &self,
        service: Service,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        let answer = self.call(service, method, url, body).await?;
        http::found(service.name(), answer, platform_message)
    }
}

/// The `value` array of an OData answer.
pub(super) fn rows(
    service: Service,
    what: &str,
    body: Value,
) -> Result<Vec<Value>, ConnectorError> {
    match body {
        Value::Object(mut o) => match o.remove("value") {
            Some(Value::Array(rows)) => Ok(rows),
            _ => Err(ConnectorError::Permanent(format!(
                "{}'s answer to {what} has no `value` list",
                service.name()
            ))),
        },
        other => Err(ConnectorError::Permanent(format!(
            "{}'s answer to {what} is not an object: {}",
            service.name(),
            http::start_of(&other)
        ))),
    }
}
