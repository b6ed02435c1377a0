//! Approval policies through slack-sim: a two-step policy (all of two people, then two of a
//! set), each ✅ counted once toward the step waiting, only that step's reviewers mentioned,
//! a guest's ✅ refused, and the grant made when the last step is met.

use gatehouse::domain::Status;

use crate::support::catalog::{self, task};
use crate::support::scenario::in_slack_on_every_backend_with;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, person, shown, workspace};
use crate::support::{TestDb, audit, backends};

/// Finance with PII needs both Bob and Rita, then two of Fiona, Carl, Ada and a guest.
const STAGES: &str = r#"approval = [
  { reviewers = ["UBOB", "URITA"], need = "all" },
  { reviewers = ["UFIONA", "UCARL", "UADA", "UGUEST"], need = 2 },
]
"#;

#[tokio::test]
async fn a_two_step_policy_needs_both_of_the_first_then_two_different_people_of_the_second() {
    for db in backends().await {
        let mut ws = workspace();
        ws.users.push(slack_sim::UserSeed {
            is_restricted: true,
            ..person("UGUEST", "gus", "UTC")
        });
        for c in &mut ws.channels {
            c.members.push("UGUEST".into());
        }
        let stages = catalog::manual(&[task("finance-pii", &[]) + STAGES]);
        let t = SlackTestApp::start_with(&db, &stages, ws).await;
        let msg = t.ask("UALICE", "finance-pii 2h", 1).await;
        let card = shown(&msg);
        // Only the first step's reviewers are mentioned.
        assert!(
            card.contains("step 1 of 2: 2 more from <@UBOB>, <@URITA>"),
            "{}: {card}",
            db.name
        );
        assert!(
            !card.contains("UFIONA") && !card.contains("UCARL"),
            "{card}"
        );

        // Fiona reviews the second step: her ✅ now counts for nothing.
        t.tick("UFIONA", &msg).await;
        let note = t.ephemeral_for("UFIONA", "did nothing").await;
        assert!(
            note.contains(
                "waiting for step 1 of its approval, which is for all of <@UBOB>, <@URITA>"
            ),
            "{note}"
        );

        // Bob counts once, however many times he ✅s.
        t.tick("UBOB", &msg).await;
        let card = t.card_saying(1, "approved by <@UBOB>").await;
        assert!(card.contains("step 1 of 2: 1 more from"), "{card}");
        t.react("UBOB", &msg, "heavy_check_mark").await;
        let note = t.ephemeral_for("UBOB", "did nothing").await;
        assert!(
            note.contains("you have already approved this request"),
            "{note}"
        );
        assert_eq!(t.status(1).await, Status::Pending);

        // Rita completes the first step; the thread now mentions the second step's reviewers.
        t.tick("URITA", &msg).await;
        let reply = shown(&t.thread_reply(&msg.ts, "approved; step 2 of 2").await);
        assert!(
            reply.contains("rita approved; step 2 of 2 needs 2 more from <@UFIONA>, <@UCARL>, <@UADA>, <@UGUEST>"),
            "{reply}"
        );
        assert_eq!(t.status(1).await, Status::Pending);

        // A guest never approves, even one named as a reviewer.
        t.tick("UGUEST", &msg).await;
        let note = t.ephemeral_for("UGUEST", "did nothing").await;
        assert!(note.contains("guests cannot decide on requests"), "{note}");

        // Fiona's ✅ counts now, and her Approve click after it does not count again.
        t.react("UFIONA", &msg, "heavy_check_mark").await;
        t.card_saying(1, "step 2 of 2: 1 more from").await;
        t.react("UFIONA", &msg, "white_check_mark::skin-tone-2")
            .await;
        let notes = || {
            t.sim
                .ephemerals("UFIONA")
                .into_iter()
                .filter(|e| e.text.contains("already approved"))
                .count()
        };
        eventually("Fiona told she already approved", 30, || async {
            (notes() == 1).then_some(())
        })
        .await;
        assert_eq!(t.status(1).await, Status::Pending);

        // Carl is the second different person of step 2: the request is approved and granted.
        t.tick("UCARL", &msg).await;
        t.wait_for(1, Status::Active).await;
        assert!(t.platform.holds("ualice", "FINANCE_PII"));

        let actions = audit::actions(&t.app, 1).await;
        let counted = actions.iter().filter(|a| *a == "approval_counted").count();
        assert_eq!(counted, 3, "Bob, Rita and Fiona counted before Carl");
        let details = audit::details(&audit::row(&t.app, 1, "approved").await);
        assert_eq!(
            details["approvers"],
            serde_json::json!(["UBOB", "URITA", "UFIONA", "UCARL"]),
            "{details}"
        );
        t.stop().await;
    }
}

/// Analytics is asked for in the Access Requests channel; the ledger in its connector's
/// #finance, where its group reviews it; payroll in its own #payroll.
fn routed() -> String {
    let finance_db = catalog::connector("finance-db", "manual", "channel = \"C0FINANCE\"\n");
    catalog::with(
        &format!("{}{finance_db}", catalog::MANUAL),
        &[
            task("analytics-ro", &["UBOB"]),
            catalog::task_on("finance-db", "ledger", &["S0FINANCE"]),
            task("payroll", &["UFIONA"]) + "channel = \"C0PAYROLL\"\n",
        ],
    )
}

/// The test workspace with two more channels Gatehouse is in: #finance and #payroll.
fn routed_workspace() -> slack_sim::SimConfig {
    let mut ws = workspace();
    let members = ws.channels[0].members.clone();
    for (id, name) in [("C0FINANCE", "finance"), ("C0PAYROLL", "payroll")] {
        ws.channels.push(slack_sim::ChannelSeed {
            id: id.into(),
            name: name.into(),
            is_private: false,
            members: members.clone(),
        });
    }
    ws
}

#[tokio::test]
async fn requests_go_to_their_resources_channel_or_their_connectors_and_are_approved_there() {
    in_slack_on_every_backend_with(
        async |db| SlackTestApp::start_with(db, &routed(), routed_workspace()).await,
        async |t, db| {
            for (who, ask) in [
                ("UALICE", "analytics-ro 2h"),
                ("UALICE", "ledger 2h"),
                ("UDAVE", "payroll 2h"),
            ] {
                t.request_access(who, ask).await;
            }
            t.request_message_in(CHANNEL, 1).await;
            let ledger = t.request_message_in("C0FINANCE", 2).await;
            let payroll = t.request_message_in("C0PAYROLL", 3).await;
            for (channel, other) in [(CHANNEL, 2), ("C0FINANCE", 3), ("C0PAYROLL", 1)] {
                let title = format!("Access request #{other}:");
                assert!(
                    !t.sim
                        .messages(channel)
                        .iter()
                        .any(|m| m.text.starts_with(&title)),
                    "{}: #{other} is not in {channel}",
                    db.name
                );
            }
            // A ✅ in the resource's channel approves, by a member of the group that reviews it.
            t.sim
                .add_reaction("UCARL", "C0FINANCE", &ledger.ts, "white_check_mark")
                .await
                .unwrap();
            t.sim
                .add_reaction("UFIONA", "C0PAYROLL", &payroll.ts, "white_check_mark")
                .await
                .unwrap();
            eventually("both granted", 30, || async {
                (t.platform.holds("ualice", "LEDGER") && t.platform.holds("udave", "PAYROLL"))
                    .then_some(())
            })
            .await;
            t.card_saying_in("C0FINANCE", 2, "Active").await;
        },
    )
    .await;
}

/// `App::start` with `catalog` against the routed workspace; the error it stops with.
async fn start_error(catalog: &str, ws: slack_sim::SimConfig) -> String {
    let db = crate::support::TestDb::sqlite();
    let sim = slack_sim::SlackSim::start(ws).await.unwrap();
    crate::support::serve_env::start_refusal(&db, catalog, &sim).await
}

#[tokio::test]
async fn a_catalog_that_cannot_work_in_the_workspace_stops_the_start_saying_what_to_fix() {
    // Gatehouse is not in #general; S0NOPE does not exist; S0FINANCE has one member, Carl.
    let secrets = r#"approval = [{ reviewers = ["S0FINANCE", "UFIONA"], need = 3 }]"#;
    let bad = routed()
        .replace("channel = \"C0PAYROLL\"", "channel = \"C0GENERAL\"")
        .replace("channel = \"C0FINANCE\"", "channel = \"C0NOSUCH\"")
        .replace("reviewers = [\"UBOB\"]", "reviewers = [\"S0NOPE\"]")
        + &task("secrets", &[])
        + secrets;
    let err = start_error(&bad, routed_workspace()).await;
    for needle in [
        "the catalog does not fit the Slack workspace",
        "resource `payroll` posts in channel C0GENERAL, where Gatehouse is not a member; `/invite @Gatehouse` there",
        "connector `finance-db` names channel C0NOSUCH, which Gatehouse cannot see",
        "user group S0NOPE does not exist in this workspace",
        "resource `secrets`: approval stage 1 needs 3 approvals but only 2 people can approve",
    ] {
        assert!(err.contains(needle), "{needle:?} is not in:\n{err}");
    }
}

#[test]
fn a_channel_named_by_name_instead_of_id_is_refused_with_its_line() {
    let bad = routed().replace("channel = \"C0PAYROLL\"", "channel = \"#payroll\"");
    let err = catalog::refusal(&bad);
    assert!(
        err.contains("`#payroll` is not a Slack channel ID; copy it from the channel's details"),
        "{err}"
    );
}

/// Production logs: Carl's group gets up to 4 h, anyone 30 min, without a reviewer.
const AUTO_RULES: &str = r#"max_duration = "1d"
auto_approve = [
  { group = "S0FINANCE", max_duration = "4h" },   # Carl is in it
  { max_duration = "30m" },
]
"#;

fn auto() -> String {
    catalog::manual(&[task("prod-logs", &["UBOB"]) + AUTO_RULES])
}

/// Gatehouse with the auto-approval rules, in the test workspace.
async fn with_auto_rules(db: &TestDb) -> SlackTestApp {
    SlackTestApp::start_with(db, &auto(), workspace()).await
}

#[tokio::test]
async fn auto_approval_by_group_and_by_short_duration_is_granted_audited_and_posted() {
    in_slack_on_every_backend_with(with_auto_rules, async |t, db| {
        // Carl is in the group: 2h is approved by the first rule.
        t.request_access("UCARL", "prod-logs 2h").await;
        // Alice is not, but 30m is short enough for the second rule.
        t.request_access("UALICE", "prod-logs 30m").await;
        // Dave asks for 2h and is in no group: a reviewer decides.
        t.request_access("UDAVE", "prod-logs 2h").await;
        eventually("both automatic grants", 30, || async {
            (t.platform.holds("ucarl", "PROD_LOGS") && t.platform.holds("ualice", "PROD_LOGS"))
                .then_some(())
    })
    .await;
    assert_eq!(t.status(3).await, Status::Pending, "{}", db.name);
    assert!(!t.platform.holds("udave", "PROD_LOGS"));

    let card = t.card_saying(1, "Active").await;
    assert!(
        card.contains("approved by Gatehouse (auto-approved: the requester is in <!subteam^S0FINANCE> and it is for 4h or less)"),
        "{card}"
    );
    let dm = t.dm_for("UALICE", "approved your request").await;
    assert!(
        dm.contains("Gatehouse (auto-approved: it is for 30m or less)"),
        "{dm}"
    );

    let approved = audit::row(&t.app, 2, "approved").await;
    assert_eq!(approved.actor, "gatehouse");
    let details = audit::details(&approved);
    assert_eq!(details["rule"], "it is for 30m or less", "{details}");
    assert_eq!(details["via"], "auto_approval");
    })
    .await;
}

#[tokio::test]
async fn a_quiet_resource_audits_auto_approved_requests_without_posting_them() {
    let quiet = format!("{}auto_approved = \"quiet\"\n", catalog::AUTO_30M);
    let catalog = auto() + &task("prod-traces", &["UBOB"]) + &quiet;
    in_slack_on_every_backend_with(
        async |db| SlackTestApp::start_with(db, &catalog, workspace()).await,
        async |t, db| {
            // #1 is approved by the rule on the quiet resource, #2 by a rule on a posting one, and
            // #3 is too long for the rule: a reviewer must see it.
            for (who, text) in [
                ("UALICE", "prod-traces 30m"),
                ("UALICE", "prod-logs 30m"),
                ("UDAVE", "prod-traces 2h"),
            ] {
                t.request_access(who, text).await;
            }
            t.wait_for(1, Status::Active).await;
            t.wait_for(2, Status::Active).await;
            assert!(t.platform.holds("ualice", "PROD_TRACES"));
            t.request_message(2).await;
            t.request_message(3).await;
            t.dm_for("UALICE", "You now have access to *Production traces*")
                .await;
            let dm = t.dm_for("UALICE", "approved your request #1").await;
            assert!(
                dm.contains("Gatehouse (auto-approved: it is for 30m or less)"),
                "{dm}"
            );

            // The audit log has it, with the rule; then it expires, still without a word posted.
            let approved = audit::row(&t.app, 1, "approved").await;
            assert!(
                approved.details.contains("it is for 30m or less"),
                "{}",
                approved.details
            );
            t.expire(1, chrono::Duration::minutes(31)).await;
            t.dm_for("UALICE", "Your access to *Production traces* has expired")
                .await;
            t.run_jobs().await;
            let posted: Vec<String> = t.sim.messages(CHANNEL).iter().map(shown).collect();
            assert!(
                !posted.iter().any(|m| m.contains("Access request #1")),
                "{}: {posted:?}",
                db.name
            );
            assert!(posted.iter().any(|m| m.contains("Access request #3")));
        },
    )
    .await;
}

#[test]
fn quiet_without_rules_and_an_unknown_posting_are_refused() {
    let err = catalog::refusal(&(auto() + "auto_approved = \"silent\"\n"));
    assert!(
        err.contains("unknown variant `silent`, expected `post` or `quiet`"),
        "{err}"
    );
    let without_rules = auto()
        .replace("auto_approve = [", "# auto_approve = [")
        .replace("  { group", "#  { group")
        .replace(
            "  { max_duration = \"30m\" },\n]",
            "#  { max_duration = \"30m\" },\n# ]\nauto_approved = \"quiet\"",
        );
    let err = catalog::refusal(&without_rules);
    assert!(
        err.contains("resource `prod-logs`: auto_approved = \"quiet\" has nothing to keep quiet without auto_approve rules"),
        "{err}\n{without_rules}"
    );
}

#[test]
fn an_auto_approve_rule_without_a_condition_is_refused() {
    let err = catalog::refusal(&auto().replace("{ max_duration = \"30m\" },", "{ },"));
    assert!(
        err.contains("an auto_approve rule with no condition would approve everything"),
        "{err}"
    );
}

/// Opsgenie's schedule "Data Platform", beside PagerDuty's, for production database's rules.
const OPSGENIE: &str = r#"
[oncall.og]
kind = "opsgenie"
key = { env = "GH_TEST_UNUSED_OG_KEY" }
schedules = ["Data Platform"]
"#;

/// Production database: whoever is on call in either, for 4 h at most by Opsgenie's.
const ON_CALL_RULES: &str = r#"auto_approve = [
  { on_call = "pd" },
  { on_call = "og", max_duration = "4h" },
]
"#;

fn on_call() -> String {
    let connectors = [catalog::MANUAL, catalog::PAGERDUTY, OPSGENIE].concat();
    catalog::with(&connectors, &[task("prod-db", &["UBOB"]) + ON_CALL_RULES])
}

#[tokio::test]
async fn whoever_is_on_call_now_in_pagerduty_or_opsgenie_is_approved_at_once() {
    use crate::support::opsgenie_fake::OpsgenieFake;
    use crate::support::pagerduty_fake::PagerDutyFake;
    // On-call services answer for the real now, whatever the app's manual clock says.
    let now = gatehouse::clock::Clock::now(&gatehouse::clock::SystemClock);
    let pd = PagerDutyFake::start().await;
    // Alice is on call now (her Slack email, another case); Carl's shift ended an hour ago.
    pd.add(
        "PS1",
        "Alice@Example.com",
        Some(now - chrono::Duration::hours(2)),
        Some(now + chrono::Duration::hours(6)),
    );
    pd.add(
        "PS1",
        "carl@example.com",
        Some(now - chrono::Duration::hours(9)),
        Some(now - chrono::Duration::hours(1)),
    );
    let og = OpsgenieFake::start().await;
    og.add_schedule("5f1c2b7e-0000-4000-8000-000000000001", "Data Platform");
    og.add_shift(
        "Data Platform",
        "dave@example.com",
        now - chrono::Duration::hours(1),
        now + chrono::Duration::hours(1),
    );
    for db in backends().await {
        let mut services: gatehouse::workflow::OnCallServices = Default::default();
        services.insert("pd".into(), std::sync::Arc::new(pd.client(&["PS1"], &[])));
        services.insert(
            "og".into(),
            std::sync::Arc::new(og.client(&["Data Platform"])),
        );
        let t = SlackTestApp::start_on_call(
            &db,
            &on_call(),
            slack_sim::SlackSim::start(workspace()).await.unwrap(),
            false,
            crate::support::platform::FakePlatform::default(),
            &[],
            services,
        )
        .await;
        for (who, ask) in [
            ("UALICE", "prod-db 8h"),
            ("UDAVE", "prod-db 2h"),
            ("UCARL", "prod-db 2h"),
        ] {
            t.request_access(who, ask).await;
        }
        eventually("the on-call grants", 30, || async {
            (t.platform.holds("ualice", "PROD_DB") && t.platform.holds("udave", "PROD_DB"))
                .then_some(())
        })
        .await;
        assert_eq!(
            t.status(3).await,
            Status::Pending,
            "{}: Carl is off call",
            db.name
        );
        let details = audit::details(&audit::row(&t.app, 2, "approved").await);
        assert_eq!(
            details["rule"], "it is for 4h or less and the requester is on call now (og)",
            "{details}"
        );
        t.stop().await;
    }
}

#[test]
fn an_on_call_rule_naming_no_oncall_table_is_refused() {
    let bad = on_call().replace("{ on_call = \"pd\" },", "{ on_call = \"pager\" },");
    let err = catalog::refusal(&bad);
    assert!(
        err.contains("on_call = \"pager\" names no [oncall.pager] table; use one of: og, pd"),
        "{err}"
    );
}

/// The policy example in docs/configuration.md is a catalog Gatehouse accepts, as written.
#[test]
fn the_configuration_docs_policy_example_parses() {
    let tables = r#"
[connectors.warehouse]
kind = "postgres"
url = { env = "WAREHOUSE_PG_URL" }

[oncall.pd]
kind = "pagerduty"
token = { env = "PAGERDUTY_TOKEN" }
"#;
    let parsed = catalog::docs_example("For example, a table anyone on call", tables);
    let payments = &parsed.resources[0];
    assert_eq!(payments.approval.len(), 2);
    assert_eq!(
        payments.auto_approved,
        gatehouse::config::AutoApprovedPosting::Quiet
    );
    assert!(payments.break_glass.is_some());
}
