//! The Looker connector against a stateful fake of API 4.0: group membership granted, checked
//! and revoked idempotently; every page of users and groups listed; an expired token renewed
//! once; throttling, outages, unknown and externally managed groups classed right; and a whole
//! request through Slack that leaves the membership in the instance, then takes it away.

use gatehouse::connectors::{Connector, ConnectorError, Readiness};
use gatehouse::domain::Unit;

use crate::support::contract::{self, Faults, Listed};
use crate::support::group_platform::group_platform;
use crate::support::looker_fake::{CLIENT_ID, CLIENT_SECRET, LookerFake};
use crate::support::rest_fake::{self, Fake};
use crate::support::roles::{grant_group as grant, group, revoke_group as revoke};
use crate::support::round_trip;

const MEMBERS: &str = "/api/4.0/groups/{gid}/users";

group_platform! {
    /// An instance with Alice (alice@example.com) and Bob (no email), and the groups
    /// "Finance analysts" and "Marketing".
    Instance(LookerFake) {
        group_name: name,
        sign_in: "/api/4.0/login",
        case: ["Finance analysts", "Marketing"],
    }
}

async fn instance() -> Instance {
    let fake = LookerFake::start().await;
    let alice = fake.add_user("Alice Martin", Some("alice@example.com"));
    let bob = fake.add_user("Bob Stone", None);
    let finance = fake.add_group("Finance analysts", false);
    fake.add_group("Marketing", false);
    Instance {
        fake,
        alice,
        bob,
        finance,
    }
}

impl Faults for Instance {
    contract::token_faults!(|p| p.fake, p.fake.state().logins);
    fn unreachable(&self) -> Box<dyn Connector> {
        let mut gone = self.fake.settings();
        gone.base_url = "http://127.0.0.1:9".into();
        Box::new(
            gatehouse::connectors::looker::Looker::new(
                &gone,
                gatehouse::config::Secret::new(CLIENT_SECRET),
            )
            .unwrap(),
        )
    }
}

fn members_path(gid: &str) -> String {
    MEMBERS.replace("{gid}", gid)
}

/// `name`'s readiness, asserting that asking changed nothing in the instance.
async fn readiness(i: &Instance, name: &str) -> Readiness {
    i.fake.add_member(&i.finance, &i.bob);
    let r = i.fake.connector().readiness(&group(name)).await.unwrap();
    let log = i.fake.log();
    assert!(
        log.iter()
            .all(|c| c.method == "GET" || c.path == "/api/4.0/login"),
        "{log:?}"
    );
    assert_eq!(i.fake.state().members.len(), 1);
    r
}

#[tokio::test]
async fn readiness_of_a_group_with_an_admin_api_user_is_ready() {
    let i = instance().await;
    assert_eq!(
        readiness(&i, "Finance analysts").await,
        Readiness::Ready(
            "group `Finance analysts` exists and is managed in Looker; the API key's user has \
             the `Admin` role (Admin permission set)"
                .into()
        )
    );
}

#[tokio::test]
async fn readiness_of_a_missing_or_externally_managed_group_names_it_and_the_fix() {
    let i = instance().await;
    assert_eq!(
        readiness(&i, "Finance_analysts%").await,
        Readiness::Missing {
            what: "group `Finance_analysts%` does not exist in Looker (or the API user cannot \
                   see it)"
                .into(),
            fix: "create it in Looker (Admin > Groups), or correct `grant` in the catalog".into(),
        }
    );
    i.fake.add_group("Okta Finance", true);
    let Readiness::Missing { what, fix } = readiness(&i, "Okta Finance").await else {
        panic!("an externally managed group cannot be granted")
    };
    assert!(
        what.contains("`Okta Finance` are managed outside Looker"),
        "{what}"
    );
    assert!(
        fix.starts_with("grant it in the identity provider"),
        "{fix}"
    );
}

#[tokio::test]
async fn readiness_without_the_admin_role_names_the_right_and_the_fix() {
    let i = instance().await;
    i.fake.api_user_not_admin();
    assert_eq!(
        readiness(&i, "Finance analysts").await,
        Readiness::Missing {
            what: "the API key's user has no role with the Admin permission set (its roles: \
                   Developer), and only Looker admins may add users to groups or remove them"
                .into(),
            fix: "give the API key's user the Admin role in Looker (Admin > Users), or use an \
                  API key of an admin"
                .into(),
        }
    );
}

#[tokio::test]
async fn identities_are_listed_across_pages() {
    let i = instance().await;
    for n in 0..9 {
        i.fake
            .add_user(&format!("User {n}"), Some(&format!("user{n}@example.com")));
    }
    for n in 0..3 {
        i.fake.add_group(&format!("Team {n}"), false);
    }
    let c = i.fake.connector().with_page_size(4);
    let all = contract::list_pages_through_everything(
        &c,
        &[("user", 11), ("group", 5)],
        &[
            Listed::user(&i.alice, "Alice Martin", Some("alice@example.com")),
            Listed::user(&i.bob, "Bob Stone", None),
            Listed::named("group", &i.finance, "Finance analysts"),
        ],
        &["group"],
    )
    .await;
    let names: Vec<_> = all
        .iter()
        .filter(|x| x.kind == "group")
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Finance analysts",
            "Marketing",
            "Team 0",
            "Team 1",
            "Team 2"
        ]
    );
    // 11 users at 4 a page: 4, 4, 3. 5 groups: 4, 1. Listed twice (identities, grantable).
    let log = i.fake.log();
    let pages = |path| rest_fake::pages(&log, path);
    let user_pages = pages("/api/4.0/users");
    assert_eq!(user_pages.len(), 6, "{log:?}");
    assert!(
        user_pages[2].contains("limit=4") && user_pages[2].contains("offset=8"),
        "{user_pages:?}"
    );
    assert!(user_pages[0].contains("fields=id%2Cemail%2Cdisplay_name"));
    assert_eq!(pages("/api/4.0/groups").len(), 4, "{log:?}");
}

#[tokio::test]
async fn a_grant_is_made_once_and_held_by_the_instance() {
    let i = instance().await;
    contract::grant_is_idempotent_and_verified(&i, &i.case(), "POST /api/4.0/groups/").await;
    assert_eq!(i.fake.calls("POST", &members_path(&i.finance), 200), 1);
    assert_eq!(i.fake.state().members.len(), 1);
}

#[tokio::test]
async fn a_revoke_removes_the_membership_and_a_missing_one_is_already_absent() {
    let i = instance().await;
    contract::revoke_is_idempotent(&i, &i.case(), "DELETE /api/4.0/groups/").await;
}

#[tokio::test]
async fn check_reports_direct_membership_of_the_named_group() {
    let i = instance().await;
    contract::check_reports_direct_and_inherited(&i, &i.case()).await;
    // Search matches case-insensitively with wildcards; only the exact group counts.
    let c = i.fake.connector();
    assert!(
        c.check(&i.alice, &group("finance analysts"))
            .await
            .unwrap()
            .direct
    );
}

/// A user deleted in Looker holds nothing: the check lists the group's users (`GET
/// /groups/{id}/users`), where a deleted user is simply absent, so the revocation completes.
#[tokio::test]
async fn a_deleted_users_membership_is_already_absent_and_no_longer_held() {
    let i = instance().await;
    // A grant to the deleted user still fails, in Looker's words.
    let delete = || i.fake.delete_user(&i.alice);
    contract::a_deleted_identity_holds_nothing(&i, &i.case(), delete, "Not found").await;
}

contract::fault_cases!(
    instance(),
    |i| i.case(),
    ["HTTP 429"],
    "HTTP 503: Service Unavailable"
);

#[tokio::test]
async fn an_unknown_group_fails_permanently_naming_it() {
    let i = instance().await;
    let c = i.fake.connector();
    let err = grant(&c, &i.alice, "Finance_analysts%").await.unwrap_err();
    // The search's wildcards match "Finance analysts", but only the exact name is taken.
    let err2 = grant(&c, &i.alice, "Nope").await.unwrap_err();
    for (e, name) in [(err, "Finance_analysts%"), (err2, "Nope")] {
        assert_eq!(
            e,
            ConnectorError::Permanent(format!(
                "Looker has no group named `{name}` (or the API user cannot see it); check the resource's grant in the catalog"
            ))
        );
    }
    assert!(i.fake.state().members.is_empty());
    assert!(
        i.fake
            .log()
            .iter()
            .all(|c| c.method == "GET" || c.path == "/api/4.0/login")
    );
}

#[tokio::test]
async fn an_externally_managed_group_fails_permanently_in_lookers_words() {
    let i = instance().await;
    let scim = i.fake.add_group("Okta Finance", true);
    i.fake.add_member(&scim, &i.bob);
    let c = i.fake.connector();
    let err = grant(&c, &i.alice, "Okta Finance").await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "Looker answered HTTP 422: Validation Failed: group: Group membership is managed externally and cannot be changed in Looker".into()
        )
    );
    let err = revoke(&c, &i.bob, "Okta Finance").await.unwrap_err();
    assert!(err.to_string().contains("managed externally"), "{err}");
    assert!(!i.fake.holds(&i.alice, &scim) && i.fake.holds(&i.bob, &scim));
    assert_eq!(i.fake.state().members.len(), 1, "nothing changed");
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_permanent_failure_without_the_secret() {
    let i = instance().await;
    let wrong = "not-the-secret-Zz9";
    let c = i.fake.connector_with_secret(wrong);
    let says = [CLIENT_ID, "HTTP 404"];
    let right = i.fake.connector();
    contract::a_wrong_secret_is_permanent_and_never_shown(&c, wrong, &says, &right, CLIENT_SECRET)
        .await;
    assert_eq!(i.fake.state().logins, 0);
}

#[tokio::test]
async fn a_request_for_a_looker_group_goes_through_slack_to_the_instance_and_back() {
    let i = instance().await;
    let dave = i.fake.add_user("Dave Kim", Some("dave.kim@corp.example"));
    let settings = format!(
        r#"kind = "looker"
base_url = "{}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "{}" }}"#,
        i.fake.url,
        i.fake.secret_file()
    );
    let catalog = round_trip::catalog(
        "looker",
        &settings,
        &[
            (
                "looker-finance",
                "Looker finance",
                r#"{ group = "Finance analysts" }"#,
            ),
            (
                "looker-missing",
                "Missing",
                r#"{ group = "No such group" }"#,
            ),
        ],
    );
    // Looker lists Alice's email, which is her Slack one; Dave's is not his: he is picked.
    let trip = ["looker-finance", &dave, "looker-missing", "No such group"];
    let holds = |who: &str| {
        let user = if who == "alice" { &i.alice } else { &dave };
        i.fake.holds(user, &i.finance)
    };
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &[&i.finance], holds, || {
        assert!(i.fake.state().members.is_empty());
        let path = members_path(&i.finance);
        assert_eq!(i.fake.calls("POST", &path, 200), 2);
        let log = i.fake.log();
        let deletes = log
            .iter()
            .filter(|c| c.method == "DELETE" && c.status == 204);
        assert_eq!(deletes.count(), 2);
    })
    .await;
}
