//! slack-sim: a Slack workspace in one process on 127.0.0.1 — Web API, Socket Mode and a control API.
//!
//! Start it with [`SlackSim::start`], point a Slack client at [`SimHandle::api_url`], and act as people
//! through the methods of [`Sim`] (also served over HTTP under `/_control/`).

pub mod config;
pub mod control;
pub mod control_http;
mod hooks;
pub mod notifications;
pub mod render;
pub mod socket;
pub mod state;
pub mod web_api;

pub use config::{ChannelSeed, ConfigError, SimConfig, UserSeed, UsergroupSeed};
pub use control::{AckOutcome, ButtonTarget, ControlError, EventOutcome, SubmitOutcome};
pub use render::render_text;
pub use state::{
    AckRecord, ApiCall, EnvelopeRecord, Ephemeral, Failure, Message, Posted, Reaction,
};

use serde_json::Value;
use state::State;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};

/// Shared by the HTTP server, the sockets and every [`Sim`] clone.
pub struct Inner {
    pub(crate) cfg: SimConfig,
    pub(crate) state: Mutex<State>,
    /// Woken on every state change so waiters re-check instead of sleeping.
    pub(crate) changed: Notify,
    pub(crate) hub: socket::Hub,
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Every message the app posts or updates, as it arrives (see [`Sim::subscribe_posts`]).
    pub(crate) posts: broadcast::Sender<Posted>,
}

impl Inner {
    /// Runs `f` under the state lock, then wakes waiters.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut s)
        };
        self.changed.notify_waiters();
        r
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&s)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
}

/// Posts a subscriber may fall behind by before it misses some (and is told so).
const POSTS_BUFFER: usize = 1 << 16;

/// The simulator's entry point.
pub struct SlackSim;

impl SlackSim {
    /// Binds 127.0.0.1 (port from the config, else a free one) and serves until the handle is dropped.
    pub async fn start(config: SimConfig) -> Result<SimHandle, StartError> {
        let port = config.port.unwrap_or(0);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| StartError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { port, source })?;
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(&config)),
            cfg: config,
            changed: Notify::new(),
            hub: socket::Hub::default(),
            addr,
            shutdown,
            posts: broadcast::channel(POSTS_BUFFER).0,
        });
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::any(web_api::handle))
            .route("/link", axum::routing::get(socket::link))
            .route("/link/", axum::routing::get(socket::link))
            .route("/hooks/{team}/{token}", axum::routing::post(hooks::respond))
            .merge(control_http::router())
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.wait_for(|v| *v).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "slack-sim server stopped");
            }
        });
        tracing::info!(%addr, "slack-sim listening");
        Ok(SimHandle {
            sim: Sim { inner },
            guard: Arc::new(Guard {
                server: Mutex::new(Some(server)),
            }),
        })
    }
}

/// A cheap, cloneable view of a running simulator: act as people and read what Slack shows.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

struct Guard {
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Owns the running simulator; it shuts down when the last clone is dropped or on [`SimHandle::shutdown`].
#[derive(Clone)]
pub struct SimHandle {
    sim: Sim,
    guard: Arc<Guard>,
}

impl Deref for SimHandle {
    type Target = Sim;
    fn deref(&self) -> &Sim {
        &self.sim
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(h) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // The server task ends by itself once shutdown is signalled; see SimHandle::drop.
            drop(h);
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if Arc::strong_count(&self.guard) == 1 {
            let _ = self.sim.inner.shutdown.send(true);
            self.sim.inner.close_all_sockets();
        }
    }
}

impl SimHandle {
    /// Stops serving and closes every socket; waits up to 2 s for the server to finish.
    pub async fn shutdown(&self) {
        let _ = self.sim.inner.shutdown.send(true);
        self.sim.inner.close_all_sockets();
        let h = self
            .guard
            .server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = h {
            let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
        }
    }

    /// A `Sim` that does not keep the server alive (for handing to spawned tasks).
    pub fn sim(&self) -> Sim {
        self.sim.clone()
    }
}

/// Why a `wait_for_*` helper gave up.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {0:?} waiting for {1}")]
pub struct WaitTimeout(pub Duration, pub String);

impl Sim {
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }
    pub fn port(&self) -> u16 {
        self.inner.addr.port()
    }
    /// `http://127.0.0.1:PORT/api`, no trailing slash (slack-morphism appends `/method`).
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.inner.addr)
    }
    pub fn control_url(&self) -> String {
        format!("http://{}/_control", self.inner.addr)
    }
    pub fn bot_token(&self) -> &str {
        &self.inner.cfg.bot_token
    }
    pub fn app_token(&self) -> &str {
        &self.inner.cfg.app_token
    }

    /// Live Socket Mode connections (including ones asked to refresh but not closed yet).
    pub fn connection_count(&self) -> usize {
        self.inner.hub.connection_count()
    }
    pub fn connection_ids(&self) -> Vec<u64> {
        self.inner.hub.connection_ids()
    }
    /// How many times apps.connections.open succeeded.
    pub fn connections_opened(&self) -> u64 {
        self.inner.read(|s| s.connections_opened)
    }

    /// Top-level messages of a channel (oldest first) with their replies and reactions.
    pub fn messages(&self, channel: &str) -> Vec<Message> {
        self.inner.read(|s| s.channel_view(channel))
    }
    /// A thread: the parent followed by its replies.
    pub fn thread(&self, channel: &str, ts: &str) -> Vec<Message> {
        self.inner.read(|s| {
            let mut v: Vec<Message> = s.find_message(channel, ts).cloned().into_iter().collect();
            v.extend(s.replies(channel, ts));
            v
        })
    }
    pub fn message(&self, channel: &str, ts: &str) -> Option<Message> {
        self.inner.read(|s| s.find_message(channel, ts).cloned())
    }
    /// The bot's DM conversation with `user` (empty if none was opened).
    pub fn dms(&self, user: &str) -> Vec<Message> {
        self.inner.read(|s| {
            s.ims
                .get(user)
                .map(|d| s.channel_view(d))
                .unwrap_or_default()
        })
    }
    /// A direct message between two people (the bot not in it, as on Slack): its channel id.
    pub fn dm_between(&self, a: &str, b: &str) -> String {
        let id = format!(
            "D0{}{}",
            a.trim_start_matches('U'),
            b.trim_start_matches('U')
        );
        self.inner.with(|s| {
            s.channels
                .entry(id.clone())
                .or_insert_with(|| state::ChannelRec {
                    id: id.clone(),
                    name: format!("{a}-{b}"),
                    is_private: true,
                    is_im: true,
                    members: vec![a.to_owned(), b.to_owned()],
                });
        });
        id
    }

    /// The notifications `user` received, oldest first (see `notifications`).
    pub fn notifications(&self, user: &str) -> Vec<notifications::Notification> {
        self.inner.read(|s| {
            s.notifications
                .iter()
                .filter(|n| n.user == user)
                .cloned()
                .collect()
        })
    }

    pub fn im_channel(&self, user: &str) -> Option<String> {
        self.inner.read(|s| s.ims.get(user).cloned())
    }
    pub fn ephemerals(&self, user: &str) -> Vec<Ephemeral> {
        self.inner.read(|s| {
            s.ephemerals
                .iter()
                .filter(|e| e.user == user)
                .cloned()
                .collect()
        })
    }
    /// The user's open modals, bottom first (the last one is what they see).
    pub fn modal_stack(&self, user: &str) -> Vec<Value> {
        self.inner.read(|s| {
            s.modal_stacks
                .get(user)
                .map(|st| {
                    st.iter()
                        .filter_map(|id| s.views.get(id).map(|r| r.view.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    }
    pub fn top_modal(&self, user: &str) -> Option<Value> {
        self.modal_stack(user).pop()
    }
    pub fn view(&self, view_id: &str) -> Option<Value> {
        self.inner
            .read(|s| s.views.get(view_id).map(|r| r.view.clone()))
    }
    pub fn home_view(&self, user: &str) -> Option<Value> {
        self.inner.read(|s| {
            s.homes
                .get(user)
                .and_then(|id| s.views.get(id))
                .map(|r| r.view.clone())
        })
    }
    pub fn acks(&self) -> Vec<AckRecord> {
        self.inner.read(|s| s.acks.clone())
    }
    pub fn envelopes(&self) -> Vec<EnvelopeRecord> {
        self.inner.read(|s| s.envelopes.clone())
    }
    pub fn api_calls(&self) -> Vec<ApiCall> {
        self.inner.read(|s| s.api_calls.clone())
    }
    pub fn api_calls_of(&self, method: &str) -> Vec<ApiCall> {
        self.inner.read(|s| {
            s.api_calls
                .iter()
                .filter(|c| c.method == method)
                .cloned()
                .collect()
        })
    }
    pub fn failures(&self) -> Vec<Failure> {
        self.inner.read(|s| s.failures.clone())
    }

    /// Every message the app posts (`chat.postMessage`) or updates (`chat.update`) from now on,
    /// stamped with the instant its call arrived: for timing replies under load without reading
    /// the whole workspace. A receiver more than 65,536 posts behind gets `Lagged`.
    pub fn subscribe_posts(&self) -> broadcast::Receiver<Posted> {
        self.inner.posts.subscribe()
    }

    /// Events that find no Socket Mode connection open are dropped at once, as for an app that
    /// is down, instead of waiting for one to appear.
    pub fn lose_events_while_disconnected(&self) {
        self.inner.with(|s| s.drop_undeliverable_events = true);
    }

    /// Makes the next chat.postMessage to `target` (a conversation id, or a user for their DM
    /// with the bot) fail with the error `code`, once: a failure in the middle of a job.
    pub fn fail_next_post(&self, target: &str, code: &str) {
        self.inner
            .with(|s| s.post_failures.push((target.to_owned(), code.to_owned())));
    }

    /// Makes the next `times` calls of `method` answer HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit(&self, method: &str, times: u32, retry_after_secs: u64) {
        self.inner.with(|s| {
            s.rate_limits
                .insert(method.to_string(), (times, retry_after_secs))
        });
    }

    /// Makes every call of `method` take `delay` before it is answered: a Slack that is slow
    /// to answer one method, for tests of what waits on it.
    pub fn slow_down(&self, method: &str, delay: std::time::Duration) {
        self.inner
            .with(|s| s.slow_methods.insert(method.to_string(), delay));
    }

    /// Sends `disconnect` to all connections (or one); `refresh_requested` also closes them.
    pub fn disconnect(&self, reason: &str, connection_id: Option<u64>) -> usize {
        self.inner.hub.disconnect(reason, connection_id)
    }
    /// Sends an arbitrary text frame (e.g. malformed JSON) to all connections (or one).
    pub fn send_raw_frame(&self, text: &str, connection_id: Option<u64>) -> usize {
        self.inner.hub.send_raw(text, connection_id)
    }

    /// Polls `check` on every state change until it yields a value or `timeout` passes.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Sim) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = check(self) {
                return Ok(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WaitTimeout(timeout, what.to_string()));
            }
            // Socket state changes (connections) also notify; the cap guards against missed wakeups.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    /// Waits for a top-level message or thread reply in `channel` matching `pred`.
    pub async fn wait_for_message(
        &self,
        channel: &str,
        pred: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Result<Message, WaitTimeout> {
        let what = format!("a message in {channel}");
        self.wait_in(&what, |_| Some(channel.to_owned()), pred, timeout)
            .await
    }

    /// Waits for a DM from the bot to `user` matching `pred`.
    pub async fn wait_for_dm(
        &self,
        user: &str,
        pred: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Result<Message, WaitTimeout> {
        let what = format!("a DM to {user}");
        self.wait_in(&what, |s| s.ims.get(user).cloned(), pred, timeout)
            .await
    }

    /// Waits for a message matching `pred` in the channel `channel` names (once it does).
    async fn wait_in(
        &self,
        what: &str,
        channel: impl Fn(&State) -> Option<String>,
        pred: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Result<Message, WaitTimeout> {
        self.wait_until(what, timeout, |sim| {
            sim.inner.read(|s| {
                let c = channel(s)?;
                s.messages
                    .iter()
                    .find(|m| m.channel == c && pred(m))
                    .cloned()
            })
        })
        .await
    }

    pub async fn wait_for_ephemeral(
        &self,
        user: &str,
        pred: impl Fn(&Ephemeral) -> bool,
        timeout: Duration,
    ) -> Result<Ephemeral, WaitTimeout> {
        self.wait_until(&format!("an ephemeral for {user}"), timeout, |sim| {
            sim.ephemerals(user).into_iter().find(|e| pred(e))
        })
        .await
    }

    /// Waits until the user has an open modal matching `pred` on top.
    pub async fn wait_for_modal(
        &self,
        user: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, WaitTimeout> {
        self.wait_until(&format!("a modal for {user}"), timeout, |sim| {
            sim.top_modal(user).filter(|v| pred(v))
        })
        .await
    }

    pub async fn wait_for_ack(
        &self,
        pred: impl Fn(&AckRecord) -> bool,
        timeout: Duration,
    ) -> Result<AckRecord, WaitTimeout> {
        self.wait_until("an ack", timeout, |sim| {
            sim.inner.read(|s| s.acks.iter().find(|a| pred(a)).cloned())
        })
        .await
    }

    /// Waits until at least `n` Socket Mode connections are live (each got its hello).
    pub async fn wait_hello(&self, n: usize, timeout: Duration) -> Result<(), WaitTimeout> {
        self.wait_until(&format!("{n} connection(s)"), timeout, |sim| {
            (sim.inner.hub.routable_count() >= n).then_some(())
        })
        .await
    }
}
