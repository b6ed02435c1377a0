//! The Databricks connector against a stateful fake of the workspace SCIM API and its OAuth
//! token endpoint: group membership granted, checked and revoked idempotently; every page of
//! users, groups and service principals listed; the PAT and the OAuth path; an expired token
//! renewed once; throttling, outages, unknown groups and odd names classed right; bad sign-in
//! settings refused; and a whole request through Slack, to the workspace and back. Unity
//! Catalog table reads too: usage and SELECT granted only where missing, with a receipt that
//! revocation follows, inherited access reported and left alone, odd names and failures.

use std::time::Duration;

use gatehouse::config::{DatabricksSettings, Secret, SecretRef};
use gatehouse::connectors::databricks::Databricks;
use gatehouse::connectors::{self, Connector, ConnectorError, Readiness, Undo};
use gatehouse::domain::Unit;

use crate::support::contract::{self, Faults, Listed};
use crate::support::databricks_fake::{CLIENT_ID, CLIENT_SECRET, DatabricksFake, PAT};
use crate::support::group_platform::group_platform;
use crate::support::rest_fake::{self, Fake};
use crate::support::roles::{grant_group as grant, group};
use crate::support::round_trip;

const TOKEN_PATH: &str = "/oidc/v1/token";

group_platform! {
    /// A workspace with Alice (alice@example.com), Bob (userName "bob", no email), and the
    /// groups "finance-analysts" and "marketing".
    Workspace(DatabricksFake) {
        group_name: display_name,
        sign_in: TOKEN_PATH,
        case: ["finance-analysts", "marketing"],
        /// In "contractors", which is a member of the group.
        async fn give_inherited(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
            let contractors = self.fake.add_group("contractors");
            self.fake.add_member(&contractors, identity);
            self.fake.add_member(&self.group_id(unit), &contractors);
            Some(vec!["group `contractors`".into()])
        }
    }
}

async fn workspace_fake() -> Workspace {
    let fake = DatabricksFake::start().await;
    let alice = fake.add_user("alice@example.com", Some("Alice Martin"));
    let bob = fake.add_user("bob", None);
    let finance = fake.add_group("finance-analysts");
    fake.add_group("marketing");
    Workspace {
        fake,
        alice,
        bob,
        finance,
    }
}

impl Faults for Workspace {
    contract::token_faults!(|p| p.fake, p.fake.state().tokens_issued);
    fn unreachable(&self) -> Box<dyn Connector> {
        let mut gone = self.fake.oauth_settings();
        gone.host = "http://127.0.0.1:9".into();
        Box::new(Databricks::new(&gone, None, Some(Secret::new(CLIENT_SECRET))).unwrap())
    }
}

fn patches(w: &Workspace, gid: &str) -> usize {
    w.fake.calls("PATCH", &DatabricksFake::group_path(gid), 204)
}

#[tokio::test]
async fn databricks_identities_are_listed_across_pages() {
    let w = workspace_fake().await;
    let user0 = w.fake.add_user("user0@example.com", None);
    for n in 1..9 {
        w.fake.add_user(&format!("user{n}@example.com"), None);
    }
    for n in 0..3 {
        w.fake.add_group(&format!("team-{n}"));
    }
    let robot = w.fake.add_service_principal("etl robot");
    let c = w.fake.connector().with_page_size(4);
    let user = Listed::user;
    let all = contract::list_pages_through_everything(
        &c,
        &[("user", 11), ("group", 5), ("service_principal", 1)],
        &[
            user(&w.alice, "Alice Martin", Some("alice@example.com")),
            user(&w.bob, "bob", None),
            user(&user0, "user0@example.com", Some("user0@example.com")),
        ],
        &["group"],
    )
    .await;
    let of = |kind: &str| all.iter().filter(|x| x.kind == kind).collect::<Vec<_>>();
    let groups: Vec<_> = of("group").iter().map(|g| g.name.clone()).collect();
    assert_eq!(
        groups,
        [
            "finance-analysts",
            "marketing",
            "team-0",
            "team-1",
            "team-2"
        ]
    );
    let sps = of("service_principal");
    assert!(sps.len() == 1 && sps[0].id == robot && sps[0].name == "etl robot");
    // 11 users at 4 a page: startIndex 1, 5, 9. 5 groups: 1, 5. Listed twice (all, grantable).
    let log = w.fake.log();
    let pages = |path| rest_fake::pages(&log, path);
    let user_pages = pages("/api/2.0/preview/scim/v2/Users");
    assert_eq!(user_pages.len(), 6, "{log:?}");
    assert!(
        user_pages[2].contains("startIndex=9") && user_pages[2].contains("count=4"),
        "{user_pages:?}"
    );
    assert_eq!(pages("/api/2.0/preview/scim/v2/Groups").len(), 4, "{log:?}");
}

#[tokio::test]
async fn databricks_grant_is_made_once_and_held_by_the_workspace() {
    let w = workspace_fake().await;
    let says = "PATCH /api/2.0/preview/scim/v2/Groups/";
    contract::grant_is_idempotent_and_verified(&w, &w.case(), says).await;
    assert_eq!(patches(&w, &w.finance), 1, "{:?}", w.fake.log());
    assert_eq!(w.fake.state().members.len(), 1);
}

/// A user deleted from the workspace holds no group membership: the check reads the group's
/// members and never looks the user up, so the revocation completes as already absent.
#[tokio::test]
async fn databricks_a_deleted_users_group_membership_is_already_absent() {
    let w = workspace_fake().await;
    // A grant to the deleted user still fails: Databricks answers 404 for the member.
    let delete = || w.fake.delete_user(&w.alice);
    contract::a_deleted_identity_holds_nothing(&w, &w.case(), delete, "HTTP 404").await;
}

#[tokio::test]
async fn databricks_revoke_removes_the_membership_and_a_missing_one_is_already_absent() {
    let w = workspace_fake().await;
    contract::revoke_is_idempotent(&w, &w.case(), "op remove").await;
    assert_eq!(patches(&w, &w.finance), 1, "{:?}", w.fake.log());
}

#[tokio::test]
async fn databricks_check_reports_direct_and_nested_membership() {
    let w = workspace_fake().await;
    contract::check_reports_direct_and_inherited(&w, &w.case()).await;
}

#[tokio::test]
async fn databricks_pat_is_sent_as_it_is_and_no_token_is_fetched() {
    let w = workspace_fake().await;
    let c = w.fake.pat_connector();
    c.ping().await.unwrap();
    grant(&c, &w.alice, "finance-analysts").await.unwrap();
    assert!(w.fake.holds(&w.alice, &w.finance));
    assert_eq!(w.fake.state().tokens_issued, 0);
    assert!(w.fake.log().iter().all(|c| c.path != TOKEN_PATH));
    assert!(!format!("{c:?}").contains(PAT));
    // A wrong PAT is refused for good, without retrying or printing it.
    let settings = DatabricksSettings {
        host: w.fake.url.clone(),
        token: Some(SecretRef::Env("X".into())),
        client_id: None,
        client_secret: None,
    };
    let wrong = Databricks::new(&settings, Some(Secret::new("dapi-wrong-77")), None).unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains("HTTP 401") && !m.contains("dapi-wrong-77")),
        "{err:?}"
    );
}

#[tokio::test]
async fn databricks_oauth_token_is_fetched_once_with_basic_auth_and_kept() {
    let w = workspace_fake().await;
    let c = w.fake.connector();
    c.ping().await.unwrap();
    grant(&c, &w.alice, "finance-analysts").await.unwrap();
    assert_eq!(w.fake.state().tokens_issued, 1, "{:?}", w.fake.log());
    // A wrong secret: a clear permanent failure naming the client, not the secret.
    let secret = "not-the-secret-Zz9";
    let oauth = w.fake.oauth_settings();
    let wrong = Databricks::new(&oauth, None, Some(Secret::new(secret))).unwrap();
    let says = [CLIENT_ID, "invalid_client"];
    contract::a_wrong_secret_is_permanent_and_never_shown(&wrong, secret, &says, &c, CLIENT_SECRET)
        .await;
}

contract::fault_cases!(
    workspace_fake(),
    |w| w.case(),
    ["HTTP 429: Too many requests"],
    "HTTP 503"
);

#[tokio::test]
async fn databricks_unknown_group_fails_permanently_naming_it() {
    let w = workspace_fake().await;
    let c = w.fake.connector();
    let err = grant(&c, &w.alice, "Nope").await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "Databricks has no workspace group named `Nope` (or the service principal cannot see it); check the resource's grant in the catalog".into()
        )
    );
    assert!(w.fake.state().members.is_empty());
    assert!(w.fake.log().iter().all(|c| c.method != "PATCH"));
}

#[tokio::test]
async fn databricks_group_names_with_quotes_are_resolved_safely() {
    let w = workspace_fake().await;
    let odd = w.fake.add_group(r#"ops "prod" \ team"#);
    // A name that would end the filter's string early, were it not escaped.
    w.fake.add_group(r#"ops "#);
    let c = w.fake.connector();
    grant(&c, &w.alice, r#"ops "prod" \ team"#).await.unwrap();
    assert!(w.fake.holds(&w.alice, &odd));
    assert_eq!(w.fake.state().members.len(), 1);
    let filtered = w.fake.log().iter().any(|c| {
        c.query
            .contains("filter=displayName+eq+%22ops+%5C%22prod%5C%22+%5C%5C+team%22")
    });
    assert!(filtered, "{:?}", w.fake.log());
    // Case differs only: the one group matching without case is taken.
    assert!(
        c.check(&w.alice, &group(r#"OPS "PROD" \ TEAM"#))
            .await
            .unwrap()
            .direct
    );
}

#[test]
fn databricks_bad_sign_in_settings_are_refused_saying_what_to_write() {
    let base = DatabricksSettings {
        host: "https://adb-1.azuredatabricks.net".into(),
        token: None,
        client_id: None,
        client_secret: None,
    };
    let both = DatabricksSettings {
        token: Some(SecretRef::Env("T".into())),
        client_id: Some("app".into()),
        client_secret: Some(SecretRef::Env("S".into())),
        ..base.clone()
    };
    let half = DatabricksSettings {
        client_id: Some("app".into()),
        ..base.clone()
    };
    for (s, why) in [
        (&base, "it has neither"),
        (&both, "it has both"),
        (&half, "no client_secret"),
    ] {
        let err = Databricks::new(s, None, None).unwrap_err();
        assert!(
            err.contains(why) && err.contains("token = { env = ") && err.contains("client_secret"),
            "{err}"
        );
    }
    let catalog = r#"
[connectors.dbx]
kind = "databricks"
host = "https://adb-1.azuredatabricks.net"
client_id = "app"

[[resources]]
id = "dbx"
name = "dbx"
connector = "dbx"
grant = { group = "g" }
reviewers = ["UBOB"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, catalog).unwrap();
    let catalog = gatehouse::config::Catalog::load(&path).unwrap();
    let err = match gatehouse::connectors::Registry::new(&catalog, &|_| None) {
        Err(e) => e,
        Ok(_) => panic!("built"),
    };
    assert!(
        err.starts_with("connector `dbx`: a Databricks connector signs in with either"),
        "{err}"
    );
}

#[tokio::test]
async fn a_request_for_a_databricks_group_goes_through_slack_to_the_workspace_and_back() {
    let w = workspace_fake().await;
    let dave = w.fake.add_user("dave.kim@corp.example", Some("Dave Kim"));
    let resources = [
        (
            "dbx-finance",
            "Databricks finance",
            r#"{ group = "finance-analysts" }"#,
        ),
        (
            "databricks-missing",
            "Missing",
            r#"{ group = "no-such-group" }"#,
        ),
    ];
    let catalog = round_trip::catalog("databricks", &settings(&w), &resources);
    // Databricks lists Alice's email, which is her Slack one; Dave's is not his: he is picked.
    let trip = ["dbx-finance", &dave, "databricks-missing", "no-such-group"];
    let holds = |who: &str| {
        w.fake
            .holds(if who == "alice" { &w.alice } else { &dave }, &w.finance)
    };
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &[&w.finance], holds, || {
        // Two adds and two removes, all with one OAuth token.
        assert_eq!(patches(&w, &w.finance), 4, "{:?}", w.fake.log());
        assert_eq!(w.fake.state().tokens_issued, 1);
    })
    .await;
}

/// The connector's settings for `w`, signing in with OAuth, as a catalog names them.
fn settings(w: &Workspace) -> String {
    format!(
        r#"kind = "databricks"
host = "{}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "{}" }}"#,
        w.fake.url,
        w.fake.secret_file("client-secret")
    )
}

const ALICE: &str = "alice@example.com";
const ORDERS: &str = "main.sales.orders";
const RETURNS: &str = "main.sales.returns";

fn table(name: &str) -> Unit {
    Unit::Table { table: name.into() }
}

/// The workspace with the UC tables main.sales.orders and main.sales.returns.
async fn uc_fake() -> Workspace {
    let w = workspace_fake().await;
    w.fake.add_table(ORDERS);
    w.fake.add_table(RETURNS);
    w
}

/// (type, full name, privilege) triples a receipt lists.
fn receipt_lists(receipt: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(receipt).unwrap();
    v["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let f = |k: &str| p[k].as_str().unwrap().to_owned();
            (f("securable_type"), f("full_name"), f("privilege"))
        })
        .collect()
}

fn triple(t: &str, n: &str, p: &str) -> (String, String, String) {
    (t.into(), n.into(), p.into())
}

fn read_of(table: &str) -> Vec<(String, String, String)> {
    let parts: Vec<&str> = table.split('.').collect();
    vec![
        triple("catalog", parts[0], "USE_CATALOG"),
        triple(
            "schema",
            &format!("{}.{}", parts[0], parts[1]),
            "USE_SCHEMA",
        ),
        triple("table", table, "SELECT"),
    ]
}

fn uc_patches(w: &Workspace) -> usize {
    w.fake
        .log()
        .iter()
        .filter(|c| c.method == "PATCH" && c.path.starts_with("/api/2.1/unity-catalog/"))
        .count()
}

async fn revoke_with(
    c: &dyn Connector,
    who: &str,
    name: &str,
    receipt: Option<&str>,
    keep: &[Unit],
) -> Result<String, ConnectorError> {
    connectors::revoke_leaving(c, who, &table(name), Undo { receipt, keep }).await
}

#[tokio::test]
async fn databricks_table_read_is_granted_as_usage_and_select_once() {
    let w = uc_fake().await;
    let c = w.fake.connector();
    let added = connectors::grant_recorded(&c, &w.alice, &table(ORDERS))
        .await
        .unwrap();
    assert!(
        added.did.contains(ALICE)
            && added.did.contains("USE_CATALOG on catalog `main`")
            && added.did.contains("SELECT on table `main.sales.orders`"),
        "{}",
        added.did
    );
    assert_eq!(
        receipt_lists(added.receipt.as_deref().unwrap()),
        read_of(ORDERS)
    );
    let mut held = w.fake.uc_privileges_of(ALICE);
    held.sort();
    let mut want = read_of(ORDERS);
    want.sort();
    assert_eq!(held, want, "the workspace holds all three");
    let again = connectors::grant_recorded(&c, &w.alice, &table(ORDERS))
        .await
        .unwrap();
    assert_eq!((again.did.as_str(), again.receipt), ("already held", None));
    assert_eq!(uc_patches(&w), 3, "{:?}", w.fake.log());
    assert!(c.check(&w.alice, &table(ORDERS)).await.unwrap().direct);
    assert!(!c.check(&w.bob, &table(ORDERS)).await.unwrap().held());
}

#[tokio::test]
async fn databricks_usage_held_before_the_grant_is_not_in_its_receipt_and_stays() {
    let w = uc_fake().await;
    w.fake.grant_uc("catalog", "main", ALICE, "USE_CATALOG");
    let c = w.fake.connector();
    let added = connectors::grant_recorded(&c, &w.alice, &table(ORDERS))
        .await
        .unwrap();
    let receipt = added.receipt.unwrap();
    assert_eq!(receipt_lists(&receipt), read_of(ORDERS)[1..].to_vec());
    assert!(!added.did.contains("USE_CATALOG"), "{}", added.did);
    let did = revoke_with(&c, &w.alice, ORDERS, Some(&receipt), &[])
        .await
        .unwrap();
    assert!(
        did.contains("USE_SCHEMA") && did.contains("SELECT") && !did.contains("USE_CATALOG"),
        "{did}"
    );
    assert_eq!(
        w.fake.uc_privileges_of(ALICE),
        [triple("catalog", "main", "USE_CATALOG")],
        "Alice keeps the USE_CATALOG she had"
    );
}

#[tokio::test]
async fn databricks_revoking_one_table_leaves_what_another_live_grant_needs() {
    let w = uc_fake().await;
    let c = w.fake.connector();
    let orders = connectors::grant_recorded(&c, &w.alice, &table(ORDERS))
        .await
        .unwrap()
        .receipt
        .unwrap();
    let returns = connectors::grant_recorded(&c, &w.alice, &table(RETURNS))
        .await
        .unwrap()
        .receipt
        .unwrap();
    assert_eq!(receipt_lists(&orders).len(), 3);
    assert_eq!(
        receipt_lists(&returns),
        [triple("table", RETURNS, "SELECT")],
        "usage was held already"
    );
    let did = revoke_with(&c, &w.alice, ORDERS, Some(&orders), &[table(RETURNS)])
        .await
        .unwrap();
    assert!(did.contains("SELECT on table `main.sales.orders`"), "{did}");
    let mut held = w.fake.uc_privileges_of(ALICE);
    held.sort();
    let mut want = read_of(RETURNS);
    want.sort();
    assert_eq!(held, want, "usage and the other SELECT stay");
    assert!(c.check(&w.alice, &table(RETURNS)).await.unwrap().direct);
}

#[tokio::test]
async fn databricks_revoke_without_a_receipt_removes_only_select() {
    let w = uc_fake().await;
    for (t, n, p) in read_of(ORDERS) {
        w.fake.grant_uc(&t, &n, ALICE, &p);
    }
    let c = w.fake.connector();
    let did = connectors::revoke(&c, &w.alice, &table(ORDERS))
        .await
        .unwrap();
    assert!(
        did.contains("SELECT on table") && !did.contains("USE_"),
        "{did}"
    );
    assert_eq!(
        w.fake.uc_privileges_of(ALICE),
        read_of(ORDERS)[..2].to_vec()
    );
}

#[tokio::test]
async fn databricks_revoking_missing_table_access_is_already_absent() {
    let w = uc_fake().await;
    let c = w.fake.connector();
    assert_eq!(
        connectors::revoke(&c, &w.alice, &table(ORDERS))
            .await
            .unwrap(),
        "already absent"
    );
    // A receipt whose privileges someone already took away by hand.
    let receipt = r#"{"added":[{"securable_type":"table","full_name":"main.sales.orders","privilege":"SELECT"}]}"#;
    assert_eq!(
        revoke_with(&c, &w.alice, ORDERS, Some(receipt), &[])
            .await
            .unwrap(),
        "already absent"
    );
    assert_eq!(uc_patches(&w), 0, "{:?}", w.fake.log());
}

#[tokio::test]
async fn databricks_table_check_reports_inherited_reads_and_leaves_them() {
    let w = uc_fake().await;
    // Alice reads through her group; Bob through SELECT on the whole schema.
    w.fake.add_member(&w.finance, &w.alice);
    w.fake
        .grant_uc("table", ORDERS, "finance-analysts", "SELECT");
    w.fake.grant_uc("catalog", "main", ALICE, "USE_CATALOG");
    w.fake.grant_uc("schema", "main.sales", "bob", "SELECT");
    // One assignment a page: Alice's own, then her group's.
    w.fake.state().uc_page_size = Some(1);
    let c = w.fake.connector();
    let alice = c.check(&w.alice, &table(ORDERS)).await.unwrap();
    assert!(
        !alice.direct && alice.through == ["SELECT through group `finance-analysts`"],
        "{alice:?}"
    );
    assert!(
        w.fake
            .log()
            .iter()
            .any(|c| c.path.contains("/effective-permissions/") && c.query.contains("page_token=")),
        "the second page is read: {:?}",
        w.fake.log()
    );
    let bob = c.check(&w.bob, &table(ORDERS)).await.unwrap();
    assert!(
        !bob.direct && bob.through == ["SELECT inherited from schema main.sales"],
        "{bob:?}"
    );
    for who in [&w.alice, &w.bob] {
        assert_eq!(
            connectors::revoke(&c, who, &table(ORDERS)).await.unwrap(),
            "already absent"
        );
    }
    assert!(
        w.fake
            .uc_holds("table", ORDERS, "finance-analysts", "SELECT")
    );
    assert!(w.fake.uc_holds("schema", "main.sales", "bob", "SELECT"));
    assert_eq!(uc_patches(&w), 0);
}

#[tokio::test]
async fn databricks_unknown_or_misnamed_tables_fail_permanently_in_databricks_words() {
    let w = uc_fake().await;
    let c = w.fake.connector();
    let err = connectors::grant(&c, &w.alice, &table("main.sales.nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m)
            if m.contains("HTTP 404: RESOURCE_DOES_NOT_EXIST: Table 'main.sales.nope' does not exist.")),
        "{err:?}"
    );
    let err = connectors::grant(&c, &w.alice, &table("sales.orders"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m)
            if m.contains(r#"grant = { table = "main.sales.orders" }"#) && m.contains("`sales.orders`")),
        "{err:?}"
    );
    // An identity that is no user or service principal.
    let err = connectors::grant(&c, "999999", &table(ORDERS))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains("id 999999")),
        "{err:?}"
    );
    assert_eq!(uc_patches(&w), 0);
    assert!(w.fake.state().uc_grants.is_empty());
}

#[tokio::test]
async fn databricks_service_principals_are_granted_by_application_id() {
    let w = uc_fake().await;
    let robot = w.fake.add_service_principal("etl robot");
    let c = w.fake.connector();
    connectors::grant(&c, &robot, &table(ORDERS)).await.unwrap();
    let app = format!("app-{robot}");
    assert!(w.fake.uc_holds("table", ORDERS, &app, "SELECT"));
}

#[tokio::test]
async fn databricks_hostile_table_names_reach_the_workspace_as_one_segment() {
    let w = uc_fake().await;
    let odd = "main.sales.q3 r/x?y=%41+#z";
    w.fake.add_table(odd);
    let c = w.fake.connector();
    let receipt = connectors::grant_recorded(&c, &w.alice, &table(odd))
        .await
        .unwrap()
        .receipt
        .unwrap();
    assert!(w.fake.uc_holds("table", odd, ALICE, "SELECT"));
    assert!(!w.fake.uc_holds("table", ORDERS, ALICE, "SELECT"));
    let patched: Vec<String> = w
        .fake
        .log()
        .iter()
        .filter(|c| c.method == "PATCH")
        .map(|c| c.path.clone())
        .collect();
    assert!(
        patched.contains(
            &"/api/2.1/unity-catalog/permissions/table/main.sales.q3%20r%2Fx%3Fy=%2541+%23z"
                .to_owned()
        ),
        "{patched:?}"
    );
    revoke_with(&c, &w.alice, odd, Some(&receipt), &[])
        .await
        .unwrap();
    assert!(w.fake.uc_privileges_of(ALICE).is_empty());
}

#[tokio::test]
async fn databricks_table_grant_renews_an_expired_token_once() {
    let w = uc_fake().await;
    let c = w.fake.connector();
    c.ping().await.unwrap();
    w.fake.expire_tokens();
    connectors::grant(&c, &w.alice, &table(ORDERS))
        .await
        .unwrap();
    assert!(w.fake.uc_holds("table", ORDERS, ALICE, "SELECT"));
    assert_eq!(w.fake.state().tokens_issued, 2, "{:?}", w.fake.log());
    assert_eq!(w.fake.log().iter().filter(|c| c.status == 401).count(), 1);
}

#[tokio::test]
async fn databricks_throttled_table_grant_says_when_to_come_back() {
    let w = uc_fake().await;
    let c = w.fake.connector();
    c.ping().await.unwrap();
    {
        let mut s = w.fake.state();
        s.throttle_next = 1;
        s.retry_after = Some(11);
    }
    match connectors::grant(&c, &w.alice, &table(ORDERS)).await {
        Err(ConnectorError::Throttled { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(11)))
        }
        other => panic!("{other:?}"),
    }
    assert!(w.fake.state().uc_grants.is_empty());
    connectors::grant(&c, &w.alice, &table(ORDERS))
        .await
        .unwrap();
    assert!(w.fake.uc_holds("table", ORDERS, ALICE, "SELECT"));
}

#[tokio::test]
async fn a_request_for_a_databricks_table_goes_through_slack_to_unity_catalog_and_back() {
    let w = uc_fake().await;
    const DAVE: &str = "dave.kim@corp.example";
    let dave = w.fake.add_user(DAVE, Some("Dave Kim"));
    let orders = format!(r#"{{ table = "{ORDERS}" }}"#);
    let resources = [
        ("dbx-orders", "Orders table in Databricks", orders.as_str()),
        (
            "dbx-missing-table",
            "Missing table",
            r#"{ table = "main.sales.gone" }"#,
        ),
    ];
    let catalog = round_trip::catalog("databricks", &settings(&w), &resources);
    let trip = ["dbx-orders", &dave, "dbx-missing-table", "does not exist"];
    let holds = |who: &str| {
        let name = if who == "alice" { ALICE } else { DAVE };
        w.fake.uc_holds("table", ORDERS, name, "SELECT")
    };
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &[&w.finance], holds, || {
        // Both grants added all three privileges, so their expiry took all three away.
        let left = w.fake.state().uc_grants.clone();
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(uc_patches(&w), 12, "{:?}", w.fake.log());
    })
    .await;
}

/// Whether `unit` can be granted, checking that asking it wrote nothing to the workspace.
async fn readiness_of(w: &Workspace, unit: &Unit) -> Result<Readiness, ConnectorError> {
    let held = || {
        let s = w.fake.state();
        (s.members.clone(), s.uc_grants.clone())
    };
    let before = held();
    let ready = w.fake.connector().readiness(unit).await;
    let log = w.fake.log();
    let writes = log
        .iter()
        .filter(|c| c.method != "GET" && c.path != TOKEN_PATH);
    assert_eq!(writes.count(), 0, "{log:?}");
    assert_eq!(before, held());
    ready
}

#[tokio::test]
async fn databricks_group_readiness_needs_the_group_and_a_workspace_admin() {
    let w = workspace_fake().await;
    assert_eq!(
        readiness_of(&w, &group("finance-analysts")).await.unwrap(),
        Readiness::Ready(format!(
            "group `finance-analysts` exists; Gatehouse's principal `{CLIENT_ID}` is a workspace \
             admin"
        ))
    );
    assert_eq!(
        readiness_of(&w, &group("finance-old")).await.unwrap(),
        Readiness::Missing {
            what: "group `finance-old` does not exist in the workspace".into(),
            fix: "create it, or correct `grant` in the catalog".into()
        }
    );
    w.fake.state().caller_is_admin = false;
    let Ok(Readiness::Missing { what, fix }) = readiness_of(&w, &group("marketing")).await else {
        panic!("{:?}", w.fake.log())
    };
    assert!(what.contains("is not a workspace admin"), "{what}");
    assert!(
        fix.starts_with(&format!(
            "add `{CLIENT_ID}` to the workspace's `admins` group"
        )),
        "{fix}"
    );
    w.fake.state().unavailable_next = 1;
    let err = readiness_of(&w, &group("marketing")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Retryable(_)), "{err:?}");
}

#[tokio::test]
async fn databricks_table_readiness_needs_the_table_and_ownership_or_manage_on_each_level() {
    let w = uc_fake().await;
    let Ok(Readiness::Missing { what, fix }) = readiness_of(&w, &table(ORDERS)).await else {
        panic!("{:?}", w.fake.log())
    };
    assert!(
        what.contains(
            "may not grant on catalog `main`, schema `main.sales`, table `main.sales.orders`"
        ),
        "{what}"
    );
    assert!(
        fix.contains(&format!(
            "`GRANT MANAGE ON CATALOG `main` TO `{CLIENT_ID}``"
        )),
        "{fix}"
    );
    // The caller's `admins` group owns the schema: only the catalog is left to grant on.
    w.fake.set_uc_owner("schema", "main.sales", "admins");
    let Ok(Readiness::Missing { what, .. }) = readiness_of(&w, &table(ORDERS)).await else {
        panic!()
    };
    assert!(
        what.contains("may not grant on catalog `main`: it neither"),
        "{what}"
    );
    w.fake.grant_uc("catalog", "main", CLIENT_ID, "MANAGE");
    let ready = |t: &str| {
        Readiness::Ready(format!(
            "table `{t}` exists; Gatehouse's principal `{CLIENT_ID}` may grant on it, its schema \
             and its catalog (as owner or with MANAGE)"
        ))
    };
    assert_eq!(
        readiness_of(&w, &table(ORDERS)).await.unwrap(),
        ready(ORDERS)
    );
    w.fake.state().uc_grants.clear();
    w.fake.set_uc_owner("catalog", "main", CLIENT_ID);
    assert_eq!(
        readiness_of(&w, &table(RETURNS)).await.unwrap(),
        ready(RETURNS)
    );
    assert_eq!(
        readiness_of(&w, &table("main.sales.gone")).await.unwrap(),
        Readiness::Missing {
            what: "table `main.sales.gone` does not exist in Unity Catalog".into(),
            fix: "create it, or correct `grant` in the catalog".into()
        }
    );
}
