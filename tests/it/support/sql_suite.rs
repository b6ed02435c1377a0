//! The contract told on a real SQL server — PostgreSQL, MariaDB, and the Redshift stand-in —
//! written once: `sql_suite!` makes each story a test of the connector file that calls it,
//! against that file's [`SqlServer`]; a grant made once, a revoke that leaves the bystander's,
//! direct and inherited checks, a login dropped behind Gatehouse's back, unknown names, and
//! hostile names that become one identifier or are refused. What only one server does stays
//! in its own file.

use gatehouse::connectors::{self, Connector, ConnectorError, Holding};
use gatehouse::domain::Unit;

use crate::support::contract::{Case, Platform, Prefixed};

/// A real server as the suite sees it: the contract's [`Platform`], and the names it makes.
#[allow(
    async_fn_in_trait,
    reason = "used only by this test binary, never as dyn"
)]
pub trait SqlServer: Platform + Sized {
    /// The server for `test`, with nothing made yet; None when the test is skipped for want
    /// of a server.
    async fn empty(test: &str) -> Option<Self>;
    /// The unit made besides analysts and other, below the prefix: by default team, which
    /// inherited access goes through.
    const ALSO: &'static str = "team";
    /// The server with the logins alice and bob and the units analysts, other and
    /// [`SqlServer::ALSO`] made for `test`, each named `<prefix>_<name>`.
    async fn start(test: &str) -> Option<Self> {
        let mut s = Self::empty(test).await?;
        let p = s.prefix().to_owned();
        for who in ["alice", "bob"] {
            s.login(&format!("{p}_{who}")).await;
        }
        for unit in ["analysts", "other", Self::ALSO] {
            s.make_unit(&format!("{p}_{unit}")).await;
        }
        Some(s)
    }
    /// The names this test makes.
    fn names(&self) -> &Prefixed;
    /// What every name this test makes starts with.
    fn prefix(&self) -> &str {
        &self.names().0
    }
    /// Alice granted analysts, Bob looking on, another unit, and a foreign kind of unit: by
    /// default the roles' case.
    fn case(&self) -> Case {
        self.names().role_case()
    }
    /// The unit that `name` would be: a role by default.
    fn unit(name: &str) -> Unit {
        Unit::Role { role: name.into() }
    }
    /// Gives `unit` to the role `role` (not a login), as an admin would.
    async fn nest(&self, unit: &Unit, role: &str);
    /// [`Platform::give_inherited`] through the role team, which is given the unit.
    async fn through_team(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
        let team = self.names().name("team");
        self.nest(unit, &team).await;
        self.give(identity, &Self::unit(&team)).await;
        Some(vec![format!("role `{team}`")])
    }
    /// Makes the login `name`; returns it as the server stores it.
    async fn login(&mut self, name: &str) -> String;
    /// Makes the role or group `name`.
    async fn make_unit(&mut self, name: &str);
    /// Who holds `unit` directly, as the server stores them, in name order.
    async fn holders(&self, unit: &Unit) -> Vec<String>;
    /// Drops the login `name`, as an admin would, behind Gatehouse's back.
    async fn drop_login(&self, name: &str);
    /// The units a dropped login's story is told for: the case's.
    fn dropped_units(&self, case: &Case) -> Vec<Unit> {
        vec![case.unit.clone()]
    }
    /// Makes something an injected statement would destroy; returns its name.
    async fn plant_canary(&self) -> String;
    /// Does the canary still stand? (Then it is removed.)
    async fn canary_survives(&self) -> bool;
    /// How many logins and roles (or groups) on the server start with the prefix.
    async fn principals(&self) -> usize;
    /// Drops everything the test made.
    async fn finish(self);
}

/// One test on the server `$server` named `$name`: `$body` (with the server as `$s`), then
/// everything the test made is dropped. Skipped (with a note) where there is no server.
macro_rules! on_server {
    ($server:ty, $name:ident, |$s:ident| $body:expr) => {
        #[tokio::test]
        async fn $name() {
            let Some($s) = <$server as SqlServer>::start(stringify!($name)).await else {
                return;
            };
            $body;
            $s.finish().await;
        }
    };
    ($server:ty, $name:ident, |mut $s:ident| $body:expr) => {
        #[tokio::test]
        async fn $name() {
            let Some(mut $s) = <$server as SqlServer>::start(stringify!($name)).await else {
                return;
            };
            $body;
            $s.finish().await;
        }
    };
}
pub(crate) use on_server;

/// The suite as tests of their own, in a module `suite`, on `$server`: the first grant says
/// `granted(case)` and the revoke `revoked(case)`, to the letter; an unknown login is refused
/// saying `no_login(name)`, an unknown unit `no_unit(name)`; `refused(p, someone, unit)` are
/// the (login, unit, why) that are refused before any SQL runs.
macro_rules! sql_suite {
    ($server:ty {
        granted: $granted:expr,
        revoked: $revoked:expr,
        no_login: $no_login:expr,
        no_unit: $no_unit:expr,
        refused: $refused:expr $(,)?
    }) => {
        mod suite {
            use super::*;
            use crate::support::contract;
            use crate::support::sql_suite::{self as sql, SqlServer, on_server};

            on_server!($server, a_grant_is_made_once_and_held_by_the_server, |s| {
                let case = s.case();
                let want: String = ($granted)(&case);
                let did = contract::grant_is_idempotent_and_verified(&s, &case, &want).await;
                assert_eq!(did, want);
            });

            on_server!(
                $server,
                a_revoke_takes_only_that_one_and_a_missing_one_is_already_absent,
                |s| {
                    let case = s.case();
                    let want: String = ($revoked)(&case);
                    assert_eq!(contract::revoke_is_idempotent(&s, &case, &want).await, want);
                }
            );

            on_server!($server, a_check_reports_direct_and_inherited_access, |s| {
                contract::check_reports_direct_and_inherited(&s, &s.case()).await
            });

            on_server!(
                $server,
                a_dropped_logins_access_is_already_absent_and_no_longer_held,
                |s| { sql::a_dropped_login_holds_nothing(&s, $no_login).await }
            );

            on_server!(
                $server,
                unknown_logins_and_units_are_refused_before_any_change,
                |s| { sql::unknown_names_are_refused(&s, $no_login, $no_unit).await }
            );

            on_server!(
                $server,
                one_unit_granted_or_revoked_several_times_at_once_is_done_each_time,
                |s| { sql::at_once_each_is_done(&s).await }
            );

            on_server!(
                $server,
                hostile_names_become_one_identifier_or_are_refused,
                |mut s| { sql::hostile_names_change_only_their_membership(&mut s, $refused).await }
            );
        }
    };
}
pub(crate) use sql_suite;

/// Four grants of Alice's unit at the same instant, then four revokes, fifteen times: each
/// one succeeds, and the server holds what the last asked. Two of a person's live grants may
/// give the same unit (a catalog edit moved one) and two workers may run them at once; the
/// servers do not serialize such statements: PostgreSQL's second GRANT fails on
/// pg_auth_members' unique index and its second REVOKE with "tuple concurrently deleted";
/// MariaDB's second REVOKE says "Cannot revoke role". The first of these once left a request
/// failed and its grant unmade.
pub async fn at_once_each_is_done(s: &impl SqlServer) {
    let case = s.case();
    let c: std::sync::Arc<dyn Connector> = s.connector().into();
    for round in 0..15 {
        for adding in [true, false] {
            let calls = (0..4).map(|_| {
                let (c, case) = (c.clone(), case.clone());
                tokio::spawn(async move {
                    let (who, unit) = (&case.identity, &case.unit);
                    match adding {
                        true => connectors::grant(c.as_ref(), who, unit).await,
                        false => connectors::revoke(c.as_ref(), who, unit).await,
                    }
                })
            });
            for call in futures::future::join_all(calls).await {
                let said = call.unwrap();
                assert!(said.is_ok(), "round {round}, adding {adding}: {said:?}");
            }
            assert_eq!(s.holds(&case.identity, &case.unit).await, adding);
        }
    }
}

/// Alice and Bob hold the units; Alice's login is dropped: each check finds nothing, each
/// revoke completes as "already absent", Bob keeps his, and a new grant to Alice is refused
/// saying `no_login(alice)`.
pub async fn a_dropped_login_holds_nothing(s: &impl SqlServer, no_login: impl Fn(&str) -> String) {
    let case = s.case();
    let (alice, bob) = (&case.identity, &case.bystander);
    let units = s.dropped_units(&case);
    let c = s.connector();
    for unit in &units {
        s.give(alice, unit).await;
        s.give(bob, unit).await;
        assert!(c.check(alice, unit).await.unwrap().direct, "{unit:?}");
    }
    s.drop_login(alice).await;
    for unit in &units {
        let held = c.check(alice, unit).await.unwrap();
        assert_eq!(held, Holding::default(), "{unit:?}");
        let undone = connectors::revoke(c.as_ref(), alice, unit).await.unwrap();
        assert_eq!(undone, "already absent");
        assert!(!s.holds(alice, unit).await, "{unit:?}");
        assert!(s.holds(bob, unit).await, "Bob keeps his {unit:?}");
    }
    let err = connectors::grant(c.as_ref(), alice, &case.unit)
        .await
        .unwrap_err();
    assert_eq!(err, ConnectorError::Permanent(no_login(alice)));
}

/// A grant to a login the server lacks, or of a unit it lacks, is refused permanently in the
/// connector's words, and nothing is held.
pub async fn unknown_names_are_refused<S: SqlServer>(
    s: &S,
    no_login: impl Fn(&str) -> String,
    no_unit: impl Fn(&str) -> String,
) {
    let case = s.case();
    let c = s.connector();
    let nobody = format!("{}_nobody", s.prefix());
    let nothing = format!("{}_nothing", s.prefix());
    let asked = [
        (nobody.as_str(), case.unit.clone(), no_login(&nobody)),
        (&case.identity, S::unit(&nothing), no_unit(&nothing)),
    ];
    for (who, unit, says) in asked {
        let err = connectors::grant(c.as_ref(), who, &unit).await.unwrap_err();
        assert_eq!(err, ConnectorError::Permanent(says));
    }
    assert!(s.holders(&case.unit).await.is_empty());
}

/// The tails of hostile names: quotes of each dialect, statement ends, comments, spaces,
/// backslashes, unicode and mixed case; `canary` is what an injection would try to drop.
fn hostile_tails(canary: &str) -> Vec<String> {
    vec![
        format!("\"; DROP TABLE {canary}; --"),
        format!("`; DROP DATABASE `{canary}`; --"),
        "' OR '1'='1".into(),
        " with spaces /* comment */".into(),
        ";SELECT pg_sleep(0)--".into(),
        "\\\\ back\\slash".into(),
        "`back`;tick".into(),
        "_ünïcødé_✅".into(),
        "_MiXeD\"Case\"".into(),
    ]
}

/// Each hostile name, as a login and as a unit, is granted and revoked: the server holds
/// exactly that membership and then none, and the canary survives every name. Then each of
/// `refused(p, someone, unit)` (login, unit, why) is refused before any SQL runs, saying why.
pub async fn hostile_names_change_only_their_membership<S: SqlServer>(
    s: &mut S,
    refused: impl Fn(&str, &str, &str) -> Vec<(String, String, &'static str)>,
) {
    let canary = s.plant_canary().await;
    let p = s.prefix().to_owned();
    let c = s.connector();
    for (i, tail) in hostile_tails(&canary).iter().enumerate() {
        let name = format!("{p}{tail}");
        let login = s.login(&name).await;
        let unit_name = format!("{name}_g{i}");
        s.make_unit(&unit_name).await;
        let unit = S::unit(&unit_name);
        connectors::grant(c.as_ref(), &name, &unit).await.unwrap();
        assert_eq!(s.holders(&unit).await, [login], "{name:?}: that one only");
        connectors::revoke(c.as_ref(), &name, &unit).await.unwrap();
        assert!(s.holders(&unit).await.is_empty(), "{name:?}");
    }
    assert!(s.canary_survives().await, "the canary survived every name");

    let someone = s.login(&format!("{p}_someone")).await;
    let grp = format!("{p}_grp");
    s.make_unit(&grp).await;
    for (who, what, why) in refused(&p, &someone, &grp) {
        let err = connectors::grant(c.as_ref(), &who, &S::unit(&what))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Permanent(m) if m.contains(why)),
            "{who:?} / {what:?}: {err}"
        );
    }
    assert!(s.holders(&S::unit(&grp)).await.is_empty());
}

/// `weak`, whose service account lacks the right, gets the server's refusal: permanent,
/// in words for which `said` holds, without its password; nothing is held. A server where
/// nothing listens (`gone`) is worth trying again, its password never shown either.
pub async fn a_service_account_without_the_right_changes_nothing(
    s: &impl SqlServer,
    weak: &dyn Connector,
    said: impl Fn(&str) -> bool,
    gone: &dyn Connector,
) {
    let case = s.case();
    let err = connectors::grant(weak, &case.identity, &case.unit)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    let words = err.to_string();
    assert!(said(&words), "the server's own words: {words}");
    assert!(!words.contains("svc-pw"), "{words}");
    assert!(!s.holds(&case.identity, &case.unit).await);
    let err = connectors::grant(gone, &case.identity, &case.unit)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Retryable(_)), "{err:?}");
    assert!(!err.to_string().contains("secret-pw"), "{err}");
}
