//! What happens around the end of access: requests nobody reviews lapse, the reminder comes
//! when the resource says, a revocation that keeps failing reaches reviewers and admins, and
//! drift reconciliation finds access the platform lost or kept.

use chrono::Duration;
use gatehouse::domain::{ConnectorId, RequestId, Status};
use sea_orm::ConnectionTrait;
use slack_sim::SlackSim;

use crate::support::db::postgres_server;
use crate::support::here::test_name;
use crate::support::made_roles::made_roles;
use crate::support::pg::{prefix, quoted};
use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{SlackTestApp, eventually, shown, workspace};
use crate::support::{TestDb, catalog};

/// Analytics: 8 h unless asked otherwise, a reminder 30 min before the end, and two hours for
/// a reviewer before a request lapses.
fn timed() -> String {
    let timing = "default_duration = \"8h\"\nremind_before = \"30m\"\nlapse_after = \"2h\"\n";
    catalog::manual(&[catalog::task("analytics-ro", &["UBOB", "URITA"]) + timing])
}

/// Gatehouse with the timed catalog, in the test workspace.
async fn started(db: &TestDb) -> SlackTestApp {
    SlackTestApp::start_with(db, &timed(), workspace()).await
}

#[tokio::test]
async fn a_request_nobody_reviews_lapses_and_the_requester_is_told() {
    in_slack_on_sqlite(started, async |t| {
        t.request_access("UALICE", "analytics-ro 8h").await;
        t.request_message(1).await;
        t.clock.advance(Duration::minutes(119));
        t.run_jobs().await;
        assert_eq!(t.status(1).await, Status::Pending, "not yet");

        t.clock.advance(Duration::minutes(1));
        t.run_jobs().await;
        t.wait_for(1, Status::Lapsed).await;
        t.dm_for("UALICE", "Nobody reviewed your request #1").await;
        eventually("the card to say it lapsed", 30, || async {
            let card = shown(&t.request_message(1).await).to_lowercase();
            (card.contains("lapsed") && !card.contains("waiting for a reviewer")).then_some(())
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_reviewed_request_does_not_lapse() {
    in_slack_on_sqlite(started, async |t| {
        t.alice_gets_analytics_from_bob().await;
        t.clock.advance(Duration::hours(3));
        t.run_jobs().await;
        assert_eq!(t.status(1).await, Status::Active);
    })
    .await;
}

#[tokio::test]
async fn the_reminder_comes_when_the_resource_says() {
    in_slack_on_sqlite(started, async |t| {
        t.alice_gets_analytics_from_bob().await;
        t.run_jobs().await;
        let reminded = || {
            t.sim
                .dms("UALICE")
                .iter()
                .any(|m| shown(m).contains("Need more time?"))
        };
        t.clock.advance(Duration::hours(7) + Duration::minutes(29));
        t.run_jobs().await;
        assert!(!reminded(), "31 minutes before the end is too early");
        t.clock.advance(Duration::minutes(1));
        t.run_jobs().await;
        t.dm_for("UALICE", "Need more time?").await;
    })
    .await;
}

#[tokio::test]
async fn a_revocation_that_keeps_failing_reaches_the_reviewers_and_admins_and_then_succeeds() {
    in_slack_on_sqlite(started, async |t| {
        t.alice_gets_analytics_from_bob().await;
        t.platform.fail_next(1, false);
        t.clock.advance(Duration::hours(8));
        t.run_jobs().await;
        for who in ["UBOB", "URITA", "UADA"] {
            let dm = t.dm_for(who, "keeps failing").await;
            assert!(dm.contains("role ANALYTICS_RO does not exist"), "{dm}");
        }
        assert_eq!(t.status(1).await, Status::Revoking);
        assert!(t.platform.holds("ualice", "ANALYTICS_RO"));

        // An hour later the platform answers: the retry removes the access.
        t.clock.advance(Duration::hours(1));
        t.run_jobs().await;
        t.wait_for(1, Status::Expired).await;
        assert!(!t.platform.holds("ualice", "ANALYTICS_RO"));
        t.dm_for("UALICE", "has expired").await;
    })
    .await;
}

#[tokio::test]
async fn drift_is_reported_once_regranted_where_asked_and_access_kept_after_its_end_is_removed() {
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    let wanted = [("alice", true), ("reports", false), ("regrants", false)];
    let p = prefix();
    let (roles, [alice, reports, regrants]) = made_roles(&url, &p, wanted).await;
    let catalog = catalog::with(
        &catalog::test_server_warehouse(),
        &[
            catalog::role("reports", &reports, &["UBOB"]),
            catalog::role("regrants", &regrants, &["UBOB"]) + "on_drift = \"regrant\"\n",
        ],
    );
    let db = TestDb::sqlite();
    let sim = SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_registry(&db, &catalog, sim).await;
    for (n, ask) in [(1, "reports 2h"), (2, "regrants 2h")] {
        let msg = t.ask("UALICE", ask, n).await;
        let form = t.approve_and_open_picker_of(n, &msg, "UBOB").await;
        t.pick(&form, "UBOB", &alice).await;
        t.wait_for(n, Status::Active).await;
    }
    let admin = roles.admin.clone();
    let by_hand = |sql: String| {
        let admin = admin.clone();
        async move { admin.execute_unprepared(&sql).await.unwrap() }
    };
    // Someone takes both memberships away outside Gatehouse.
    for role in [&reports, &regrants] {
        by_hand(format!("REVOKE {} FROM {}", quoted(role), quoted(&alice))).await;
    }
    let warehouse = ConnectorId::parse("warehouse").unwrap();
    let wf = t.app.workflow();
    let drift = wf.reconcile(&warehouse).await.unwrap();
    assert_eq!(drift.missing, vec![1, 2]);
    assert_eq!(drift.regranted, vec![2]);
    assert!(!roles.member(&alice, &reports).await, "reported only");
    assert!(roles.member(&alice, &regrants).await, "granted again");
    t.run_jobs().await;
    for who in ["UBOB", "UADA"] {
        t.dm_for(who, "is missing on the platform").await;
        t.dm_for(who, "Gatehouse granted it again").await;
    }

    // Still missing an hour later: audited and told once, not every hour.
    let again = wf.reconcile(&warehouse).await.unwrap();
    assert_eq!(again.missing, vec![1]);
    let actions = t.app_audit(1).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "drift_missing").count(),
        1,
        "{actions:?}"
    );

    // Both end; someone puts the regranted role back by hand afterwards.
    t.expire(1, Duration::hours(2)).await;
    t.wait_for(2, Status::Expired).await;
    by_hand(format!("GRANT {} TO {}", quoted(&regrants), quoted(&alice))).await;
    let after = wf.reconcile(&warehouse).await.unwrap();
    assert_eq!(after.revoked, vec![2]);
    assert!(!roles.member(&alice, &regrants).await, "removed again");
    assert!(
        t.app_audit(2).await.contains(&"drift_revoked".to_owned()),
        "audited"
    );
    t.stop().await;
    roles.drop_all().await;
}

impl SlackTestApp {
    async fn app_audit(&self, n: i64) -> Vec<String> {
        gatehouse::store::audit::for_request(self.app.db().conn(), RequestId::new(n).get())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}
