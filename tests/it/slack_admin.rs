//! Admins in Slack: reviewers (people and user groups) added and removed, the Access Requests
//! channel moved; and App Home for requesters, reviewers and admins.

use gatehouse::domain::Status;
use serde_json::Value;
use slack_sim::{ChannelSeed, SlackSim, render_text};

use crate::support::app::CATALOG;
use crate::support::home::{press_in_view, press_in_view_confirmed};
use crate::support::platform::FakePlatform;
use crate::support::scenario::in_slack_on_every_backend;
use crate::support::slack::{BOT, CHANNEL, SlackTestApp, eventually, workspace};
use crate::support::{TestDb, backends};

#[tokio::test]
async fn admins_manage_reviewers_including_user_groups() {
    in_slack_on_every_backend(async |t, db| {
        assert_eq!(
            t.admin("UBOB", "reviewers add <@UCARL|carl> analytics-ro")
                .await,
            "only a Gatehouse admin can do that"
        );
        assert_eq!(
            t.admin("UADA", "reviewers add <@UCARL|carl> analytics-ro")
                .await,
            "<@UCARL> now reviews `analytics-ro`."
        );
        let list = t.admin("UADA", "reviewers list analytics-ro").await;
        assert_eq!(
            list,
            "*Reviewers*\n• `analytics-ro`: <@UBOB>, <@URITA>, <@UCARL> (added by <@UADA>)"
        );
        assert!(
            t.admin("UADA", "reviewers frobnicate")
                .await
                .starts_with("Usage:")
        );

        let msg = t.ask("UALICE", "analytics-ro 1h check", 1).await;
        t.tick("UCARL", &msg).await;
        eventually("Carl's approval", 30, || async {
            (t.status(1).await != Status::Pending).then_some(())
        })
        .await;

        assert_eq!(
            t.admin("UADA", "reviewers remove <@UCARL|carl> analytics-ro")
                .await,
            "<@UCARL> no longer reviews `analytics-ro`."
        );
        let msg = t.ask("UDAVE", "analytics-ro 1h check", 2).await;
        t.tick("UCARL", &msg).await;
        t.ephemeral_for("UCARL", "only a reviewer of analytics-ro")
            .await;
        assert_eq!(t.status(2).await, Status::Pending);

        // A user group reviews: its members approve (Carl is in S0FINANCE).
        assert_eq!(
            t.admin(
                "UADA",
                "reviewers add <!subteam^S0FINANCE|@finance-reviewers> finance-pii"
            )
            .await,
            "<!subteam^S0FINANCE> now reviews `finance-pii`."
        );
        let msg = t.ask("UALICE", "finance-pii 1h", 3).await;
        t.tick("UCARL", &msg).await;
        eventually("the group member's approval", 30, || async {
            (t.status(3).await != Status::Pending).then_some(())
        })
        .await;

        let actions: Vec<String> = gatehouse::store::audit::page(t.app.db().conn(), 0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.request_id.is_none())
            .map(|e| format!("{} {}", e.actor, e.action))
            .collect();
        assert_eq!(
            actions,
            [
                "UADA reviewer_added",
                "UADA reviewer_removed",
                "UADA reviewer_added"
            ],
            "{}",
            db.name
        );
    })
    .await;
}

#[tokio::test]
async fn an_admin_moves_the_channel_once_the_bot_can_post_there() {
    for db in backends().await {
        let mut ws = workspace();
        ws.channels.push(ChannelSeed {
            id: "C0NEWREQ".into(),
            name: "new-requests".into(),
            is_private: true,
            members: vec![BOT.into(), "UADA".into()],
        });
        let t = SlackTestApp::start_with(&db, &CATALOG, ws).await;
        let refused = t.admin("UADA", "channel <#C0GENERAL|general>").await;
        assert_eq!(
            refused,
            "I am not in <#C0GENERAL>; invite me with `/invite @Gatehouse` there, then try again."
        );
        assert_eq!(
            t.admin("UALICE", "channel <#C0NEWREQ|new-requests>").await,
            "only a Gatehouse admin can do that"
        );
        assert_eq!(
            t.admin("UADA", "channel <#C0NEWREQ|new-requests>").await,
            "Access requests now go to <#C0NEWREQ>."
        );
        // Another process follows the move too: the choice is in the database, not in memory.
        let second = t.another(&db).await;
        let SlackTestApp { app, sim, .. } = t;
        app.shutdown().await;
        eventually("one connection left", 30, || async {
            (sim.connection_count() == 1).then_some(())
        })
        .await;
        sim.slash_command("UALICE", CHANNEL, "/request-access", "finance-pii 1h")
            .await
            .unwrap();
        second.request_message_in("C0NEWREQ", 1).await;
        let t = second;
        assert_eq!(
            t.app
                .workflow()
                .requests_channel()
                .await
                .unwrap()
                .as_deref(),
            Some("C0NEWREQ"),
            "kept across restarts"
        );
        t.stop().await;
        db.close().await;
    }
}

fn home_text(t: &SlackTestApp, user: &str) -> Option<String> {
    t.sim.home_view(user).map(|v: Value| render_text(&v))
}

#[tokio::test]
async fn app_home_shows_requests_access_reviews_and_failures() {
    in_slack_on_every_backend(async |t, _| {
        t.request_access("UALICE", "analytics-ro 1h report").await;
        t.request_access("UALICE", "finance-pii 2h").await;
        t.request_message(2).await;

        t.sim.open_app_home("UBOB").await.unwrap();
        let bob = eventually("Bob's Home", 30, || async { home_text(t, "UBOB") }).await;
        assert!(bob.contains("Waiting for your review"), "{bob}");
        assert!(
            bob.contains("#1 Analytics (read-only)") && !bob.contains("#2 Finance"),
            "{bob}"
        );

        // Approving from Home works like the channel button.
        let bob_home = t.sim.home_view("UBOB").unwrap();
        press_in_view(t, "UBOB", &bob_home, "approve", "1").await;
        t.wait_for(1, Status::Active).await;

        t.sim.open_app_home("UALICE").await.unwrap();
        let alice = eventually("Alice's Home", 30, || async {
            home_text(t, "UALICE").filter(|h| h.contains("Your access"))
        })
        .await;
        assert!(alice.contains("#2 Finance with PII"), "{alice}");
        assert!(alice.contains("Cancel"), "{alice}");
        assert!(
            alice.contains("#1 Analytics (read-only)")
                && alice.contains("Relinquish")
                && alice.contains("Extend"),
            "{alice}"
        );

        // Alice cancels #2 from her Home; the Home refreshes.
        let alice_home = t.sim.home_view("UALICE").unwrap();
        press_in_view_confirmed(t, "UALICE", &alice_home, "cancel", "2").await;
        t.wait_for(2, Status::Cancelled).await;

        // Admins see failed provisioning with Retry.
        let msg = t.ask("UDAVE", "finance-pii 2h", 3).await;
        t.platform.fail_next(1, false);
        t.tick("UFIONA", &msg).await;
        t.wait_for(3, Status::Failed).await;
        t.dm_for("UFIONA", "role ANALYTICS_RO does not exist").await;
        t.sim.open_app_home("UADA").await.unwrap();
        let ada = eventually("Ada's Home", 30, || async {
            home_text(t, "UADA").filter(|h| h.contains("Admin"))
        })
        .await;
        assert!(
            ada.contains("#3 Finance with PII") && ada.contains("Retry"),
            "{ada}"
        );
        let ada_home = t.sim.home_view("UADA").unwrap();
        press_in_view(t, "UADA", &ada_home, "retry", "3").await;
        t.wait_for(3, Status::Active).await;
    })
    .await;
}

#[tokio::test]
async fn admins_see_failed_jobs_reviewers_and_connectors_in_app_home_and_retry_a_job() {
    in_slack_on_every_backend(async |t, db| {
        t.granted("UALICE", "finance-pii 1h", 1, "UFIONA").await;
        // The revocation keeps failing past the attempts jobs get in tests (3); a revocation
        // never gives up, so it is shown as failing. The background worker and these explicit
        // runs share the attempts (and the clock moves under the worker), so wait for it rather
        // than count runs, and keep the platform failing until the admin retries.
        t.platform.fail_next(1000, true);
        t.later(chrono::Duration::hours(1)).await;
        eventually("the revocation to keep failing", 30, || async {
            t.run_jobs().await;
            let failed = t.app.workflow().failed_jobs().await.unwrap();
            let failing = failed.iter().any(|j| j.kind == "revoke");
            if !failing {
                t.later(chrono::Duration::minutes(5)).await;
            }
            failing.then_some(())
        })
        .await;
        assert_eq!(t.status(1).await, Status::Revoking, "{}", db.name);

        t.sim.open_app_home("UADA").await.unwrap();
        let home = eventually("Ada's Home with the failing job", 30, || async {
            home_text(t, "UADA").filter(|h| h.contains("Failing job (Gatehouse keeps retrying)"))
        })
        .await;
        let attempts: u32 = home
            .split("revoke for request #1 after ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(attempts >= 3, "{home}");
        assert!(
            home.contains("platform answered 503 Service Unavailable"),
            "{home}"
        );
        assert!(
            home.contains("`finance-pii` via `manual`: <@UFIONA>"),
            "{home}"
        );
        assert!(
            home.contains("`manual` (manual): changes are made by hand by an admin"),
            "{home}"
        );

        // Non-admins see no Admin section.
        t.sim.open_app_home("UBOB").await.unwrap();
        let bob = eventually("Bob's Home", 30, || async { home_text(t, "UBOB") }).await;
        assert!(!bob.contains("Admin"), "{bob}");

        t.platform.heal();
        let ada_home = t.sim.home_view("UADA").unwrap();
        let failed = t.app.workflow().failed_jobs().await.unwrap();
        let job = failed
            .iter()
            .find(|j| j.kind == "revoke")
            .unwrap()
            .id
            .to_string();
        press_in_view(t, "UADA", &ada_home, "retry_job", &job).await;
        t.wait_for(1, Status::Expired).await;
        assert!(!t.platform.holds("ualice", "FINANCE_PII"));
    })
    .await;
}

#[tokio::test]
async fn admins_search_the_identities_ingested_from_platforms() {
    use gatehouse::store::identities::{self, Seen};
    in_slack_on_every_backend(async |t, db| {
        let now = t.clock.now();
        for (kind, id, name, email) in [
            ("user", "ALICE_M", "Alice Martin", Some("Alice@Example.com")),
            ("user", "BOB_R", "Bob Reviewer", None),
            ("role", "ANALYTICS_RO", "analytics_ro", None),
            ("user", "50%_OFF", "Sale bot", None),
        ] {
            let seen = Seen {
                kind,
                platform_id: id,
                name,
                email,
            };
            identities::upsert(t.app.db().conn(), "warehouse", &seen, now)
                .await
                .unwrap();
        }
        let refused = t
            .app
            .workflow()
            .search_identities(&crate::support::u("UBOB"), "ali")
            .await
            .unwrap_err();
        assert_eq!(refused.to_string(), "only a Gatehouse admin can do that");

        t.sim.open_app_home("UADA").await.unwrap();
        let home = eventually("Ada's Home", 30, || async { t.sim.home_view("UADA") }).await;
        press_in_view(t, "UADA", &home, "identity_search", "search").await;
        let form = eventually("the search form", 30, || async { t.sim.top_modal("UADA") }).await;
        let query = serde_json::json!({ "query": { "query": { "type": "plain_text_input", "value": "ALI" } } });
        t.submitted("UADA", form["id"].as_str().unwrap(), query).await;
        let results = render_text(&t.sim.top_modal("UADA").unwrap());
        assert!(
            results.contains("*1* identity matching `ALI`"),
            "{}: {results}",
            db.name
        );
        assert!(
            results.contains("Alice Martin") && results.contains("alice@example.com"),
            "{results}"
        );
        assert!(!results.contains("Bob"), "{results}");
        // A % typed by a person matches a %, not everything.
        let found = t
            .app
            .workflow()
            .search_identities(&crate::support::u("UADA"), "%")
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].identity.platform_id, "50%_OFF");
    })
    .await;
}

#[tokio::test]
async fn app_home_shows_each_connectors_health() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("down-url");
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    std::fs::write(&secret, "postgres://nobody:secret-pw@127.0.0.1:1/none").unwrap();
    let catalog = format!(
        "admins = [\"UADA\"]\n\n[connectors.manual]\nkind = \"manual\"\n\n[connectors.down]\nkind = \"postgres\"\nurl = {{ file = \"{}\" }}\n",
        secret.display()
    );
    let db = crate::support::TestDb::sqlite();
    let sim = slack_sim::SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_registry(&db, &catalog, sim).await;
    t.sim.open_app_home("UADA").await.unwrap();
    let home = eventually("Ada's Home", 30, || async {
        home_text(&t, "UADA").filter(|h| h.contains("Connectors"))
    })
    .await;
    assert!(
        home.contains("`manual` (manual): changes are made by hand by an admin"),
        "{home}"
    );
    assert!(
        home.contains(
            "`down` (postgres): role memberships on a PostgreSQL server — ⚠️ unreachable"
        ),
        "{home}"
    );
    assert!(!home.contains("secret-pw"), "no secret in Slack: {home}");
    t.stop().await;
}

/// What `serve` asked each platform at start is in the admins' App Home: a resource that
/// cannot be granted first, with its fix; nobody else sees it.
#[tokio::test]
async fn admins_see_in_app_home_which_resources_their_platforms_cannot_grant() {
    let db = TestDb::sqlite();
    let platform = FakePlatform::default();
    platform.readiness_is(
        "FINANCE_PII",
        gatehouse::workflow::Readiness::Missing {
            what: "group `FINANCE_PII` does not exist".into(),
            fix: "create it <or> correct `grant`".into(),
        },
    );
    let sim = SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_env(
        &db,
        &CATALOG,
        sim,
        false,
        platform,
        &[("TEST_CHECK_PLATFORMS", "on")],
    )
    .await;
    t.sim.open_app_home("UADA").await.unwrap();
    let ada = eventually("the platforms in Ada's Home", 30, || async {
        home_text(&t, "UADA").filter(|h| h.contains("can be granted and revoked"))
    })
    .await;
    assert!(
        ada.contains(
            "*Platforms* — 1 of 2 resource(s) can be granted and revoked, as asked <!date^"
        ),
        "{ada}"
    );
    let missing = ada
        .find("❌ `finance-pii`: task “FINANCE_PII” on `manual`: group `FINANCE_PII` does not exist. Fix: create it &lt;or&gt; correct `grant`")
        .unwrap_or_else(|| panic!("{ada}"));
    let ready = ada
        .find("✅ `analytics-ro`: task “ANALYTICS_RO” on `manual`: task “ANALYTICS_RO” exists")
        .unwrap_or_else(|| panic!("{ada}"));
    assert!(missing < ready, "what needs a fix comes first: {ada}");

    t.sim.open_app_home("UALICE").await.unwrap();
    let alice = eventually("Alice's Home", 30, || async {
        home_text(&t, "UALICE").filter(|h| h.contains("Your access"))
    })
    .await;
    assert!(!alice.contains("Platforms"), "{alice}");
    t.stop().await;
    db.close().await;
}
