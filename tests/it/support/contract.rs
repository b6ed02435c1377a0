//! One contract for every connector, told once: grant twice ("already held"), revoke twice
//! ("already absent"), check direct and inherited access, list identities across pages, and
//! the three faults every platform has — an expired token, a 429 with `Retry-After`, a 503.
//! In the manner of `object_store`'s shared integration tests (`put_get_delete_list` run
//! against every store): each `*_connector.rs` implements [`Platform`] for its fake or server
//! and calls these functions, then adds what only its platform does.
//!
//! Every function asserts on what the platform itself holds, never only on what the connector
//! says, so a connector that answers success without making the change still fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gatehouse::connectors::{
    self, Connector, ConnectorError, Holding, PlatformIdentity, Readiness,
};
use gatehouse::domain::Unit;

/// A platform as the contract sees it: the connector under test, a way to read the
/// platform's own state, and its fault knobs.
#[allow(
    async_fn_in_trait,
    reason = "used only by this test binary, never as dyn"
)]
pub trait Platform {
    /// The connector, as Gatehouse would build it.
    fn connector(&self) -> Box<dyn Connector>;

    /// Does the platform itself hold `unit` for `identity`, directly?
    async fn holds(&self, identity: &str, unit: &Unit) -> bool;

    /// Gives `identity` the unit directly, behind Gatehouse's back (as an admin would).
    async fn give(&self, identity: &str, unit: &Unit);

    /// Calls so far that asked the platform to change access (whatever their answer).
    fn changes(&self) -> usize;

    /// Gives `identity` the unit through something else (a nested group, a role granted to a
    /// role, a higher workspace role) and returns what `check` must name it through; None
    /// when the platform has no such thing.
    async fn give_inherited(&self, _identity: &str, _unit: &Unit) -> Option<Vec<String>> {
        None
    }
}

/// A platform reached over HTTP with tokens: the fault knobs of its fake.
pub trait Faults: Platform {
    /// Tokens (or sessions) issued so far.
    fn sign_ins(&self) -> usize;
    /// Calls so far refused with 401.
    fn refused(&self) -> usize;
    /// Every issued token stops working.
    fn expire_tokens(&self);
    /// The next call is answered 429 with `Retry-After: secs`.
    fn throttle_next(&self, retry_after_secs: u64);
    /// The next call is answered 503.
    fn fail_next(&self);
    /// The connector, pointed at a port where nothing listens.
    fn unreachable(&self) -> Box<dyn Connector>;
}

/// [`Faults::throttle_next`] and [`Faults::fail_next`] for a fake whose state (reached from
/// `self` by `$state`) has the usual knobs: `throttle_next`, `retry_after`, `unavailable_next`.
macro_rules! fault_knobs {
    (|$p:ident| $state:expr) => {
        fn throttle_next(&self, retry_after_secs: u64) {
            let $p = self;
            let mut s = $state;
            s.throttle_next = 1;
            s.retry_after = Some(retry_after_secs);
        }
        fn fail_next(&self) {
            let $p = self;
            $state.unavailable_next = 1;
        }
    };
}
pub(crate) use fault_knobs;

/// All of [`Faults`] but `unreachable`, for a platform whose fake (reached from `self` by
/// `$fake`) signs in with tokens (`$sign_ins` of them so far), logs its calls, answers 401 to
/// an expired token, and has the usual knobs in its state.
macro_rules! token_faults {
    (|$p:ident| $fake:expr, $sign_ins:expr) => {
        fn sign_ins(&self) -> usize {
            let $p = self;
            $sign_ins
        }
        fn refused(&self) -> usize {
            let $p = self;
            $fake.log().iter().filter(|c| c.status == 401).count()
        }
        fn expire_tokens(&self) {
            let $p = self;
            $fake.expire_tokens();
        }
        $crate::support::contract::fault_knobs!(|$p| $fake.state());
    };
}
pub(crate) use token_faults;

/// The contract's three fault cases (expired token, 429, 503) as tests of their own, in a
/// module `faults`: `$fresh` (awaited) makes each its platform, `$case` the case it tells, and
/// the 429's and the 503's messages hold `$throttled` and `$outage`; `renewed:` is what the
/// platform must also hold after the renewed token's call, when it says more.
macro_rules! fault_cases {
    (
        $fresh:expr,
        |$p:ident| $case:expr,
        $throttled:expr,
        $outage:expr
        $(, renewed: $renewed:expr)? $(,)?
    ) => {
        mod faults {
            use super::*;
            use crate::support::contract;

            #[tokio::test]
            async fn an_expired_token_is_renewed_once_and_the_call_succeeds() {
                let $p = $fresh.await;
                contract::expired_token_is_renewed(&$p, &$case).await;
                $($renewed;)?
            }

            #[tokio::test]
            async fn a_throttled_call_says_when_to_come_back() {
                let $p = $fresh.await;
                contract::throttling_is_retryable_with_retry_after(&$p, &$case, &$throttled).await;
            }

            #[tokio::test]
            async fn an_outage_is_retryable_and_changes_nothing() {
                let $p = $fresh.await;
                contract::outage_is_retryable(&$p, &$case, $outage).await;
            }
        }
    };
}
pub(crate) use fault_cases;

/// Who and what a case is about.
#[derive(Clone)]
pub struct Case {
    /// The identity the grant is for.
    pub identity: String,
    /// Someone else, whose access must be left alone.
    pub bystander: String,
    /// The unit granted.
    pub unit: Unit,
    /// Another unit of the same kind on the same platform, which must not count as `unit`.
    pub other_unit: Unit,
    /// A unit of a kind the connector does not grant, refused permanently.
    pub foreign_unit: Option<Unit>,
}

/// Calls that changed access through the connectors it wraps: [`Platform::changes`] for a
/// real server, which keeps no log of the statements it ran. Only for connectors that keep no
/// receipts: the wrapper leaves `add_recorded` and `remove_recorded` to their defaults, which
/// call its counted `add` and `remove`.
#[derive(Clone, Default)]
pub struct Changes(Arc<AtomicUsize>);

impl Changes {
    /// `c`, counting here each call it makes to add or remove access.
    pub fn wrap(&self, c: impl Connector + 'static) -> Box<dyn Connector> {
        Box::new(Counted {
            inner: c,
            changes: self.clone(),
        })
    }

    /// The calls counted so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct Counted<C> {
    inner: C,
    changes: Changes,
}

impl<C> Counted<C> {
    fn count(&self) {
        self.changes.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl<C: Connector> Connector for Counted<C> {
    async fn ping(&self) -> Result<(), ConnectorError> {
        self.inner.ping().await
    }
    async fn list_identities(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        self.inner.list_identities().await
    }
    async fn list_grantable(&self) -> Result<Vec<PlatformIdentity>, ConnectorError> {
        self.inner.list_grantable().await
    }
    async fn check(&self, identity: &str, unit: &Unit) -> Result<Holding, ConnectorError> {
        self.inner.check(identity, unit).await
    }
    async fn readiness(&self, unit: &Unit) -> Result<Readiness, ConnectorError> {
        self.inner.readiness(unit).await
    }
    async fn add(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError> {
        self.count();
        self.inner.add(identity, unit).await
    }
    async fn remove(&self, identity: &str, unit: &Unit) -> Result<String, ConnectorError> {
        self.count();
        self.inner.remove(identity, unit).await
    }
}

/// The names a test on a real server makes, each `<prefix>_<name>`; its case: alice is
/// granted the role analysts, bob looks on, other is another role, and a group is foreign.
pub struct Prefixed(pub String);

/// A new prefix for the names one test makes on a real server: `gh_t` and 8 hex digits, which
/// CI drops leftovers of.
pub fn prefix() -> String {
    format!("gh_t{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

impl Prefixed {
    /// Names under a new [`prefix`].
    pub fn fresh() -> Prefixed {
        Prefixed(prefix())
    }

    pub fn name(&self, of: &str) -> String {
        format!("{}_{of}", self.0)
    }

    pub fn role_case(&self) -> Case {
        let role = |of| Unit::Role {
            role: self.name(of),
        };
        Case {
            identity: self.name("alice"),
            bystander: self.name("bob"),
            unit: role("analysts"),
            other_unit: role("other"),
            foreign_unit: Some(Unit::Group { group: "g".into() }),
        }
    }
}

/// The role a role unit names.
pub fn role_of(unit: &Unit) -> &str {
    let Unit::Role { role } = unit else {
        panic!("{unit:?}")
    };
    role
}

/// Grants once (the platform holds it, the connector says `did_says`), grants again ("already
/// held", no second change), and neither the bystander nor another unit is touched. Returns
/// what the first grant said, for a platform whose statement is known to the letter.
pub async fn grant_is_idempotent_and_verified(
    p: &impl Platform,
    case: &Case,
    did_says: &str,
) -> String {
    let c = p.connector();
    assert!(!p.holds(&case.identity, &case.unit).await, "held before");
    let did = connectors::grant(c.as_ref(), &case.identity, &case.unit)
        .await
        .unwrap();
    assert!(did.contains(did_says), "{did}");
    assert!(
        p.holds(&case.identity, &case.unit).await,
        "the platform holds it"
    );
    assert_eq!(
        connectors::grant(c.as_ref(), &case.identity, &case.unit)
            .await
            .unwrap(),
        "already held"
    );
    assert_eq!(p.changes(), 1, "one change, made once");
    assert!(!p.holds(&case.bystander, &case.unit).await, "bystander");
    assert!(
        !p.holds(&case.identity, &case.other_unit).await,
        "other unit"
    );
    did
}

/// With the identity and the bystander both holding the unit: a revoke takes only the
/// identity's (the connector says `did_says`, returned), and a second one is "already absent".
pub async fn revoke_is_idempotent(p: &impl Platform, case: &Case, did_says: &str) -> String {
    p.give(&case.identity, &case.unit).await;
    p.give(&case.bystander, &case.unit).await;
    let c = p.connector();
    let did = connectors::revoke(c.as_ref(), &case.identity, &case.unit)
        .await
        .unwrap();
    assert!(did.contains(did_says), "{did}");
    assert!(!p.holds(&case.identity, &case.unit).await, "still held");
    assert!(
        p.holds(&case.bystander, &case.unit).await,
        "bystander keeps it"
    );
    assert_eq!(
        connectors::revoke(c.as_ref(), &case.identity, &case.unit)
            .await
            .unwrap(),
        "already absent"
    );
    assert_eq!(p.changes(), 1, "one change, made once");
    did
}

/// An identity deleted from the platform holds nothing: with it and the bystander granted the
/// unit, once `delete` has removed it, `check` finds nothing, a revoke is "already absent" with
/// no change made, the bystander keeps the unit, and a grant to it fails for good, in words
/// holding `refused_says`.
pub async fn a_deleted_identity_holds_nothing(
    p: &impl Platform,
    case: &Case,
    delete: impl FnOnce(),
    refused_says: &str,
) {
    let c = p.connector();
    for who in [&case.identity, &case.bystander] {
        connectors::grant(c.as_ref(), who, &case.unit)
            .await
            .unwrap();
    }
    delete();
    assert_eq!(
        c.check(&case.identity, &case.unit).await.unwrap(),
        Holding::default()
    );
    let before = p.changes();
    assert_eq!(
        connectors::revoke(c.as_ref(), &case.identity, &case.unit)
            .await
            .unwrap(),
        "already absent"
    );
    assert_eq!(p.changes(), before, "nothing to remove");
    assert!(
        p.holds(&case.bystander, &case.unit).await,
        "the bystander keeps it"
    );
    let err = connectors::grant(c.as_ref(), &case.identity, &case.unit)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains(refused_says)),
        "{err:?}"
    );
    assert!(!p.holds(&case.identity, &case.unit).await, "not granted");
}

/// `check` reports nothing, then direct access once given, never another unit's access, a
/// foreign kind of unit as a permanent error; and access through something else as indirect,
/// which a revoke leaves alone ("already absent").
pub async fn check_reports_direct_and_inherited(p: &impl Platform, case: &Case) {
    let c = p.connector();
    let before = c.check(&case.identity, &case.unit).await.unwrap();
    assert!(!before.held(), "{before:?}");
    p.give(&case.identity, &case.unit).await;
    let after = c.check(&case.identity, &case.unit).await.unwrap();
    assert!(after.direct && after.through.is_empty(), "{after:?}");
    let other = c.check(&case.identity, &case.other_unit).await.unwrap();
    assert!(!other.held(), "another unit is not this one: {other:?}");
    if let Some(foreign) = &case.foreign_unit {
        let err = c.check(&case.identity, foreign).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    }
    let Some(through) = p.give_inherited(&case.bystander, &case.unit).await else {
        return;
    };
    let h = c.check(&case.bystander, &case.unit).await.unwrap();
    assert_eq!(
        h,
        Holding {
            direct: false,
            through: through.clone()
        }
    );
    // Not Gatehouse's to take away: the revoke finds nothing direct, and the access stays.
    assert_eq!(
        connectors::revoke(c.as_ref(), &case.bystander, &case.unit)
            .await
            .unwrap(),
        "already absent"
    );
    let h = c.check(&case.bystander, &case.unit).await.unwrap();
    assert_eq!(h.through, through);
}

/// One identity as a listing must show it.
pub struct Listed<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

impl<'a> Listed<'a> {
    /// A user, with the email the platform gives it, if any.
    pub fn user(id: &'a str, name: &'a str, email: Option<&'a str>) -> Listed<'a> {
        Listed {
            kind: "user",
            id,
            name,
            email,
        }
    }

    /// An identity of `kind` without an email (a group, a workspace).
    pub fn named(kind: &'a str, id: &'a str, name: &'a str) -> Listed<'a> {
        Listed {
            kind,
            id,
            name,
            email: None,
        }
    }
}

/// `c` (built with a small page size) lists every identity: `counts` of each kind, each of
/// `known` as given; and `list_grantable` exactly the `grantable` kinds, `counts` of them.
/// The pages themselves are the caller's to count, in its platform's paging words; returns
/// what the first listing gave.
pub async fn list_pages_through_everything(
    c: &dyn Connector,
    counts: &[(&str, usize)],
    known: &[Listed<'_>],
    grantable: &[&str],
) -> Vec<PlatformIdentity> {
    let all = c.list_identities().await.unwrap();
    for (kind, n) in counts {
        let of: Vec<_> = all.iter().filter(|x| x.kind == *kind).collect();
        assert_eq!(of.len(), *n, "{kind}: {of:?}");
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(all.len(), total, "no other kinds: {all:?}");
    for k in known {
        let found = all
            .iter()
            .find(|x| x.kind == k.kind && x.id == k.id)
            .unwrap_or_else(|| panic!("{} {} not listed: {all:?}", k.kind, k.id));
        assert_eq!(
            (found.name.as_str(), found.email.as_deref()),
            (k.name, k.email),
            "{found:?}"
        );
    }
    let g = c.list_grantable().await.unwrap();
    assert!(
        g.iter().all(|x| grantable.contains(&x.kind.as_str())),
        "{g:?}"
    );
    let want: usize = counts
        .iter()
        .filter(|(kind, _)| grantable.contains(kind))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(g.len(), want, "{g:?}");
    all
}

/// After one sign-in, every token expires: the grant signs in once more, one call is refused
/// and retried, and the platform holds the grant.
pub async fn expired_token_is_renewed(p: &impl Faults, case: &Case) {
    let c = p.connector();
    c.ping().await.unwrap();
    assert_eq!(p.sign_ins(), 1, "one sign-in");
    p.expire_tokens();
    connectors::grant(c.as_ref(), &case.identity, &case.unit)
        .await
        .unwrap();
    assert!(p.holds(&case.identity, &case.unit).await);
    assert_eq!(p.sign_ins(), 2, "one new sign-in");
    assert_eq!(p.refused(), 1, "one call refused, then retried");
}

/// A 429 with `Retry-After: 7` is `Throttled` for 7 s, its message holding each of `says`;
/// nothing changed; the grant made later succeeds.
pub async fn throttling_is_retryable_with_retry_after(p: &impl Faults, case: &Case, says: &[&str]) {
    let c = p.connector();
    c.ping().await.unwrap();
    p.throttle_next(7);
    match connectors::grant(c.as_ref(), &case.identity, &case.unit)
        .await
        .unwrap_err()
    {
        ConnectorError::Throttled {
            message,
            retry_after,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            for s in says {
                assert!(message.contains(s), "{s:?} not in {message}");
            }
        }
        other => panic!("{other:?}"),
    }
    assert!(!p.holds(&case.identity, &case.unit).await);
    connectors::grant(c.as_ref(), &case.identity, &case.unit)
        .await
        .unwrap();
    assert!(p.holds(&case.identity, &case.unit).await);
}

/// A 503 is `Retryable`, its message holding `says`, and nothing was asked to change; a
/// platform where nothing listens is retryable too.
pub async fn outage_is_retryable(p: &impl Faults, case: &Case, says: &str) {
    let c = p.connector();
    c.ping().await.unwrap();
    p.fail_next();
    let err = connectors::grant(c.as_ref(), &case.identity, &case.unit)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Retryable(m) if m.contains(says)),
        "{err:?}"
    );
    assert!(!p.holds(&case.identity, &case.unit).await);
    assert_eq!(p.changes(), 0, "nothing asked to change");
    let gone = p.unreachable();
    assert!(matches!(
        gone.ping().await,
        Err(ConnectorError::Retryable(_))
    ));
}

/// `wrong` holds the secret `secret`, which the platform refuses: its ping fails permanently,
/// saying each of `says` and never the secret, which its `Debug` does not show either; nor
/// does `right`'s show the secret `right_secret` it holds. Returns the message.
pub async fn a_wrong_secret_is_permanent_and_never_shown(
    wrong: &(impl Connector + std::fmt::Debug),
    secret: &str,
    says: &[&str],
    right: &impl std::fmt::Debug,
    right_secret: &str,
) -> String {
    let err = wrong.ping().await.unwrap_err();
    let ConnectorError::Permanent(message) = err else {
        panic!("{err:?}")
    };
    for s in says {
        assert!(message.contains(s), "{s:?} not in {message}");
    }
    assert!(!message.contains(secret), "{message}");
    assert!(!format!("{wrong:?}").contains(secret));
    assert!(!format!("{right:?}").contains(right_secret));
    message
}
