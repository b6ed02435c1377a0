//! A stateful fake platform behind the `Provisioner` port: it holds grants as a set, answers
//! idempotently like a real platform, and fails on demand.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse::domain::ConnectorId;
use gatehouse::store::requests::Request;
use gatehouse::workflow::{
    Applied, ExternalError, Holding, PlatformIdentity, Provisioner, Readiness, Target, Undo,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Default)]
struct State {
    /// (identity, what) pairs the platform grants right now.
    held: BTreeSet<(String, String)>,
    /// Failures to answer with, one per call, before behaving normally again.
    failures: VecDeque<ExternalError>,
    grant_calls: usize,
    revoke_calls: usize,
    /// Live checks asked ("does X have access", reconciliation).
    checks: usize,
    /// Like a platform whose accounts cannot be derived from Slack: a reviewer must pick one.
    needs_identity: bool,
    /// Connectors whose changes an admin makes by hand, like `manual`'s.
    by_hand: BTreeSet<String>,
    /// What the platform lists, once a test says (None: it cannot list, like `manual`).
    identities: Option<Vec<PlatformIdentity>>,
    /// The share of calls that fail: half answer 503 having changed nothing, half time out
    /// after making the change (the caller cannot tell which).
    flaky: f64,
    /// Which calls fail, drawn from a seed the test prints.
    fates: Option<StdRng>,
    /// How long a check takes (a platform that is slow to answer).
    check_delay: Duration,
    /// Checks wait here until as many have arrived as it holds (two workers' checks answered
    /// at the same instant).
    check_gate: Option<Arc<tokio::sync::Barrier>>,
    /// Grant calls that make the change and then lose the answer (a timeout), before the rest.
    lost_answers: usize,
    /// What the platform says of a unit before anyone asks (by its name); unlisted: ready.
    readiness: std::collections::BTreeMap<String, Readiness>,
    /// Changes actually made, per (identity, what): grants and revocations that changed state.
    changes: std::collections::BTreeMap<(String, String), (usize, usize)>,
}

/// How a flaky call goes.
enum Flake {
    Fine,
    /// 503 before doing anything.
    Refused,
    /// The change is made, then the answer is lost.
    LostAnswer,
}

impl Flake {
    /// The fate of one call when `rate` of them fail.
    fn of(rng: &mut StdRng, rate: f64) -> Flake {
        if rate <= 0.0 || !rng.random_bool(rate.min(1.0)) {
            Flake::Fine
        } else if rng.random_bool(0.5) {
            Flake::Refused
        } else {
            Flake::LostAnswer
        }
    }
}

/// The seed of a test's random choices: GATEHOUSE_TEST_SEED replays a failed run, else a new
/// one, printed so that it can be.
pub fn test_seed(what: &str) -> u64 {
    let seed = std::env::var("GATEHOUSE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("{what} with GATEHOUSE_TEST_SEED={seed}");
    seed
}

fn retryable(message: &str) -> ExternalError {
    ExternalError::Retryable {
        message: message.into(),
        retry_after: None,
    }
}

#[derive(Clone, Default)]
pub struct FakePlatform {
    state: Arc<Mutex<State>>,
}

impl FakePlatform {
    /// One grant or revoke, counted by `calls`: a queued failure, or the flake rate's 503
    /// before the change or lost answer after it (a grant also takes `lost_answers`); otherwise
    /// what `change` did to the holdings.
    fn apply(
        &self,
        target: Target<'_>,
        calls: fn(&mut State) -> &mut usize,
        may_lose: bool,
        change: impl FnOnce(&mut State, &(String, String)) -> String,
    ) -> Result<Applied, ExternalError> {
        let mut s = self.state.lock().unwrap();
        *calls(&mut s) += 1;
        if let Some(e) = s.failures.pop_front() {
            return Err(e);
        }
        let fate = if may_lose && s.lost_answers > 0 {
            s.lost_answers -= 1;
            Flake::LostAnswer
        } else {
            let rate = s.flaky;
            s.fates
                .as_mut()
                .map_or(Flake::Fine, |rng| Flake::of(rng, rate))
        };
        if let Flake::Refused = fate {
            return Err(retryable("platform answered 503 Service Unavailable"));
        }
        let key = (target.identity.to_owned(), target.unit.name().to_owned());
        let action = change(&mut s, &key);
        if let Flake::LostAnswer = fate {
            return Err(retryable("the platform did not answer within 10 s"));
        }
        Ok(Applied {
            identity: key.0,
            action,
            receipt: None,
        })
    }

    pub fn holds(&self, identity: &str, what: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .held
            .contains(&(identity.to_owned(), what.to_owned()))
    }

    pub fn fail_next(&self, n: usize, retryable: bool) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.failures.push_back(if retryable {
                ExternalError::Retryable {
                    message: "platform answered 503 Service Unavailable".into(),
                    retry_after: Some(Duration::from_secs(1)),
                }
            } else {
                ExternalError::Permanent("role ANALYTICS_RO does not exist".into())
            });
        }
    }

    /// The platform answers normally again: failures still queued are dropped.
    pub fn heal(&self) {
        self.state.lock().unwrap().failures.clear();
    }

    /// The next `n` grant calls make the change, then time out: the caller cannot tell.
    pub fn lose_answers(&self, n: usize) {
        self.state.lock().unwrap().lost_answers = n;
    }

    /// The next call answers like HTTP 429 with `Retry-After: secs`.
    pub fn throttle_next(&self, secs: u64) {
        let e = gatehouse::connectors::ConnectorError::Throttled {
            message: "429 Too Many Requests".into(),
            retry_after: Some(Duration::from_secs(secs)),
        };
        self.state.lock().unwrap().failures.push_back(e.into());
    }

    /// The platform's users: (name, email).
    pub fn set_users(&self, users: &[(&str, Option<&str>)]) {
        self.state.lock().unwrap().identities = Some(
            users
                .iter()
                .map(|(name, email)| PlatformIdentity {
                    kind: "user".into(),
                    id: (*name).into(),
                    name: (*name).into(),
                    email: email.map(str::to_owned),
                })
                .collect(),
        );
    }

    pub fn require_identity(&self) {
        self.state.lock().unwrap().needs_identity = true;
    }

    /// Someone removes the access on the platform, outside Gatehouse.
    pub fn take_away(&self, identity: &str, what: &str) {
        self.state
            .lock()
            .unwrap()
            .held
            .remove(&(identity.to_owned(), what.to_owned()));
    }

    /// Checks take `delay` to answer.
    pub fn slow_checks(&self, delay: Duration) {
        self.state.lock().unwrap().check_delay = delay;
    }

    /// Each check waits until `together` checks are under way, then all are answered at once.
    pub fn answer_checks_together(&self, together: usize) {
        self.state.lock().unwrap().check_gate = Some(Arc::new(tokio::sync::Barrier::new(together)));
    }

    /// Makes `rate` of the grant and revoke calls fail (see `Flake`), drawn from a printed seed.
    pub fn flaky(&self, rate: f64) {
        let fates = StdRng::seed_from_u64(test_seed("the platform fails calls at random"));
        let mut s = self.state.lock().unwrap();
        s.flaky = rate;
        s.fates = Some(fates);
    }

    /// How many times the platform really gave and took away `what` for `identity`.
    pub fn changes(&self, identity: &str, what: &str) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        s.changes
            .get(&(identity.to_owned(), what.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// `connector`'s changes are made by hand: Gatehouse asks an admin in the thread.
    pub fn by_hand_on(&self, connector: &str) {
        self.state
            .lock()
            .unwrap()
            .by_hand
            .insert(connector.to_owned());
    }

    /// What the platform answers when asked whether `what` can be granted.
    pub fn readiness_is(&self, what: &str, readiness: Readiness) {
        self.state
            .lock()
            .unwrap()
            .readiness
            .insert(what.to_owned(), readiness);
    }

    /// How many times the platform was asked whether someone holds something.
    pub fn checks(&self) -> usize {
        self.state.lock().unwrap().checks
    }

    pub fn calls(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        (s.grant_calls, s.revoke_calls)
    }
}

#[async_trait::async_trait]
impl Provisioner for FakePlatform {
    fn by_hand(&self, connector: &ConnectorId) -> bool {
        self.state
            .lock()
            .unwrap()
            .by_hand
            .contains(connector.as_str())
    }

    async fn readiness(
        &self,
        connector: &ConnectorId,
        unit: &gatehouse::domain::Unit,
    ) -> Option<Result<Readiness, ExternalError>> {
        if self.by_hand(connector) {
            return None;
        }
        let s = self.state.lock().unwrap();
        Some(Ok(s.readiness.get(unit.name()).cloned().unwrap_or_else(
            || Readiness::Ready(format!("{unit} exists")),
        )))
    }

    fn needs_identity(&self, _connector: &ConnectorId) -> bool {
        self.state.lock().unwrap().needs_identity
    }

    /// Like a platform whose accounts are named after people: the requester's own, lowercased,
    /// unless a reviewer chose one.
    fn identity_for(&self, request: &Request) -> Option<String> {
        Some(
            request
                .identity
                .clone()
                .unwrap_or_else(|| request.requester.as_str().to_lowercase()),
        )
    }

    async fn check(
        &self,
        _connector: &ConnectorId,
        identity: &str,
        unit: &gatehouse::domain::Unit,
    ) -> Result<Option<Holding>, ExternalError> {
        let (delay, gate) = {
            let mut s = self.state.lock().unwrap();
            s.checks += 1;
            (s.check_delay, s.check_gate.clone())
        };
        tokio::time::sleep(delay).await;
        if let Some(gate) = gate {
            gate.wait().await;
        }
        let key = (identity.to_owned(), unit.name().to_owned());
        Ok(Some(Holding {
            direct: self.state.lock().unwrap().held.contains(&key),
            through: Vec::new(),
        }))
    }

    async fn list_identities(
        &self,
        _connector: &ConnectorId,
    ) -> Result<Option<Vec<PlatformIdentity>>, ExternalError> {
        Ok(self.state.lock().unwrap().identities.clone())
    }

    async fn grant(&self, target: Target<'_>) -> Result<Applied, ExternalError> {
        self.apply(
            target,
            |s| &mut s.grant_calls,
            true,
            |s, key| {
                if s.held.insert(key.clone()) {
                    s.changes.entry(key.clone()).or_default().0 += 1;
                    format!("granted {} to {}", key.1, key.0)
                } else {
                    "already held".to_owned()
                }
            },
        )
    }

    async fn revoke(&self, target: Target<'_>, undo: Undo<'_>) -> Result<Applied, ExternalError> {
        self.apply(
            target,
            |s| &mut s.revoke_calls,
            false,
            |s, key| {
                if undo.keep.contains(target.unit) {
                    "kept: another active grant gives the same access".to_owned()
                } else if s.held.remove(key) {
                    s.changes.entry(key.clone()).or_default().1 += 1;
                    format!("revoked {} from {}", key.1, key.0)
                } else {
                    "already absent".to_owned()
                }
            },
        )
    }
}
