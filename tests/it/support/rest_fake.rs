//! What every fake REST platform does the same way, written once: listening on a free local
//! port, splitting and decoding the path, reading the bearer token, the 503 and 429 fault
//! knobs (the body of each stays the fake's own, in its vendor's shape), and the call log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRequest, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Serves `app` on a free port of 127.0.0.1 for the rest of the test; returns its base URL.
pub async fn listen(app: axum::Router) -> String {
    let (listener, url) = bind().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A free port of 127.0.0.1, bound, and its base URL (for a fake whose state needs its URL).
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// One call as the fake answered it.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

impl Call {
    pub fn new(method: &axum::http::Method, uri: &Uri, query: String, answer: &Response) -> Call {
        Call {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query,
            status: answer.status().as_u16(),
        }
    }
}

/// How many `method` calls to `path` in `log` were answered `status`.
pub fn count(log: &[Call], method: &str, path: &str, status: u16) -> usize {
    log.iter()
        .filter(|c| c.method == method && c.path == path && c.status == status)
        .count()
}

/// The queries of the `path` calls in `log` answered 200, in order: the pages a listing read.
pub fn pages(log: &[Call], path: &str) -> Vec<String> {
    log.iter()
        .filter(|c| c.path == path && c.status == 200)
        .map(|c| c.query.clone())
        .collect()
}

/// One request as a fake reads it: what axum hands a handler, with its query and its path's
/// segments (each decoded by [`decode`]) ready.
pub struct Req {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub query: String,
    /// The query's pairs, decoded.
    pub q: HashMap<String, String>,
    pub path: Vec<String>,
}

impl Req {
    /// The method, and the path's segments after the first `skip` (the API's prefix).
    pub fn route(&self, skip: usize) -> (&str, Vec<&str>) {
        let rest = self.path.get(skip..).unwrap_or_default();
        (
            self.method.as_str(),
            rest.iter().map(String::as_str).collect(),
        )
    }

    /// The body as text (a form or JSON).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl<S: Send + Sync> FromRequest<S> for Req {
    type Rejection = axum::extract::rejection::BytesRejection;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Req, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await?;
        let query = parts.uri.query().unwrap_or("").to_owned();
        Ok(Req {
            q: pairs(&query),
            query,
            path: segments(&parts.uri, decode),
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// A fake's state that answers every request itself (one fallback handler) and logs each call.
pub trait Answers: Logged + Send + 'static {
    /// The answer to `req`; the caller logs the call.
    fn answer(&mut self, req: &Req) -> Response;
}

/// A fake's state that keeps a call log.
pub trait Logged {
    /// Where the calls are logged.
    fn log_mut(&mut self) -> &mut Vec<Call>;
}

/// The fallback handler of an [`Answers`] fake: the answer, logged.
async fn answer_logged<S: Answers>(State(state): State<Arc<Mutex<S>>>, req: Req) -> Response {
    let mut s = state.lock().unwrap();
    let answer = s.answer(&req);
    let call = Call::new(&req.method, &req.uri, req.query.clone(), &answer);
    s.log_mut().push(call);
    answer
}

/// Serves `state` (shared between the handler and the test) on `listener`, every request
/// answered by [`Answers::answer`] and logged; returns the state.
pub fn serve_answers_on<S: Answers>(listener: tokio::net::TcpListener, state: S) -> Arc<Mutex<S>> {
    let state = Arc::new(Mutex::new(state));
    let app = axum::Router::new()
        .fallback(answer_logged::<S>)
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    state
}

/// [`serve_answers_on`] a free port of 127.0.0.1; returns the base URL and the state.
pub async fn serve_answers<S: Answers>(state: S) -> (String, Arc<Mutex<S>>) {
    let (listener, url) = bind().await;
    (url, serve_answers_on(listener, state))
}

/// The pairs of a query or form, decoded.
pub fn pairs(text: &str) -> HashMap<String, String> {
    pairs_in_order(text).into_iter().collect()
}

/// The same, every pair in order, a repeated key as often as it comes (as APIs send arrays:
/// `schedule_ids[]=A&schedule_ids[]=B`).
pub fn pairs_in_order(text: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://fake.invalid/?{text}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// One path segment with its `%XX` escapes decoded (a `+` stays itself, as in a path).
pub fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path's segments, each decoded by `decode`.
pub fn segments(uri: &Uri, decode: fn(&str) -> String) -> Vec<String> {
    uri.path()
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect()
}

/// The token after `scheme` (`"Bearer "`, `"token "`) in the Authorization header.
pub fn token<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(scheme))
}

/// The fault knobs (`unavailable_next`, `throttle_next`, `retry_after`) of the fake state `s`.
macro_rules! knobs {
    ($s:expr) => {
        $crate::support::rest_fake::Knobs {
            unavailable_next: &mut $s.unavailable_next,
            throttle_next: &mut $s.throttle_next,
            retry_after: $s.retry_after,
        }
    };
}
pub(crate) use knobs;

/// The fault knobs of a fake's state, borrowed for one call.
pub struct Knobs<'s> {
    pub unavailable_next: &'s mut usize,
    pub throttle_next: &'s mut usize,
    pub retry_after: Option<u64>,
}

impl Knobs<'_> {
    /// The fault this call gets, if any: the next 503 (`unavailable()`) first, then the next
    /// 429 (`throttled()`, with `Retry-After` when set); each knob counts down by one.
    pub fn fault(
        self,
        unavailable: impl FnOnce() -> Response,
        throttled: impl FnOnce() -> Response,
    ) -> Option<Response> {
        if *self.unavailable_next > 0 {
            *self.unavailable_next -= 1;
            return Some(unavailable());
        }
        if *self.throttle_next > 0 {
            *self.throttle_next -= 1;
            return Some(retry_after(throttled(), self.retry_after));
        }
        None
    }
}

/// [`Knobs::fault`] whose 503 is a load balancer's plain-text `Service Unavailable` (as the
/// Databricks, Looker, Snowflake and Tableau fakes answer), not the API's own error body.
pub fn plain_fault(knobs: Knobs<'_>, throttled: impl FnOnce() -> Response) -> Option<Response> {
    let unavailable = || (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
    knobs.fault(unavailable, throttled)
}

/// `resp` with `Retry-After: secs` when `secs` is set.
pub fn retry_after(mut resp: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    resp
}

/// A fake's secrets in files, for catalogs' `{ file = … }`: a folder kept as long as the fake
/// (or any clone of it).
#[derive(Clone)]
pub struct Secrets(Arc<tempfile::TempDir>);

impl Secrets {
    /// A folder holding each `(name, secret)` in the file `name`.
    pub fn new(files: &[(&str, &str)]) -> Secrets {
        let dir = tempfile::tempdir().unwrap();
        for (name, secret) in files {
            std::fs::write(dir.path().join(name), secret).unwrap();
        }
        Secrets(Arc::new(dir))
    }

    /// The path of the file `name`, as a catalog writes it.
    pub fn path(&self, name: &str) -> String {
        self.0.path().join(name).display().to_string()
    }
}

/// `routes` served with a fresh `S` (shared between the handlers and the test) as their state;
/// returns the base URL and the state.
pub async fn serve<S: Default + Send + 'static>(
    routes: axum::Router<std::sync::Arc<std::sync::Mutex<S>>>,
) -> (String, std::sync::Arc<std::sync::Mutex<S>>) {
    let state = std::sync::Arc::<std::sync::Mutex<S>>::default();
    let url = listen(routes.with_state(state.clone())).await;
    (url, state)
}

/// What a token-signing fake's state keeps the same way: its call log and its tokens.
pub trait Ledger {
    /// Every call answered so far.
    fn log(&self) -> &[Call];
    /// Forgets every token issued.
    fn expire_tokens(&mut self);
}

/// [`Fake`] for `$fake`, whose field `state` holds its `$state` behind a lock; and [`Logged`]
/// and [`Ledger`] for `$state`, whose fields are `log: Vec<Call>` and `tokens` (any collection), with
/// [`Memberships`] from its field `members` when the fake is one of groups.
macro_rules! fake {
    ($fake:ty => $state:ty $(, $members:ident)?) => {
        impl $crate::support::rest_fake::Fake for $fake {
            type State = $state;

            fn state(&self) -> std::sync::MutexGuard<'_, $state> {
                self.state.lock().unwrap()
            }
        }

        impl $crate::support::rest_fake::Logged for $state {
            fn log_mut(&mut self) -> &mut Vec<$crate::support::rest_fake::Call> {
                &mut self.log
            }
        }

        impl $crate::support::rest_fake::Ledger for $state {
            fn log(&self) -> &[$crate::support::rest_fake::Call] {
                &self.log
            }
            fn expire_tokens(&mut self) {
                self.tokens.clear();
            }
        }

        $(
            impl $crate::support::rest_fake::Memberships for $state {
                fn members(&mut self) -> &mut std::collections::BTreeSet<(String, String)> {
                    &mut self.$members
                }
            }
        )?
    };
}
pub(crate) use fake;

/// Who is in which group, as (group id, member id): the memberships of a fake of groups.
pub trait Memberships {
    fn members(&mut self) -> &mut std::collections::BTreeSet<(String, String)>;
}

/// A test's handle on a fake: its state behind the lock, and what tests read and change in
/// it, written once.
pub trait Fake {
    type State: Ledger;

    fn state(&self) -> std::sync::MutexGuard<'_, Self::State>;

    /// Every call answered so far.
    fn log(&self) -> Vec<Call> {
        self.state().log().to_vec()
    }

    /// How many `method` calls to `path` were answered `status`.
    fn calls(&self, method: &str, path: &str, status: u16) -> usize {
        count(&self.log(), method, path, status)
    }

    /// Every issued token stops working, as after its hour.
    fn expire_tokens(&self) {
        self.state().expire_tokens();
    }

    /// Puts `member` in `group` directly, as an admin would.
    fn add_member(&self, group: &str, member: &str)
    where
        Self::State: Memberships,
    {
        let key = (group.to_owned(), member.to_owned());
        self.state().members().insert(key);
    }

    /// Is `member` directly in `group`?
    fn holds(&self, member: &str, group: &str) -> bool
    where
        Self::State: Memberships,
    {
        let key = (group.to_owned(), member.to_owned());
        self.state().members().contains(&key)
    }
}
