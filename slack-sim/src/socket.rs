//! Socket Mode: the `/link/` WebSocket, hello/disconnect frames, round-robin envelope delivery, acks and redelivery.
//! Knows nothing of what envelopes mean; control.rs builds payloads and decides what an ack does.

use crate::Inner;
use crate::state::{AckRecord, EnvelopeRecord};
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Slack allows this many live connections per app; one more gets `too_many_websockets`.
pub const MAX_CONNECTIONS: usize = 10;
/// Events are redelivered up to this many times.
pub const MAX_RETRIES: u32 = 3;
const HOST: &str = "applink-sim-1";

enum Out {
    Text(String),
    Close,
}

struct Conn {
    id: u64,
    tx: mpsc::UnboundedSender<Out>,
    /// False once a disconnect asked the client to go away: no new envelopes go there.
    routable: bool,
    closed: watch::Receiver<bool>,
}

struct Pending {
    tx: oneshot::Sender<Option<Value>>,
    sent_at: Instant,
    envelope_type: String,
    retry_attempt: u32,
    conn_id: u64,
}

#[derive(Default)]
struct HubInner {
    conns: Vec<Conn>,
    rr: usize,
    next_conn_id: u64,
    pending: HashMap<String, Pending>,
    /// envelope id → (type, sent_at, attempt, conn) for acks that arrive after the timeout.
    sent: HashMap<String, (String, Instant, u32, u64)>,
}

/// The live Socket Mode connections.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<HubInner>,
}

/// How one delivery attempt ended.
#[derive(Debug)]
pub enum Delivery {
    Acked {
        envelope_id: String,
        payload: Option<Value>,
    },
    Timeout {
        envelope_id: String,
    },
    Closed {
        envelope_id: String,
    },
    NoConnection,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    pub fn routable_count(&self) -> usize {
        self.lock().conns.iter().filter(|c| c.routable).count()
    }

    pub fn connection_ids(&self) -> Vec<u64> {
        self.lock().conns.iter().map(|c| c.id).collect()
    }

    /// Picks the next routable connection, round-robin.
    fn pick(&self) -> Option<(u64, mpsc::UnboundedSender<Out>, watch::Receiver<bool>)> {
        let mut h = self.lock();
        let live: Vec<usize> = (0..h.conns.len())
            .filter(|&i| h.conns[i].routable)
            .collect();
        if live.is_empty() {
            return None;
        }
        let i = live[h.rr % live.len()];
        h.rr = h.rr.wrapping_add(1);
        let c = &h.conns[i];
        Some((c.id, c.tx.clone(), c.closed.clone()))
    }

    /// Sends a raw text frame to every (or one) connection; returns how many got it.
    pub fn send_raw(&self, text: &str, conn: Option<u64>) -> usize {
        let h = self.lock();
        h.conns
            .iter()
            .filter(|c| conn.is_none_or(|id| id == c.id))
            .filter(|c| c.tx.send(Out::Text(text.to_string())).is_ok())
            .count()
    }

    /// Sends `disconnect` with `reason`; for `refresh_requested` (and `link_disabled`) also closes the socket.
    pub fn disconnect(&self, reason: &str, conn: Option<u64>) -> usize {
        let frame = json!({"type": "disconnect", "reason": reason, "debug_info": {"host": HOST}})
            .to_string();
        let close = matches!(reason, "refresh_requested" | "link_disabled");
        let mut h = self.lock();
        let mut n = 0;
        for c in h
            .conns
            .iter_mut()
            .filter(|c| conn.is_none_or(|id| id == c.id))
        {
            if c.tx.send(Out::Text(frame.clone())).is_ok() {
                n += 1;
            }
            if close {
                c.routable = false;
                let _ = c.tx.send(Out::Close);
            }
        }
        n
    }

    fn close_all(&self) {
        let h = self.lock();
        for c in &h.conns {
            let _ = c.tx.send(Out::Close);
        }
    }
}

#[derive(serde::Deserialize)]
pub struct LinkQuery {
    ticket: Option<String>,
}

/// GET /link/?ticket=N — one ticket per connection, as issued by apps.connections.open.
pub async fn link(
    AxState(inner): AxState<Arc<Inner>>,
    Query(q): Query<LinkQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let ok = inner.with(
        |s| match q.ticket.as_ref().and_then(|t| s.tickets.get_mut(t)) {
            Some(used) if !*used => {
                *used = true;
                true
            }
            _ => false,
        },
    );
    if !ok {
        return (StatusCode::UNAUTHORIZED, "invalid or used ticket").into_response();
    }
    ws.on_upgrade(move |socket| serve_socket(inner, socket))
}

async fn serve_socket(inner: Arc<Inner>, socket: WebSocket) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let r = match out {
                Out::Text(t) => sink.send(WsMessage::Text(t.into())).await,
                Out::Close => {
                    let _ = sink.send(WsMessage::Close(None)).await;
                    break;
                }
            };
            if r.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let (closed_tx, closed_rx) = watch::channel(false);
    let conn_id = {
        let mut h = inner.hub.lock();
        h.next_conn_id += 1;
        let id = h.next_conn_id;
        if h.conns.len() >= MAX_CONNECTIONS {
            let frame = json!({"type": "disconnect", "reason": "too_many_websockets",
                "num_connections": h.conns.len(), "debug_info": {"host": HOST},
                "connection_info": {"app_id": inner.cfg.app_id}});
            let _ = tx.send(Out::Text(frame.to_string()));
            let _ = tx.send(Out::Close);
            None
        } else {
            // hello is queued before the connection becomes routable, so it is always the first frame.
            let hello = json!({"type": "hello", "num_connections": h.conns.len() + 1,
                "debug_info": {"host": HOST, "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": inner.cfg.app_id}});
            let _ = tx.send(Out::Text(hello.to_string()));
            h.conns.push(Conn {
                id,
                tx: tx.clone(),
                routable: true,
                closed: closed_rx,
            });
            Some(id)
        }
    };
    inner.changed.notify_waiters();
    let Some(conn_id) = conn_id else {
        drop(tx);
        let _ = writer.await;
        return;
    };
    tracing::info!(conn_id, "socket mode connection opened");

    let mut shutdown = inner.shutdown.subscribe();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(WsMessage::Text(t))) => on_frame(&inner, conn_id, t.as_str()),
                Some(Ok(WsMessage::Binary(_))) => {
                    inner.with(|s| s.fail("binary_frame", None, None, format!("connection {conn_id} sent a binary frame")));
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                // Pings are answered by the library while we keep reading.
                Some(Ok(_)) => {}
            },
            _ = shutdown.wait_for(|v| *v) => {
                let _ = tx.send(Out::Close);
                break;
            }
        }
    }
    {
        let mut h = inner.hub.lock();
        h.conns.retain(|c| c.id != conn_id);
    }
    let _ = closed_tx.send(true);
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    inner.changed.notify_waiters();
    tracing::info!(conn_id, "socket mode connection closed");
}

/// A client frame: acks are `{"envelope_id":…[,"payload":…]}`; anything else is recorded as a failure.
fn on_frame(inner: &Inner, conn_id: u64, text: &str) {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            inner.with(|s| {
                s.fail(
                    "bad_frame",
                    None,
                    None,
                    format!("connection {conn_id}: {e}: {text}"),
                )
            });
            return;
        }
    };
    let Some(id) = v.get("envelope_id").and_then(Value::as_str) else {
        inner.with(|s| s.fail("bad_frame", None, None, format!("no envelope_id: {text}")));
        return;
    };
    let payload = v.get("payload").cloned();
    let (pending, sent) = {
        let mut h = inner.hub.lock();
        (h.pending.remove(id), h.sent.get(id).cloned())
    };
    let rec = match (&pending, sent) {
        (Some(p), _) => {
            let latency = p.sent_at.elapsed();
            AckRecord {
                envelope_id: id.into(),
                envelope_type: p.envelope_type.clone(),
                connection_id: conn_id,
                retry_attempt: p.retry_attempt,
                latency_ms: latency.as_millis() as u64,
                latency_us: latency.as_micros() as u64,
                payload: payload.clone(),
                in_time: true,
            }
        }
        (None, Some((ty, at, attempt, _))) => {
            let latency = at.elapsed();
            AckRecord {
                envelope_id: id.into(),
                envelope_type: ty,
                connection_id: conn_id,
                retry_attempt: attempt,
                latency_ms: latency.as_millis() as u64,
                latency_us: latency.as_micros() as u64,
                payload: payload.clone(),
                in_time: false,
            }
        }
        (None, None) => {
            inner.with(|s| s.fail("unknown_ack", Some(id), None, text.to_string()));
            return;
        }
    };
    if let Some(p) = &pending
        && p.conn_id != conn_id
    {
        tracing::warn!(
            id,
            "ack arrived on a different connection than the envelope"
        );
    }
    inner.with(|s| s.acks.push(rec));
    if let Some(p) = pending {
        let _ = p.tx.send(payload);
    }
}

impl Inner {
    /// Sends one envelope to one connection and waits up to the ack timeout.
    pub(crate) async fn deliver_once(
        &self,
        envelope_type: &str,
        payload: &Value,
        accepts_response_payload: bool,
        retry_attempt: u32,
        event_id: Option<&str>,
    ) -> Delivery {
        let Some((conn_id, tx, mut closed)) = self.hub.pick() else {
            return Delivery::NoConnection;
        };
        let envelope_id = uuid::Uuid::new_v4().to_string();
        let mut env = json!({"envelope_id": envelope_id, "type": envelope_type,
            "payload": payload, "accepts_response_payload": accepts_response_payload});
        let retry_reason = if retry_attempt == 0 { "" } else { "timeout" };
        if envelope_type == "events_api" {
            env["retry_attempt"] = json!(retry_attempt);
            env["retry_reason"] = json!(retry_reason);
        }
        let (ack_tx, ack_rx) = oneshot::channel();
        {
            let mut h = self.hub.lock();
            let now = Instant::now();
            h.pending.insert(
                envelope_id.clone(),
                Pending {
                    tx: ack_tx,
                    sent_at: now,
                    envelope_type: envelope_type.into(),
                    retry_attempt,
                    conn_id,
                },
            );
            h.sent.insert(
                envelope_id.clone(),
                (envelope_type.into(), now, retry_attempt, conn_id),
            );
        }
        self.with(|s| {
            s.envelopes.push(EnvelopeRecord {
                envelope_id: envelope_id.clone(),
                envelope_type: envelope_type.into(),
                connection_id: conn_id,
                retry_attempt,
                retry_reason: retry_reason.into(),
                event_id: event_id.map(String::from),
            })
        });
        if tx.send(Out::Text(env.to_string())).is_err() {
            self.hub.lock().pending.remove(&envelope_id);
            return Delivery::Closed { envelope_id };
        }
        let timeout = Duration::from_millis(self.cfg.ack_timeout_ms);
        let result = tokio::select! {
            r = ack_rx => match r {
                Ok(payload) => Delivery::Acked { envelope_id: envelope_id.clone(), payload },
                Err(_) => Delivery::Closed { envelope_id: envelope_id.clone() },
            },
            _ = tokio::time::sleep(timeout) => Delivery::Timeout { envelope_id: envelope_id.clone() },
            _ = closed.wait_for(|c| *c) => Delivery::Closed { envelope_id: envelope_id.clone() },
        };
        self.hub.lock().pending.remove(&envelope_id);
        result
    }

    /// Waits until some connection can take an envelope, or shutdown.
    pub(crate) async fn wait_routable(&self, max: Duration) -> bool {
        let deadline = Instant::now() + max;
        while Instant::now() < deadline && !*self.shutdown.borrow() {
            if self.hub.routable_count() > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.hub.routable_count() > 0
    }

    pub(crate) fn close_all_sockets(&self) {
        self.hub.close_all();
    }
}
