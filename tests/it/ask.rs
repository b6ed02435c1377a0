//! "Does X have access to Y?" through slack-sim: `/access-check`, DMs and mentions, each
//! question form, answers with their reasons, unknown names with a suggestion, a platform that
//! does not answer in time, who may ask about whom, and the language model's path.

use std::sync::LazyLock;
use std::time::Duration;

use slack_sim::SlackSim;

use crate::ask_llm::{ChatFake, KEY, Reply};
use crate::support::TestDb;
use crate::support::catalog::{self, role};
use crate::support::platform::FakePlatform;
use crate::support::slack::{BOT, CHANNEL, SlackTestApp, eventually, shown, workspace};

/// A platform connector (never called: the fake platform stands in) so that answers ask it.
static CATALOG: LazyLock<String> = LazyLock::new(|| {
    catalog::with(
        &catalog::stand_in_warehouse(),
        &[
            role("analytics-ro", "ANALYTICS_RO", &["UBOB", "URITA"]),
            role("finance-warehouse", "FINANCE", &["UFIONA"]),
        ],
    )
});

async fn start(env: &[(&str, &str)]) -> (SlackTestApp, TestDb) {
    let db = TestDb::sqlite();
    let sim = SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_env(&db, &CATALOG, sim, false, FakePlatform::default(), env).await;
    (t, db)
}

/// Gatehouse once Alice holds analytics-ro (request #1, approved by Bob).
async fn alice_holds_analytics() -> (SlackTestApp, TestDb) {
    let (t, db) = start(&[]).await;
    t.alice_gets_analytics_from_bob().await;
    (t, db)
}

/// Gatehouse with the language model `chat` behind its free-form questions.
async fn start_with_model(chat: &ChatFake) -> (SlackTestApp, TestDb) {
    start(&[
        ("GATEHOUSE_LLM_URL", &chat.url),
        ("GATEHOUSE_LLM_MODEL", "gpt-test"),
        ("GATEHOUSE_LLM_KEY", KEY),
    ])
    .await
}

/// Checks that `answer` (to `question`) starts with `start` and says each of `parts`.
fn says(question: &str, answer: &str, start: &str, parts: &[&str]) {
    assert!(answer.starts_with(start), "{question}: {answer}");
    for part in parts {
        assert!(answer.contains(part), "{question}: {part}: {answer}");
    }
}

/// Checks `/access-check question` as `who` the way `says` does.
async fn check_says(t: &SlackTestApp, who: &str, question: &str, start: &str, parts: &[&str]) {
    says(
        question,
        &access_check(t, who, question).await,
        start,
        parts,
    );
}

/// Bob's `/access-check` of Alice's analytics-ro starts with `start` and says `part`.
async fn bob_checks_alice(t: &SlackTestApp, start: &str, part: &str) {
    check_says(t, "UBOB", "<@UALICE> analytics-ro", start, &[part]).await;
}

/// The bot's answer in `user`'s DM to `question`.
async fn ask_in_dm(t: &SlackTestApp, user: &str, question: &str) -> String {
    let before = t.sim.dms(user).len();
    t.sim.message_bot(user, question).await.unwrap();
    eventually(&format!("an answer to {question:?}"), 30, || async {
        t.sim
            .dms(user)
            .iter()
            .skip(before)
            .filter(|m| m.user == BOT)
            .map(shown)
            .next()
    })
    .await
}

/// The ephemeral answer `user` sees after `/access-check text`.
async fn access_check(t: &SlackTestApp, user: &str, text: &str) -> String {
    let before = t.sim.ephemerals(user).len();
    t.sim
        .slash_command(user, CHANNEL, "/access-check", text)
        .await
        .unwrap();
    eventually("the /access-check answer", 30, || async {
        t.sim
            .ephemerals(user)
            .into_iter()
            .skip(before)
            .map(|e| e.text)
            .find(|text| !text.is_empty())
    })
    .await
}

#[tokio::test]
async fn access_check_says_yes_with_the_grant_and_the_platforms_word() {
    let (t, _db) = alice_holds_analytics().await;
    check_says(
        &t,
        "UBOB",
        "<@UALICE|alice> analytics-ro",
        "✅ Yes: <@UALICE> has access to *Analytics (read-only)*",
        &[
            "request #1 (active), approved by <@UBOB>",
            "expires <!date^",
            "Platform (`warehouse` as `ualice`): the platform confirms it (directly)",
        ],
    )
    .await;
    check_says(
        &t,
        "UFIONA",
        "<@UALICE> finance-warehouse",
        "❌ No: <@UALICE> does not have access to *Finance warehouse*",
        &[],
    )
    .await;
    t.stop().await;
}

#[tokio::test]
async fn each_question_form_is_answered_in_a_dm() {
    let (t, _db) = alice_holds_analytics().await;

    // Who asks, what, how the answer starts, and what else it says.
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        (
            "UBOB",
            "does <@UALICE> have access to analytics-ro?",
            "✅ Yes: <@UALICE> has access",
            &[],
        ),
        (
            "URITA",
            "who can read analytics-ro?",
            "1 person has access to *Analytics (read-only)* (`analytics-ro`):",
            &["• <@UALICE> — *Analytics (read-only)* — until"],
        ),
        (
            "UADA",
            "what does <@UALICE> have access to?",
            "<@UALICE> has access to 1 resource:",
            &["request #1"],
        ),
        (
            "UBOB",
            "when does <@UALICE>'s access to analytics-ro expire?",
            "⏳ <@UALICE>'s access to *Analytics (read-only)* ends <!date^",
            &["(request #1)"],
        ),
        (
            "UALICE",
            "what can I access?",
            "<@UALICE> has access to 1 resource",
            &[],
        ),
    ];
    for (who, question, start, parts) in cases {
        says(question, &ask_in_dm(&t, who, question).await, start, parts);
    }
    t.stop().await;
}

#[tokio::test]
async fn a_mention_in_a_channel_is_answered_to_the_asker_alone() {
    let (t, _db) = alice_holds_analytics().await;
    let before = t.sim.messages(CHANNEL).len();
    t.sim
        .mention_bot("UBOB", CHANNEL, "<@U0BOT> who has access to analytics-ro?")
        .await
        .unwrap();
    let answer = eventually("an ephemeral answer", 30, || async {
        t.sim
            .ephemerals("UBOB")
            .into_iter()
            .map(|e| e.text)
            .find(|x| x.contains("have access to") || x.contains("has access to"))
    })
    .await;
    assert!(answer.contains("<@UALICE>"), "{answer}");
    // Only Bob's own message is in the channel: the answer is not posted for all to read.
    assert_eq!(t.sim.messages(CHANNEL).len(), before + 1);
    t.stop().await;
}

#[tokio::test]
async fn unknown_names_get_the_closest_and_unknown_questions_the_forms() {
    let (t, _db) = start(&[]).await;
    let typo = ask_in_dm(&t, "UBOB", "does <@UALICE> have access to analytcs-ro?").await;
    assert_eq!(
        typo,
        "there is no resource `analytcs-ro`; did you mean `analytics-ro`?"
    );
    // People named in plain words are platform users someone is linked to; a near miss gets
    // the closest names the platforms listed.
    t.platform
        .set_users(&[("maria.lopez", Some("maria@example.com")), ("sam", None)]);
    t.app
        .workflow()
        .sync_identities(&gatehouse::domain::ConnectorId::parse("warehouse").unwrap())
        .await
        .unwrap();
    let who = ask_in_dm(&t, "UBOB", "does maria.lopes have access to analytics-ro?").await;
    assert_eq!(
        who,
        "I don't know anyone called `maria.lopes` (did you mean `maria.lopez`?); name them by Slack ID (U…), email or platform user"
    );
    let huh = ask_in_dm(&t, "UBOB", "is the warehouse up?").await;
    assert!(huh.contains("I did not understand"), "{huh}");
    assert!(huh.contains("who can read analytics-ro?"), "{huh}");
    let usage = t
        .sim
        .slash_command("UBOB", CHANNEL, "/access-check", "")
        .await
        .unwrap();
    let shown = usage.payload.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(shown.contains("/access-check @person RESOURCE"), "{shown}");
    t.stop().await;
}

#[tokio::test]
async fn a_platform_that_does_not_answer_in_time_is_named_and_gatehouses_record_still_given() {
    let (t, _db) = alice_holds_analytics().await;
    t.platform.slow_checks(Duration::from_secs(6));
    // Gatehouse's grant stands, and the silent platform is named.
    let silent = "the platform did not answer: the platform did not answer within 3 s";
    bob_checks_alice(&t, "✅ Yes", silent).await;
    t.stop().await;
}

#[tokio::test]
async fn drift_between_the_grant_and_the_platform_is_named() {
    let (t, _db) = alice_holds_analytics().await;
    t.platform.take_away("ualice", "ANALYTICS_RO");
    let drift = "⚠️ Drift: Gatehouse granted it (request #1), but the platform no longer has it";
    bob_checks_alice(&t, "❌ No", drift).await;
    t.stop().await;
}

#[tokio::test]
async fn people_ask_about_themselves_reviewers_about_their_resources_and_it_is_audited() {
    let (t, _db) = alice_holds_analytics().await;
    let dave = ask_in_dm(&t, "UDAVE", "does <@UALICE> have access to analytics-ro?").await;
    assert_eq!(
        dave,
        "you can ask about your own access; asking about other people is for the resource's reviewers and admins"
    );
    // Fiona reviews finance, not analytics.
    let fiona = access_check(&t, "UFIONA", "<@UALICE> analytics-ro").await;
    assert!(
        fiona.starts_with("you can ask about your own access"),
        "{fiona}"
    );
    let own = ask_in_dm(&t, "UALICE", "do I have access to analytics-ro?").await;
    assert!(own.starts_with("✅ Yes: <@UALICE>"), "{own}");
    ask_in_dm(&t, "UBOB", "does <@UALICE> have access to analytics-ro?").await;

    let rows = gatehouse::store::audit::page(t.app.db().conn(), 0, 10_000)
        .await
        .unwrap();
    let asked: Vec<(String, String)> = rows
        .iter()
        .filter(|e| e.action == "access_question")
        .map(|e| (e.actor.clone(), e.details.clone()))
        .collect();
    assert_eq!(asked.len(), 1, "only Bob's question about Alice: {asked:?}");
    assert_eq!(asked[0].0, "UBOB");
    assert!(
        asked[0].1.contains("\"about\":\"UALICE\""),
        "{}",
        asked[0].1
    );
    t.stop().await;
}

#[tokio::test]
async fn a_free_form_question_goes_to_the_model_and_gatehouse_runs_its_tool() {
    let chat = ChatFake::start(vec![
        Reply::Calls(vec![(
            "call_1",
            "check_access",
            r#"{"user":"<@UALICE>","resource":"analytics-ro"}"#,
        )]),
        Reply::Quote(vec!["call_1"]),
        Reply::Calls(vec![(
            "call_2",
            "check_access",
            r#"{"user":"UALICE","resource":"analytics-ro"}"#,
        )]),
        Reply::Quote(vec!["call_2"]),
    ])
    .await;
    let (t, _db) = start_with_model(&chat).await;
    t.alice_gets_analytics_from_bob().await;
    let answer = ask_in_dm(
        &t,
        "UBOB",
        "any chance alice could look at the analytics thing?",
    )
    .await;
    assert!(answer.starts_with("Per Gatehouse: "), "{answer}");
    // The tool's facts came from Gatehouse: the grant and the platform's word.
    assert!(answer.contains("\"has_access\":true"), "{answer}");
    assert!(answer.contains("\"request\":1"), "{answer}");
    let sent = serde_json::to_string(&chat.requests()).unwrap();
    assert!(
        !sent.contains(KEY),
        "the key never reaches the model's messages"
    );
    assert!(!sent.contains("xoxb-"), "nor Slack's tokens");

    // The model's tools obey the same rule: Dave may not learn about Alice through it.
    let refused = ask_in_dm(&t, "UDAVE", "tell me whether alice can get into analytics").await;
    assert!(
        refused.contains("you can ask about your own access"),
        "{refused}"
    );
    assert!(!refused.contains("has_access"), "{refused}");
    t.stop().await;
}

/// Links Alice to the platform user `maria.lopez` (listed by the platform, linked by an admin).
async fn alice_is_maria_lopez(t: &SlackTestApp) {
    t.platform
        .set_users(&[("maria.lopez", Some("maria@example.com")), ("sam", None)]);
    let wf = t.app.workflow();
    wf.sync_identities(&gatehouse::domain::ConnectorId::parse("warehouse").unwrap())
        .await
        .unwrap();
    let id = |u: &str| gatehouse::domain::SlackUserId::parse(u).unwrap();
    wf.link_identity(&id("UADA"), &id("UALICE"), "warehouse", "maria.lopez")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stranger_gets_one_refusal_for_real_and_unknown_names_and_no_platform_is_asked() {
    let (t, _db) = alice_holds_analytics().await;
    alice_is_maria_lopez(&t).await;
    // The name resolves for someone who may ask about others: it is Alice.
    let bob = ask_in_dm(&t, "UBOB", "does maria.lopez have access to analytics-ro?").await;
    assert!(bob.starts_with("✅ Yes: <@UALICE> has access"), "{bob}");

    let checks = t.platform.checks();
    let refusal = "you can ask about your own access; asking about other people is for the resource's reviewers and admins";
    for question in [
        "does maria.lopez have access to analytics-ro?",
        "does maria@example.com have access to analytics-ro?",
        "does nobody.here have access to analytics-ro?",
        "does maria.lopes have access to analytics-ro?",
        "what does maria.lopez have access to?",
        "what does nobody.here have access to?",
        "who has access to analytics-ro?",
    ] {
        assert_eq!(
            ask_in_dm(&t, "UDAVE", question).await,
            refusal,
            "{question}"
        );
    }
    for typed in ["maria.lopez analytics-ro", "nobody.here analytics-ro"] {
        assert_eq!(access_check(&t, "UDAVE", typed).await, refusal, "{typed}");
    }
    assert_eq!(
        t.platform.checks(),
        checks,
        "a refused question asks no platform"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_models_answer_is_shown_escaped_so_it_pings_nobody_and_links_nowhere() {
    let chat = ChatFake::start(vec![Reply::Say(
        "<!channel> <@UALICE|boss> has it & so does <!here>; see <https://evil.example/x|click here> or <mailto:a@b.c|mail>",
    )])
    .await;
    let (t, _db) = start_with_model(&chat).await;
    let answer = ask_in_dm(&t, "UBOB", "anyone in the analytics thing?").await;
    assert_eq!(
        answer,
        "&lt;!channel&gt; <@UALICE> has it &amp; so does &lt;!here&gt;; see &lt;https://evil.example/x|click here&gt; or &lt;mailto:a@b.c|mail&gt;"
    );
    // What Slack would act on in the posted text: only the one person mentioned.
    let dm = t
        .sim
        .dms("UBOB")
        .into_iter()
        .rfind(|m| m.user == BOT)
        .unwrap();
    for text in [dm.text.clone(), shown(&dm)] {
        let markup: Vec<&str> = text
            .split('<')
            .skip(1)
            .map(|rest| rest.split('>').next().unwrap_or(rest))
            .collect();
        assert_eq!(markup, ["@UALICE"], "{text}");
    }
    t.stop().await;
}

#[tokio::test]
async fn the_question_after_the_limit_is_refused_until_the_minute_has_passed() {
    let (t, _db) = start(&[("GATEHOUSE_QUESTIONS_PER_MINUTE", "2")]).await;
    t.alice_gets_analytics_from_bob().await;
    for _ in 0..2 {
        let yes = ask_in_dm(&t, "UBOB", "does <@UALICE> have access to analytics-ro?").await;
        assert!(yes.starts_with("✅ Yes"), "{yes}");
    }
    let checks = t.platform.checks();
    assert_eq!(
        access_check(&t, "UBOB", "<@UALICE> analytics-ro").await,
        "you asked 2 questions in the last minute; try again in 30 s"
    );
    assert_eq!(
        ask_in_dm(&t, "UBOB", "who has access to analytics-ro?").await,
        "you asked 2 questions in the last minute; try again in 30 s"
    );
    assert_eq!(
        t.platform.checks(),
        checks,
        "a refused question asks nothing"
    );
    // Others ask as usual.
    let alice = ask_in_dm(&t, "UALICE", "do I have access to analytics-ro?").await;
    assert!(alice.starts_with("✅ Yes"), "{alice}");
    t.clock.advance(chrono::Duration::seconds(30));
    let again = ask_in_dm(&t, "UBOB", "who has access to analytics-ro?").await;
    assert!(again.starts_with("1 person has access"), "{again}");
    t.stop().await;
}
