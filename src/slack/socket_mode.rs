//! Socket Mode, received by Gatehouse itself (https://api.slack.com/apis/socket-mode).
//!
//! This replaces slack-morphism's `SlackClientSocketModeListener` for two reasons:
//! - its reader awaits each envelope's handler before it reads the next frame, so one slow
//!   handler (a command that waits seconds on an on-call service) delays the ack of every
//!   envelope behind it on that connection, until Slack times them out and redelivers;
//! - it says nothing when a connection closes, so `/readyz` could only count hellos, not tell
//!   whether a connection is open now.
//!
//! Here each envelope is handled on its own task (at most `IN_FLIGHT` per process) and acked
//! as soon as its handler returns, whatever the order. What an envelope means, and what its ack
//! carries, is decided by the `Answer` it is given (`socket.rs`); this module only moves frames.
//!
//! Each of the `connections` slots holds one connection: `apps.connections.open` with the app
//! token gives a `wss://` URL; `hello` makes the connection count as open (until it closes); a
//! `disconnect` makes the slot open a new connection at once, and the old one is closed once
//! the new one said hello and the old one's handlers have written their acks. A connection
//! that closes is reopened with backoff. Neither the app token nor the URL (whose ticket lets
//! anyone connect) is ever logged.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use slack_morphism::api::SlackApiAppsConnectionOpenRequest;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::{SlackApiToken, SlackHyperClient};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::api::redact;
use super::context::SlackContext;

/// Envelopes being handled at once in this process; the reader waits for a free place.
const IN_FLIGHT: usize = 64;
/// How long `apps.connections.open` and the WebSocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait before reopening a connection, doubled on each failure up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// We ping this often; a connection silent for `SILENT_FOR` is dead (a half-open TCP link
/// never closes by itself).
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENT_FOR: Duration = Duration::from_secs(90);
/// At shutdown, how long handlers in flight may still write their acks (the app gives Socket
/// Mode 2 s in all).
const STOP_GRACE: Duration = Duration::from_millis(1000);
/// A replaced connection's handlers may write their acks this long (Slack's ack timeout is 3 s).
const RETIRE_GRACE: Duration = Duration::from_secs(3);
/// Slot `i` opens its first connection `i` times this late, as slack-morphism's listener did:
/// the process is ready with one, and `apps.connections.open` (Tier 1) is not asked in a burst.
const STAGGER: Duration = Duration::from_secs(5);
/// How long the close handshake may take.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What an envelope's handler decided about its ack.
pub(super) enum Ack {
    /// `{"envelope_id": …}`.
    Bare,
    /// `{"envelope_id": …, "payload": …}`.
    With(Value),
    /// No ack: Slack redelivers (events) or tells the person it failed.
    Withheld,
}

/// What an envelope means and what its ack carries (`socket::answer`): given the envelope's
/// type, payload and whether its ack may carry a payload.
pub(super) type Answer =
    fn(Arc<SlackContext>, String, Value, bool) -> futures::future::BoxFuture<'static, Ack>;

struct Shared {
    answer: Answer,
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
    ctx: Arc<SlackContext>,
    stop: CancellationToken,
    permits: Arc<Semaphore>,
}

/// The running connections; `shutdown` closes them all and stops reconnecting.
pub struct Listener {
    stop: CancellationToken,
    slots: Vec<JoinHandle<()>>,
}

/// Starts `connections` slots; each connects in the background and keeps a connection open.
pub(super) fn start(
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
    connections: u32,
    ctx: Arc<SlackContext>,
    answer: Answer,
) -> Listener {
    let stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        answer,
        client,
        token,
        ctx,
        stop: stop.clone(),
        permits: Arc::new(Semaphore::new(IN_FLIGHT)),
    });
    let slots = (0..connections.max(1))
        .map(|slot| tokio::spawn(keep_open(shared.clone(), slot)))
        .collect();
    Listener { stop, slots }
}

impl Listener {
    pub async fn shutdown(self) {
        self.stop.cancel();
        for slot in self.slots {
            if let Err(e) = slot.await {
                tracing::error!(error = %e, "a Socket Mode connection ended abnormally");
            }
        }
    }
}

/// One slot: opens a connection, serves it, and opens the next one when Slack asks for it or
/// the connection closes, until shutdown.
async fn keep_open(shared: Arc<Shared>, slot: u32) {
    let mut backoff = MIN_BACKOFF;
    // Connections Slack asked us to leave, still writing their last acks.
    let mut leaving: Vec<JoinHandle<bool>> = Vec::new();
    // The connection that asked to be replaced, closed when its replacement says hello.
    let mut replaced: Option<CancellationToken> = None;
    tokio::select! {
        _ = tokio::time::sleep(STAGGER * slot) => {}
        _ = shared.stop.cancelled() => return,
    }
    while !shared.stop.is_cancelled() {
        leaving.retain(|h| !h.is_finished());
        let opened = tokio::select! {
            o = open(&shared) => o,
            _ = shared.stop.cancelled() => break,
        };
        let ws = match opened {
            Ok(ws) => ws,
            Err(e) => {
                let wait = backoff.max(e.retry_after.unwrap_or_default());
                tracing::warn!(slot, error = %e.detail, retry_in_ms = wait.as_millis() as u64,
                    "cannot open a Socket Mode connection");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = shared.stop.cancelled() => break,
                }
            }
        };
        let retire = CancellationToken::new();
        let (hello_tx, hello_rx) = oneshot::channel();
        let (refresh_tx, refresh_rx) = oneshot::channel();
        let serving = tokio::spawn(serve(
            ws,
            shared.clone(),
            slot,
            retire.clone(),
            hello_tx,
            refresh_tx,
        ));
        if let Some(old) = replaced.take() {
            // The old one goes only once this one is open; if this one never says hello, the
            // old one stays until Slack closes it.
            tokio::spawn(async move {
                if hello_rx.await.is_ok() {
                    old.cancel();
                }
            });
        }
        if refresh_rx.await.is_ok() {
            // Slack asked this (open) connection to go: open the next one now, before it closes.
            backoff = MIN_BACKOFF;
            replaced = Some(retire);
            leaving.push(serving);
            continue;
        }
        // Closed (or shut down) without a disconnect.
        let said_hello = serving.await.unwrap_or(false);
        if shared.stop.is_cancelled() {
            break;
        }
        if said_hello {
            backoff = MIN_BACKOFF;
        }
        tracing::info!(
            slot,
            retry_in_ms = backoff.as_millis() as u64,
            "a Socket Mode connection closed; reconnecting"
        );
        let wait = backoff;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.stop.cancelled() => break,
        }
    }
    for h in leaving {
        let _ = h.await;
    }
}

struct OpenError {
    detail: String,
    retry_after: Option<Duration>,
}

impl OpenError {
    fn new(detail: String) -> Self {
        OpenError {
            detail,
            retry_after: None,
        }
    }
}

/// `apps.connections.open`, then the WebSocket handshake with the URL it gave.
async fn open(shared: &Shared) -> Result<Ws, OpenError> {
    let session = shared.client.open_session(&shared.token);
    let request = SlackApiAppsConnectionOpenRequest::new();
    let url = match tokio::time::timeout(CONNECT_TIMEOUT, session.apps_connections_open(&request))
        .await
    {
        Err(_) => {
            return Err(OpenError::new(
                "apps.connections.open did not answer in time".into(),
            ));
        }
        Ok(Err(SlackClientError::RateLimitError(rl))) => {
            return Err(OpenError {
                detail: "apps.connections.open: rate limited".into(),
                retry_after: rl.retry_after,
            });
        }
        Ok(Err(e)) => {
            return Err(OpenError::new(format!(
                "apps.connections.open: {}",
                redact(&e.to_string())
            )));
        }
        Ok(Ok(answer)) => answer.url.0.to_string(),
    };
    // The URL's query is a ticket to connect as this app: never in a log line.
    let hidden = |text: String| redact(&text.replace(&url, "the Socket Mode URL"));
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake(url.as_str())).await {
        Err(_) => Err(OpenError::new(
            "the Socket Mode handshake did not finish in time".into(),
        )),
        Ok(Err(e)) => Err(OpenError::new(hidden(format!(
            "the Socket Mode handshake failed: {e}"
        )))),
        Ok(Ok(ws)) => Ok(ws),
    }
}

/// The WebSocket handshake, on a socket with TCP_NODELAY. An ack is one small frame, and
/// Nagle's algorithm would hold it until the frame before it is acknowledged: up to the next
/// envelope Slack sends on this socket (9-10 ms at 200 envelopes a second in the e2e bench), or
/// a round trip to Slack.
async fn handshake(url: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map(|(ws, _)| ws)
}

/// What the writer task sends.
enum Out {
    Frame(Message),
    /// Write what is queued, then close.
    Close,
}

/// Why a connection's reader is winding down.
#[derive(Clone, Copy, PartialEq)]
enum Closing {
    /// Shutdown: envelopes arriving now are left unacked, for Slack to redeliver elsewhere.
    Stop,
    /// Replaced after a `disconnect`: envelopes still arriving are handled.
    Retire,
}

/// Serves one connection until it closes, is replaced or the app stops. Returns whether it
/// said hello. `hello` fires on hello; `refresh` when Slack asks for a new connection.
async fn serve(
    ws: Ws,
    shared: Arc<Shared>,
    slot: u32,
    retire: CancellationToken,
    hello: oneshot::Sender<()>,
    refresh: oneshot::Sender<()>,
) -> bool {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let mut writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Frame(m) => {
                    if sink.send(m).await.is_err() {
                        // The socket is gone: the acks not written are redelivered by Slack.
                        return;
                    }
                }
                Out::Close => break,
            }
        }
        let _ = sink.close().await;
    });

    let mut conn = Conn {
        shared: shared.clone(),
        slot,
        tx: tx.clone(),
        hello: Some(hello),
        refresh: Some(refresh),
        said_hello: false,
        handlers: JoinSet::new(),
    };
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    let mut closing: Option<(Closing, Instant)> = None;
    let mut peer_gone = false;
    loop {
        if let Some((_, deadline)) = closing
            && (conn.handlers.is_empty() || Instant::now() >= deadline)
        {
            break;
        }
        let deadline = closing.map_or_else(|| Instant::now() + SILENT_FOR, |(_, d)| d);
        tokio::select! {
            _ = shared.stop.cancelled(), if closing.is_none() => {
                closing = Some((Closing::Stop, Instant::now() + STOP_GRACE));
            }
            _ = retire.cancelled(), if closing.is_none() => {
                closing = Some((Closing::Retire, Instant::now() + RETIRE_GRACE));
            }
            Some(_) = conn.handlers.join_next(), if !conn.handlers.is_empty() => {}
            _ = tokio::time::sleep_until(deadline), if closing.is_some() => {}
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_FOR {
                    tracing::warn!(slot, "a Socket Mode connection went silent; reconnecting");
                    peer_gone = true;
                    break;
                }
                let _ = tx.send(Out::Frame(Message::Ping(Vec::new().into())));
            }
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    None => {
                        peer_gone = true;
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::info!(slot, error = %redact(&e.to_string()),
                            "a Socket Mode connection failed");
                        peer_gone = true;
                        break;
                    }
                    Some(Ok(Message::Text(text))) => {
                        let stopping = closing.is_some_and(|(why, _)| why == Closing::Stop);
                        conn.on_text(text.as_str(), stopping).await;
                    }
                    Some(Ok(Message::Binary(b))) => {
                        tracing::warn!(slot, bytes = b.len(), "ignored a binary Socket Mode frame");
                    }
                    // Pings are answered by tungstenite; a close is answered too, and the
                    // stream then ends.
                    Some(Ok(_)) => {}
                }
            }
        }
    }
    // Handlers still running finish on their own; their acks no longer have a socket.
    conn.handlers.detach_all();
    if conn.said_hello {
        shared.ctx.open.send_modify(|n| *n = n.saturating_sub(1));
    }
    if peer_gone {
        writer.abort();
    } else {
        let _ = tx.send(Out::Close);
        // Read on until Slack answers the close, so that the handshake completes.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            let _ = (&mut writer).await;
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
        writer.abort();
    }
    tracing::info!(slot, "Socket Mode connection closed");
    conn.said_hello
}

/// One connection's reader state.
struct Conn {
    shared: Arc<Shared>,
    slot: u32,
    tx: mpsc::UnboundedSender<Out>,
    hello: Option<oneshot::Sender<()>>,
    refresh: Option<oneshot::Sender<()>>,
    said_hello: bool,
    handlers: JoinSet<()>,
}

impl Conn {
    /// A text frame: hello, disconnect, or an envelope handed to its own task. Anything else
    /// is logged (never its content, which may hold people's words) and skipped.
    async fn on_text(&mut self, text: &str, stopping: bool) {
        let read_at = Instant::now();
        let slot = self.slot;
        let Ok(mut frame) = serde_json::from_str::<Value>(text) else {
            tracing::warn!(
                slot,
                bytes = text.len(),
                "ignored a Socket Mode frame that is not JSON"
            );
            return;
        };
        let kind = frame
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match kind.as_str() {
            "hello" => {
                if !self.said_hello {
                    self.said_hello = true;
                    self.shared.ctx.open.send_modify(|n| *n += 1);
                    tracing::info!("connected to Slack (Socket Mode)");
                }
                if let Some(h) = self.hello.take() {
                    let _ = h.send(());
                }
            }
            "disconnect" => {
                let reason = frame.get("reason").and_then(Value::as_str).unwrap_or("");
                tracing::info!(slot, reason, "Slack asked for a new Socket Mode connection");
                // Before hello (e.g. `too_many_websockets`) the connection just closes, and
                // is reopened with backoff rather than at once.
                if self.said_hello
                    && let Some(r) = self.refresh.take()
                {
                    let _ = r.send(());
                }
            }
            _ => {
                let Some(envelope_id) = frame
                    .get("envelope_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    tracing::warn!(
                        slot,
                        kind,
                        "ignored a Socket Mode frame without an envelope"
                    );
                    return;
                };
                if stopping {
                    // Not acked: Slack redelivers it to another connection or process.
                    return;
                }
                let accepts = frame
                    .get("accepts_response_payload")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let payload = frame
                    .get_mut("payload")
                    .map(Value::take)
                    .unwrap_or(Value::Null);
                let permit = tokio::select! {
                    p = self.shared.permits.clone().acquire_owned() => p,
                    _ = self.shared.stop.cancelled() => return,
                };
                let Ok(permit) = permit else { return };
                let ctx = self.shared.ctx.clone();
                let answer = self.shared.answer;
                let tx = self.tx.clone();
                self.handlers.spawn(async move {
                    let counted = (ctx.clone(), kind.clone());
                    let ack = (answer)(ctx, kind, payload, accepts).await;
                    drop(permit);
                    let body = match ack {
                        Ack::Withheld => return,
                        Ack::Bare => json!({ "envelope_id": envelope_id }),
                        Ack::With(payload) => {
                            json!({ "envelope_id": envelope_id, "payload": payload })
                        }
                    };
                    // A closed connection drops the ack: Slack redelivers.
                    let _ = tx.send(Out::Frame(Message::Text(body.to_string().into())));
                    let (ctx, kind) = counted;
                    ctx.api.metrics().acked(&kind, read_at.elapsed());
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::MaybeTlsStream;

    #[tokio::test]
    async fn the_socket_sends_each_frame_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_tungstenite::accept_async(tcp).await.unwrap()
        });
        let ws = super::handshake(&format!("ws://{addr}/link"))
            .await
            .unwrap();
        let MaybeTlsStream::Plain(tcp) = ws.get_ref() else {
            panic!("a plain socket to ws://");
        };
        assert!(
            tcp.nodelay().unwrap(),
            "Nagle's algorithm would hold acks back"
        );
        drop(server.await.unwrap());
    }
}
