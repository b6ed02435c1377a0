//! Steps many tests take the same way: ask in the channel, ✅ a request, submit and approve
//! through the workflow.

use gatehouse::domain::{GrantDuration, RequestId, SlackUserId, Status};
use gatehouse::store::requests::Request;
use gatehouse::workflow::{Submission, Via};

use super::app::{TestApp, u};
use super::db::{TestDb, backends};
use serde_json::Value;

use super::slack::{CHANNEL, SlackTestApp, eventually, person, shown, workspace};

impl SlackTestApp {
    /// `who` asks with `/request-access text` (request `n`) and `reviewer`'s ✅ makes it
    /// active; its card.
    pub async fn granted(
        &self,
        who: &str,
        text: &str,
        n: i64,
        reviewer: &str,
    ) -> slack_sim::Message {
        let card = self.ask(who, text, n).await;
        self.tick(reviewer, &card).await;
        self.wait_for(n, Status::Active).await;
        card
    }

    /// `who` runs `/request-access text` in the channel; returns the message of request `n`
    /// (the one this ask makes) once it is posted.
    pub async fn ask(&self, who: &str, text: &str, n: i64) -> slack_sim::Message {
        self.request_access(who, text).await;
        self.request_message(n).await
    }

    /// `who` runs `/request-access text` in the channel, and goes on at once.
    pub async fn request_access(&self, who: &str, text: &str) {
        self.sim
            .slash_command(who, CHANNEL, "/request-access", text)
            .await
            .unwrap();
    }

    /// What request `n`'s message in `channel` shows, once it says `needle`.
    pub async fn card_saying_in(&self, channel: &str, n: i64, needle: &str) -> String {
        eventually(
            &format!("request #{n}'s card saying {needle:?}"),
            30,
            || async {
                let card = shown(&self.request_message_in(channel, n).await);
                card.contains(needle).then_some(card)
            },
        )
        .await
    }

    /// What the channel message `ts` shows, once it says `needle`.
    pub async fn message_saying(&self, ts: &str, needle: &str) -> String {
        eventually(&format!("the message saying {needle:?}"), 30, || async {
            let shown = shown(&self.sim.message(CHANNEL, ts)?);
            shown.contains(needle).then_some(shown)
        })
        .await
    }

    /// The same in the Access Requests channel.
    pub async fn card_saying(&self, n: i64, needle: &str) -> String {
        self.card_saying_in(CHANNEL, n, needle).await
    }

    /// Alice asks for finance-pii for 4 h (request #1) and Fiona approves it with the card's
    /// button; with the by-hand connector its grant then waits for an admin. The card, and the
    /// task Gatehouse posts in its thread for the admins.
    pub async fn finance_waiting_for_hands(&self) -> (slack_sim::Message, slack_sim::Message) {
        let card = self.ask("UALICE", "finance-pii 4h", 1).await;
        self.click("UFIONA", &card, "approve").await;
        let task = self.thread_reply(&card.ts, "By hand, for an admin").await;
        (card, task)
    }

    /// Request `n`, as stored.
    pub async fn request(&self, n: i64) -> Request {
        self.app
            .workflow()
            .request(RequestId::new(n))
            .await
            .unwrap()
    }

    /// How many rows the audit log holds: a count to compare, to show nothing was recorded.
    pub async fn audit_rows(&self) -> i64 {
        gatehouse::store::audit::head(self.app.db().conn())
            .await
            .unwrap()
            .0
    }

    /// What Gatehouse answers `who` to `/access-admin text`, seen by them alone.
    pub async fn admin(&self, who: &str, text: &str) -> String {
        self.reply(who, "/access-admin", text).await
    }

    /// `who` reacts ✅ to `msg` in the channel.
    pub async fn tick(&self, who: &str, msg: &slack_sim::Message) {
        self.react(who, msg, "white_check_mark").await;
    }

    /// `who` reacts with `emoji` (its name, as Slack sends it) to `msg` in the channel.
    pub async fn react(&self, who: &str, msg: &slack_sim::Message, emoji: &str) {
        self.sim
            .add_reaction(who, CHANNEL, &msg.ts, emoji)
            .await
            .unwrap();
    }

    /// The DM `who` got showing `needle`, once sent, as it is now (to press its buttons).
    pub async fn dm_showing(&self, who: &str, needle: &str) -> slack_sim::Message {
        eventually(&format!("a DM to {who} showing {needle:?}"), 30, || async {
            self.sim
                .dms(who)
                .into_iter()
                .find(|m| shown(m).contains(needle))
        })
        .await
    }

    /// The DMs `who` has been sent so far that show `needle`.
    pub fn dms_saying(&self, who: &str, needle: &str) -> Vec<slack_sim::Message> {
        let dms = self.sim.dms(who).into_iter();
        dms.filter(|m| shown(m).contains(needle)).collect()
    }

    /// Waits until the fake platform holds `what` for `who`.
    pub async fn holds_soon(&self, who: &str, what: &str) {
        let waiting = format!("the platform to hold {what} for {who}");
        eventually(&waiting, 30, || async {
            self.platform.holds(who, what).then_some(())
        })
        .await;
    }

    /// `who` submits the form `view_id` with `values`, and Gatehouse accepts it (shows no
    /// errors); what it answered.
    pub async fn submitted(
        &self,
        who: &str,
        view_id: &str,
        values: Value,
    ) -> slack_sim::SubmitOutcome {
        let out = self.sim.submit_view(who, view_id, values).await.unwrap();
        assert!(out.errors.is_none(), "{:?}", out.errors);
        out
    }

    /// `who` presses the button `action`, carrying `value`, on the channel message `ts`.
    pub async fn press(&self, who: &str, ts: &str, action: &str, value: &str) {
        let target = slack_sim::ButtonTarget::Message {
            channel: CHANNEL.into(),
            ts: ts.to_owned(),
        };
        self.sim
            .click_button(who, target, action, Some(value), None)
            .await
            .unwrap();
    }

    /// `who` presses `action` (carrying `value`) on the channel message `ts`; the form it opened.
    pub async fn button_form(&self, who: &str, ts: &str, action: &str, value: &str) -> Value {
        self.press(who, ts, action, value).await;
        eventually(&format!("the {action} form"), 30, || async {
            self.sim.top_modal(who)
        })
        .await
    }
}

/// What a test asks for through the workflow: `resource` for `duration` (the resource's default
/// when None), with `reason`.
pub fn submission<'a>(
    who: &'a SlackUserId,
    resource: &'a str,
    duration: Option<&str>,
    reason: Option<&'a str>,
) -> Submission<'a> {
    Submission {
        requester: who,
        resource,
        duration: duration.map(|d| GrantDuration::parse(d).unwrap()),
        reason,
        identity: None,
        start: None,
    }
}

impl TestApp {
    /// `who` asks for `resource` for `duration` with `reason`; the request it opened.
    pub async fn submit(
        &self,
        who: &str,
        resource: &str,
        duration: Option<&str>,
        reason: Option<&str>,
    ) -> Request {
        let who = u(who);
        self.wf()
            .submit(submission(&who, resource, duration, reason))
            .await
            .unwrap()
    }

    /// `reviewer` approves request `req` by `via`; the request as approved.
    pub async fn approve(&self, req: &Request, reviewer: &str, via: Via) -> Request {
        self.wf().approve(req.id, &u(reviewer), via).await.unwrap()
    }

    /// The status of request `id`, as stored.
    pub async fn status(&self, id: RequestId) -> Status {
        self.wf().request(id).await.unwrap().status
    }

    /// The jobs of request `id` (every kind and status), as stored.
    pub async fn jobs_of(&self, id: RequestId) -> Vec<gatehouse::store::jobs::Job> {
        gatehouse::store::jobs::for_request(self.app.db().conn(), id.get())
            .await
            .unwrap()
    }
}

/// Runs `test` on a fresh `TestApp` on every backend, stopping the app and dropping the
/// database after each (the loop most workflow tests would otherwise spell out).
pub async fn on_every_backend(test: impl AsyncFn(&TestApp, &TestDb)) {
    for db in backends().await {
        let t = TestApp::start(&db).await;
        test(&t, &db).await;
        t.stop().await;
        db.close().await;
    }
}

/// The same with the app connected to slack-sim.
pub async fn in_slack_on_every_backend(test: impl AsyncFn(&SlackTestApp, &TestDb)) {
    in_slack_on_every_backend_with(SlackTestApp::start, test).await;
}

/// The same with Gatehouse as `start` starts it (with another catalog or workspace).
pub async fn in_slack_on_every_backend_with(
    start: impl AsyncFn(&TestDb) -> SlackTestApp,
    test: impl AsyncFn(&SlackTestApp, &TestDb),
) {
    for db in backends().await {
        let t = start(&db).await;
        test(&t, &db).await;
        t.stop().await;
        db.close().await;
    }
}

/// Runs `test` on Gatehouse as `start` starts it on a fresh SQLite database against slack-sim,
/// stopping the app and dropping the database after (the opening and closing most Slack tests
/// would otherwise spell out).
pub async fn in_slack_on_sqlite(
    start: impl AsyncFn(&TestDb) -> SlackTestApp,
    test: impl AsyncFn(&SlackTestApp),
) {
    let db = TestDb::sqlite();
    let t = start(&db).await;
    test(&t).await;
    t.stop().await;
    db.close().await;
}

/// The test workspace with `n` more people, UP00, UP01, …, whose Slack email local parts are
/// `<prefix>_u00`, `<prefix>_u01`, … (their server logins), in every channel; their ids.
pub fn workspace_with_people(prefix: &str, n: usize) -> (slack_sim::SimConfig, Vec<String>) {
    let mut ws = workspace();
    let people: Vec<String> = (0..n).map(|i| format!("UP{i:02}")).collect();
    for (i, id) in people.iter().enumerate() {
        ws.users
            .push(person(id, &format!("{prefix}_u{i:02}"), "Europe/Paris"));
    }
    for c in &mut ws.channels {
        c.members.extend(people.iter().cloned());
    }
    (ws, people)
}
