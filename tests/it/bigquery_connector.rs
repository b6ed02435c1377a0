//! The BigQuery connector against a stateful fake of Google's token endpoint, the datasets API
//! and the Directory: dataset access entries granted, checked and revoked idempotently with
//! `If-Match`; concurrent changes never lost; Directory users listed across pages; an expired
//! token exchanged again once; throttling, outages and unknown datasets classed right; and a
//! whole request through Slack that leaves the entry in the dataset, then takes it away. The
//! same for a role on one table: a member of its IAM policy's binding, written with the etag,
//! again after a 409, keeping every other binding, conditional binding and field.

use std::time::Duration;

use gatehouse::config::Secret;
use gatehouse::connectors::bigquery::Bigquery;
use gatehouse::connectors::{self, Connector, ConnectorError, Readiness};
use gatehouse::domain::Unit;
use serde_json::{Value, json};

use crate::support::bigquery_fake::{ADMIN, BigqueryFake, CLIENT_EMAIL, OTHER_KEY_PEM};
use crate::support::contract::{self, Case, Faults, Listed, Platform};
use crate::support::rest_fake;
use crate::support::round_trip;

const SALES: &str = "acme-data.sales";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

fn reader(dataset: &str) -> Unit {
    Unit::Dataset {
        dataset: dataset.into(),
        role: "READER".into(),
    }
}

/// Alice is made a READER of the sales dataset; Bob looks on.
fn case() -> Case {
    Case {
        identity: ALICE.into(),
        bystander: BOB.into(),
        unit: reader(SALES),
        other_unit: Unit::Dataset {
            dataset: SALES.into(),
            role: "WRITER".into(),
        },
        foreign_unit: Some(Unit::Group {
            group: "sales".into(),
        }),
    }
}

fn entry(unit: &Unit) -> (&str, &str) {
    let Unit::Dataset { dataset, role } = unit else {
        panic!("{unit:?}")
    };
    (dataset, role)
}

impl Platform for BigqueryFake {
    fn connector(&self) -> Box<dyn Connector> {
        Box::new(BigqueryFake::connector(self))
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        let (dataset, role) = entry(unit);
        BigqueryFake::holds(self, dataset, identity, role)
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let (dataset, role) = entry(unit);
        let mut access = self.access(dataset);
        access.push(user(role, identity));
        self.add_dataset(dataset, access);
    }
    fn changes(&self) -> usize {
        self.log().iter().filter(|c| c.method == "PATCH").count()
    }
}

impl Faults for BigqueryFake {
    fn sign_ins(&self) -> usize {
        self.state().exchanges.len()
    }
    fn refused(&self) -> usize {
        self.log().iter().filter(|c| c.status == 401).count()
    }
    fn expire_tokens(&self) {
        BigqueryFake::expire_tokens(self);
    }
    fn throttle_next(&self, retry_after_secs: u64) {
        let mut s = self.state();
        s.throttle_next = 1;
        s.throttle_status = 429;
        s.retry_after = Some(retry_after_secs);
    }
    fn fail_next(&self) {
        self.state().unavailable_next = 1;
    }
    fn unreachable(&self) -> Box<dyn Connector> {
        let mut gone = self.settings(Some(ADMIN));
        gone.api_url = Some("http://127.0.0.1:9".into());
        let key = Secret::new(self.key_json(crate::support::bigquery_fake::KEY_PEM));
        Box::new(Bigquery::new(&gone, key).unwrap())
    }
}

fn user(role: &str, email: &str) -> Value {
    json!({ "role": role, "userByEmail": email })
}

/// The sales dataset as a project creates it: its owners, and a group of readers.
async fn fake() -> BigqueryFake {
    let fake = BigqueryFake::start().await;
    fake.add_dataset(
        SALES,
        vec![
            json!({ "role": "OWNER", "specialGroup": "projectOwners" }),
            json!({ "role": "OWNER", "userByEmail": CLIENT_EMAIL }),
            json!({ "role": "READER", "groupByEmail": "analysts@example.com" }),
        ],
    );
    fake
}

async fn grant(c: &dyn Connector, who: &str) -> Result<String, ConnectorError> {
    connectors::grant(c, who, &reader(SALES)).await
}

async fn revoke(c: &dyn Connector, who: &str) -> Result<String, ConnectorError> {
    connectors::revoke(c, who, &reader(SALES)).await
}

#[tokio::test]
async fn bigquery_directory_users_are_listed_across_pages() {
    let fake = fake().await;
    fake.add_user(ALICE, "Alice Martin");
    for n in 0..9 {
        fake.add_user(&format!("user{n}@example.com"), &format!("User {n}"));
    }
    let c = fake.connector().with_page_size(4);
    let alice = Listed::user(ALICE, "Alice Martin", Some(ALICE));
    let all = contract::list_pages_through_everything(&c, &[("user", 10)], &[alice], &[]).await;
    assert_eq!(all[0].id, ALICE, "in the Directory's order");
    // 10 users at 4 a page: 4, 4, 2, the later pages asked for by the previous page's token.
    let pages = rest_fake::pages(&fake.log(), "/admin/directory/v1/users");
    assert_eq!(pages.len(), 6, "listed twice: {:?}", fake.log());
    assert!(pages[0].contains("customer=my_customer") && pages[0].contains("maxResults=4"));
    assert!(!pages[0].contains("pageToken") && pages[2].contains("pageToken=pg%7E8"));
    // The Directory is read as the delegated admin; nothing else was exchanged.
    assert_eq!(fake.state().exchanges, [Some(ADMIN.to_owned())]);

    // Without a directory admin, no one is listed and the Directory is not asked.
    let bare = Bigquery::new(
        &fake.settings(None),
        Secret::new(fake.key_json(crate::support::bigquery_fake::KEY_PEM)),
    )
    .unwrap();
    assert!(bare.list_identities().await.unwrap().is_empty());
    assert_eq!(
        fake.calls("GET", "/users", 200),
        6,
        "two listings of three pages, none without an admin"
    );
}

#[tokio::test]
async fn bigquery_a_grant_is_made_once_and_held_by_the_dataset() {
    let fake = fake().await;
    let before = fake.access(SALES);
    let did_says = "PATCH /bigquery/v2/projects/acme-data/datasets/sales";
    contract::grant_is_idempotent_and_verified(&fake, &case(), did_says).await;
    assert_eq!(fake.calls("PATCH", "/datasets/sales", 200), 1);
    let after = fake.access(SALES);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[..before.len()], before[..], "every other entry kept");
    assert_eq!(after.last().unwrap(), &user("READER", ALICE));
    // BigQuery itself was called as the service account, not as the Directory admin.
    assert_eq!(fake.state().exchanges, [None]);
}

#[tokio::test]
async fn bigquery_a_revoke_removes_only_that_entry_and_a_missing_one_is_already_absent() {
    let fake = fake().await;
    let says = "removed {role: READER, userByEmail: alice@example.com}";
    contract::revoke_is_idempotent(&fake, &case(), says).await;
    assert_eq!(fake.updates(SALES), 1);
    // Only that entry: an email in another case is the same user; her other role, Bob, a
    // domain, the group and the owners stay.
    let fake = self::fake().await;
    let mut access = fake.access(SALES);
    access.extend([
        user("READER", "Alice@Example.com"),
        user("WRITER", ALICE),
        user("READER", BOB),
        json!({ "role": "READER", "domain": "partner.example" }),
    ]);
    fake.add_dataset(SALES, access.clone());
    revoke(&fake.connector(), ALICE).await.unwrap();
    let kept: Vec<Value> = access
        .iter()
        .filter(|e| e["userByEmail"] != "Alice@Example.com")
        .cloned()
        .collect();
    assert_eq!(fake.access(SALES), kept);
}

/// A dataset with an IAM condition on one of its entries: read and written with
/// `accessPolicyVersion=3`, its conditional entries kept as they are, and a conditional READER
/// of Alice's own is not the READER Gatehouse grants (nor removed when that one ends).
#[tokio::test]
async fn bigquery_a_dataset_with_conditional_bindings_keeps_them_through_a_grant_and_its_end() {
    let fake = fake().await;
    let until = json!({
        "title": "until year end",
        "expression": "request.time < timestamp(\"2027-01-01T00:00:00Z\")"
    });
    let mut access = fake.access(SALES);
    access
        .push(json!({ "role": "WRITER", "userByEmail": "carol@example.com", "condition": until }));
    access.push(json!({ "role": "READER", "userByEmail": ALICE, "condition": until }));
    fake.add_dataset(SALES, access.clone());
    let c = fake.connector();
    // Alice's conditional READER ends with its condition: it is not the access asked for.
    assert!(!c.check(ALICE, &reader(SALES)).await.unwrap().direct);
    grant(&c, ALICE).await.unwrap();
    grant(&c, BOB).await.unwrap();
    let mut expected = access.clone();
    expected.extend([user("READER", ALICE), user("READER", BOB)]);
    assert_eq!(
        fake.access(SALES),
        expected,
        "the conditions are kept as they were"
    );
    revoke(&c, ALICE).await.unwrap();
    revoke(&c, BOB).await.unwrap();
    assert_eq!(fake.access(SALES), access, "only Gatehouse's entries went");
    let unversioned: Vec<_> = fake
        .log()
        .into_iter()
        .filter(|c| c.path.ends_with("/datasets/sales"))
        .filter(|c| !c.query.split('&').any(|kv| kv == "accessPolicyVersion=3"))
        .collect();
    assert!(
        unversioned.is_empty(),
        "every read and write asks for version 3: {unversioned:?}"
    );
}

#[tokio::test]
async fn bigquery_check_names_the_group_it_may_come_through() {
    let fake = fake().await;
    let c = fake.connector();
    let h = c.check(ALICE, &reader(SALES)).await.unwrap();
    assert!(!h.direct, "{h:?}");
    assert_eq!(h.through.len(), 1, "{h:?}");
    assert!(h.through[0].contains("analysts@example.com"), "{h:?}");
    assert!(h.through[0].contains("does not expand groups"), "{h:?}");
    // The projectOwners special group holds OWNER, not READER: not counted.
    let owner = Unit::Dataset {
        dataset: SALES.into(),
        role: "OWNER".into(),
    };
    let h = c.check(CLIENT_EMAIL, &owner).await.unwrap();
    assert!(
        h.direct && h.through.iter().any(|t| t.contains("projectOwners")),
        "{h:?}"
    );
    // An entry for Alice with the IAM name of the role is the same role.
    let mut access = fake.access(SALES);
    access.push(user("roles/bigquery.dataViewer", ALICE));
    fake.add_dataset(SALES, access);
    assert!(c.check(ALICE, &reader(SALES)).await.unwrap().direct);
}

#[tokio::test]
async fn bigquery_two_grants_racing_on_one_dataset_both_survive() {
    let fake = fake().await;
    let c = fake.connector();
    c.ping().await.unwrap();
    let (a, b) = tokio::join!(grant(&c, ALICE), grant(&c, BOB));
    a.unwrap();
    b.unwrap();
    assert!(fake.holds(SALES, ALICE, "READER") && fake.holds(SALES, BOB, "READER"));
    assert_eq!(fake.access(SALES).len(), 5, "{:?}", fake.access(SALES));
    assert_eq!(fake.updates(SALES), 2);
}

#[tokio::test]
async fn bigquery_a_change_between_read_and_write_is_kept_and_the_grant_made_again() {
    let fake = fake().await;
    let c = fake.connector();
    let carol = user("READER", "carol@example.com");
    fake.state().concurrent_next = Some(carol.clone());
    let did = grant(&c, ALICE).await.unwrap();
    assert!(
        did.contains("made again after 1 concurrent change"),
        "{did}"
    );
    assert_eq!(
        fake.calls("PATCH", "/datasets/sales", 412),
        1,
        "{:?}",
        fake.log()
    );
    assert_eq!(fake.calls("PATCH", "/datasets/sales", 200), 1);
    let access = fake.access(SALES);
    assert!(
        access.contains(&carol),
        "the concurrent entry survives: {access:?}"
    );
    assert!(fake.holds(SALES, ALICE, "READER"));

    // And a revoke racing with someone else's change drops only Alice.
    let dan = user("WRITER", "dan@example.com");
    fake.state().concurrent_next = Some(dan.clone());
    revoke(&c, ALICE).await.unwrap();
    let access = fake.access(SALES);
    assert!(
        access.contains(&carol) && access.contains(&dan),
        "{access:?}"
    );
    assert!(!fake.holds(SALES, ALICE, "READER"));
    assert_eq!(access.len(), 5);
}

#[tokio::test]
async fn bigquery_an_expired_token_is_exchanged_once_more_and_the_call_succeeds() {
    contract::expired_token_is_renewed(&fake().await, &case()).await;
}

#[tokio::test]
async fn bigquery_throttling_says_when_to_come_back() {
    let fake = fake().await;
    // BigQuery also throttles with 403 rateLimitExceeded.
    {
        let mut s = fake.state();
        s.throttle_next = 1;
        s.throttle_status = 403;
        s.retry_after = None;
    }
    let err = grant(&fake.connector(), ALICE).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Throttled { message, .. } if message.contains("HTTP 403")),
        "{err:?}"
    );
    let says = ["HTTP 429", "rateLimitExceeded"];
    contract::throttling_is_retryable_with_retry_after(&fake, &case(), &says).await;
}

#[tokio::test]
async fn bigquery_an_outage_is_retryable_and_changes_nothing() {
    let fake = fake().await;
    let says = "HTTP 503: The service is currently unavailable.";
    contract::outage_is_retryable(&fake, &case(), says).await;
    assert_eq!(fake.updates(SALES), 0);
}

#[tokio::test]
async fn bigquery_an_unknown_dataset_fails_permanently_naming_it() {
    let fake = fake().await;
    let c = fake.connector();
    let err = connectors::grant(&c, ALICE, &reader("acme-data.nope"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "BigQuery has no dataset `acme-data.nope` (or the service account cannot see it): Not found: Dataset acme-data:nope (notFound)".into()
        )
    );
    let err = connectors::grant(&c, ALICE, &reader("sales"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`project.dataset`"), "{err}");
    assert!(fake.log().iter().all(|c| c.method != "PATCH"));
}

#[tokio::test]
async fn bigquery_a_key_google_does_not_know_is_a_clear_permanent_failure() {
    let fake = fake().await;
    let c = Bigquery::new(
        &fake.settings(None),
        Secret::new(fake.key_json(OTHER_KEY_PEM)),
    )
    .unwrap();
    let err = c.ping().await.unwrap_err();
    let ConnectorError::Permanent(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains(CLIENT_EMAIL) && message.contains("Invalid JWT Signature"),
        "{message}"
    );
    assert!(!message.contains("PRIVATE") && !format!("{c:?}").contains("PRIVATE"));
    assert!(fake.state().exchanges.is_empty());
}

/// Dave's Directory email, which is not his Slack one.
const DAVE: &str = "dave.kim@corp.example";

/// The connector's settings for `fake`, as a catalog names them.
fn settings(fake: &BigqueryFake) -> String {
    format!(
        r#"kind = "bigquery"
key = {{ file = "{}" }}
directory_admin = "{ADMIN}"
api_url = "{}"
directory_url = "{}"
link = "email""#,
        fake.key_file(),
        fake.url,
        fake.url
    )
}

#[tokio::test]
async fn a_request_for_a_bigquery_dataset_goes_through_slack_to_the_dataset_and_back() {
    let fake = fake().await;
    fake.add_user(ALICE, "Alice Martin");
    fake.add_user(DAVE, "Dave Kim");
    let grant = format!(r#"{{ dataset = "{SALES}", role = "READER" }}"#);
    let gone = format!(r#"{{ dataset = "{SALES}-gone", role = "READER" }}"#);
    let resources = [
        ("bq-sales", "Sales dataset", grant.as_str()),
        ("bigquery-missing", "Missing", &gone),
    ];
    let catalog = round_trip::catalog("bigquery", &settings(&fake), &resources);
    // The Directory lists Alice's Slack email; Dave's is not his, so Bob picks him.
    let trip = ["bq-sales", DAVE, "bigquery-missing", "-gone"];
    let holds = |who: &str| fake.holds(SALES, if who == "alice" { ALICE } else { DAVE }, "READER");
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &[], holds, || {
        let entries = fake.access(SALES);
        assert_eq!(entries.len(), 3, "the dataset's own entries stay");
        assert_eq!(fake.calls("PATCH", "/datasets/sales", 200), 4);
    })
    .await;
}

// ---- Table IAM: a role on one table, a member of its policy's binding. ----

const ORDERS: &str = "acme-data.sales.orders";
const VIEWER: &str = "roles/bigquery.dataViewer";

fn viewer(table: &str) -> Unit {
    Unit::TableRole {
        table: table.into(),
        role: VIEWER.into(),
    }
}

/// The orders table with a policy someone else already uses: Carol views it, an editor binding,
/// a conditional viewer binding for Erin, and an audit config.
async fn table_fake() -> BigqueryFake {
    let fake = fake().await;
    fake.add_table(ORDERS, table_bindings(), json!({ "auditConfigs": audit() }));
    fake
}

fn conditional() -> Value {
    json!({ "role": VIEWER, "members": ["user:erin@example.com"],
        "condition": { "title": "until-june", "expression": "request.time < timestamp('2030-06-01T00:00:00Z')" } })
}

fn audit() -> Value {
    json!([{ "service": "allServices", "auditLogConfigs": [{ "logType": "DATA_READ" }] }])
}

fn table_bindings() -> Vec<Value> {
    vec![
        json!({ "role": VIEWER, "members": ["user:carol@example.com"] }),
        json!({ "role": "roles/bigquery.dataEditor", "members": ["group:etl@example.com"] }),
        conditional(),
    ]
}

async fn grant_table(c: &dyn Connector, who: &str) -> Result<String, ConnectorError> {
    connectors::grant(c, who, &viewer(ORDERS)).await
}

async fn revoke_table(c: &dyn Connector, who: &str) -> Result<String, ConnectorError> {
    connectors::revoke(c, who, &viewer(ORDERS)).await
}

const SET: &str = "/tables/orders:setIamPolicy";

#[tokio::test]
async fn bigquery_a_table_role_is_granted_once_and_revoked_keeping_everyone_else() {
    let fake = table_fake().await;
    let c = fake.connector();
    let did = grant_table(&c, ALICE).await.unwrap();
    assert!(
        did.contains("added user:alice@example.com to the roles/bigquery.dataViewer binding")
            && did.contains(
                "POST /bigquery/v2/projects/acme-data/datasets/sales/tables/orders:setIamPolicy"
            ),
        "{did}"
    );
    assert!(fake.table_holds(ORDERS, ALICE, VIEWER));
    assert_eq!(grant_table(&c, ALICE).await.unwrap(), "already held");
    assert_eq!(fake.calls("POST", SET, 200), 1, "{:?}", fake.log());
    let p = fake.policy(ORDERS);
    assert_eq!(
        p["bindings"][0]["members"],
        json!(["user:carol@example.com", "user:alice@example.com"]),
        "Alice joins Carol's unconditional binding"
    );
    assert_eq!(p["bindings"][1], table_bindings()[1]);
    assert_eq!(
        p["bindings"][2],
        conditional(),
        "the conditional binding is not touched"
    );
    assert_eq!(
        (p["auditConfigs"].clone(), p["version"].clone()),
        (audit(), json!(3))
    );

    let did = revoke_table(&c, ALICE).await.unwrap();
    assert!(did.contains("removed user:alice@example.com"), "{did}");
    let mut want = fake.policy(ORDERS);
    want["bindings"] = json!(table_bindings());
    want["auditConfigs"] = audit();
    assert_eq!(fake.policy(ORDERS), want, "back to the policy as it was");
    assert_eq!(revoke_table(&c, ALICE).await.unwrap(), "already absent");
    assert_eq!(fake.table_updates(ORDERS), 2);

    // Erin's conditional access is not Gatehouse's: a revoke leaves it, a grant adds her
    // unconditionally beside it, and the revoke takes only that one away.
    assert_eq!(
        revoke_table(&c, "erin@example.com").await.unwrap(),
        "already absent"
    );
    grant_table(&c, "erin@example.com").await.unwrap();
    assert!(fake.table_holds(ORDERS, "erin@example.com", VIEWER));
    revoke_table(&c, "erin@example.com").await.unwrap();
    assert_eq!(fake.policy(ORDERS)["bindings"], json!(table_bindings()));
}

#[tokio::test]
async fn bigquery_a_binding_is_made_for_a_new_role_and_dropped_when_emptied() {
    let fake = table_fake().await;
    let c = fake.connector();
    let owner = Unit::TableRole {
        table: ORDERS.into(),
        role: "roles/bigquery.dataOwner".into(),
    };
    connectors::grant(&c, ALICE, &owner).await.unwrap();
    let bindings = fake.policy(ORDERS)["bindings"].clone();
    assert_eq!(
        bindings[3],
        json!({ "role": "roles/bigquery.dataOwner", "members": ["user:alice@example.com"] })
    );
    connectors::revoke(&c, ALICE, &owner).await.unwrap();
    assert_eq!(fake.policy(ORDERS)["bindings"], json!(table_bindings()));
    // A table whose policy has no bindings at all.
    fake.add_table("acme-data.sales.empty", vec![], json!({}));
    connectors::grant(&c, ALICE, &viewer("acme-data.sales.empty"))
        .await
        .unwrap();
    assert!(fake.table_holds("acme-data.sales.empty", ALICE, VIEWER));
}

#[tokio::test]
async fn bigquery_table_check_is_direct_only_for_the_unconditional_binding() {
    let fake = table_fake().await;
    let c = fake.connector();
    let h = c.check("carol@example.com", &viewer(ORDERS)).await.unwrap();
    assert!(h.direct && h.through.is_empty(), "{h:?}");
    let h = c.check("Carol@Example.com", &viewer(ORDERS)).await.unwrap();
    assert!(h.direct, "emails in any case: {h:?}");
    let h = c.check("erin@example.com", &viewer(ORDERS)).await.unwrap();
    assert!(!h.direct, "{h:?}");
    assert!(
        h.through.len() == 1 && h.through[0].contains("until-june"),
        "{h:?}"
    );
    let h = c.check(ALICE, &viewer(ORDERS)).await.unwrap();
    assert!(!h.held(), "{h:?}");
    // Read at version 3: the fake refuses a conditional policy asked for at a lower one.
    let log = fake.log();
    assert!(log.iter().all(|c| c.status != 400), "{log:?}");
}

#[tokio::test]
async fn bigquery_a_policy_change_between_read_and_write_is_kept_and_the_grant_made_again() {
    let fake = table_fake().await;
    let c = fake.connector();
    fake.state().concurrent_policy_next = Some((VIEWER.into(), "user:dan@example.com".into()));
    let did = grant_table(&c, ALICE).await.unwrap();
    assert!(
        did.contains("made again after 1 concurrent change"),
        "{did}"
    );
    assert_eq!(fake.calls("POST", SET, 409), 1, "{:?}", fake.log());
    assert_eq!(fake.calls("POST", SET, 200), 1);
    assert!(fake.table_holds(ORDERS, "dan@example.com", VIEWER));
    assert!(fake.table_holds(ORDERS, ALICE, VIEWER));

    // A revoke racing with someone else's change drops only Alice.
    fake.state().concurrent_policy_next = Some((VIEWER.into(), "user:fay@example.com".into()));
    revoke_table(&c, ALICE).await.unwrap();
    assert!(!fake.table_holds(ORDERS, ALICE, VIEWER));
    for kept in ["dan@example.com", "fay@example.com", "carol@example.com"] {
        assert!(fake.table_holds(ORDERS, kept, VIEWER), "{kept}");
    }
    assert_eq!(fake.policy(ORDERS)["auditConfigs"], audit());
}

#[tokio::test]
async fn bigquery_two_grants_racing_on_one_table_both_survive() {
    let fake = table_fake().await;
    let c = fake.connector();
    c.ping().await.unwrap();
    let (a, b) = tokio::join!(grant_table(&c, ALICE), grant_table(&c, BOB));
    a.unwrap();
    b.unwrap();
    assert!(fake.table_holds(ORDERS, ALICE, VIEWER) && fake.table_holds(ORDERS, BOB, VIEWER));
    assert!(fake.table_holds(ORDERS, "carol@example.com", VIEWER));
    assert_eq!(fake.table_updates(ORDERS), 2);
}

#[tokio::test]
async fn bigquery_table_errors_are_classed_in_googles_words() {
    let fake = table_fake().await;
    let c = fake.connector();
    let err = connectors::grant(&c, ALICE, &viewer("acme-data.sales.nope"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "BigQuery has no table `acme-data.sales.nope` (or the service account cannot see it): Not found: Table acme-data:sales.nope (notFound)".into()
        )
    );
    for bad in ["sales.orders", "a.b.c.d", "acme-data..orders"] {
        let err = connectors::grant(&c, ALICE, &viewer(bad))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Permanent(m) if m.contains("`project.dataset.table`")),
            "{bad}: {err:?}"
        );
    }
    // A hostile table id stays one encoded path segment: the fake sees it whole.
    let hostile = "ord/ers?x=1#y";
    fake.add_table(&format!("acme-data.sales.{hostile}"), vec![], json!({}));
    connectors::grant(&c, ALICE, &viewer(&format!("acme-data.sales.{hostile}")))
        .await
        .unwrap();
    assert!(fake.table_holds(&format!("acme-data.sales.{hostile}"), ALICE, VIEWER));
    let sent = fake.log();
    assert!(
        sent.iter().any(
            |c| c.path.ends_with("/tables/ord%2Fers%3Fx=1%23y:setIamPolicy") && c.query.is_empty()
        ),
        "{sent:?}"
    );

    // 429 with Retry-After; 503 retryable; neither changes the policy.
    c.ping().await.unwrap();
    {
        let mut s = fake.state();
        s.throttle_next = 1;
        s.retry_after = Some(7);
    }
    match grant_table(&c, ALICE).await.unwrap_err() {
        ConnectorError::Throttled {
            retry_after,
            message,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)), "{message}");
        }
        other => panic!("{other:?}"),
    }
    fake.state().unavailable_next = 1;
    let err = grant_table(&c, ALICE).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Retryable(m) if m.contains("HTTP 503")),
        "{err:?}"
    );
    assert!(!fake.table_holds(ORDERS, ALICE, VIEWER));

    // An expired token: one new exchange, and the grant goes through.
    let exchanges = fake.state().exchanges.len();
    fake.expire_tokens();
    grant_table(&c, ALICE).await.unwrap();
    assert!(fake.table_holds(ORDERS, ALICE, VIEWER));
    assert_eq!(fake.state().exchanges.len(), exchanges + 1);
}

#[tokio::test]
async fn bigquery_a_service_account_without_set_iam_policy_fails_permanently() {
    let fake = table_fake().await;
    let c = fake.connector();
    fake.state().deny_set_policy = true;
    let err = grant_table(&c, ALICE).await.unwrap_err();
    let ConnectorError::Permanent(m) = &err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains("HTTP 403") && m.contains("bigquery.tables.setIamPolicy"),
        "{m}"
    );
    assert_eq!(fake.table_updates(ORDERS), 0);
}

/// Whether `unit` can be granted, checking that asking it wrote nothing.
async fn readiness_of(fake: &BigqueryFake, unit: &Unit) -> Result<Readiness, ConnectorError> {
    let ready = fake.connector().readiness(unit).await;
    let writes = fake
        .log()
        .into_iter()
        .filter(|c| c.method == "PATCH" || c.path.ends_with(":setIamPolicy") || c.method == "PUT");
    assert_eq!(writes.count(), 0, "{:?}", fake.log());
    ready
}

#[tokio::test]
async fn bigquery_dataset_readiness_sees_an_owner_entry_or_the_projects_roles() {
    let fake = fake().await;
    assert_eq!(
        readiness_of(&fake, &reader(SALES)).await.unwrap(),
        Readiness::Ready(format!(
            "dataset `{SALES}` exists; {CLIENT_EMAIL} is an OWNER in its access list"
        ))
    );
    fake.add_dataset("acme-data.hr", vec![user("READER", BOB)]);
    assert_eq!(
        readiness_of(&fake, &reader("acme-data.hr")).await.unwrap(),
        Readiness::Ready(format!(
            "dataset `acme-data.hr` exists; {CLIENT_EMAIL} holds bigquery.datasets.update on \
             project `acme-data`"
        ))
    );
    assert_eq!(fake.updates(SALES) + fake.updates("acme-data.hr"), 0);
}

#[tokio::test]
async fn bigquery_dataset_readiness_names_a_missing_dataset_or_the_missing_permission() {
    let fake = fake().await;
    assert_eq!(
        readiness_of(&fake, &reader("acme-data.gone"))
            .await
            .unwrap(),
        Readiness::Missing {
            what: "dataset `acme-data.gone` does not exist (or the service account cannot see it)"
                .into(),
            fix: "create it, or correct `grant` in the catalog".into()
        }
    );
    fake.add_dataset("acme-data.hr", vec![user("READER", BOB)]);
    fake.state().lacks.insert("bigquery.datasets.update".into());
    let Ok(Readiness::Missing { what, fix }) = readiness_of(&fake, &reader("acme-data.hr")).await
    else {
        panic!("{:?}", fake.log())
    };
    assert!(what.contains("lacks bigquery.datasets.update"), "{what}");
    assert!(
        fix.contains(&format!("{{role: OWNER, userByEmail: {CLIENT_EMAIL}}}"))
            && fix.contains("roles/bigquery.dataOwner"),
        "{fix}"
    );
    fake.state().unavailable_next = 1;
    let err = readiness_of(&fake, &reader(SALES)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Retryable(_)), "{err:?}");
}

#[tokio::test]
async fn bigquery_table_readiness_is_ready_missing_or_lacks_set_iam_policy() {
    let fake = table_fake().await;
    assert_eq!(
        readiness_of(&fake, &viewer(ORDERS)).await.unwrap(),
        Readiness::Ready(format!(
            "table `{ORDERS}` exists; {CLIENT_EMAIL} may read and set its IAM policy"
        ))
    );
    let Ok(Readiness::Missing { what, fix }) =
        readiness_of(&fake, &viewer("acme-data.sales.gone")).await
    else {
        panic!()
    };
    assert_eq!(
        (what.as_str(), fix.as_str()),
        (
            "table `acme-data.sales.gone` does not exist (or the service account cannot see it)",
            "create it, or correct `grant` in the catalog"
        )
    );
    fake.state().deny_set_policy = true;
    assert_eq!(
        readiness_of(&fake, &viewer(ORDERS)).await.unwrap(),
        Readiness::Missing {
            what: format!(
                "{CLIENT_EMAIL} may not change the IAM policy of table `{ORDERS}`: it lacks \
                 bigquery.tables.setIamPolicy"
            ),
            fix: format!(
                "grant {CLIENT_EMAIL} a role holding bigquery.tables.getIamPolicy and \
                 bigquery.tables.setIamPolicy on table `{ORDERS}` or its dataset, such as \
                 roles/bigquery.dataOwner"
            )
        }
    );
    assert_eq!(fake.table_updates(ORDERS), 0);
}

#[tokio::test]
async fn a_request_for_a_bigquery_table_goes_through_slack_to_the_policy_and_back() {
    let fake = table_fake().await;
    fake.add_user(ALICE, "Alice Martin");
    fake.add_user(DAVE, "Dave Kim");
    let grant = format!(r#"{{ table = "{ORDERS}", role = "{VIEWER}" }}"#);
    let gone = format!(r#"{{ table = "{ORDERS}_gone", role = "{VIEWER}" }}"#);
    let resources = [
        ("bq-orders", "Orders table", grant.as_str()),
        ("bq-orders-missing", "Missing", &gone),
    ];
    let catalog = round_trip::catalog("bigquery", &settings(&fake), &resources);
    // The Directory lists Alice's Slack email; Dave's is not his, so Bob picks him.
    let trip = ["bq-orders", DAVE, "bq-orders-missing", "orders_gone"];
    let holds =
        |who: &str| fake.table_holds(ORDERS, if who == "alice" { ALICE } else { DAVE }, VIEWER);
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &[], holds, || {
        let bindings = &fake.policy(ORDERS)["bindings"];
        assert_eq!(
            bindings,
            &json!(table_bindings()),
            "the table's own bindings stay"
        );
        assert_eq!(fake.calls("POST", SET, 200), 4);
    })
    .await;
}
