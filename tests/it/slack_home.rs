//! App Home as a requester sees it: a button to start a request, their pending request saying
//! whom it waits for (not the ✅ meant for reviewers), each list capped with "and N more", and
//! what ended lately.

use serde_json::Value;
use slack_sim::ButtonTarget;

use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{SlackTestApp, eventually, workspace};

/// Ten resources, r0 … r9, each reviewed by Bob; r0 by Rita too.
fn catalog() -> String {
    let mut toml = String::from("admins = [\"UADA\"]\n\n[connectors.manual]\nkind = \"manual\"\n");
    for i in 0..10 {
        let reviewers = if i == 0 {
            r#"["UBOB", "URITA"]"#
        } else {
            r#"["UBOB"]"#
        };
        toml.push_str(&format!(
            "\n[[resources]]\nid = \"r{i}\"\nname = \"Resource {i}\"\nconnector = \"manual\"\ngrant = {{ task = \"R{i}\" }}\nreviewers = {reviewers}\nreason_required = false\n"
        ));
    }
    toml
}

/// `who`'s App Home, as rendered text, once it shows `needle`; and the view.
async fn home_showing(t: &SlackTestApp, who: &str, needle: &str) -> (String, Value) {
    t.sim.open_app_home(who).await.unwrap();
    eventually(&format!("{who}'s Home showing {needle:?}"), 30, || async {
        let home = t.sim.home_view(who)?;
        let text = slack_sim::render_text(&home["blocks"]);
        text.contains(needle).then_some((text, home))
    })
    .await
}

#[tokio::test]
async fn app_home_starts_a_request_says_whom_it_waits_for_caps_lists_and_shows_what_ended() {
    in_slack_on_sqlite(
        async |db| SlackTestApp::start_with(db, &catalog(), workspace()).await,
        async |t| {
            // Alice holds r1 … r9 (nine grants), asks for r0, and cancelled nothing yet.
            for i in 1..10 {
                t.granted("UALICE", &format!("r{i} 8h"), i, "UBOB").await;
            }
            t.ask("UALICE", "r0 8h", 10).await;

            let (home, view) = home_showing(t, "UALICE", "Waiting for").await;
            assert!(home.contains("[Request access]"), "{home}");
            assert!(
                home.contains("⏳ Waiting for <@UBOB> or <@URITA>"),
                "{home}"
            );
            assert!(
                !home.contains("react with ✅"),
                "no reviewer's instructions: {home}"
            );
            // Nine grants: eight shown, the ninth counted.
            assert_eq!(home.matches("[Relinquish now]").count(), 8, "{home}");
            assert!(home.contains("…and 1 more"), "{home}");

            // "Request access" opens the empty form.
            let target = ButtonTarget::View {
                view_id: view["id"].as_str().unwrap().to_owned(),
            };
            t.sim
                .click_button("UALICE", target, "request_access", None, None)
                .await
                .unwrap();
            let form = eventually("the form", 30, || async { t.sim.top_modal("UALICE") }).await;
            assert_eq!(form["title"]["text"], "Request access");

            // Once a request ends, it is listed under "Recently ended".
            let alice = gatehouse::domain::SlackUserId::parse("UALICE").unwrap();
            t.app
                .workflow()
                .cancel(gatehouse::domain::RequestId::new(10), &alice)
                .await
                .unwrap();
            let (home, _) = home_showing(t, "UALICE", "Recently ended").await;
            assert!(home.contains("#10 Resource 0"), "{home}");
            assert!(home.contains("🚫 *Cancelled* by the requester"), "{home}");
        },
    )
    .await;
}
