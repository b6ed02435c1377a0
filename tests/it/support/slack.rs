//! `SlackTestApp`: the real app connected to slack-sim, with people to act as.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::clock::ManualClock;
use gatehouse::{App, AppOptions};
use slack_sim::{ChannelSeed, SimConfig, SimHandle, SlackSim, UserSeed, UsergroupSeed};

use super::app::{CATALOG, at, config_for};
use super::db::TestDb;
use super::platform::FakePlatform;

pub const CHANNEL: &str = "C0ACCESS";
pub const BOT: &str = "U0BOT";

pub fn person(id: &str, name: &str, tz: &str) -> UserSeed {
    UserSeed {
        id: id.into(),
        name: name.into(),
        real_name: name.into(),
        email: Some(format!("{name}@example.com")),
        tz: tz.into(),
        tz_offset: 0,
        ..UserSeed::default()
    }
}

/// Alice (Paris) and Dave ask; Bob and Rita review analytics; Fiona finance; Ada administers.
/// The shipped manifest's Messages tab setting: the tests write to the app in its DMs only
/// as people could (slack-sim refuses `message_bot` when the tab is read-only).
fn messages_tab_read_only() -> bool {
    include_str!("../../../manifest.yml")
        .lines()
        .find_map(|l| l.trim().strip_prefix("messages_tab_read_only_enabled:"))
        .is_none_or(|v| v.trim() != "false")
}

pub fn workspace() -> SimConfig {
    let mut c = SimConfig::demo();
    c.messages_tab_read_only = messages_tab_read_only();
    c.bot_user_id = BOT.into();
    c.ack_timeout_ms = 3000;
    let people = [
        ("UALICE", "alice", "Europe/Paris"),
        ("UBOB", "bob", "Europe/London"),
        ("URITA", "rita", "America/New_York"),
        ("UFIONA", "fiona", "Europe/Berlin"),
        ("UADA", "ada", "UTC"),
        ("UDAVE", "dave", "Asia/Tokyo"),
        ("UCARL", "carl", "UTC"),
    ];
    c.users = people.iter().map(|(id, n, tz)| person(id, n, tz)).collect();
    c.users.push(UserSeed {
        is_bot: true,
        ..person(BOT, "gatehouse", "UTC")
    });
    let mut members: Vec<String> = people.iter().map(|p| p.0.to_string()).collect();
    members.push(BOT.into());
    c.channels = vec![
        ChannelSeed {
            id: CHANNEL.into(),
            name: "access-requests".into(),
            is_private: false,
            members: members.clone(),
        },
        ChannelSeed {
            id: "C0GENERAL".into(),
            name: "general".into(),
            is_private: false,
            members: people.iter().map(|p| p.0.to_string()).collect(),
        },
    ];
    c.usergroups = vec![
        UsergroupSeed {
            id: "S0FINANCE".into(),
            handle: "finance-reviewers".into(),
            users: vec!["UCARL".into()],
        },
        // Named by gatehouse.example.toml, which the `serve` tests run with; Gatehouse checks at
        // start that the catalog's user groups exist.
        UsergroupSeed {
            id: "S0DATAREV".into(),
            handle: "data-reviewers".into(),
            users: vec!["UBOB".into()],
        },
    ];
    c
}

pub struct SlackTestApp {
    pub app: App,
    pub sim: SimHandle,
    pub clock: ManualClock,
    pub platform: FakePlatform,
}

impl SlackTestApp {
    pub async fn start(db: &TestDb) -> SlackTestApp {
        Self::start_with(db, &CATALOG, workspace()).await
    }

    pub async fn start_with(db: &TestDb, catalog: &str, workspace: SimConfig) -> SlackTestApp {
        Self::start_full(db, catalog, workspace, false).await
    }

    /// With the real connector registry (the catalog's `manual` connector) instead of the fake platform.
    pub async fn start_by_hand(db: &TestDb) -> SlackTestApp {
        Self::start_full(db, &CATALOG, workspace(), true).await
    }

    async fn start_full(
        db: &TestDb,
        catalog: &str,
        workspace: SimConfig,
        by_hand: bool,
    ) -> SlackTestApp {
        let sim = SlackSim::start(workspace).await.unwrap();
        Self::start_on(db, catalog, sim, by_hand, FakePlatform::default()).await
    }

    /// With the real connector registry of `catalog` (real platforms, secrets from the environment).
    pub async fn start_registry(db: &TestDb, catalog: &str, sim: SimHandle) -> SlackTestApp {
        Self::start_on(db, catalog, sim, true, FakePlatform::default()).await
    }

    /// Another Gatehouse process on the same database, Slack workspace and platform.
    pub async fn another(&self, db: &TestDb) -> SlackTestApp {
        Self::start_on(db, &CATALOG, self.sim.clone(), false, self.platform.clone()).await
    }

    async fn start_on(
        db: &TestDb,
        catalog: &str,
        sim: SimHandle,
        by_hand: bool,
        platform: FakePlatform,
    ) -> SlackTestApp {
        Self::start_env(db, catalog, sim, by_hand, platform, &[]).await
    }

    /// With more settings, e.g. the language model's.
    pub async fn start_env(
        db: &TestDb,
        catalog: &str,
        sim: SimHandle,
        by_hand: bool,
        platform: FakePlatform,
        env: &[(&str, &str)],
    ) -> SlackTestApp {
        Self::start_on_call(db, catalog, sim, by_hand, platform, env, Default::default()).await
    }

    /// With on-call services for auto-approval rules, by `[oncall.<id>]`.
    pub async fn start_on_call(
        db: &TestDb,
        catalog: &str,
        sim: SimHandle,
        by_hand: bool,
        platform: FakePlatform,
        env: &[(&str, &str)],
        on_call: gatehouse::workflow::OnCallServices,
    ) -> SlackTestApp {
        let clock = ManualClock::new(at(2026, 11, 28, 9, 0));
        let provisioner: Arc<dyn gatehouse::workflow::Provisioner> = if by_hand {
            let parsed =
                gatehouse::config::Catalog::parse(std::path::Path::new("test.toml"), catalog)
                    .unwrap();
            Arc::new(
                gatehouse::connectors::Registry::new(&parsed, &|k| std::env::var(k).ok()).unwrap(),
            )
        } else {
            Arc::new(platform.clone())
        };
        let mut opts = AppOptions::new(provisioner);
        opts.clock = Arc::new(clock.clone());
        opts.on_call = on_call;
        // The HTTP endpoints only for tests that ask for them, and then on port 0: tests run
        // in parallel and must never share (or take) a port.
        opts.http = env.iter().any(|(k, _)| *k == "GATEHOUSE_HTTP_ADDR");
        // As `serve` does: ask the platforms at start (off elsewhere, to keep calls countable).
        opts.check_platforms = env.contains(&("TEST_CHECK_PLATFORMS", "on"));
        let api_url = sim.api_url();
        let mut settings = vec![
            ("SLACK_BOT_TOKEN", sim.bot_token()),
            ("SLACK_APP_TOKEN", sim.app_token()),
            ("SLACK_API_URL", api_url.as_str()),
            ("ACCESS_REQUESTS_CHANNEL", CHANNEL),
        ];
        settings.extend_from_slice(env);
        let config = config_for(db, catalog, &settings);
        let app = App::start(config, opts).await.unwrap();
        assert!(
            app.slack_connected(Duration::from_secs(10)).await,
            "no hello from slack-sim"
        );
        SlackTestApp {
            app,
            sim,
            clock,
            platform,
        }
    }

    /// `who` presses the button `action` on channel message `msg`, with the value it carries.
    pub async fn click(&self, who: &str, msg: &slack_sim::Message, action: &str) {
        let target = slack_sim::ButtonTarget::Message {
            channel: CHANNEL.into(),
            ts: msg.ts.clone(),
        };
        self.sim
            .click_button(who, target, action, None, None)
            .await
            .unwrap();
    }

    /// `who` presses the button `action` on `msg`, which asks first, and confirms in its dialog.
    pub async fn click_confirmed(&self, who: &str, msg: &slack_sim::Message, action: &str) {
        let target = slack_sim::ButtonTarget::Message {
            channel: msg.channel.clone(),
            ts: msg.ts.clone(),
        };
        self.sim
            .click_button_confirmed(who, target, action, None, None)
            .await
            .unwrap();
    }

    /// The newest reply in the thread of `parent` (a message in the channel) showing `needle`.
    pub async fn thread_reply(&self, parent: &str, needle: &str) -> slack_sim::Message {
        eventually(&format!("a thread reply saying {needle:?}"), 30, || async {
            self.sim
                .thread(CHANNEL, parent)
                .into_iter()
                .skip(1)
                .rfind(|m| shown(m).contains(needle))
        })
        .await
    }

    /// The status of request `n`, as stored.
    pub async fn status(&self, n: i64) -> gatehouse::domain::Status {
        self.app
            .workflow()
            .request(gatehouse::domain::RequestId::new(n))
            .await
            .unwrap()
            .status
    }

    /// Request `n`'s message in the Access Requests channel, once posted.
    pub async fn request_message(&self, n: i64) -> slack_sim::Message {
        self.request_message_in(CHANNEL, n).await
    }

    pub async fn request_message_in(&self, channel: &str, n: i64) -> slack_sim::Message {
        let title = format!("Access request #{n}");
        eventually("the request's channel message", 30, || async {
            self.sim
                .messages(channel)
                .into_iter()
                .find(|m| shown(m).contains(&title))
        })
        .await
    }

    /// Waits for a DM to `user` containing `needle`; returns what it shows.
    pub async fn dm_for(&self, user: &str, needle: &str) -> String {
        eventually(&format!("a DM to {user} saying {needle:?}"), 30, || async {
            self.sim
                .dms(user)
                .iter()
                .map(shown)
                .find(|text| text.contains(needle))
        })
        .await
    }

    /// What Gatehouse answers `who` to `command text`, seen by them alone (empty when it
    /// answered with a form instead).
    pub async fn reply(&self, who: &str, command: &str, text: &str) -> String {
        let ack = self
            .sim
            .slash_command(who, CHANNEL, command, text)
            .await
            .unwrap();
        ack.payload
            .and_then(|p| p["text"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Waits for a note only `user` sees containing `needle`.
    pub async fn ephemeral_for(&self, user: &str, needle: &str) -> String {
        eventually(&format!("an ephemeral note to {user}"), 30, || async {
            self.sim
                .ephemerals(user)
                .into_iter()
                .map(|e| e.text)
                .find(|text| text.contains(needle))
        })
        .await
    }

    /// `who` reacts ❌ to `msg`, the card of request `n`, then denies in what Gatehouse asks
    /// them: its Deny… button and the reason form, submitted with `reason`.
    pub async fn deny_by_cross(&self, who: &str, msg: &slack_sim::Message, n: i64, reason: &str) {
        self.sim
            .add_reaction(who, CHANNEL, &msg.ts, "x")
            .await
            .unwrap();
        let asked = eventually(&format!("Gatehouse asking {who} why"), 30, || async {
            self.sim
                .ephemerals(who)
                .into_iter()
                .find(|e| e.text.contains(&format!("You reacted ❌ to request #{n} ")))
        })
        .await;
        let target = slack_sim::ButtonTarget::Ephemeral { ts: asked.ts };
        self.sim
            .click_button(who, target, "deny", None, None)
            .await
            .unwrap();
        let form = eventually("the deny form", 30, || async { self.sim.top_modal(who) }).await;
        let why = serde_json::json!({ "reason": { "reason": { "type": "plain_text_input", "value": reason } } });
        self.sim
            .submit_view(who, form["id"].as_str().unwrap(), why)
            .await
            .unwrap();
    }

    /// `reviewer` ✅s request 1 (whose identity is unsettled), clicks the button Gatehouse posts
    /// in the thread, and returns the picker it opened.
    pub async fn approve_and_open_picker(
        &self,
        msg: &slack_sim::Message,
        reviewer: &str,
    ) -> serde_json::Value {
        self.approve_and_open_picker_of(1, msg, reviewer).await
    }

    /// The same for request `id`, whose channel message is `msg`.
    pub async fn approve_and_open_picker_of(
        &self,
        id: i64,
        msg: &slack_sim::Message,
        reviewer: &str,
    ) -> serde_json::Value {
        self.tick(reviewer, msg).await;
        let ask = eventually("the identity question", 30, || async {
            self.sim
                .thread(CHANNEL, &msg.ts)
                .into_iter()
                .find(|m| shown(m).contains("which platform user or role"))
        })
        .await;
        let target = slack_sim::ButtonTarget::Message {
            channel: CHANNEL.into(),
            ts: ask.ts,
        };
        self.sim
            .click_button(
                reviewer,
                target,
                "choose_identity",
                Some(&id.to_string()),
                None,
            )
            .await
            .unwrap();
        eventually("the picker", 30, || async { self.sim.top_modal(reviewer) }).await
    }

    /// `reviewer` settles the identity in the picker `form`: chosen among the synced users it
    /// finds as they type it when the picker searches them, typed otherwise.
    pub async fn pick(&self, form: &serde_json::Value, reviewer: &str, identity: &str) {
        let element = &form["blocks"][0]["element"];
        let chosen = if element["type"] == "external_select" {
            let found = self.offered(form, reviewer, identity).await;
            assert!(
                found.iter().any(|o| o == identity),
                "{identity} is offered: {found:?}"
            );
            serde_json::json!({ "identity": { "identity": { "type": "external_select",
                "selected_option": { "text": { "type": "plain_text", "text": identity }, "value": identity } } } })
        } else {
            serde_json::json!({ "identity": { "identity": { "type": "plain_text_input", "value": identity } } })
        };
        let out = self
            .sim
            .submit_view(reviewer, form["id"].as_str().unwrap(), chosen)
            .await
            .unwrap();
        assert!(out.errors.is_none(), "{identity}: {:?}", out.errors);
    }

    /// The platform users `reviewer` is offered on typing `query` in the picker `form`, in
    /// order (none when the picker asks to type one).
    pub async fn offered(
        &self,
        form: &serde_json::Value,
        reviewer: &str,
        query: &str,
    ) -> Vec<String> {
        if form["blocks"][0]["element"]["type"] != "external_select" {
            return Vec::new();
        }
        let view = form["id"].as_str().unwrap();
        let ack = self
            .sim
            .block_suggestion(reviewer, view, "identity", "identity", query)
            .await
            .unwrap();
        assert!(ack.acked, "{ack:?}");
        ack.payload.unwrap_or_default()["options"]
            .as_array()
            .map(|o| {
                o.iter()
                    .filter_map(|o| o["value"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Alice asks for analytics-ro for 8 h as request #1 and Bob's ✅ makes it active; returns
    /// once she has been told (so later DMs to her are answers, not this news arriving late).
    pub async fn alice_gets_analytics_from_bob(&self) {
        let msg = self.ask("UALICE", "analytics-ro 8h", 1).await;
        self.tick("UBOB", &msg).await;
        self.wait_for(1, gatehouse::domain::Status::Active).await;
        self.dm_for("UALICE", "You now have access to *Analytics (read-only)*")
            .await;
    }

    /// Waits until request `id` is `status`.
    pub async fn wait_for(&self, id: i64, status: gatehouse::domain::Status) {
        eventually(&format!("request {id} {status}"), 30, || async {
            (self.status(id).await == status).then_some(())
        })
        .await;
    }

    /// Waits until no job is due or running: what the workers had to do by now is done, so
    /// a test may say what did not happen.
    pub async fn settled(&self) {
        eventually("the due jobs to be done", 30, || async {
            let due = gatehouse::store::jobs::due(self.app.db().conn(), self.clock.now()).await;
            (due.unwrap().0 == 0).then_some(())
        })
        .await;
    }

    /// Moves the clock `by` once the workers have settled. The manual clock also judges job
    /// leases: moving it past a running job's lease would hand that job to a second worker, as
    /// if its process had died, and both would post (a post waits out Slack's pace for a
    /// second or so). Real time never jumps like that; `crash_after_running` does it on purpose.
    pub async fn later(&self, by: chrono::Duration) {
        self.settled().await;
        self.clock.advance(by);
    }

    /// Moves the clock `by` (past request `id`'s expiry), runs what is due, and waits for the
    /// request to have expired.
    pub async fn expire(&self, id: i64, by: chrono::Duration) {
        self.later(by).await;
        self.run_jobs().await;
        self.wait_for(id, gatehouse::domain::Status::Expired).await;
    }

    /// As if the process running job `id` was killed after its work but before marking it done:
    /// the row stays `running` with a lapsed lease, so the next claim runs it again (attempt + 1).
    pub async fn crash_after_running(&self, id: i64) {
        use gatehouse::store::Conn;
        // The lease ends where the job was due; a minute later it has lapsed.
        self.clock.advance(chrono::Duration::minutes(1));
        let sql = format!(
            "UPDATE jobs SET status = 'running', lease_until = run_at, locked_by = 'a-killed-worker', \
             finished_at = NULL WHERE id = {id}"
        );
        self.app.db().conn().execute_unprepared(&sql).await.unwrap();
    }

    /// The notify job of request `n` for `notice` and `audience` (as stored: snake_case), once done.
    pub async fn done_notify_job(
        &self,
        n: i64,
        notice: &str,
        audience: &str,
    ) -> gatehouse::store::jobs::Job {
        let payload = format!(
            r#"{{"kind":"notify","request":{n},"notice":"{notice}","audience":"{audience}"}}"#
        );
        eventually(
            &format!("the {notice} notice to {audience}"),
            30,
            || async {
                gatehouse::store::jobs::for_request(self.app.db().conn(), n)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|j| {
                        j.payload == payload && j.status == gatehouse::store::jobs::JobStatus::Done
                    })
            },
        )
        .await
    }

    pub async fn run_jobs(&self) -> usize {
        self.app.run_due_jobs().await.unwrap()
    }

    pub async fn stop(self) {
        self.app.shutdown().await;
        self.sim.shutdown().await;
    }

    /// Stops Gatehouse but not the Slack workspace, to start it again (with another catalog).
    pub async fn restart_later(self) -> SimHandle {
        self.app.shutdown().await;
        self.sim
    }
}

/// What a person reads in a message: its blocks as text, or its fallback text.
pub fn shown(m: &slack_sim::Message) -> String {
    m.blocks
        .as_ref()
        .map(slack_sim::render_text)
        .unwrap_or_else(|| m.text.clone())
}

/// Polls `check` until it returns Some, or fails the test after `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_saying(what, secs, String::new, check).await
}

/// As `eventually`, ending the failure with `said()` (the processes' log, say).
pub async fn eventually_saying<T, F, Fut>(
    what: &str,
    secs: u64,
    said: impl Fn() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}{}",
            said()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
