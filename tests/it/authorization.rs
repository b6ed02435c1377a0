//! Who decides what, as one table, through slack-sim on SQLite and PostgreSQL: every decision
//! people make on a request (✅ and ❌, the card's buttons, choosing the account, an extension,
//! relinquishing, revoking, a by-hand task's Done and Failed, retrying, every `/access-admin`
//! subcommand, and asking about someone else) × every kind of person. `ALLOWED` states the
//! allowed cells once. Every other cell is tried and must change nothing (no audit row, no
//! job, the request as it was), the person being told why or never offered the control.
//! Then each allowed cell is made, on a request of its own, and does what it says.

use gatehouse::domain::Status;
use gatehouse::store;
use serde_json::{Value, json};
use slack_sim::{SimConfig, UserSeed};

use crate::support::backends;
use crate::support::catalog;
use crate::support::db::TestDb;
use crate::support::home::{fresh_home, in_view, offers_button};
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, person, shown, workspace};

// The whole table runs on both backends in one test: it is long, and every cell matters.

const REQUESTER: &str = "UALICE";
const REVIEWER: &str = "UBOB";
const OTHER_REVIEWER: &str = "UFIONA";
const STAGE_TWO: &str = "URITA";
const ADMIN: &str = "UADA";
const GUEST: &str = "UGUEST";
const DEACTIVATED: &str = "UDEAD";
const BOT: &str = "UROBOT";
const ANYONE: &str = "UDAVE";

/// Every kind of person, as the table names them. The guest, the deactivated account and the
/// bot are named as reviewers of the resources: what refuses them is what they are.
const PEOPLE: [(&str, &str); 9] = [
    (REQUESTER, "the requester"),
    (REVIEWER, "a reviewer of the resource"),
    (OTHER_REVIEWER, "a reviewer of another resource"),
    (STAGE_TWO, "a stage-2-only reviewer"),
    (ADMIN, "an admin"),
    (GUEST, "a guest named as reviewer"),
    (DEACTIVATED, "a deactivated account named as reviewer"),
    (BOT, "a bot named as reviewer"),
    (ANYONE, "anyone else"),
];

/// Resources alike, so that one person can hold a request of each in another state: `vault`
/// pending, `lab` active with an ask for more time, `safe` waiting for its grant by hand, `den`
/// failed (`attic` and `cellar` for the requester's later ones). Stage 1 is Bob (and the guest, the deactivated account and the bot);
/// stage 2 is Rita alone. Fiona reviews `finance` only. The connector is `manual`: admins make
/// each change by hand and press Done.
fn catalog() -> String {
    // The warehouse is a platform to link people to.
    let connectors = format!("{}{}", catalog::MANUAL, catalog::stand_in_warehouse());
    let mut c = catalog::with(&connectors, &[catalog::task("finance", &["UFIONA"])]);
    for id in ["vault", "lab", "safe", "den", "attic", "cellar"] {
        c.push_str(&format!(
            r#"
[[resources]]
id = "{id}"
name = "{id}"
connector = "manual"
grant = {{ task = "{id}_access" }}
reason_required = false
default_duration = "2h"
max_duration = "1d"
approval = [
  {{ reviewers = ["UBOB", "UGUEST", "UDEAD", "UROBOT"], need = "any" }},
  {{ reviewers = ["URITA"], need = "any" }},
]
"#
        ));
    }
    c
}

/// The workspace, with a guest, a deactivated account, a bot, and people who ask for the
/// requests the allowed cells use up.
fn people() -> SimConfig {
    let mut ws = workspace();
    ws.users.push(UserSeed {
        is_restricted: true,
        ..person(GUEST, "gus", "UTC")
    });
    ws.users.push(UserSeed {
        deleted: true,
        ..person(DEACTIVATED, "dee", "UTC")
    });
    ws.users.push(UserSeed {
        is_bot: true,
        ..person(BOT, "robot", "UTC")
    });
    let mut extra: Vec<String> = vec![GUEST.into(), DEACTIVATED.into(), BOT.into()];
    for i in 0..40 {
        let id = asker(i);
        ws.users.push(person(&id, &format!("asker{i}"), "UTC"));
        extra.push(id);
    }
    for c in &mut ws.channels {
        c.members.extend(extra.iter().cloned());
    }
    ws
}

fn asker(i: usize) -> String {
    format!("UASKER{i:02}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    ApproveReaction,
    ApproveButton,
    DenyReaction,
    DenyButton,
    ChooseIdentity,
    Cancel,
    ExtensionApprove,
    Relinquish,
    Revoke,
    Done,
    Failed,
    Retry,
    RetryJob,
    /// `/access-admin …`: the subcommand's words, `{n}` for a request of the right state.
    Admin(&'static str),
    /// "Does the requester have vault?", asked by someone else.
    AskAboutOther,
}

use Decision as D;

const ADMIN_COMMANDS: [&str; 10] = [
    "reviewers add <@UCARL> vault",
    "reviewers remove <@UCARL> vault",
    "reviewers list",
    "channel <#C0ACCESS>",
    "grant <@UCARL> finance 1h onboarding",
    "revoke #{n} incident 4411",
    "close #{n} removed by IT",
    "identities <@UALICE>",
    "link <@UCARL> warehouse carl_x",
    "unlink <@UCARL> warehouse",
];

fn decisions() -> Vec<Decision> {
    let mut all = vec![
        D::ApproveReaction,
        D::ApproveButton,
        D::DenyReaction,
        D::DenyButton,
        D::ChooseIdentity,
        D::Cancel,
        D::ExtensionApprove,
        D::Relinquish,
        D::Revoke,
        D::Done,
        D::Failed,
        D::Retry,
        D::RetryJob,
    ];
    all.extend(ADMIN_COMMANDS.map(D::Admin));
    all.push(D::AskAboutOther);
    all
}

/// The table: who may make each decision. Every other cell is refused.
fn allowed(d: Decision) -> &'static [&'static str] {
    match d {
        // Stage 1 waits: its reviewer only (Rita's stage comes after, admins do not approve).
        D::ApproveReaction | D::ApproveButton => &[REVIEWER],
        // A reviewer of any stage ends the request.
        D::DenyReaction | D::DenyButton => &[REVIEWER, STAGE_TWO],
        D::ChooseIdentity | D::ExtensionApprove | D::AskAboutOther => &[REVIEWER, STAGE_TWO, ADMIN],
        D::Cancel | D::Relinquish => &[REQUESTER],
        D::Revoke => &[REQUESTER, REVIEWER, STAGE_TWO, ADMIN],
        D::Done | D::Failed | D::Retry | D::RetryJob | D::Admin(_) => &[ADMIN],
    }
}

/// The state a decision is made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    /// Active, with an ask for more time in the thread.
    Active,
    /// Approved, its grant waiting for an admin by hand.
    ByHand,
    Failed,
    /// Its removal waiting for an admin by hand.
    Revoking,
    /// A job that gave up (a card Slack refused to post).
    FailedJob,
    /// Nothing in particular.
    None,
}

fn state_for(d: Decision) -> State {
    match d {
        D::ApproveReaction
        | D::ApproveButton
        | D::DenyReaction
        | D::DenyButton
        | D::ChooseIdentity
        | D::Cancel => State::Pending,
        D::ExtensionApprove | D::Relinquish | D::Revoke | D::AskAboutOther => State::Active,
        D::Admin(c) if c.starts_with("revoke") => State::Active,
        D::Admin(c) if c.starts_with("close") => State::Revoking,
        D::Done | D::Failed => State::ByHand,
        D::Retry => State::Failed,
        D::RetryJob => State::FailedJob,
        D::Admin(_) => State::None,
    }
}

/// A request in some state, and where its controls are.
#[derive(Debug, Clone)]
struct Fixture {
    n: i64,
    requester: String,
    resource: &'static str,
    card: Option<slack_sim::Message>,
    /// The thread reply the decision's buttons are on (the ask, the by-hand task).
    reply: Option<slack_sim::Message>,
    /// The failed job, for RetryJob.
    job: Option<i64>,
}

/// `who` asks for `resource`; returns the request's number and card.
async fn ask(t: &SlackTestApp, who: &str, resource: &'static str) -> (i64, slack_sim::Message) {
    t.sim
        .slash_command(who, CHANNEL, "/request-access", &format!("{resource} 2h"))
        .await
        .unwrap();
    let id = eventually("the new request", 30, || async {
        store::requests::list_by_requester(
            t.app.db().conn(),
            &gatehouse::domain::SlackUserId::parse(who).unwrap(),
        )
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.resource.as_str() == resource && r.status.is_open())
        .map(|r| r.id.get())
    })
    .await;
    (id, t.request_message(id).await)
}

/// Both stages approve request `n`; returns the by-hand grant task.
async fn approved(t: &SlackTestApp, n: i64, card: &slack_sim::Message) -> slack_sim::Message {
    t.tick(REVIEWER, card).await;
    t.thread_reply(&card.ts, "step 2 of 2").await;
    t.tick(STAGE_TWO, card).await;
    t.wait_for(n, Status::Provisioning).await;
    t.thread_reply(&card.ts, "By hand, for an admin").await
}

async fn fixture(t: &SlackTestApp, state: State, who: &str, resource: &'static str) -> Fixture {
    if state == State::FailedJob {
        // Slack refuses the next card for good: its delivery job gives up.
        t.sim.sim().fail_next_post(CHANNEL, "is_archived");
        t.request_access(who, "finance 1h").await;
        let job = eventually("a delivery job that gave up", 30, || async {
            store::jobs::list(t.app.db().conn(), Some(store::jobs::JobStatus::Failed))
                .await
                .unwrap()
                .into_iter()
                .find(|j| j.kind == "notify")
                .map(|j| j.id)
        })
        .await;
        let n = store::jobs::get(t.app.db().conn(), job)
            .await
            .unwrap()
            .unwrap()
            .request_id
            .unwrap();
        // Giving up is told to the requester and the admins: wait for that to be queued, so
        // that its deliveries settle before any snapshot.
        eventually("the give-up recorded", 30, || async {
            store::audit::for_request(t.app.db().conn(), n)
                .await
                .unwrap()
                .iter()
                .any(|e| e.action == "notice_failed")
                .then_some(())
        })
        .await;
        return Fixture {
            n,
            requester: who.into(),
            resource: "finance",
            card: None,
            reply: None,
            job: Some(job),
        };
    }
    let (n, card) = ask(t, who, resource).await;
    let mut f = Fixture {
        n,
        requester: who.into(),
        resource,
        card: Some(card.clone()),
        reply: None,
        job: None,
    };
    match state {
        State::Pending | State::None | State::FailedJob => {}
        State::ByHand => f.reply = Some(approved(t, n, &card).await),
        State::Failed => {
            let task = approved(t, n, &card).await;
            t.click_confirmed(ADMIN, &task, "by_hand_failed").await;
            t.wait_for(n, Status::Failed).await;
        }
        State::Active | State::Revoking => {
            let task = approved(t, n, &card).await;
            t.click(ADMIN, &task, "by_hand_done").await;
            t.wait_for(n, Status::Active).await;
            if state == State::Revoking {
                t.sim
                    .slash_command(
                        ADMIN,
                        CHANNEL,
                        "/access-admin",
                        &format!("revoke #{n} test"),
                    )
                    .await
                    .unwrap();
                t.wait_for(n, Status::Revoking).await;
                f.reply = Some(t.thread_reply(&card.ts, "undo this").await);
            } else {
                // The holder asks for more time; the ask waits in the thread.
                t.sim
                    .slash_command(who, CHANNEL, "/request-access", &format!("{resource} 1h"))
                    .await
                    .unwrap();
                f.reply = Some(t.thread_reply(&card.ts, "more (request").await);
            }
        }
    }
    f.card = Some(t.request_message(n).await);
    settled(t).await;
    f
}

/// A request as a refused cell must leave it: its status, identity and expiry.
type RequestState = (
    i64,
    Status,
    Option<String>,
    Option<chrono::DateTime<chrono::Utc>>,
);

/// What must not move when a cell is refused.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    audit_rows: i64,
    jobs: usize,
    statuses: Vec<RequestState>,
    reviewers_added: usize,
    links: usize,
}

async fn snapshot(t: &SlackTestApp) -> Snapshot {
    let c = t.app.db().conn();
    Snapshot {
        audit_rows: store::audit::head(c).await.unwrap().0,
        jobs: store::jobs::list(c, None).await.unwrap().len(),
        statuses: store::requests::list_all(c)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id.get(), r.status, r.identity, r.expires_at))
            .collect(),
        reviewers_added: store::roles::all(c).await.unwrap().len(),
        links: store::links::of_connector(c, "manual").await.unwrap().len(),
    }
}

/// Whether a view or message offers a button `action` whose value names request `n`.
fn offers(blocks: &Value, action: &str, n: i64) -> bool {
    offers_button(blocks, action, &|v| {
        v == n.to_string() || v.ends_with(&format!(":{n}"))
    })
}

/// The newest note `who` was shown (ephemeral, DM or modal error) after `since` of them.
async fn told(t: &SlackTestApp, who: &str, since: (usize, usize)) -> String {
    eventually(&format!("{who} told why"), 30, || async {
        let eph = t.sim.ephemerals(who);
        let dms = t.sim.dms(who);
        eph.get(since.0..)
            .and_then(|e| {
                e.iter()
                    .rev()
                    .map(|e| e.text.clone())
                    .find(|s| !s.is_empty())
            })
            .or_else(|| dms.get(since.1..).and_then(|d| d.last().map(shown)))
    })
    .await
}

fn seen(t: &SlackTestApp, who: &str) -> (usize, usize) {
    (t.sim.ephemerals(who).len(), t.sim.dms(who).len())
}

/// Whether `who` could be told anything: Slack shows nothing to a deactivated account or a bot.
fn can_be_told(who: &str) -> bool {
    ![DEACTIVATED, BOT].contains(&who)
}

/// Opens the modal `who`'s click opened, if any.
async fn modal_opened(t: &SlackTestApp, who: &str, callback: &str) -> Option<Value> {
    // The refusal or the modal comes after the click's ack; give either a moment.
    for _ in 0..20 {
        if let Some(m) = t
            .sim
            .top_modal(who)
            .filter(|m| m["callback_id"] == callback)
        {
            return Some(m);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    None
}

/// `who` clicks `button` on `msg`; if that opens the form `callback`, they answer its text input
/// `block` with `value` and submit. Returns the form's errors, if it showed any.
async fn click_and_submit(
    t: &SlackTestApp,
    who: &str,
    msg: &slack_sim::Message,
    button: &str,
    callback: &str,
    block: &str,
    value: &str,
) -> Option<String> {
    t.click(who, msg, button).await;
    let form = modal_opened(t, who, callback).await?;
    let values = json!({ block: { block: { "type": "plain_text_input", "value": value } } });
    let out = t
        .sim
        .submit_view(who, form["id"].as_str().unwrap(), values)
        .await
        .unwrap();
    out.errors.map(|e| e.to_string())
}

/// `who` makes decision `d` on `f`. Returns what they were told, or None when the control was
/// not offered to them at all.
async fn make(
    t: &SlackTestApp,
    who: &str,
    d: Decision,
    f: &Fixture,
    refused: bool,
) -> Option<String> {
    let since = seen(t, who);
    let n = f.n;
    let reply = match d {
        // An allowed ❌ is asked why, and answered: that is the denial.
        D::DenyReaction if !refused => {
            let card = f.card.as_ref().unwrap();
            t.deny_by_cross(who, card, n, "not needed").await;
            None
        }
        D::ApproveReaction | D::DenyReaction => {
            let emoji = if d == D::ApproveReaction {
                "white_check_mark"
            } else {
                "x"
            };
            t.react(who, f.card.as_ref().unwrap(), emoji).await;
            None
        }
        D::ApproveButton => {
            t.click(who, f.card.as_ref().unwrap(), "approve").await;
            None
        }
        D::DenyButton => {
            let card = f.card.as_ref().unwrap();
            click_and_submit(t, who, card, "deny", "deny_request", "reason", "not needed").await
        }
        D::ChooseIdentity => {
            let card = f.card.as_ref().unwrap();
            let (button, form) = ("choose_identity", "choose_identity");
            click_and_submit(t, who, card, button, form, "identity", "carl_x").await
        }
        D::ExtensionApprove => {
            t.click(who, f.reply.as_ref().unwrap(), "extend_approve")
                .await;
            None
        }
        D::Revoke => {
            let card = f.card.as_ref().unwrap();
            click_and_submit(
                t,
                who,
                card,
                "revoke",
                "revoke_access",
                "reason",
                "incident",
            )
            .await
        }
        D::Done | D::Failed => {
            let action = if d == D::Done {
                "by_hand_done"
            } else {
                "by_hand_failed"
            };
            if d == D::Done {
                t.click(who, f.reply.as_ref().unwrap(), action).await;
            } else {
                t.click_confirmed(who, f.reply.as_ref().unwrap(), action)
                    .await;
            }
            None
        }
        // Controls of a person's own App Home: offered there, or not at all.
        D::Cancel | D::Relinquish | D::Retry | D::RetryJob => {
            let (action, value) = match d {
                D::Cancel => ("cancel", n),
                D::Relinquish => ("relinquish", n),
                D::Retry => ("retry", n),
                _ => ("retry_job", f.job.unwrap()),
            };
            // A deactivated account or a bot has no App Home to be offered anything in.
            if !can_be_told(who) {
                return None;
            }
            let h = fresh_home(t, who, "published", |_| true).await;
            if !offers(&h, action, value) {
                return None;
            }
            let target = in_view(&h);
            let value = Some(value.to_string());
            // Cancel and Relinquish take something away: Slack asks first, and they confirm.
            if matches!(d, D::Cancel | D::Relinquish) {
                t.sim
                    .click_button_confirmed(who, target, action, value.as_deref(), None)
                    .await
                    .unwrap();
            } else {
                t.sim
                    .click_button(who, target, action, value.as_deref(), None)
                    .await
                    .unwrap();
            }
            None
        }
        D::Admin(words) => {
            return Some(t.admin(who, &words.replace("{n}", &n.to_string())).await);
        }
        D::AskAboutOther => {
            // The requester asks about someone else (Dave); everyone else about her.
            let subject = if who == f.requester {
                ANYONE
            } else {
                f.requester.as_str()
            };
            t.sim
                .slash_command(
                    who,
                    CHANNEL,
                    "/access-check",
                    &format!("<@{subject}> {}", f.resource),
                )
                .await
                .unwrap();
            None
        }
    };
    match reply {
        Some(r) => Some(r),
        // Allowed, the decision speaks for itself (the audit log, the request).
        None if !refused => None,
        None if can_be_told(who) => Some(told(t, who, since).await),
        None => {
            // Nothing to wait for: let the click be handled before looking.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Some(String::new())
        }
    }
}

/// What a refusal says, for a decision (a word that every refusal of it contains).
fn refusal_says(d: Decision) -> &'static str {
    match d {
        D::ApproveReaction | D::DenyReaction => "did nothing",
        D::ApproveButton => "was not approved",
        D::DenyButton => "was not denied",
        D::ChooseIdentity => "was not changed",
        D::Revoke => "was not revoked",
        D::ExtensionApprove => "was not decided",
        D::Done | D::Failed => "was not confirmed",
        D::Admin(_) => "only a Gatehouse admin can do that",
        D::AskAboutOther => "you can ask about your own access",
        D::Cancel | D::Relinquish | D::Retry | D::RetryJob => "",
    }
}

/// What an allowed decision leaves in the audit log, by its maker.
fn audit_action(d: Decision) -> Option<&'static str> {
    Some(match d {
        D::ApproveReaction | D::ApproveButton => "approval_counted",
        D::DenyReaction | D::DenyButton => "denied",
        D::ChooseIdentity => "identity_chosen",
        D::Cancel => "cancelled",
        D::ExtensionApprove => "extended",
        D::Relinquish | D::Revoke => "revoking",
        D::Done => "provisioned",
        D::Failed => "provisioning_failed",
        D::Retry => "retried",
        D::RetryJob => "job_retried",
        D::AskAboutOther => "access_question",
        D::Admin(c) => match c.split_whitespace().take(2).collect::<Vec<_>>().as_slice() {
            ["reviewers", "add"] => "reviewer_added",
            ["reviewers", "remove"] => "reviewer_removed",
            ["channel", _] => "channel_changed",
            ["grant", _] => "requested",
            ["revoke", _] => "revoking",
            ["close", _] => "closed",
            ["link", _] => "identity_linked",
            ["unlink", _] => "identity_unlinked",
            _ => return None,
        },
    })
}

async fn start(db: &TestDb) -> SlackTestApp {
    let sim = slack_sim::SlackSim::start(people()).await.unwrap();
    let platform = crate::support::platform::FakePlatform::default();
    platform.by_hand_on("manual");
    // Unpaced: the table posts to one channel often, and what is tested is who may act.
    let unpaced = [("GATEHOUSE_SLACK_PACE", "none")];
    SlackTestApp::start_env(db, &catalog(), sim, false, platform, &unpaced).await
}

/// Waits until no job is running or due: what the fixtures set off has all happened.
async fn settled(t: &SlackTestApp) {
    eventually("the jobs to settle", 30, || async {
        let now = t.clock.now();
        let jobs = store::jobs::list(t.app.db().conn(), None).await.unwrap();
        jobs.iter()
            .all(|j| match j.status {
                store::jobs::JobStatus::Running => false,
                store::jobs::JobStatus::Queued => j.run_at > now,
                _ => true,
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_decision_is_made_by_its_allowed_people_only_and_a_refused_one_changes_nothing() {
    for db in backends().await {
        let t = start(&db).await;
        // Alice's requests, one in each state the decisions need; and a delivery that gave up.
        let mut mine: Vec<(State, Fixture)> = Vec::new();
        for (state, resource) in [
            (State::Pending, "vault"),
            (State::Active, "lab"),
            (State::ByHand, "safe"),
            (State::Failed, "den"),
        ] {
            mine.push((state, fixture(&t, state, REQUESTER, resource).await));
        }
        let revoking = fixture(&t, State::Revoking, &asker(39), "vault").await;
        let failed_job = fixture(&t, State::FailedJob, &asker(38), "finance").await;
        let fixture_of = |s: State| -> Fixture {
            match s {
                State::Revoking => revoking.clone(),
                State::FailedJob => failed_job.clone(),
                State::None => mine[0].1.clone(),
                s => mine.iter().find(|(st, _)| *st == s).unwrap().1.clone(),
            }
        };

        // Every refused cell, on Alice's requests: nothing changes.
        for d in decisions() {
            for (who, kind) in PEOPLE {
                if allowed(d).contains(&who) {
                    continue;
                }
                let cell = format!("{d:?} by {who} ({kind}) on {}", db.name);
                let f = fixture_of(state_for(d));
                let before = snapshot(&t).await;
                eprintln!("trying {cell}");
                let said = make(&t, who, d, &f, true).await;
                // The asking is audited when allowed; refused, it leaves nothing either.
                let after = snapshot(&t).await;
                assert_eq!(before, after, "nothing changes: {cell} (told {said:?})");
                if let Some(said) = said
                    && can_be_told(who)
                {
                    assert!(
                        said.contains(refusal_says(d)),
                        "{cell}: told {said:?}, expected {:?}",
                        refusal_says(d)
                    );
                }
            }
        }

        // Every allowed cell, each on a request of its own, does what it says.
        let mut next_asker = 0;
        // Alice's requests each serve one allowed decision of hers; later ones are new.
        let mut used: Vec<State> = Vec::new();
        let mut spare = vec!["cellar", "attic"];
        for d in decisions() {
            for &who in allowed(d) {
                let cell = format!("{d:?} by {who} on {}", db.name);
                let state = state_for(d);
                let f = if state == State::None || (who == REQUESTER && !used.contains(&state)) {
                    used.push(state);
                    fixture_of(state)
                } else if who == REQUESTER {
                    fixture(&t, state, REQUESTER, spare.pop().unwrap()).await
                } else {
                    next_asker += 1;
                    let resource = match state {
                        State::Pending => "vault",
                        State::Active => "lab",
                        State::ByHand => "safe",
                        State::Failed => "den",
                        _ => "vault",
                    };
                    fixture(&t, state, &asker(next_asker), resource).await
                };
                let rows = snapshot(&t).await.audit_rows;
                eprintln!("making {cell}");
                let said = make(&t, who, d, &f, false).await;
                if let Some(action) = audit_action(d) {
                    eventually(&format!("{cell}: audited {action}"), 30, || async {
                        store::audit::page(t.app.db().conn(), rows, 1000)
                            .await
                            .unwrap()
                            .into_iter()
                            // A change made by hand is Gatehouse's row, naming who confirmed it.
                            .find(|e| {
                                e.action == action && (e.actor == who || e.details.contains(who))
                            })
                    })
                    .await;
                } else {
                    let said = said.unwrap_or_default();
                    assert!(
                        !said.contains("only a Gatehouse admin") && !said.is_empty(),
                        "{cell}: {said}"
                    );
                }
            }
        }
        t.stop().await;
        db.close().await;
    }
}
