//! Who may ask, through slack-sim: guests, external (Slack Connect) users, deactivated accounts
//! and bots are refused break-glass and never auto-approved; a resource's `requesters` refuse
//! everyone else; a link rule's `domains` keep a contractor's email from linking to the
//! internal user of the same name; and a bot in a reviewer group is not a reviewer.

use gatehouse::domain::{ConnectorId, RequestId, Status};
use gatehouse::store;
use slack_sim::{SimConfig, UserSeed, UsergroupSeed};

use crate::support::scenario::in_slack_on_every_backend_with;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, person, workspace};
use crate::support::{TestDb, backends, catalog};

/// Production database: break glass, and auto-approval up to an hour; payroll: asked for by
/// Fiona and the finance group alone; the ledger: reviewed by a group with a bot in it.
fn catalog() -> String {
    let auto = "auto_approve = [{ max_duration = \"1h\" }]\n";
    let finance = "requesters = [\"UFIONA\", \"S0FINANCE\"]\n";
    let with_bot = r#"approval = [{ reviewers = ["S0WITHBOT"], need = "all" }]"#;
    catalog::manual(&[
        catalog::task("prod-db", &["UBOB"]) + catalog::BREAK_GLASS + auto,
        catalog::task("payroll", &["UBOB"]) + finance + catalog::BREAK_GLASS,
        catalog::task("ledger", &[]) + with_bot,
    ])
}

/// Someone who is not a full member of the workspace.
const OUTSIDERS: [(&str, &str); 4] = [
    ("UGUEST", "a guest account"),
    ("UEXT", "an external (Slack Connect) account"),
    ("UGONE", "a deactivated account"),
    ("UROBOT", "a bot or app account"),
];

/// The test workspace plus a guest, a Slack Connect user from another organisation, a
/// deactivated account and a bot, all in the channels; the bot also in a reviewer group.
fn with_outsiders() -> SimConfig {
    let mut ws = workspace();
    ws.users.push(UserSeed {
        is_restricted: true,
        ..person("UGUEST", "gus", "UTC")
    });
    ws.users.push(UserSeed {
        team_id: Some("T0PARTNER".into()),
        email: Some("erin@partner.io".into()),
        ..person("UEXT", "erin", "UTC")
    });
    ws.users.push(UserSeed {
        deleted: true,
        ..person("UGONE", "gone", "UTC")
    });
    ws.users.push(UserSeed {
        is_bot: true,
        email: None,
        ..person("UROBOT", "deploybot", "UTC")
    });
    for c in &mut ws.channels {
        for (id, _) in OUTSIDERS {
            c.members.push(id.into());
        }
    }
    ws.usergroups.push(UsergroupSeed {
        id: "S0WITHBOT".into(),
        handle: "ledger-reviewers".into(),
        users: vec!["UBOB".into(), "UROBOT".into()],
    });
    ws
}

/// Everything a refused attempt must leave untouched: requests, audit rows, jobs.
async fn footprint(t: &SlackTestApp) -> (usize, usize, usize) {
    let c = t.app.db().conn();
    let requests = store::requests::list_all(c).await.unwrap().len();
    let audit = store::audit::page(c, 0, 100_000).await.unwrap().len();
    let jobs = store::jobs::list(c, None).await.unwrap().len();
    (requests, audit, jobs)
}

/// Gatehouse with this file's catalog, in the workspace with its outsiders.
async fn started(db: &TestDb) -> SlackTestApp {
    SlackTestApp::start_with(db, &catalog(), with_outsiders()).await
}

#[tokio::test]
async fn guests_external_users_deactivated_accounts_and_bots_cannot_use_break_glass() {
    in_slack_on_every_backend_with(started, async |t, db| {
        let before = footprint(t).await;
        for (who, kind) in OUTSIDERS {
            let reply = t
                .reply(who, "/request-access", "break-glass prod-db 30m db on fire")
                .await;
            assert!(
            reply.contains(&format!(
                "break-glass access is only for full members of the workspace, and yours is {kind}"
            )),
            "{}: {who}: {reply}",
            db.name
        );
            assert!(
                reply.contains("ask for prod-db the usual way with /request-access prod-db"),
                "{reply}"
            );
        }
        assert_eq!(
            footprint(t).await,
            before,
            "{}: refusals change nothing",
            db.name
        );
        assert!(!t.platform.holds("ugone", "PROD_DB"));

        // A full member still can.
        let reply = t
            .reply(
                "UDAVE",
                "/request-access",
                "break-glass prod-db 30m db on fire",
            )
            .await;
        assert!(
            reply.contains("is being granted now (request #1)"),
            "{reply}"
        );
    })
    .await;
}

#[tokio::test]
async fn guests_external_users_deactivated_accounts_and_bots_are_never_auto_approved() {
    in_slack_on_every_backend_with(started, async |t, db| {
        // The rule (30 minutes is within its 1h) approves a full member at once.
        t.reply("UDAVE", "/request-access", "prod-db 30m").await;
        t.wait_for(1, Status::Active).await;

        for (n, (who, kind)) in OUTSIDERS.into_iter().enumerate() {
            let id = n as i64 + 2;
            t.reply(who, "/request-access", "prod-db 30m").await;
            t.request_message(id).await;
            t.run_jobs().await;
            assert_eq!(t.status(id).await, Status::Pending, "{}: {who}", db.name);
            let c = t.app.db().conn();
            assert!(
                store::approvals::of_request(c, RequestId::new(id))
                    .await
                    .unwrap()
                    .is_empty(),
                "{who}: no approval recorded"
            );
            let audit = store::audit::for_request(c, id).await.unwrap();
            let checked = audit
                .iter()
                .find(|e| e.action == "auto_approval_checked")
                .unwrap();
            let details: serde_json::Value = serde_json::from_str(&checked.details).unwrap();
            let why = details["auto_approval_not_applied"]
                .as_str()
                .unwrap_or_default();
            assert!(
                why.contains("was not applied: auto-approval is only for full members")
                    && why.contains(kind),
                "{who}: {why}"
            );
            assert!(
                !audit.iter().any(|e| e.action == "approved"),
                "{who}: {audit:?}"
            );
        }
        assert!(!t.platform.holds("uguest", "PROD_DB"));
        assert!(!t.platform.holds("uext", "PROD_DB"));
    })
    .await;
}

#[tokio::test]
async fn only_a_resources_requesters_may_ask_for_it_and_a_group_member_may() {
    in_slack_on_every_backend_with(started, async |t, db| {
        let before = footprint(t).await;
        let refused = "only <@UFIONA>, the members of <!subteam^S0FINANCE> may ask for payroll; ask one of them, or an admin, if you need it";
        let reply = t.reply("UDAVE", "/request-access", "payroll 2h").await;
        assert!(reply.contains(refused), "{}: {reply}", db.name);
        let reply = t
            .reply(
                "UDAVE",
                "/request-access",
                "break-glass payroll 30m close the books",
            )
            .await;
        assert!(reply.contains(refused), "{reply}");
        // The bot is in no group of payroll's, and bots never count as group members anyway.
        let reply = t.reply("UROBOT", "/request-access", "payroll 2h").await;
        assert!(reply.contains(refused), "{reply}");
        assert_eq!(footprint(t).await, before, "refusals change nothing");

        // Carl is in S0FINANCE; Fiona is named.
        t.reply("UCARL", "/request-access", "payroll 2h").await;
        t.request_message(1).await;
        assert_eq!(t.status(1).await, Status::Pending);
        t.reply("UFIONA", "/request-access", "payroll 2h").await;
        t.request_message(2).await;

        // An admin's direct grant is the admin's decision: `requesters` does not bind it.
        let reply = t
            .admin("UADA", "grant <@UDAVE|dave> payroll 1h audit",
            )
            .await;
        assert!(reply.contains("(request #3)"), "{reply}");
        t.wait_for(3, Status::Active).await;
        // Once he holds it, asking for more through /request-access is still asking: refused.
        let reply = t.reply("UDAVE", "/request-access", "payroll 1h").await;
        assert!(reply.contains(refused), "{reply}");
    })
    .await;
}

#[tokio::test]
async fn a_bot_in_a_reviewer_group_is_not_a_reviewer_and_an_all_of_stage_does_not_wait_for_it() {
    in_slack_on_every_backend_with(started, async |t, db| {
        t.reply("UALICE", "/request-access", "ledger 2h").await;
        let card = t.request_message(1).await;
        t.tick("UROBOT", &card).await;
        t.ephemeral_for(
            "UROBOT",
            "bots and app accounts cannot decide on requests or access",
        )
        .await;
        assert!(
            store::approvals::of_request(t.app.db().conn(), RequestId::new(1))
                .await
                .unwrap()
                .is_empty(),
            "{}: the bot's ✅ counts for nothing",
            db.name
        );
        assert_eq!(t.status(1).await, Status::Pending);
        // All of the group is Bob alone: his ✅ meets the stage.
        t.tick("UBOB", &card).await;
        eventually("the request approved by Bob alone", 30, || async {
            (t.status(1).await != Status::Pending).then_some(())
        })
        .await;
    })
    .await;
}

/// The warehouse links people by their email's local part, for company addresses only.
fn linked() -> String {
    let link = "link = { rule = \"local-part\", domains = [\"example.com\"] }\n";
    let wh = catalog::postgres("wh", "NEVER_RESOLVED_IN_THESE_TESTS") + link;
    catalog::with(
        &wh,
        &[catalog::role_on("wh", "warehouse", "ANALYST", &["UBOB"])],
    )
}

#[tokio::test]
async fn a_contractors_email_is_not_linked_by_a_local_part_rule_limited_to_the_company_domain() {
    for db in backends().await {
        let mut ws = workspace();
        ws.users.push(UserSeed {
            email: Some("alice@contractor.io".into()),
            ..person("UCONTRA", "alice-contractor", "UTC")
        });
        for c in &mut ws.channels {
            c.members.push("UCONTRA".into());
        }
        let sim = slack_sim::SlackSim::start(ws).await.unwrap();
        let platform = crate::support::platform::FakePlatform::default();
        platform.require_identity();
        platform.set_users(&[("alice", None)]);
        let t = SlackTestApp::start_env(&db, &linked(), sim, false, platform, &[]).await;
        let wh = ConnectorId::parse("wh").unwrap();
        t.app.workflow().sync_identities(&wh).await.unwrap();

        // Alice (alice@example.com) is linked to `alice` and granted on Bob's ✅.
        t.reply("UALICE", "/request-access", "warehouse 2h").await;
        let card = t.request_message(1).await;
        t.tick("UBOB", &card).await;
        t.wait_for(1, Status::Active).await;
        assert!(t.platform.holds("alice", "ANALYST"), "{}", db.name);

        // The contractor (alice@contractor.io) is not: Bob is asked who to grant it to.
        t.reply("UCONTRA", "/request-access", "warehouse 2h").await;
        let card = t.request_message(2).await;
        t.tick("UBOB", &card).await;
        eventually("the identity question", 30, || async {
            t.sim
                .thread(CHANNEL, &card.ts)
                .into_iter()
                .find(|m| crate::support::slack::shown(m).contains("which platform user or role"))
        })
        .await;
        assert_ne!(t.status(2).await, Status::Active);
        let contractor = gatehouse::domain::SlackUserId::parse("UCONTRA").unwrap();
        assert!(
            t.app
                .workflow()
                .linked_identity(&contractor, &wh)
                .await
                .unwrap()
                .is_none(),
            "alice@contractor.io is outside the rule's domains"
        );
        t.stop().await;
    }
}

/// The `requesters` example in docs/configuration.md is a catalog Gatehouse accepts, as written.
#[test]
fn the_configuration_docs_requesters_example_parses() {
    let tables = "[connectors.warehouse]\nkind = \"postgres\"\nurl = { env = \"WAREHOUSE_PG_URL\" }\nlink = { rule = \"local-part-lower\", domains = [\"example.com\"] }\n";
    let parsed = catalog::docs_example("### Who may ask", tables);
    assert_eq!(parsed.resources[0].requesters.len(), 2);
    assert!(parsed.warnings().is_empty(), "{:?}", parsed.warnings());
}
