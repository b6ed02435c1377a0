//! What every REST connector shares: one TLS client setup (rustls on ring, the platform's trusted
//! roots), a bearer-token cache renewed before expiry, one authenticated call renewed once when
//! the token died early, the reading of token and JSON answers, and the classing of HTTP
//! answers into `ConnectorError`s. Platform modules add their paths, bodies and pagination.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url, header};
use serde_json::Value;

use super::ConnectorError;

/// An HTTP client for one platform: TLS through ring (no process-wide provider needed), a
/// `User-Agent`, bounded connect and request times, and a small idle pool.
pub fn client(request_timeout: Duration) -> Result<reqwest::Client, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(request_timeout)
        .pool_max_idle_per_host(4)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A platform's base URL: `text` parsed, http(s) and able to take a path, its query left off.
/// Errors name it as "the `what` `shown`" (what the person wrote, before any trimming).
pub fn base_url(text: &str, what: &str, shown: &str) -> Result<Url, String> {
    let mut url =
        Url::parse(text).map_err(|e| format!("the {what} `{shown}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!("the {what} `{shown}` is not an http(s) URL"));
    }
    url.set_query(None);
    Ok(url)
}

/// `base` with `segments` added to its path, each percent-encoded as one path segment, so a
/// name holding `/`, `?` or `#` stays one segment.
pub fn join<S: AsRef<str>>(base: &Url, segments: impl IntoIterator<Item = S>) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// A JSON row's text `field`, trimmed; None when absent, not a string, or blank.
pub fn text(row: &Value, field: &str) -> Option<String> {
    row[field]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The ids of the JSON rows whose `field` is `name`: those matching exactly, or, when none
/// does, those differing only in case (platforms whose lookups ignore case).
pub fn ids_named(rows: &[Value], field: &str, name: &str) -> Vec<String> {
    let named = |exact: bool| -> Vec<String> {
        rows.iter()
            .filter(|r| match r[field].as_str() {
                Some(n) if exact => n == name,
                Some(n) => n.to_lowercase() == name.to_lowercase(),
                None => false,
            })
            .filter_map(|r| text(r, "id"))
            .collect()
    };
    let exact = named(true);
    if exact.is_empty() {
        named(false)
    } else {
        exact
    }
}

/// A body that is not the platform's JSON error (a proxy's page, an empty answer), for an
/// error message: its start, to tell what answered, or "no message".
pub fn quoted(body: &Value) -> String {
    match body.as_str().map(str::trim) {
        Some(text) if !text.is_empty() => text.chars().take(200).collect(),
        _ => "no message".to_owned(),
    }
}

/// The start of an answer that is not the shape asked for, for an error message.
pub fn start_of(json: &Value) -> String {
    json.to_string().chars().take(200).collect()
}

/// The `Retry-After` of a 429 or 503, in either of its forms (RFC 9110 §10.2.3): a number
/// of seconds, or an HTTP date, read against the machine's clock (a date past is "now").
pub fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    retry_after_at(value, std::time::SystemTime::now())
}

fn retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A request that got no answer: worth trying again later.
pub fn unreachable(platform: &str, e: &reqwest::Error) -> ConnectorError {
    // Without the URL: some platforms put identifiers (never secrets, but still) in it.
    ConnectorError::Retryable(format!("cannot reach {platform} ({})", no_answer(e)))
}

/// Why a request got no answer, in a few words.
pub fn no_answer(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    }
}

/// Classes an answer that is not a success. `said` is the platform's own message.
pub fn failure(
    platform: &str,
    status: StatusCode,
    headers: &header::HeaderMap,
    said: &str,
) -> ConnectorError {
    let code = status.as_u16();
    match code {
        429 => ConnectorError::Throttled {
            message: format!("{platform} is throttling requests (HTTP 429: {said})"),
            retry_after: retry_after(headers),
        },
        408 | 500..=599 => {
            ConnectorError::Retryable(format!("{platform} answered HTTP {code}: {said}"))
        }
        401 | 403 => ConnectorError::Permanent(format!(
            "{platform} refused Gatehouse's credentials or their rights (HTTP {code}: {said}); check the connector's service account"
        )),
        _ => ConnectorError::Permanent(format!("{platform} answered HTTP {code}: {said}")),
    }
}

/// A 404 as a failure in the platform's words, for calls where nothing missing is an answer.
pub fn not_found(platform: &str, said: &str) -> ConnectorError {
    failure(
        platform,
        StatusCode::NOT_FOUND,
        &header::HeaderMap::new(),
        said,
    )
}

/// The body of an answer whose 404 was kept for the caller, for a call where nothing missing
/// is an answer after all: the 404 is a failure in the platform's words (`said`).
pub fn found(
    platform: &str,
    (status, json): (StatusCode, Value),
    said: fn(&Value) -> String,
) -> Result<Value, ConnectorError> {
    if status == StatusCode::NOT_FOUND {
        return Err(not_found(platform, &said(&json)));
    }
    Ok(json)
}

/// A sign-in the platform refused: 400 to 404 blame the connector's credentials and are
/// permanent (`refused` says which to check); anything else is classed as any answer.
pub fn sign_in_failure(
    platform: &str,
    status: StatusCode,
    headers: &header::HeaderMap,
    said: &str,
    refused: impl FnOnce() -> String,
) -> ConnectorError {
    match status.as_u16() {
        400..=404 => ConnectorError::Permanent(refused()),
        _ => failure(platform, status, headers, said),
    }
}

/// A token endpoint's answer: its `access_token`, and how long it lives (`expires_in`, or
/// `default_secs` when left out). `whose` names the answer for the error, as in "Looker's
/// login answer".
pub fn access_token(
    json: &Value,
    whose: &str,
    default_secs: u64,
) -> Result<(String, Duration), ConnectorError> {
    let token = json["access_token"].as_str().unwrap_or("");
    if token.is_empty() {
        return Err(ConnectorError::Permanent(format!(
            "{whose} has no access_token"
        )));
    }
    let lives = json["expires_in"].as_u64().unwrap_or(default_secs);
    Ok((token.to_owned(), Duration::from_secs(lives)))
}

/// The answer's body as JSON: `Null` when empty, a JSON string when it is not JSON (a proxy's
/// page), for the platform's words to quote.
pub async fn read_json(platform: &str, resp: reqwest::Response) -> Result<Value, ConnectorError> {
    let text = resp.text().await.map_err(|e| unreachable(platform, &e))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Sends `request` and reads its whole answer: the status, the headers and the body as text.
pub async fn send_for_text(
    platform: &str,
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, header::HeaderMap, String), ConnectorError> {
    let resp = request
        .send()
        .await
        .map_err(|e| unreachable(platform, &e))?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.map_err(|e| unreachable(platform, &e))?;
    Ok((status, headers, text))
}

/// `method url` with the bearer `token`, asking for JSON, and `body` sent as JSON when given.
pub fn bearer_json(
    client: &reqwest::Client,
    method: &reqwest::Method,
    url: &Url,
    token: &str,
    body: Option<&Value>,
) -> reqwest::RequestBuilder {
    let req = client
        .request(method.clone(), url.clone())
        .bearer_auth(token)
        .header(header::ACCEPT, "application/json");
    match body {
        Some(b) => req.json(b),
        None => req,
    }
}

/// `POST url` with `form` as a form-encoded body, asking for JSON: a token request.
pub fn form_post(
    client: &reqwest::Client,
    url: Url,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    // The form body is what a query string is: `Url` encodes it, so no form feature needed.
    let mut encoder = url.clone();
    encoder.query_pairs_mut().clear().extend_pairs(form);
    let body = encoder.query().unwrap_or("").to_owned();
    client
        .post(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(body)
}

/// An answer read: its status, headers and JSON body.
pub type Answer = (StatusCode, header::HeaderMap, Value);

/// Sends `request` and reads its answer, the body as [`read_json`] reads it.
pub async fn send_for_json(
    platform: &str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, ConnectorError> {
    let resp = request
        .send()
        .await
        .map_err(|e| unreachable(platform, &e))?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let json = read_json(platform, resp).await?;
    Ok((status, headers, json))
}

/// A token endpoint's answer: on a success, its token and life (see [`access_token`], whose
/// arguments `whose` and `default_secs` are); otherwise a [`sign_in_failure`] whose words
/// `refused` writes from the status and the platform's own (`said`).
pub fn token_answer(
    platform: &str,
    (status, headers, json): Answer,
    said: fn(&Value) -> String,
    refused: impl FnOnce(StatusCode, &str) -> String,
    whose: &str,
    default_secs: u64,
) -> Result<(String, Duration), ConnectorError> {
    if !status.is_success() {
        let said = said(&json);
        let refused = || refused(status, &said);
        return Err(sign_in_failure(platform, status, &headers, &said, refused));
    }
    access_token(&json, whose, default_secs)
}

/// Sends what `request` builds with the token `token()` gives. When the answer is `stale`
/// (a 401, or the platform's own words for an expired token) and `renew` holds the token, the
/// token died early: it is forgotten, a new one fetched, and the call sent once more.
pub async fn send_renewing<T, Fut>(
    platform: &str,
    token: T,
    renew: Option<&TokenCache>,
    request: impl Fn(&str) -> reqwest::RequestBuilder,
    stale: impl Fn(StatusCode, &Value) -> bool,
) -> Result<Answer, ConnectorError>
where
    T: Fn() -> Fut,
    Fut: Future<Output = Result<String, ConnectorError>>,
{
    let mut renewed = false;
    loop {
        let token = token().await?;
        let (status, headers, json) = send_for_json(platform, request(&token)).await?;
        if let Some(cache) = renew
            && !renewed
            && stale(status, &json)
        {
            renewed = true;
            cache.invalidate().await;
            continue;
        }
        return Ok((status, headers, json));
    }
}

/// `answer` when it is a success or one of `kept` (statuses the caller reads as answers);
/// otherwise its failure, in the words `said` finds in the body.
pub fn kept_or_failure(
    platform: &str,
    (status, headers, json): Answer,
    kept: &[StatusCode],
    said: fn(&Value) -> String,
) -> Result<(StatusCode, Value), ConnectorError> {
    if status.is_success() || kept.contains(&status) {
        return Ok((status, json));
    }
    Err(failure(platform, status, &headers, &said(&json)))
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
struct Cached {
    token: String,
    renew_at: Instant,
}

/// One platform session's token, fetched on first use and again when it nears its end (or when
/// the platform said it is no longer valid). Concurrent callers wait for one fetch.
#[derive(Default)]
pub struct TokenCache {
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache(***)")
    }
}

impl TokenCache {
    /// The cached token, or a new one from `fetch`, which returns the token and how long it
    /// lives. A token is renewed when a fifth of its life (at least 30 s) is left.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<String, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Duration), ConnectorError>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let (token, lives) = fetch().await?;
        let margin = (lives / 5).max(Duration::from_secs(30));
        *cached = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + lives.saturating_sub(margin),
        });
        Ok(token)
    }

    /// Forgets the token, after the platform answered 401 to it.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        use std::time::UNIX_EPOCH;
        // Sun, 06 Dec 2026 12:00:00 GMT.
        let now = UNIX_EPOCH + Duration::from_secs(1_796_558_400);
        assert_eq!(retry_after_at("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after_at("Sun, 06 Dec 2026 12:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        // The two older date forms RFC 9110 still asks a recipient to read.
        assert_eq!(
            retry_after_at("Sunday, 06-Dec-26 12:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after_at("Sun Dec  6 12:00:05 2026", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            retry_after_at("Sun, 06 Dec 2026 11:59:00 GMT", now),
            Some(Duration::ZERO),
            "a date past means now"
        );
        assert_eq!(retry_after_at("soon", now), None);
        assert_eq!(retry_after_at("-5", now), None);
    }
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_token_is_fetched_once_until_invalidated_or_near_its_end() {
        let cache = TokenCache::default();
        let fetched = AtomicUsize::new(0);
        let fetch = |lives: u64| {
            let n = fetched.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok((format!("t{n}"), Duration::from_secs(lives))) }
        };
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap(), "t1");
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap(), "t1");
        cache.invalidate().await;
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap(), "t2");
        cache.invalidate().await;
        // A token that lives less than its renewal margin is used once and fetched again.
        assert_eq!(cache.get(|| fetch(20)).await.unwrap(), "t3");
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap(), "t4");
    }

    #[test]
    fn answers_are_classed_by_whether_trying_again_helps() {
        let mut h = header::HeaderMap::new();
        h.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            failure("Looker", StatusCode::TOO_MANY_REQUESTS, &h, "slow down"),
            ConnectorError::Throttled {
                message: "Looker is throttling requests (HTTP 429: slow down)".into(),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        let none = header::HeaderMap::new();
        assert!(matches!(
            failure("Looker", StatusCode::BAD_GATEWAY, &none, "x"),
            ConnectorError::Retryable(_)
        ));
        assert!(matches!(
            failure("Looker", StatusCode::NOT_FOUND, &none, "no such group"),
            ConnectorError::Permanent(m) if m == "Looker answered HTTP 404: no such group"
        ));
    }
}
