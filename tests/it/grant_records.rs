//! Access ends as it was granted: revocation works from the grant record (connector, unit,
//! identity, what was held before), whatever the catalog, the request or the platform becomes.
//! Through slack-sim, on real PostgreSQL roles, with Gatehouse's own data on SQLite and on
//! PostgreSQL.

use chrono::Duration;
use gatehouse::app::{App, AppOptions, StartError};
use gatehouse::domain::{RequestId, Status};
use sea_orm::ConnectionTrait;
use slack_sim::SlackSim;

use crate::support::TestDb;
use crate::support::app::config_for;
use crate::support::catalog;
use crate::support::db::{backends, postgres_server};
use crate::support::here::test_name;
use crate::support::made_roles::made_roles;
use crate::support::pg::{Roles, prefix, quoted};
use crate::support::platform::FakePlatform;
use crate::support::scenario::{in_slack_on_every_backend_with, in_slack_on_sqlite};
use crate::support::slack::{SlackTestApp, workspace};

/// A catalog with a `warehouse` PostgreSQL connector (unless `connector` is false) and a
/// `finance` resource granting `role` (unless `role` is None). A manual resource keeps it valid.
fn catalog(connector: bool, role: Option<&str>) -> String {
    let keys = catalog::resource(
        "keys",
        "desk",
        "{ task = \"hand over the keys\" }",
        &["UBOB"],
    );
    let mut connectors = catalog::connector("desk", "manual", "");
    if connector {
        connectors += &catalog::test_server_warehouse();
    }
    let mut resources = vec![keys];
    resources.extend(role.map(|role| catalog::role("finance", role, &["UBOB"])));
    catalog::with(&connectors, &resources)
}

/// Roles A and B and a login role for Alice, made for one test.
struct Stage {
    roles: Roles,
    alice: String,
    a: String,
    b: String,
}

async fn stage(url: &str) -> Stage {
    let wanted = [("alice", true), ("fin_a", false), ("fin_b", false)];
    let p = prefix();
    let (roles, [alice, a, b]) = made_roles(url, &p, wanted).await;
    Stage { roles, alice, a, b }
}

/// Roles for one test, and Gatehouse through slack-sim with `finance` granting role A, on `db`.
async fn started(db: &TestDb, url: &str) -> (Stage, SlackTestApp) {
    let s = stage(url).await;
    let sim = SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_registry(db, &catalog(true, Some(&s.a)), sim).await;
    (s, t)
}

/// Alice asks for `finance` for 2 h; Bob approves and picks her platform user; she has it.
async fn alice_gets_finance(t: &SlackTestApp, alice: &str) {
    let msg = t.ask("UALICE", "finance 2h", 1).await;
    bob_picks(t, 1, &msg, alice).await;
}

/// Bob ✅s request `n` and settles its identity as the picker would (the picker lists the whole
/// test server's roles, past Slack's 100 options when other tests run beside this one).
async fn bob_picks(t: &SlackTestApp, n: i64, msg: &slack_sim::Message, identity: &str) {
    t.approve_and_open_picker_of(n, msg, "UBOB").await;
    t.app
        .workflow()
        .set_identity(RequestId::new(n), &crate::support::u("UBOB"), identity)
        .await
        .unwrap();
    t.wait_for(n, Status::Active).await;
}

async fn actions(t: &SlackTestApp) -> Vec<String> {
    gatehouse::store::audit::for_request(t.app.db().conn(), RequestId::new(1).get())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn a_role_changed_in_the_catalog_while_granted_is_revoked_as_granted_and_the_new_one_untouched()
 {
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    for db in backends().await {
        let (s, t) = started(&db, &url).await;
        alice_gets_finance(&t, &s.alice).await;
        assert!(s.roles.member(&s.alice, &s.a).await);

        // An admin changes finance from role A to role B and restarts Gatehouse.
        let edited = catalog(true, Some(&s.b));
        let parsed =
            gatehouse::config::Catalog::parse(std::path::Path::new("t.toml"), &edited).unwrap();
        let edits = gatehouse::workflow::catalog_edits(t.app.db().conn(), &parsed)
            .await
            .unwrap();
        let said = edits
            .changed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with(&format!("1 live grant of `finance` grant role `{}`", s.a))
                && said[0].contains(&format!("the catalog now says role `{}`", s.b))
                && said[0].ends_with("they end as granted"),
            "{}",
            said[0]
        );
        assert_eq!(edits.refusal(), None);
        let sim = t.restart_later().await;
        let t = SlackTestApp::start_registry(&db, &edited, sim).await;

        // "Does Alice have access to finance?" is answered from what was granted (role A).
        let asked = gatehouse::domain::question::Question::Check {
            who: gatehouse::domain::question::Subject::User(crate::support::u("UALICE")),
            resource: "finance".into(),
        };
        let answer = t
            .app
            .workflow()
            .answer(&gatehouse::workflow::Asker::CommandLine, &asked)
            .await
            .unwrap();
        let gatehouse::workflow::Answer::Check(fact) = answer else {
            panic!("not a check: {answer:?}");
        };
        assert!(fact.has_access && fact.drift.is_none(), "{fact:?}");

        t.expire(1, Duration::hours(2)).await;
        assert!(
            !s.roles.member(&s.alice, &s.a).await,
            "role A was taken away"
        );
        assert!(
            !s.roles.member(&s.alice, &s.b).await,
            "role B was never given"
        );
        t.dm_for("UALICE", "has expired").await;
        // Reconciliation checks what was granted (A), not what the catalog says now (B).
        let warehouse = gatehouse::domain::ConnectorId::parse("warehouse").unwrap();
        let drift = t.app.workflow().reconcile(&warehouse).await.unwrap();
        assert!(
            drift.revoked.is_empty() && drift.unknown.is_empty(),
            "{drift:?}"
        );
        s.roles
            .admin
            .execute_unprepared(&format!("GRANT {} TO {}", quoted(&s.a), quoted(&s.alice)))
            .await
            .unwrap();
        let drift = t.app.workflow().reconcile(&warehouse).await.unwrap();
        assert_eq!(
            drift.revoked,
            vec![1],
            "A given back by hand is found and removed"
        );
        assert!(!s.roles.member(&s.alice, &s.a).await);
        t.stop().await;
        s.roles.drop_all().await;
    }
}

#[tokio::test]
async fn a_resource_removed_from_the_catalog_while_granted_is_revoked_at_its_end_as_granted() {
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    for db in backends().await {
        let (s, t) = started(&db, &url).await;
        alice_gets_finance(&t, &s.alice).await;

        let sim = t.restart_later().await;
        let t = SlackTestApp::start_registry(&db, &catalog(true, None), sim).await;
        t.clock.advance(Duration::minutes(119));
        t.run_jobs().await;
        assert!(s.roles.member(&s.alice, &s.a).await, "kept until its end");
        t.expire(1, Duration::minutes(1)).await;
        assert!(
            !s.roles.member(&s.alice, &s.a).await,
            "taken away at its end"
        );
        t.dm_for("UALICE", "has expired").await;
        assert!(
            actions(&t)
                .await
                .ends_with(&["expiring".into(), "expired".into()])
        );
        t.stop().await;
        s.roles.drop_all().await;
    }
}

#[tokio::test]
async fn a_connector_removed_while_it_holds_live_grants_stops_the_start_until_they_are_revoked() {
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    for db in backends().await {
        let (s, t) = started(&db, &url).await;
        alice_gets_finance(&t, &s.alice).await;
        t.app.shutdown().await;

        // Without the connector nothing could take role A away: the start is refused.
        let without = catalog(false, None);
        let start = |catalog: String, refuse: bool| {
            let db = &db;
            async move {
                let mut opts = AppOptions::new(std::sync::Arc::new(FakePlatform::default()));
                opts.refuse_stranded_grants = refuse;
                opts.background_worker = false;
                App::start(config_for(db, &catalog, &[]), opts).await
            }
        };
        let Err(StartError::Stranded(why)) = start(without.clone(), true).await else {
            panic!("the start went ahead with a live grant on a removed connector");
        };
        assert!(
            why.contains("connector `warehouse` is no longer in the catalog")
                && why.contains("(requests #1)")
                && why.contains("put the connector back")
                && why.contains("gatehouse revoke ID --reason TEXT"),
            "{why}"
        );

        // With the connector still there, the operator revokes it now (`gatehouse revoke`).
        let registry = {
            let parsed = gatehouse::config::Catalog::parse(
                std::path::Path::new("t.toml"),
                &catalog(true, Some(&s.a)),
            )
            .unwrap();
            gatehouse::connectors::Registry::new(&parsed, &|k| std::env::var(k).ok()).unwrap()
        };
        let mut opts = AppOptions::new(std::sync::Arc::new(registry));
        opts.background_worker = false;
        opts.refuse_stranded_grants = false;
        let app = App::start(config_for(&db, &catalog(true, Some(&s.a)), &[]), opts)
            .await
            .unwrap();
        let ended = app
            .workflow()
            .revoke_as_operator(RequestId::new(1), "the warehouse connector is retired")
            .await
            .unwrap();
        assert_eq!(ended.status, Status::Revoking);
        app.run_due_jobs().await.unwrap();
        assert_eq!(
            app.workflow()
                .request(RequestId::new(1))
                .await
                .unwrap()
                .status,
            Status::Revoked
        );
        assert!(!s.roles.member(&s.alice, &s.a).await);
        let audit = gatehouse::store::audit::for_request(app.db().conn(), 1)
            .await
            .unwrap();
        let revoking = audit.iter().find(|e| e.action == "revoking").unwrap();
        assert_eq!(revoking.actor, "command-line");
        assert!(
            revoking
                .details
                .contains("the warehouse connector is retired")
        );
        app.shutdown().await;

        // Now the connector can go.
        let app = start(without, true).await.unwrap();
        app.shutdown().await;
        t.sim.shutdown().await;
        s.roles.drop_all().await;
    }
}

#[tokio::test]
async fn a_grant_applied_before_its_last_attempt_timed_out_ends_failed_and_is_taken_away() {
    for db in backends().await {
        let sim = SlackSim::start(workspace()).await.unwrap();
        let platform = FakePlatform::default();
        // Attempt 1: 503. Attempt 2, the last: the platform applies the grant, then times out.
        platform.fail_next(1, true);
        platform.lose_answers(1);
        let t = SlackTestApp::start_env(
            &db,
            &crate::support::app::CATALOG,
            sim,
            false,
            platform,
            &[("GATEHOUSE_JOB_MAX_ATTEMPTS", "2")],
        )
        .await;
        let msg = t
            .ask("UALICE", "analytics-ro 2h needed for the close", 1)
            .await;
        t.tick("UBOB", &msg).await;
        // The first attempt fails; the retry comes after a backoff on the manual clock.
        t.wait_for(1, Status::Provisioning).await;
        crate::support::slack::eventually("the last attempt", 30, || async {
            t.clock.advance(Duration::minutes(1));
            t.run_jobs().await;
            (t.status(1).await == Status::Failed).then_some(())
        })
        .await;
        // The failure is told, and what the platform applied is undone: by a job of its own,
        // which may run after the DM's, and is recorded once the platform has answered.
        t.dm_for("UALICE", "granting the access failed").await;
        crate::support::slack::eventually("the undo in the audit log", 30, || async {
            let done = actions(&t).await;
            done.ends_with(&["provisioning_failed".into(), "grant_undone".into()])
                .then_some(())
        })
        .await;
        assert!(
            !t.platform.holds("ualice", "ANALYTICS_RO"),
            "no access is left"
        );
        assert_eq!(t.platform.changes("ualice", "ANALYTICS_RO"), (1, 1));
        t.stop().await;
    }
}

#[tokio::test]
async fn a_person_who_already_held_the_role_keeps_it_after_the_grant_ends() {
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    for db in backends().await {
        let s = stage(&url).await;
        s.roles
            .admin
            .execute_unprepared(&format!("GRANT {} TO {}", quoted(&s.a), quoted(&s.alice)))
            .await
            .unwrap();
        let sim = SlackSim::start(workspace()).await.unwrap();
        let t = SlackTestApp::start_registry(&db, &catalog(true, Some(&s.a)), sim).await;
        alice_gets_finance(&t, &s.alice).await;
        t.dm_for("UALICE", "You already had this access").await;
        t.expire(1, Duration::hours(2)).await;
        assert!(
            s.roles.member(&s.alice, &s.a).await,
            "her standing access stays"
        );
        t.dm_for("UALICE", "it was left as it was").await;
        let warehouse = gatehouse::domain::ConnectorId::parse("warehouse").unwrap();
        let drift = t.app.workflow().reconcile(&warehouse).await.unwrap();
        assert!(drift.revoked.is_empty(), "{drift:?}");
        assert!(
            s.roles.member(&s.alice, &s.a).await,
            "and reconciliation leaves it"
        );
        t.stop().await;
        s.roles.drop_all().await;
    }
}

#[tokio::test]
async fn two_grants_of_the_same_role_keep_it_until_the_last_ends_and_neither_counts_as_held_before()
{
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    for db in backends().await {
        let s = stage(&url).await;
        // `finance` and `ledger` grant the same role (two resources, or a catalog edited meanwhile).
        let both = format!(
            "{}\n[[resources]]\nid = \"ledger\"\nname = \"Ledger\"\nconnector = \"warehouse\"\ngrant = {{ role = \"{}\" }}\nreviewers = [\"UBOB\"]\nreason_required = false\n",
            catalog(true, Some(&s.a)),
            s.a
        );
        let sim = SlackSim::start(workspace()).await.unwrap();
        let t = SlackTestApp::start_registry(&db, &both, sim).await;
        alice_gets_finance(&t, &s.alice).await;
        let msg = t.ask("UALICE", "ledger 3h", 2).await;
        bob_picks(&t, 2, &msg, &s.alice).await;
        let second = gatehouse::store::grants::live_for_request(t.app.db().conn(), 2)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !second.held_before,
            "Gatehouse's own grant is not access held before"
        );

        t.expire(1, Duration::hours(2)).await;
        assert!(
            s.roles.member(&s.alice, &s.a).await,
            "ledger still gives it"
        );
        t.expire(2, Duration::hours(1)).await;
        assert!(
            !s.roles.member(&s.alice, &s.a).await,
            "the last to end took it away"
        );
        t.stop().await;
        s.roles.drop_all().await;
    }
}

#[tokio::test]
async fn an_operator_revoke_needs_a_reason_within_bounds_and_changes_nothing_without_one() {
    in_slack_on_sqlite(
        async |db| SlackTestApp::start_with(db, &catalog(false, None), workspace()).await,
        async |t| {
            t.granted("UALICE", "keys 2h", 1, "UBOB").await;
            let err = t
                .app
                .workflow()
                .revoke_as_operator(RequestId::new(1), "  ")
                .await
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "revoking access needs a reason (--reason TEXT)"
            );
            let long = "x".repeat(3001);
            let err = t
                .app
                .workflow()
                .revoke_as_operator(RequestId::new(1), &long)
                .await
                .unwrap_err();
            assert!(
                matches!(err, gatehouse::workflow::WorkflowError::ReasonTooLong(3001)),
                "{err}"
            );
            assert_eq!(t.status(1).await, Status::Active);
            assert!(t.platform.holds("ualice", "hand over the keys"));
        },
    )
    .await;
}

#[tokio::test]
async fn a_reviewer_and_an_admin_revoking_at_the_same_instant_end_the_access_once() {
    in_slack_on_every_backend_with(
        async |db| SlackTestApp::start_with(db, &catalog(false, None), workspace()).await,
        async |t, db| {
            t.granted("UALICE", "keys 2h", 1, "UBOB").await;
            let wf = t.app.workflow();
            let (bob, ada) = (crate::support::u("UBOB"), crate::support::u("UADA"));
            let (a, b) = tokio::join!(
                wf.revoke(RequestId::new(1), &bob, Some("incident 42")),
                wf.revoke(RequestId::new(1), &ada, Some("incident 42, too")),
            );
            assert_eq!(
                [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
                1,
                "{}: {a:?} {b:?}",
                db.name
            );
            t.wait_for(1, Status::Revoked).await;
            let done = actions(t).await;
            assert_eq!(
                done.iter().filter(|a| *a == "revoking").count(),
                1,
                "{done:?}"
            );
            assert_eq!(
                done.iter().filter(|a| *a == "revoked").count(),
                1,
                "{done:?}"
            );
            assert_eq!(t.platform.changes("ualice", "hand over the keys"), (1, 1));
        },
    )
    .await;
}
