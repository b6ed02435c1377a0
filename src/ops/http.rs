//! The operator's HTTP endpoints, on `GATEHOUSE_HTTP_ADDR` (hyper, HTTP/1):
//! - `GET /healthz`: 200 `ok` while the process runs;
//! - `GET /readyz`: 200 when the database answers and a Socket Mode connection is open now, 503
//!   otherwise,
//!   with a JSON body naming each check and each connector's last answer;
//! - `GET /metrics`: the Prometheus text exposition of `Metrics`.
//!
//! It only reads: nothing here changes a request or a job.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::store::{self, Conn};
use crate::workflow::Workflow;

/// How long the database has to answer `SELECT 1` for the process to be ready.
const DB_CHECK: Duration = Duration::from_secs(1);

/// What the endpoints read.
pub struct OpsState {
    pub workflow: Arc<Workflow>,
    pub metrics: Arc<Metrics>,
    /// How many Socket Mode connections are open now, when Slack is configured.
    pub slack: Option<watch::Receiver<u32>>,
    /// Cancelled when the app begins to stop: from then on it is not ready.
    pub stopping: CancellationToken,
}

/// The running server.
pub struct HttpServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port). Done first thing at start, so that a port
    /// already taken stops the app before it connects to anything.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    /// Serves on `listener` until stopped.
    pub fn start(listener: TcpListener, state: Arc<OpsState>) -> std::io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept(listener, state, stop.clone()));
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
        Ok(HttpServer { addr, stop, task })
    }

    /// The address bound (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish (at most `within`).
    pub async fn stop(self, within: Duration) {
        self.stop.cancel();
        if tokio::time::timeout(within, self.task).await.is_err() {
            tracing::warn!("the HTTP server did not stop in time");
        }
    }
}

async fn accept(listener: TcpListener, state: Arc<OpsState>, stop: CancellationToken) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (state, stop) = (state.clone(), stop.clone());
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Forget finished connections as we go.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    res
}

async fn route(state: &OpsState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".into(),
        );
        res.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    match path {
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => readiness(state).await,
        _ => metrics(state).await,
    }
}

/// Is the database answering (`SELECT 1` within a second)?
async fn database_state(state: &OpsState) -> Result<(), &'static str> {
    let db = state.workflow.db().conn();
    match tokio::time::timeout(DB_CHECK, db.execute_unprepared("SELECT 1")).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database did not answer");
            Err("unreachable")
        }
        Err(_) => Err("timed out after 1 s"),
    }
}

async fn readiness(state: &OpsState) -> Response<Full<Bytes>> {
    let database = database_state(state).await;
    let slack = state.slack.as_ref().map(|rx| *rx.borrow());
    let stopping = state.stopping.is_cancelled();
    let (ready, body) = readiness_report(
        database,
        slack,
        stopping,
        state.metrics.connector_checks(),
        state.workflow.catalog(),
    );
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply(status, "application/json", body.to_string())
}

/// The decision and its JSON. Connectors are reported but never make the process unready: one
/// vendor's outage must not take the whole bot out of rotation (requests for every other
/// platform, approvals and expiry reminders still work, and failed jobs are retried).
fn readiness_report(
    database: Result<(), &'static str>,
    slack: Option<u32>,
    stopping: bool,
    checks: std::collections::BTreeMap<String, super::ConnectorCheck>,
    catalog: &crate::config::Catalog,
) -> (bool, serde_json::Value) {
    let mut ready = database.is_ok() && slack != Some(0) && !stopping;
    let mut report = serde_json::Map::new();
    report.insert(
        "database".into(),
        json!({ "ok": database.is_ok(), "state": database.err().unwrap_or("ok") }),
    );
    if let Some(open) = slack {
        report.insert(
            "slack".into(),
            json!({
                "ok": open > 0,
                "state": if open > 0 { "connected" } else { "no Socket Mode connection open" },
                "open_connections": open,
            }),
        );
    }
    if stopping {
        ready = false;
        report.insert(
            "process".into(),
            json!({ "ok": false, "state": "stopping" }),
        );
    }
    let connectors: serde_json::Map<String, serde_json::Value> = catalog
        .connectors
        .iter()
        // `manual` talks to no platform, unless a test stands a platform in for it.
        .filter(|(id, c)| {
            c.kind != crate::config::ConnectorKind::Manual || checks.contains_key(id.as_str())
        })
        .map(|(id, c)| {
            let check = checks.get(id.as_str()).cloned().unwrap_or_default();
            let state = match (check.last_ok, check.last_error) {
                (None, None) => "not called yet",
                (Some(_), None) => "ok",
                (None, Some(_)) => "failing",
                (Some(ok), Some(err)) if ok > err => "ok",
                (Some(_), Some(_)) => "failing",
            };
            (
                id.to_string(),
                json!({
                    "platform": c.kind.name(),
                    "state": state,
                    "last_ok": check.last_ok,
                    "last_error": check.last_error,
                    "last_error_class": check.last_error_class,
                }),
            )
        })
        .collect();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": report,
        "connectors": connectors,
    });
    (ready, body)
}

/// Sets the gauges read from the database, then encodes everything.
async fn metrics(state: &OpsState) -> Response<Full<Bytes>> {
    let db = state.workflow.db().conn();
    let now = state.workflow.now();
    match store::requests::count_by_status(db).await {
        Ok(counts) => state.metrics.set_requests(&counts),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count requests"),
    }
    match store::jobs::due(db, now).await {
        Ok((depth, oldest)) => {
            let age = oldest
                .and_then(|at| (now - at).to_std().ok())
                .unwrap_or_default();
            state.metrics.set_queue(depth, age);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the job queue"),
    }
    match state.metrics.encode() {
        Ok(text) => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        ),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("cannot encode the metrics: {e}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> crate::config::Catalog {
        crate::config::Catalog::parse(
            std::path::Path::new("t.toml"),
            "[connectors.wh]\nkind = \"postgres\"\nurl = { env = \"WH_URL\" }\n",
        )
        .unwrap()
    }

    #[test]
    fn not_ready_while_no_socket_mode_connection_is_open_and_the_body_says_why() {
        let (ready, body) =
            readiness_report(Ok(()), Some(0), false, Default::default(), &catalog());
        assert!(!ready);
        assert_eq!(body["checks"]["slack"]["ok"], false, "{body}");
        assert_eq!(
            body["checks"]["slack"]["state"], "no Socket Mode connection open",
            "{body}"
        );
        assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    }

    #[test]
    fn a_failing_connector_is_reported_but_keeps_the_process_ready() {
        let mut checks = std::collections::BTreeMap::new();
        checks.insert(
            "wh".to_owned(),
            super::super::ConnectorCheck {
                platform: "postgres".into(),
                last_ok: None,
                last_error: Some(chrono::DateTime::UNIX_EPOCH),
                last_error_class: Some("retryable"),
            },
        );
        let (ready, body) = readiness_report(Ok(()), Some(2), false, checks, &catalog());
        assert!(ready, "{body}");
        assert_eq!(body["connectors"]["wh"]["state"], "failing", "{body}");
        assert_eq!(body["connectors"]["wh"]["last_error_class"], "retryable");
    }

    #[test]
    fn a_stopping_process_is_not_ready() {
        let (ready, body) = readiness_report(Ok(()), None, true, Default::default(), &catalog());
        assert!(!ready);
        assert_eq!(body["checks"]["process"]["state"], "stopping");
    }
}
