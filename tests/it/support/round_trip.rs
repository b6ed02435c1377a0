//! The whole request every connector's Slack test tells, written once: a catalog of one
//! connector whose resources Bob reviews, Gatehouse started on it with a fresh workspace, and
//! Alice linked by the email the platform lists, Dave picked, both expired, and a resource
//! the platform lacks failing permanently in its own words.

use gatehouse::domain::Status;
use slack_sim::SlackSim;

use crate::support::TestDb;
use crate::support::slack::{SlackTestApp, eventually, workspace};

/// A catalog with Ada as admin, the connector `name` (its `settings`, `kind` first, as they
/// stand below `[connectors.NAME]`), and `resources` as (id, name, grant) reviewed by Bob
/// with no reason asked.
pub fn catalog(name: &str, settings: &str, resources: &[(&str, &str, &str)]) -> String {
    let mut toml = format!(
        "admins = [\"UADA\"]\n\n[connectors.{name}]\n{}\n",
        settings.trim()
    );
    for (id, title, grant) in resources {
        toml.push_str(&format!(
            "\n[[resources]]\nid = \"{id}\"\nname = \"{title}\"\nconnector = \"{name}\"\n\
             grant = {grant}\nreviewers = [\"UBOB\"]\nreason_required = false\n"
        ));
    }
    toml
}

/// Gatehouse on `catalog`, with its own SQLite database (kept alive beside it) and workspace.
pub async fn start(catalog: &str) -> (TestDb, SlackTestApp) {
    let db = TestDb::sqlite();
    let sim = SlackSim::start(workspace()).await.unwrap();
    let t = SlackTestApp::start_registry(&db, catalog, sim).await;
    (db, t)
}

/// On `catalog`: `[resource, dave, missing, says]` — Alice asks for `resource` and is linked
/// by her email, Dave is picked as `dave` (none of `not_offered` on offer), `holds(who)` as
/// each is granted and no more after expiry; `after` checks what the platform was asked; then
/// `missing` fails permanently and Bob reads `says`.
pub async fn linked_picked_expired_and_failed(
    catalog: &str,
    [resource, dave, missing, says]: [&str; 4],
    not_offered: &[&str],
    holds: impl Fn(&str) -> bool,
    after: impl FnOnce(),
) {
    let (_db, t) = start(catalog).await;
    alice_linked_and_dave_picked(&t, resource, dave, not_offered, holds).await;
    after();
    a_permanent_failure_reaches_the_reviewers(&t, 3, missing, says).await;
    t.stop().await;
}

/// The whole flow every platform connector is put through. Alice asks for `resource` for
/// 2 h and, linked by her email, is granted on Bob's ✅ with no picker; Dave asks, and Bob
/// picks `dave` in the picker, which offers none of `not_offered`; then both expire.
/// `holds("alice")` and `holds("dave")` read the platform's state for each of them.
async fn alice_linked_and_dave_picked(
    t: &SlackTestApp,
    resource: &str,
    dave: &str,
    not_offered: &[&str],
    holds: impl Fn(&str) -> bool,
) {
    let ask = format!("{resource} 2h");
    t.granted("UALICE", &ask, 1, "UBOB").await;
    assert!(holds("alice"), "the platform holds Alice's access");
    t.dm_for("UALICE", "You now have access").await;

    let msg = t.ask("UDAVE", &ask, 2).await;
    let form = t.approve_and_open_picker_of(2, &msg, "UBOB").await;
    for no in not_offered {
        let choices = t.offered(&form, "UBOB", no).await;
        assert!(
            !choices.iter().any(|c| c == no),
            "{no} is not offered: {choices:?}"
        );
    }
    t.pick(&form, "UBOB", dave).await;
    t.wait_for(2, Status::Active).await;
    assert!(holds("dave"), "the platform holds Dave's access");

    t.expire(1, chrono::Duration::hours(2)).await;
    t.wait_for(2, Status::Expired).await;
    assert!(
        !holds("alice") && !holds("dave"),
        "the access is gone from the platform"
    );
    t.dm_for("UALICE", "has expired and was removed").await;
}

/// Alice asks for `resource`, which the platform cannot grant (its group, role, dataset or
/// workspace is not there); on Bob's ✅ request `id` fails at once, Bob is told why in the
/// platform's own words (containing `words`), and Alice that it failed.
async fn a_permanent_failure_reaches_the_reviewers(
    t: &SlackTestApp,
    id: i64,
    resource: &str,
    words: &str,
) {
    let msg = t.ask("UALICE", &format!("{resource} 1h"), id).await;
    t.tick("UBOB", &msg).await;
    t.wait_for(id, Status::Failed).await;
    let told = t.dm_for("UBOB", &format!("failed (request #{id})")).await;
    assert!(
        told.contains(words),
        "the reviewer reads the platform's words: {told}"
    );
    t.dm_for("UALICE", "granting the access failed").await;
}

/// On `catalog`, for a platform whose identities carry no email: Alice asks for `resource`,
/// Bob approves and picks `pick` (none of `not_offered` on offer), and `holds()` once it is
/// active; Ada's App Home shows `health` for the connector; after the expiry, `!holds()`.
pub async fn picked_and_expired(
    catalog: &str,
    [resource, pick]: [&str; 2],
    not_offered: &[&str],
    health: Option<&str>,
    holds: impl AsyncFn() -> bool,
) {
    let (_db, t) = start(catalog).await;
    let ask = format!("{resource} 2h");
    let msg = t.ask("UALICE", &ask, 1).await;
    let form = t.approve_and_open_picker(&msg, "UBOB").await;
    // The platform's users were synced at start: the reviewer picks one instead of typing it.
    for no in not_offered {
        let choices = t.offered(&form, "UBOB", no).await;
        assert!(
            !choices.contains(&no.to_string()),
            "{no} offered: {choices:?}"
        );
    }
    t.pick(&form, "UBOB", pick).await;
    t.wait_for(1, Status::Active).await;
    assert!(holds().await, "the platform holds the access");
    if let Some(health) = health {
        t.sim.open_app_home("UADA").await.unwrap();
        eventually("the connector's health in App Home", 30, || async {
            let home = slack_sim::render_text(&t.sim.home_view("UADA")?);
            home.contains(health).then_some(())
        })
        .await;
    }
    t.expire(1, chrono::Duration::hours(2)).await;
    assert!(!holds().await, "the access is gone from the platform");
    t.stop().await;
}
