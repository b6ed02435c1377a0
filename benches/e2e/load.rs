//! The load: envelopes sent open-loop at a steady rate, each on its own task at its scheduled
//! instant, and what came back — acks, grants on the server, and the requester's DM.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use slack_sim::{ButtonTarget, Posted, Sim};
use tokio::sync::broadcast::error::RecvError;

use crate::platform::Platform;

pub const CHANNEL: &str = "C0ACCESS";
pub const REVIEWERS: [&str; 5] = ["UREV0", "UREV1", "UREV2", "UREV3", "UREV4"];

pub fn person_id(i: usize) -> String {
    format!("UP{i:03}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `/request-access rNNN 8h`: submitted at once.
    OneLine,
    /// `/request-access` alone: opens the form.
    FormOpen,
    /// The form submitted.
    FormSubmit,
    /// A reviewer's ✅ on a pending request.
    Check,
    /// A reviewer's Approve button.
    Click,
    /// The requester's own ✅: refused, with a note only they see.
    OwnCheck,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::OneLine,
        Kind::FormOpen,
        Kind::FormSubmit,
        Kind::Check,
        Kind::Click,
        Kind::OwnCheck,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::OneLine => "one-line /request-access",
            Kind::FormOpen => "/request-access (form opened)",
            Kind::FormSubmit => "form submitted",
            Kind::Check => "reviewer ✅",
            Kind::Click => "Approve click",
            Kind::OwnCheck => "requester's own ✅ (refused)",
        }
    }
}

/// Twenty envelopes, repeated: half make requests, seven in twenty approve, one is refused.
const PATTERN: [Kind; 20] = {
    use Kind::*;
    [
        OneLine, Check, OneLine, FormOpen, OneLine, Check, Click, OneLine, OwnCheck, OneLine,
        Check, FormSubmit, OneLine, Check, OneLine, FormOpen, Click, OneLine, Check, FormSubmit,
    ]
};

/// A pending request's message in the channel, as the bench saw it posted.
#[derive(Clone, Debug)]
struct Card {
    ts: String,
    person: usize,
    role: usize,
    own_checked: bool,
}

/// One approval: when the ✅ or click was sent, and when its effects were seen.
#[derive(Clone, Debug)]
pub struct Approval {
    pub sent: Instant,
    pub grant: Option<Instant>,
    /// The requester hears of the decision: "✅ … approved your request", or, for a grant at
    /// once, the "you now have access" DM that names who approved.
    pub approved_dm: Option<Instant>,
    /// "You now have access": the requester hears of the grant.
    pub dm: Option<Instant>,
}

/// One envelope sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub kind: Kind,
    pub envelope: Option<String>,
    pub acked: bool,
    /// When the call returned (the ack, or the 3 s timeout).
    pub returned: Instant,
    /// Why it did not do what it should, if it did not.
    pub problem: Option<String>,
}

/// Everything shared between the scheduler, the envelope tasks, the feed and the poller.
#[derive(Default)]
pub struct Book {
    next_pair: usize,
    spare: Vec<(usize, usize)>,
    /// People with a form open (a second one would replace it).
    in_form: HashSet<usize>,
    forms: VecDeque<(usize, usize, String)>,
    cards: VecDeque<Card>,
    pub approvals: HashMap<(usize, usize), Approval>,
    pub sent: Vec<Sent>,
    /// Planned as an approval or a form submission but nothing was ready: a request instead.
    pub fallbacks: usize,
    pub stray_dms: usize,
    pub lagged: u64,
}

pub struct Load {
    pub sim: Sim,
    pub people: usize,
    pub roles: usize,
    pub book: Mutex<Book>,
}

/// What one envelope will do, decided at its instant.
enum Action {
    OneLine(usize, usize),
    FormOpen(usize, usize),
    FormSubmit(usize, usize, String),
    Check(Card, &'static str),
    Click(Card, &'static str),
    OwnCheck(Card),
}

impl Load {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap()
    }

    /// The next unused (person, role): unique, so no request collides with an open one.
    fn pair(&self, b: &mut Book) -> (usize, usize) {
        if let Some(p) = b.spare.pop() {
            return p;
        }
        let k = b.next_pair;
        b.next_pair += 1;
        assert!(
            k < self.people * self.roles,
            "ran out of (person, role) pairs after {} envelopes, {} of them requests made because no card or form was ready",
            b.sent.len(),
            b.fallbacks
        );
        (k % self.people, k / self.people)
    }

    fn plan(&self, n: usize) -> (Kind, Action) {
        let mut b = self.lock();
        let b = &mut *b;
        let want = PATTERN[n % PATTERN.len()];
        let reviewer = REVIEWERS[n % REVIEWERS.len()];
        let planned = match want {
            Kind::OneLine => None,
            // When everyone has a form open (submissions lag behind opens), a request instead.
            Kind::FormOpen if b.in_form.len() >= self.people => None,
            Kind::FormOpen => {
                let mut skipped = Vec::new();
                let (person, role) = loop {
                    let p = self.pair(b);
                    if !b.in_form.contains(&p.0) {
                        break p;
                    }
                    skipped.push(p);
                };
                b.spare.extend(skipped);
                b.in_form.insert(person);
                Some(Action::FormOpen(person, role))
            }
            Kind::FormSubmit => b
                .forms
                .pop_front()
                .map(|(p, r, view)| Action::FormSubmit(p, r, view)),
            Kind::Check => b.cards.pop_front().map(|c| Action::Check(c, reviewer)),
            Kind::Click => b.cards.pop_front().map(|c| Action::Click(c, reviewer)),
            Kind::OwnCheck => {
                let i = b.cards.iter().position(|c| !c.own_checked);
                i.and_then(|i| b.cards.remove(i)).map(|mut c| {
                    c.own_checked = true;
                    b.cards.push_back(c.clone());
                    Action::OwnCheck(c)
                })
            }
        };
        match planned {
            Some(a) => (want, a),
            None => {
                if want != Kind::OneLine {
                    b.fallbacks += 1;
                }
                let (p, r) = self.pair(b);
                (Kind::OneLine, Action::OneLine(p, r))
            }
        }
    }

    fn record(&self, kind: Kind, envelope: Option<String>, acked: bool, problem: Option<String>) {
        self.lock().sent.push(Sent {
            kind,
            envelope,
            acked,
            returned: Instant::now(),
            problem,
        });
    }

    fn approving(&self, card: &Card) {
        self.lock().approvals.insert(
            (card.person, card.role),
            Approval {
                sent: Instant::now(),
                grant: None,
                approved_dm: None,
                dm: None,
            },
        );
    }

    async fn send(self: Arc<Self>, kind: Kind, action: Action) {
        let sim = &self.sim;
        match action {
            Action::OneLine(p, r) => {
                let text = format!("r{r} 8h");
                let out = sim
                    .slash_command(&person_id(p), CHANNEL, "/request-access", &text)
                    .await
                    .unwrap();
                let said = out
                    .payload
                    .as_ref()
                    .and_then(|v| v["text"].as_str())
                    .unwrap_or_default();
                let problem = (out.acked && !said.contains("is submitted"))
                    .then(|| format!("/request-access {text} answered {said:?}"));
                self.record(kind, out.envelope_id, out.acked, problem);
            }
            Action::FormOpen(p, r) => {
                let who = person_id(p);
                let out = sim
                    .slash_command(&who, CHANNEL, "/request-access", "")
                    .await
                    .unwrap();
                let form = sim
                    .top_modal(&who)
                    .filter(|v| v["callback_id"] == "request_access");
                let problem = match (out.acked, form) {
                    (true, Some(v)) => {
                        let id = v["id"].as_str().unwrap_or_default().to_owned();
                        self.lock().forms.push_back((p, r, id));
                        None
                    }
                    (acked, _) => {
                        self.lock().in_form.remove(&p);
                        acked.then(|| "no form opened".to_owned())
                    }
                };
                self.record(kind, out.envelope_id, out.acked, problem);
            }
            Action::FormSubmit(p, r, view) => {
                let values = json!({ "resource": { "resource": {
                    "type": "external_select",
                    "selected_option": {
                        "text": { "type": "plain_text", "text": format!("Role {r}") },
                        "value": format!("r{r}")
                    }
                } } });
                let out = sim.submit_view(&person_id(p), &view, values).await.unwrap();
                self.lock().in_form.remove(&p);
                // Submitted, the form becomes its confirmation ("Request submitted").
                let confirmed = sim
                    .top_modal(&person_id(p))
                    .is_some_and(|v| v["callback_id"] == "request_submitted");
                let problem = (out.ack.acked && (out.errors.is_some() || !confirmed))
                    .then(|| format!("the form was not confirmed: {:?}", out.errors));
                self.record(kind, out.ack.envelope_id, out.ack.acked, problem);
            }
            Action::Check(card, reviewer) => {
                self.approving(&card);
                let out = sim
                    .add_reaction(reviewer, CHANNEL, &card.ts, "white_check_mark")
                    .await
                    .unwrap()
                    .unwrap();
                self.record(kind, out.envelope_id, out.acked, None);
            }
            Action::Click(card, reviewer) => {
                self.approving(&card);
                let target = ButtonTarget::Message {
                    channel: CHANNEL.into(),
                    ts: card.ts.clone(),
                };
                let out = sim
                    .click_button(reviewer, target, "approve", None, None)
                    .await
                    .unwrap();
                self.record(kind, out.envelope_id, out.acked, None);
            }
            Action::OwnCheck(card) => {
                let out = sim
                    .add_reaction(
                        &person_id(card.person),
                        CHANNEL,
                        &card.ts,
                        "white_check_mark",
                    )
                    .await
                    .unwrap()
                    .unwrap();
                self.record(kind, out.envelope_id, out.acked, None);
            }
        }
    }

    /// Sends `total` envelopes at `rate` a second from `start`, each on its own task; returns
    /// when every one has its answer (or its 3 s passed).
    pub async fn run(self: &Arc<Self>, start: Instant, rate: f64, total: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..total {
            let at = start + Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until(at.into()).await;
            let (kind, action) = self.plan(n);
            tasks.spawn(self.clone().send(kind, action));
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    }

    /// Follows what Gatehouse posts: new request cards (to approve later) and the "you now have
    /// access" DMs (stamped with the instant slack-sim received them).
    pub async fn follow(self: Arc<Self>, mut posts: tokio::sync::broadcast::Receiver<Posted>) {
        let mut dm_channels: HashMap<String, usize> = HashMap::new();
        loop {
            let p = match posts.recv().await {
                Ok(p) => p,
                Err(RecvError::Lagged(n)) => {
                    self.lock().lagged += n;
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if p.method != "chat.postMessage" {
                continue;
            }
            if p.channel == CHANNEL {
                if p.thread_ts.is_none()
                    && let Some((person, role)) = card_of(&p.text)
                {
                    self.lock().cards.push_back(Card {
                        ts: p.ts,
                        person,
                        role,
                        own_checked: false,
                    });
                }
                continue;
            }
            let (role, approved) = match (access_dm_role(&p.text), approved_dm_role(&p.text)) {
                (Some(role), _) => (role, false),
                (None, Some(role)) => (role, true),
                (None, None) => continue,
            };
            if !dm_channels.contains_key(&p.channel) {
                for i in 0..self.people {
                    if let Some(c) = self.sim.im_channel(&person_id(i)) {
                        dm_channels.insert(c, i);
                    }
                }
            }
            let mut b = self.lock();
            let approval = dm_channels
                .get(&p.channel)
                .and_then(|person| b.approvals.get_mut(&(*person, role)));
            let first = match approval {
                Some(a) if approved && a.approved_dm.is_none() => {
                    a.approved_dm = Some(p.at);
                    true
                }
                Some(a) if !approved && a.dm.is_none() => {
                    a.dm = Some(p.at);
                    // A grant at once is told in this one DM, which names who approved.
                    a.approved_dm.get_or_insert(p.at);
                    true
                }
                _ => false,
            };
            if !first {
                b.stray_dms += 1;
            }
        }
    }

    /// Every 5 ms, asks the server in one query which approved grants are there now.
    pub async fn poll_grants(self: Arc<Self>, platform: Arc<Platform>, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let waiting: Vec<(usize, usize)> = self
                .lock()
                .approvals
                .iter()
                .filter(|(_, a)| a.grant.is_none())
                .map(|(k, _)| *k)
                .collect();
            if waiting.is_empty() {
                continue;
            }
            let held = platform.held(&waiting).await;
            // An upper bound: the grant was there when the query's snapshot was taken.
            let seen = Instant::now();
            let mut b = self.lock();
            for k in held {
                if let Some(a) = b.approvals.get_mut(&k) {
                    a.grant = Some(seen);
                }
            }
        }
    }

    /// Whether every approval has its grant and its DM.
    pub fn settled(&self) -> bool {
        self.lock()
            .approvals
            .values()
            .all(|a| a.grant.is_some() && a.dm.is_some())
    }
}

/// `Access request #12: gh_bench_1_u003 asks for Role 7 for 8h — pending` → (3, 7).
fn card_of(text: &str) -> Option<(usize, usize)> {
    let rest = text.strip_prefix("Access request #")?;
    // The card names its requester by their Slack name (the platform login, `…_u007`).
    let who = rest.split_once(": ")?.1.split_once(" asks for ")?.0;
    let person = who.rsplit_once("_u")?.1.parse().ok()?;
    let role = rest
        .split_once("asks for Role ")?
        .1
        .split_once(' ')?
        .0
        .parse()
        .ok()?;
    Some((person, role))
}

/// `✅ <@UP001> approved your request #12 for *Role 7*. Granting access now…` → 7.
fn approved_dm_role(text: &str) -> Option<usize> {
    let rest = text.split_once("approved your request #")?.1;
    let rest = rest.split_once(" for *Role ")?.1;
    rest.split_once('*')?.0.parse().ok()
}

/// `🟢 You now have access to *Role 7* until …` → 7.
fn access_dm_role(text: &str) -> Option<usize> {
    let rest = text.split_once("You now have access to *Role ")?.1;
    rest.split_once('*')?.0.parse().ok()
}
