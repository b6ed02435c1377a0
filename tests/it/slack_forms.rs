//! The request form (type-ahead, presets, custom durations, field errors), the form prefilled
//! from an incomplete one-liner, the confirmation a submitted request gets (by form or in one
//! line), denial with a reason, and the role-or-identity picker.

use gatehouse::domain::Status;
use serde_json::{Value, json};
use slack_sim::render_text;

use crate::support::scenario::in_slack_on_every_backend;
use crate::support::slack::{CHANNEL, SlackTestApp, eventually, shown};

async fn open_form(t: &SlackTestApp, user: &str, text: &str) -> Value {
    let ack = t
        .sim
        .slash_command(user, CHANNEL, "/request-access", text)
        .await
        .unwrap();
    assert!(ack.acked);
    eventually("the request form", 30, || async { t.sim.top_modal(user) }).await
}

/// The element of the form's input block `id`.
fn block<'a>(form: &'a Value, id: &str) -> &'a Value {
    form["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["block_id"] == id))
        .map(|b| &b["element"])
        .unwrap_or_else(|| panic!("no block {id}: {form}"))
}

fn view_id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn selected(value: &str) -> Value {
    json!({ "type": "external_select", "selected_option": { "text": { "type": "plain_text", "text": value }, "value": value } })
}

fn typed(value: &str) -> Value {
    json!({ "type": "plain_text_input", "value": value })
}

fn values(
    resource: Option<&str>,
    preset: Option<&str>,
    custom: Option<&str>,
    reason: Option<&str>,
) -> Value {
    let mut v = json!({});
    if let Some(r) = resource {
        v["resource"] = json!({ "resource": selected(r) });
    }
    if let Some(p) = preset {
        v["duration"] = json!({ "duration": { "type": "static_select", "selected_option": { "text": { "type": "plain_text", "text": p }, "value": p } } });
    }
    v["duration_custom"] = json!({ "duration_custom": custom.map(typed).unwrap_or(json!({ "type": "plain_text_input", "value": null })) });
    v["reason"] = json!({ "reason": reason.map(typed).unwrap_or(json!({ "type": "plain_text_input", "value": null })) });
    v
}

#[tokio::test]
async fn the_form_searches_the_catalog_and_shows_each_error_beside_its_field() {
    in_slack_on_every_backend(async |t, db| {
        let form = open_form(t, "UALICE", "").await;
        let id = view_id(&form);
        assert!(
            render_text(&form).contains("Request access"),
            "{}",
            render_text(&form)
        );

        let found = t
            .sim
            .block_suggestion("UALICE", &id, "resource", "resource", "fin")
            .await
            .unwrap();
        let options = found.payload.unwrap()["options"].clone();
        assert_eq!(options.as_array().unwrap().len(), 1, "{options}");
        assert_eq!(options[0]["value"], "finance-pii");
        let all = t
            .sim
            .block_suggestion("UALICE", &id, "resource", "resource", "")
            .await
            .unwrap();
        assert_eq!(all.payload.unwrap()["options"].as_array().unwrap().len(), 2);

        let cases = [
            (
                values(None, None, None, Some("x")),
                "resource",
                "pick a resource",
            ),
            (
                values(Some("nope"), None, None, Some("x")),
                "resource",
                "there is no resource `nope`",
            ),
            (
                values(Some("analytics-ro"), None, Some("8 hours"), Some("x")),
                "duration_custom",
                "is not a duration",
            ),
            (
                values(Some("analytics-ro"), Some("7d"), None, Some("x")),
                "duration",
                "longer than the 3d this resource allows",
            ),
            (
                values(Some("analytics-ro"), None, Some("90d"), Some("x")),
                "duration_custom",
                "longer than the 3d",
            ),
            (
                values(Some("analytics-ro"), Some("8h"), None, None),
                "reason",
                "analytics-ro needs a reason",
            ),
        ];
        for (vals, block, message) in cases {
            let out = t.sim.submit_view("UALICE", &id, vals).await.unwrap();
            let errors = out
                .errors
                .unwrap_or_else(|| panic!("{}: no errors for {block}", db.name));
            let shown_error = errors[block].as_str().unwrap_or_default();
            assert!(shown_error.contains(message), "{block}: {errors}");
            assert_eq!(out.stack, vec![id.clone()], "the form stays open");
        }
        assert!(
            t.app
                .workflow()
                .requests_in(Status::Pending)
                .await
                .unwrap()
                .is_empty()
        );

        // "Other…" chosen: the duration typed beside it.
        t.submitted(
            "UALICE",
            &id,
            values(
                Some("analytics-ro"),
                Some("other"),
                Some("1h30m"),
                Some("dashboards"),
            ),
        )
        .await;
        let confirmed = t.sim.top_modal("UALICE").map(|v| render_text(&v));
        assert!(
            confirmed.is_some_and(|c| c.contains("(1h30m) is submitted")),
            "the form becomes its confirmation"
        );
        let r = t.request(1).await;
        assert_eq!(r.duration.to_string(), "1h30m");

        // A second request for the same resource is refused, naming the first.
        let again = open_form(t, "UALICE", "").await;
        let out = t
            .sim
            .submit_view(
                "UALICE",
                &view_id(&again),
                values(Some("analytics-ro"), None, None, Some("again")),
            )
            .await
            .unwrap();
        assert_eq!(
            out.errors.unwrap()["resource"],
            "you already have an open request for analytics-ro: #1"
        );
    })
    .await;
}

#[tokio::test]
async fn an_incomplete_one_liner_opens_the_form_prefilled() {
    in_slack_on_every_backend(async |t, _| {
        // analytics-ro needs a reason, which is missing.
        let form = open_form(t, "UALICE", "analytics-ro 4h").await;
        let text = serde_json::to_string(&form).unwrap();
        assert!(
            form["blocks"][0]["element"]["initial_option"]["value"] == "analytics-ro",
            "{text}"
        );
        assert_eq!(block(&form, "duration")["initial_option"]["value"], "4h");
        // An unknown resource opens the form too, with nothing chosen.
        let form = open_form(t, "UDAVE", "analytcs 2h1m need it").await;
        assert!(form["blocks"][0]["element"].get("initial_option").is_none());
        assert_eq!(block(&form, "duration_custom")["initial_value"], "2h1m");
        assert_eq!(block(&form, "reason")["initial_value"], "need it");
        assert!(block(&form, "starts").get("initial_date_time").is_none());
        // A start typed on the line is kept: 9:00 tomorrow in Carl's zone (UTC).
        let form = open_form(t, "UCARL", "analytics-ro 4h from tomorrow 9:00").await;
        assert_eq!(
            block(&form, "starts")["initial_date_time"],
            chrono::DateTime::parse_from_rfc3339("2026-11-29T09:00:00Z")
                .unwrap()
                .timestamp()
        );
        // An unreadable duration is explained at once.
        let text = t
            .reply("UDAVE", "/request-access", "analytics-ro 3x because")
            .await;
        assert!(text.contains("`3x` is not a duration"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn a_reviewer_denies_with_a_reason_and_the_requester_reads_it() {
    in_slack_on_every_backend(async |t, _| {
        let msg = t.ask("UALICE", "analytics-ro 2h churn study", 1).await;
        let form = t.button_form("URITA", &msg.ts, "deny", "1").await;
        t.submitted("URITA", &view_id(&form), json!({ "reason": { "reason": typed("use the <!channel> sandbox instead") } })).await;
        let dm = t.dm_for("UALICE", "denied").await;
        assert_eq!(
            dm.lines().next().unwrap(),
            "⛔ <@URITA> denied your request #1 for *Analytics (read-only)*: use the &lt;!channel&gt; sandbox instead"
        );
        let card = t.message_saying(&msg.ts, "Denied").await;
        assert!(!card.contains("Approve"), "{card}");
    })
    .await;
}

#[tokio::test]
async fn a_reviewer_chooses_the_identity_to_grant_to() {
    in_slack_on_every_backend(async |t, _| {
        let msg = t.ask("UALICE", "analytics-ro 2h churn study", 1).await;
        // The requester may not pick for herself: the picker does not even open.
        t.press("UALICE", &msg.ts, "choose_identity", "1").await;
        let told = t.ephemeral_for("UALICE", "was not changed").await;
        assert_eq!(
            told,
            "The account for request #1 was not changed: a reviewer of analytics-ro chooses the account your own request is granted to, not you"
        );
        assert!(t.sim.top_modal("UALICE").is_none(), "no picker for Alice");

        let form = t.button_form("UBOB", &msg.ts, "choose_identity", "1").await;
        // The platform has listed no one: Bob types the account.
        assert_eq!(block(&form, "identity")["type"], "plain_text_input", "{form}");
        t.submitted("UBOB", &view_id(&form), json!({ "identity": { "identity": typed("ALICE_ANALYST") } })).await;
        t.press("UBOB", &msg.ts, "approve", "1").await;
        t.holds_soon("ALICE_ANALYST", "ANALYTICS_RO").await;
    })
    .await;
}

/// The `manual` connector's users as its syncs left them: `USER_000` … `USER_149` are on the
/// platform, the 120th (`USER_119`) is Zoë Quintero; `GONE_QUINTERO` left it since.
async fn a_platform_of_150_users(t: &SlackTestApp) {
    use gatehouse::store::identities::{self, Seen};
    let c = t.app.db().conn();
    let now = t.clock.now();
    let gone = Seen {
        kind: "user",
        platform_id: "GONE_QUINTERO",
        name: "Old Quintero",
        email: Some("old.quintero@example.com"),
    };
    identities::upsert(c, "manual", &gone, now - chrono::Duration::days(1))
        .await
        .unwrap();
    for i in 0..150 {
        let (id, email) = (format!("USER_{i:03}"), format!("user{i:03}@example.com"));
        let name = if i == 119 {
            "Zoë Quintero".to_owned()
        } else {
            format!("Person {i:03}")
        };
        let seen = Seen {
            kind: "user",
            platform_id: &id,
            name: &name,
            email: Some(&email),
        };
        identities::upsert(c, "manual", &seen, now).await.unwrap();
    }
    // The last sync, now, no longer listed the one who left.
    assert_eq!(identities::mark_missing(c, "manual", now).await.unwrap(), 1);
}

/// The options `who` is shown on typing `query` in the picker `form`.
async fn suggested(t: &SlackTestApp, who: &str, form: &Value, query: &str) -> Vec<Value> {
    let ack = t
        .sim
        .block_suggestion(who, &view_id(form), "identity", "identity", query)
        .await
        .unwrap();
    ack.payload.unwrap()["options"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_reviewer_finds_any_of_a_big_platforms_users_by_typing_in_the_picker() {
    in_slack_on_every_backend(async |t, db| {
        a_platform_of_150_users(t).await;
        // Alice is known on the platform as a user past the first hundred.
        gatehouse::store::links::set(
            t.app.db().conn(),
            "UALICE",
            "manual",
            "USER_149",
            gatehouse::store::links::Method::Admin,
            Some("UADA"),
            t.clock.now(),
        )
        .await
        .unwrap();
        let msg = t.ask("UALICE", "analytics-ro 2h churn study", 1).await;
        let form = t.button_form("UBOB", &msg.ts, "choose_identity", "1").await;
        let element = block(&form, "identity");
        assert_eq!(element["type"], "external_select", "{form}");
        assert_eq!(element["min_query_length"], 0);
        assert_eq!(element["initial_option"]["value"], "USER_149", "{form}");

        // Before typing: a hundred (Slack's most), Alice's own account first, then by id.
        let all = t.offered(&form, "UBOB", "").await;
        assert_eq!(all.len(), 100, "{}: {all:?}", db.name);
        assert_eq!(all[..3], ["USER_149", "USER_000", "USER_001"]);
        // Typing part of the 120th user's name finds her alone: the one who left is not offered.
        let found = suggested(t, "UBOB", &form, "QUINT").await;
        assert_eq!(found.len(), 1, "{}: {found:?}", db.name);
        assert_eq!(found[0]["value"], "USER_119");
        assert_eq!(found[0]["text"]["text"], "USER_119");
        assert_eq!(
            found[0]["description"]["text"],
            "Zoë Quintero · user119@example.com"
        );
        assert_eq!(
            t.offered(&form, "UBOB", "user_14").await,
            [
                "USER_149", "USER_140", "USER_141", "USER_142", "USER_143", "USER_144", "USER_145",
                "USER_146", "USER_147", "USER_148"
            ],
            "by id or email, and Alice's account first"
        );
        assert_eq!(t.offered(&form, "UBOB", "gone").await, Vec::<String>::new());
        // Someone who may not choose sees none of the platform's users, whatever view their
        // payload names: neither a colleague who does not review it, nor Alice herself.
        for who in ["UCARL", "UALICE"] {
            let forged = t
                .sim
                .forged_block_suggestion(who, &view_id(&form), "identity", "identity", "")
                .await
                .unwrap();
            assert!(forged.acked);
            let options = forged.payload.unwrap()["options"].clone();
            let shown = options.as_array().map_or(0, Vec::len);
            assert!(
                options.is_array() && shown == 0,
                "{who} is shown {shown} users"
            );
        }

        t.submitted("UBOB", &view_id(&form), json!({ "identity": { "identity": { "type": "external_select", "selected_option": found[0].clone() } } })).await;
        // Opened again, the picker shows the account chosen, offered first.
        let again = t.button_form("UBOB", &msg.ts, "choose_identity", "1").await;
        assert_eq!(
            block(&again, "identity")["initial_option"]["value"],
            "USER_119"
        );
        assert_eq!(t.offered(&again, "UBOB", "").await[0], "USER_119");

        t.press("UBOB", &msg.ts, "approve", "1").await;
        t.holds_soon("USER_119", "ANALYTICS_RO").await;
    })
    .await;
}

#[tokio::test]
async fn a_check_mark_on_a_request_without_an_identity_asks_in_the_thread() {
    in_slack_on_every_backend(async |t, db| {
        t.platform.require_identity();
        let msg = t.ask("UALICE", "analytics-ro 2h churn study", 1).await;
        t.tick("UBOB", &msg).await;
        let ask = t.thread_reply(&msg.ts, "which platform user or role").await;
        assert_eq!(
            t.status(1).await,
            Status::Approved,
            "{}: nothing is granted before the identity is settled",
            db.name
        );
        assert_eq!(t.platform.calls().0, 0);
        // Alice hears why her approved request waits.
        t.dm_for(
            "UALICE",
            "is approved; a reviewer is choosing the account to grant it to",
        )
        .await;

        let form = t
            .button_form("URITA", &ask.ts, "choose_identity", "1")
            .await;
        t.sim
            .submit_view(
                "URITA",
                &view_id(&form),
                json!({ "identity": { "identity": typed("ALICE_ANALYST") } }),
            )
            .await
            .unwrap();
        // Bob approved the request, not this account: it goes back to its reviewers, who see
        // which account it is, and Alice is told.
        t.wait_for(1, Status::Pending).await;
        eventually("the note in the thread", 30, || async {
            t.sim.thread(CHANNEL, &msg.ts).iter().map(shown).find(|m| {
                m.contains("rita chose `ALICE_ANALYST` as the account to grant to. Approvals given before it was chosen no longer count")
            })
        })
        .await;
        t.dm_for(
            "UALICE",
            "<@URITA> chose `ALICE_ANALYST` as the account your request #1 for *Analytics (read-only)* is granted to",
        )
        .await;
        assert_eq!(t.platform.calls().0, 0, "nothing granted yet");
        let card = t.request_message(1).await;
        assert!(shown(&card).contains("ALICE_ANALYST"), "{}", shown(&card));
        t.tick("URITA", &msg).await;
        t.holds_soon("ALICE_ANALYST", "ANALYTICS_RO").await;
    })
    .await;
}

/// What a requester reads on submitting a request for analytics-ro (reviewed by Bob and Rita),
/// by the form or in one line.
fn confirms(text: &str, duration: &str) {
    for said in [
        format!("Request #1 for *Analytics (read-only)* ({duration}) is submitted."),
        format!("<@UBOB>, <@URITA> review it in <#{CHANNEL}>; if nobody decides by <!date^"),
        ", it lapses. You will get a DM when it is decided.".to_owned(),
    ] {
        assert!(text.contains(&said), "{said:?} not in {text}");
    }
}

#[tokio::test]
async fn the_form_becomes_a_confirmation_of_what_happens_next() {
    in_slack_on_every_backend(async |t, db| {
        let id = view_id(&open_form(t, "UALICE", "").await);
        let vals = values(
            Some("analytics-ro"),
            Some("2h"),
            None,
            Some("quarterly report"),
        );
        let out = t.sim.submit_view("UALICE", &id, vals).await.unwrap();
        assert!(out.errors.is_none(), "{}: {:?}", db.name, out.errors);
        assert_eq!(out.stack, vec![id.clone()], "the form stays, updated");
        let shown = t.sim.view(&id).unwrap();
        assert_eq!(shown["title"]["text"], "Request submitted", "{shown}");
        assert!(shown["submit"].is_null(), "nothing more to submit: {shown}");
        confirms(&render_text(&shown), "2h");
    })
    .await;
}

#[tokio::test]
async fn a_one_line_request_is_confirmed_with_its_reviewers_and_lapse() {
    in_slack_on_every_backend(async |t, _| {
        let reply = t
            .reply(
                "UALICE",
                "/request-access",
                "analytics-ro 2h quarterly report",
            )
            .await;
        confirms(&reply, "2h");
    })
    .await;
}
