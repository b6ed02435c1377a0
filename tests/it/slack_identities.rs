//! Identities in Slack, against the real PostgreSQL server: a requester whose email's local
//! part names a server user is linked by the connector's rule, so the ✅ grants at once with no
//! picker; admins see the link and the access, fix a link, and are told when they mistype.

use chrono::Duration;
use slack_sim::SlackSim;

use crate::support::TestDb;
use crate::support::catalog;
use crate::support::db::postgres_server;
use crate::support::here::test_name;
use crate::support::made_roles::made_roles;
use crate::support::pg::prefix;
use crate::support::slack::{SlackTestApp, eventually, person, workspace};

#[tokio::test]
async fn a_rule_linked_requester_is_granted_on_the_first_approval_and_admins_can_fix_the_link() {
    let Some(url) = postgres_server(test_name!()) else {
        return;
    };
    let wanted = [("pat", true), ("other", true), ("analysts", false)];
    let p = prefix();
    let (roles, [pat, other, analysts]) = made_roles(&url, &p, wanted).await;
    let linked = catalog::test_server_warehouse() + "link = \"local-part-lower\"\n";
    let resource = catalog::role("warehouse-analysts", &analysts, &["UBOB"]);
    let catalog = catalog::with(&linked, &[resource]);
    // Pat's Slack email is Pat.<prefix>… in mixed case; the rule lower-cases its local part.
    let mut ws = workspace();
    let mut seed = person("UPAT", "pat", "UTC");
    seed.email = Some(format!("{}@example.com", pat.to_uppercase()));
    ws.users.push(seed);
    let db = TestDb::sqlite();
    let sim = SlackSim::start(ws).await.unwrap();
    let t = SlackTestApp::start_registry(&db, &catalog, sim).await;
    // The sync at start has listed Pat among the server's users (looked up by name: the
    // shared server may hold more users than a page of them).
    eventually("the server's users synced", 30, || async {
        gatehouse::store::identities::find(t.app.db().reads(), "warehouse", &pat)
            .await
            .ok()?
            .map(drop)
    })
    .await;

    t.granted("UPAT", "warehouse-analysts 2h", 1, "UBOB").await;
    assert!(
        roles.member(&pat, &analysts).await,
        "the server holds Pat's membership"
    );

    let shown = t.admin("UADA", "identities <@UPAT>").await;
    assert!(
        shown.contains(&format!(
            "`warehouse`: `{pat}` — derived by the connector's rule"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("#1 `warehouse-analysts` as `{pat}` until")),
        "{shown}"
    );

    let typo = t
        .admin("UADA", &format!("link <@UPAT> warehouse {p}_pta"))
        .await;
    assert!(
        typo.contains(&format!("`warehouse` has no user `{p}_pta`")),
        "{typo}"
    );
    let wrong = t.admin("UADA", "link <@UPAT> nowhere someone").await;
    assert!(
        wrong.contains("there is no platform connector `nowhere`; use one of: warehouse"),
        "{wrong}"
    );
    let fixed = t
        .admin("UADA", &format!("link <@UPAT> warehouse {other}"))
        .await;
    assert_eq!(
        fixed,
        format!(
            "<@UPAT> is `{other}` on `warehouse` from now on; their next grants there go to that user."
        )
    );
    assert!(
        t.admin("UADA", "identities <@UPAT>")
            .await
            .contains("set by <@UADA>")
    );
    let refused = t
        .admin("UBOB", &format!("link <@UPAT> warehouse {pat}"))
        .await;
    assert!(
        refused.contains("only a Gatehouse admin can do that") && !refused.contains("from now on"),
        "only admins link: {refused}"
    );
    assert_eq!(
        t.admin("UADA", "unlink <@UPAT> warehouse").await,
        "<@UPAT> is no longer linked on `warehouse`."
    );

    t.expire(1, Duration::hours(2)).await;
    assert!(
        !roles.member(&pat, &analysts).await,
        "the membership is gone"
    );
    t.stop().await;
    roles.drop_all().await;
}
