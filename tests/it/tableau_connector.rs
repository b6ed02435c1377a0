//! The Tableau connector against a stateful fake of the REST API: group membership granted,
//! checked and revoked idempotently by group name; identities listed across pages; one
//! personal-access-token session reused, and signed in again once when it ends; throttling and
//! outages classed right; an unknown group refused by name; and a whole request through Slack
//! that leaves the membership on the site, then takes it away. Each case but the last runs
//! twice: with the site answering JSON, and answering Tableau's XML.

use std::time::Duration;

use gatehouse::connectors::{self, Connector, ConnectorError, Holding, Readiness};
use gatehouse::domain::Unit;

use crate::support::contract::{self, Platform};
use crate::support::roles::group;
use crate::support::round_trip;
use crate::support::tableau_fake::contract::Site;
use crate::support::tableau_fake::{SITE, TOKEN_NAME, TOKEN_SECRET, TableauFake, VERSION};

/// The form the site answers in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Json,
    Xml,
}

/// Each case once against a site answering JSON and once against one answering XML.
macro_rules! in_both_forms {
    ($($case:ident),* $(,)?) => {
        mod json {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Form::Json).await
            })*
        }
        mod xml {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Form::Xml).await
            })*
        }
    };
}

in_both_forms!(
    a_group_with_an_ampersand_or_a_comma_is_found_without_a_filter,
    identities_are_listed_across_pages_with_their_emails,
    a_grant_is_made_once_and_held_by_the_site,
    a_revoke_removes_the_membership_and_a_missing_one_is_already_absent,
    a_check_reads_the_users_groups_across_pages,
    one_sign_in_serves_many_calls,
    an_ended_session_is_signed_in_again_once_and_the_call_succeeds,
    sessions_ended_by_another_sign_in_or_together_sign_in_again_once,
    a_refused_token_is_permanent_and_never_shows_the_secret,
    a_throttled_call_is_throttled_and_changes_nothing,
    an_outage_is_retryable_and_changes_nothing,
    an_unknown_group_is_refused_by_name_and_nothing_changes,
    tableaus_error_words_reach_the_message,
    a_user_removed_from_the_site_holds_nothing_and_their_revoke_completes,
    readiness_of_an_existing_group_with_an_admin_token_is_ready,
    readiness_of_a_missing_group_names_it_and_the_fix,
    readiness_of_a_token_without_an_admin_role_names_the_role_and_the_fix,
);

/// A fake site with alice (who has an email), bob, and the groups Finance and Sales.
async fn site(form: Form) -> TableauFake {
    let t = TableauFake::start().await;
    t.answer_xml(form == Form::Xml);
    t.add_user("alice", Some("alice@example.com"));
    t.add_user("bob", None);
    t.add_group("Finance");
    t.add_group("Sales");
    t
}

async fn identities_are_listed_across_pages_with_their_emails(form: Form) {
    let t = site(form).await;
    for i in 0..5 {
        t.add_user(&format!("user{i}"), Some(&format!("user{i}@example.com")));
    }
    t.add_user("carol@example.com", None);
    t.add_group("Marketing");
    let c = t.connector().with_page_size(3);
    let all = c.list_identities().await.unwrap();
    let users: Vec<_> = all.iter().filter(|i| i.kind == "user").collect();
    let groups: Vec<_> = all
        .iter()
        .filter(|i| i.kind == "group")
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(users.len(), 8, "{users:?}");
    let alice = users.iter().find(|u| u.name == "alice").unwrap();
    assert_eq!(alice.id, t.user_id("alice"));
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(users.iter().find(|u| u.name == "bob").unwrap().email, None);
    let carol = users
        .iter()
        .find(|u| u.name == "carol@example.com")
        .unwrap();
    assert_eq!(
        carol.email.as_deref(),
        Some("carol@example.com"),
        "the name is the email"
    );
    assert_eq!(groups, ["Finance", "Sales", "Marketing"]);
    // 8 users at 3 a page: pages 1, 2 and 3; 3 groups: one page.
    assert_eq!(t.calls("/users?fields="), 3, "{:#?}", t.log());
    assert_eq!(t.calls("pageSize=3&pageNumber=3"), 1, "{:#?}", t.log());
    assert_eq!(t.calls("/groups?pageSize=3"), 1, "{:#?}", t.log());
    let grantable = c.list_grantable().await.unwrap();
    assert!(grantable.iter().all(|i| i.kind == "group") && grantable.len() == 3);
}

async fn a_grant_is_made_once_and_held_by_the_site(form: Form) {
    let t = Site(site(form).await);
    contract::grant_is_idempotent_and_verified(&t, &t.case(), "add to group `Finance`").await;
}

async fn a_revoke_removes_the_membership_and_a_missing_one_is_already_absent(form: Form) {
    let site = Site(site(form).await);
    site.0.join("alice", "Sales");
    let did = contract::revoke_is_idempotent(&site, &site.case(), "DELETE groups/").await;
    assert!(did.starts_with("DELETE groups/"), "{did}");
    let t = &site.0;
    assert!(t.holds("alice", "Sales"), "another group stays");
    assert_eq!(t.calls("DELETE "), 1, "{:#?}", t.log());
    let c = t.connector();
    let alice = t.user_id("alice");
    // A removal racing another (the membership already gone: 404) is done, not an error.
    c.remove(&alice, &group("Finance")).await.unwrap();
    assert_eq!(t.calls("-> 404"), 1, "{:#?}", t.log());
    // So is an add racing another (409 already a member).
    t.join("bob", "Sales");
    c.add(&t.user_id("bob"), &group("Sales")).await.unwrap();
    assert_eq!(t.calls("-> 409"), 1, "{:#?}", t.log());
}

async fn a_check_reads_the_users_groups_across_pages(form: Form) {
    let t = site(form).await;
    for i in 0..4 {
        t.add_group(&format!("g{i}"));
        t.join("bob", &format!("g{i}"));
    }
    t.join("bob", "Sales");
    let c = t.connector().with_page_size(2);
    let bob = t.user_id("bob");
    assert_eq!(
        c.check(&bob, &group("Sales")).await.unwrap(),
        Holding {
            direct: true,
            through: vec![]
        }
    );
    assert!(!c.check(&bob, &group("Finance")).await.unwrap().direct);
    // The name is matched by the filter (without case, as Tableau does) and then exactly.
    assert!(c.check(&bob, &group("sales")).await.unwrap().direct);
    assert!(t.calls("filter=name%3Aeq%3ASales") >= 1, "{:#?}", t.log());
    // A user the site does not have holds nothing (Query User on Site says 404002).
    assert_eq!(
        c.check("no-such-user", &group("Sales")).await.unwrap(),
        Holding::default()
    );
    let err = c
        .check(
            &bob,
            &Unit::Role {
                role: "Sales".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a role"), "{err}");
}

async fn one_sign_in_serves_many_calls(form: Form) {
    let t = site(form).await;
    let c = t.connector();
    c.ping().await.unwrap();
    c.list_identities().await.unwrap();
    let alice = t.user_id("alice");
    connectors::grant(&c, &alice, &group("Finance"))
        .await
        .unwrap();
    connectors::revoke(&c, &alice, &group("Finance"))
        .await
        .unwrap();
    assert!(t.log().len() > 10, "{:#?}", t.log());
    assert_eq!(t.sign_ins(), 1, "{:#?}", t.log());
    assert_eq!(t.calls("/auth/signin"), 1);
}

async fn an_ended_session_is_signed_in_again_once_and_the_call_succeeds(form: Form) {
    let site = Site(site(form).await);
    contract::expired_token_is_renewed(&site, &site.case()).await;
}

async fn sessions_ended_by_another_sign_in_or_together_sign_in_again_once(form: Form) {
    let t = site(form).await;
    let c = t.connector();
    c.ping().await.unwrap();
    let alice = t.user_id("alice");
    t.join("alice", "Finance");
    assert_eq!(t.sign_ins(), 1, "{:#?}", t.log());
    // Another process signing in with the same token ends this session: signed in again too.
    let other = t.connector();
    other.ping().await.unwrap();
    assert!(c.check(&alice, &group("Finance")).await.unwrap().direct);
    assert_eq!(t.sign_ins(), 3, "{:#?}", t.log());
    // Calls refused together sign in once between them.
    t.expire_sessions();
    let sales = group("Sales");
    let (a, b, d) = tokio::join!(
        c.check(&alice, &sales),
        c.check(&alice, &sales),
        c.check(&alice, &sales)
    );
    // Alice is not in Sales: each answer says so, after the one sign-in they share.
    for answer in [a, b, d] {
        let holding = answer.expect("answered after signing in again");
        assert!(!holding.held(), "{holding:?}");
    }
    assert_eq!(t.sign_ins(), 4, "{:#?}", t.log());
}

async fn a_refused_token_is_permanent_and_never_shows_the_secret(form: Form) {
    let t = site(form).await;
    let c = gatehouse::connectors::tableau::Tableau::new(&t.settings(), "wrong-secret").unwrap();
    let err = c.ping().await.unwrap_err();
    let ConnectorError::Permanent(m) = &err else {
        panic!("{err:?}")
    };
    assert!(m.contains(TOKEN_NAME) && m.contains("401001"), "{m}");
    assert!(!m.contains("wrong-secret"), "{m}");
    let shown = format!("{:?}", t.connector());
    assert!(!shown.contains(TOKEN_SECRET), "{shown}");
    assert_eq!(t.sign_ins(), 0);
}

async fn a_throttled_call_is_throttled_and_changes_nothing(form: Form) {
    let t = Site(site(form).await);
    contract::throttling_is_retryable_with_retry_after(&t, &t.case(), &["429000"]).await;
}

async fn an_outage_is_retryable_and_changes_nothing(form: Form) {
    let site = Site(site(form).await);
    let case = site.case();
    contract::outage_is_retryable(&site, &case, "HTTP 503").await;
    // The outage over, the same grant goes through.
    connectors::grant(&*site.connector(), &case.identity, &case.unit)
        .await
        .unwrap();
    assert!(site.0.holds("alice", "Finance"));
}

async fn an_unknown_group_is_refused_by_name_and_nothing_changes(form: Form) {
    let t = site(form).await;
    let c = t.connector();
    let alice = t.user_id("alice");
    let err = connectors::grant(&c, &alice, &group("Nope, Really: No"))
        .await
        .unwrap_err();
    let ConnectorError::Permanent(m) = &err else {
        panic!("{err:?}")
    };
    assert!(m.contains("no group `Nope, Really: No`"), "{m}");
    let err = connectors::grant(&c, &alice, &group("Ghosts"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no group `Ghosts`"), "{err}");
    assert!(t.state().members.is_empty());
    assert_eq!(t.calls("POST /api/3.24/sites"), 0, "{:#?}", t.log());
    // A name with `,` or `:` is looked for in the whole list, never put in a filter.
    assert_eq!(t.calls("filter=name%3Aeq%3ANope"), 0, "{:#?}", t.log());
    // A hostile name reaches Tableau only URL-encoded in the filter value.
    let _ = c.check(&alice, &group("a/b?c#d=pageSize")).await;
    assert!(
        t.calls("filter=name%3Aeq%3Aa%2Fb%3Fc%23d%3DpageSize&") == 1,
        "{:#?}",
        t.log()
    );
}

/// Tableau's filter values may hold neither `&` nor `,`, even encoded: a group named so is
/// found in the whole list, and granted, checked and revoked like any other.
async fn a_group_with_an_ampersand_or_a_comma_is_found_without_a_filter(form: Form) {
    let t = site(form).await;
    t.add_group("R&D");
    t.add_group("Sales, EMEA");
    let c = t.connector().with_page_size(2);
    let alice = t.user_id("alice");
    for name in ["R&D", "Sales, EMEA"] {
        connectors::grant(&c, &alice, &group(name)).await.unwrap();
        assert!(t.holds("alice", name), "{name}: {:#?}", t.log());
        assert!(c.check(&alice, &group(name)).await.unwrap().direct);
        connectors::revoke(&c, &alice, &group(name)).await.unwrap();
        assert!(!t.holds("alice", name), "{name}");
    }
    assert_eq!(t.calls("filter="), 0, "{:#?}", t.log());
}

/// Removed from the site after the grant (Remove User from Site takes the memberships), the
/// user holds nothing: Get Groups for a User answers 404, Query User on Site confirms with
/// 404002 "User not found", and the revocation completes instead of failing for ever.
async fn a_user_removed_from_the_site_holds_nothing_and_their_revoke_completes(form: Form) {
    let t = site(form).await;
    let c = t.connector();
    let (alice, bob) = (t.user_id("alice"), t.user_id("bob"));
    for who in [&alice, &bob] {
        connectors::grant(&c, who, &group("Finance")).await.unwrap();
    }
    let before = t.log().len();
    assert!(c.check(&alice, &group("Finance")).await.unwrap().direct);
    assert!(
        !t.log()[before..]
            .iter()
            .any(|l| l.contains(&format!("users/{alice} "))),
        "a check on a user who is there does not look the user up: {:#?}",
        &t.log()[before..]
    );

    t.remove_from_site(&alice);
    assert_eq!(
        c.check(&alice, &group("Finance")).await.unwrap(),
        Holding::default()
    );
    assert_eq!(
        connectors::revoke(&c, &alice, &group("Finance"))
            .await
            .unwrap(),
        "already absent"
    );
    assert_eq!(t.calls("DELETE "), 0, "{:#?}", t.log());
    assert!(t.holds("bob", "Finance"), "Bob keeps his");

    // A grant to the removed user still fails, in Tableau's words.
    let err = connectors::grant(&c, &alice, &group("Finance"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains("404002")),
        "{err:?}"
    );
    // A group that does not exist stays an error, whoever is asked about.
    let err = c.check(&alice, &group("Ghosts")).await.unwrap_err();
    assert!(err.to_string().contains("no group `Ghosts`"), "{err}");
}

async fn tableaus_error_words_reach_the_message(form: Form) {
    let t = site(form).await;
    let c = t.connector();
    let alice = t.user_id("alice");
    // A user the site does not know: 404 with Tableau's error body.
    let err = c.add("ghost-id", &group("Finance")).await.unwrap_err();
    let ConnectorError::Permanent(m) = &err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains("HTTP 404: Resource Not Found: User 'ghost-id' could not be found. (Tableau error 404002)"),
        "{m}"
    );
    // A session for another site: 403.
    c.ping().await.unwrap();
    t.state().site_id = "another-site".into();
    let err = connectors::grant(&c, &alice, &group("Finance"))
        .await
        .unwrap_err();
    let ConnectorError::Permanent(m) = &err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains(
            "HTTP 403: Forbidden: The session is not signed in to this site. (Tableau error 403000)"
        ),
        "{m}"
    );
    assert!(!m.contains(TOKEN_SECRET), "{m}");
    assert!(!t.holds("alice", "Finance"));
}

/// `group`'s readiness, asserting that asking changed nothing on the site.
async fn readiness(t: &TableauFake, group_name: &str) -> Readiness {
    t.join("bob", "Sales");
    let r = t.connector().readiness(&group(group_name)).await.unwrap();
    let writes = t.log().iter().filter(|l| !l.starts_with("GET ")).count();
    assert_eq!(writes, t.sign_ins(), "only sign-ins: {:#?}", t.log());
    assert_eq!(t.state().members.len(), 1);
    r
}

async fn readiness_of_an_existing_group_with_an_admin_token_is_ready(form: Form) {
    let t = site(form).await;
    let r = readiness(&t, "Finance").await;
    assert_eq!(
        r,
        Readiness::Ready(
            "group `Finance` exists on site `acme`; the token's user is a site administrator \
             (SiteAdministratorCreator)"
                .into()
        )
    );
    t.token_site_role("SiteAdministratorExplorer");
    assert!(matches!(readiness(&t, "Sales").await, Readiness::Ready(_)));
}

async fn readiness_of_a_missing_group_names_it_and_the_fix(form: Form) {
    let t = site(form).await;
    assert_eq!(
        readiness(&t, "Ghosts, Inc").await,
        Readiness::Missing {
            what: "group `Ghosts, Inc` does not exist on site `acme`".into(),
            fix: "create it in Tableau, or correct `grant` in the catalog".into(),
        }
    );
}

async fn readiness_of_a_token_without_an_admin_role_names_the_role_and_the_fix(form: Form) {
    let t = site(form).await;
    t.token_site_role("Creator");
    let Readiness::Missing { what, fix } = readiness(&t, "Finance").await else {
        panic!("a Creator may not change memberships")
    };
    assert_eq!(
        what,
        "the personal access token `gatehouse` signs in as a user whose site role is Creator, \
         and only administrators may add users to groups or remove them"
    );
    assert!(
        fix.starts_with("give that user the Site Administrator Creator"),
        "{fix}"
    );
}

/// The fake's XML is Tableau's, as in tableau/server-client-python's test assets; read raw.
#[tokio::test]
async fn the_fake_answers_in_tableaus_xml_shapes() {
    let t = site(Form::Xml).await;
    let http = gatehouse::connectors::http::client(Duration::from_secs(5)).unwrap();
    let root = format!("{}/api/{VERSION}", t.url);
    let body = serde_json::json!({ "credentials": { "personalAccessTokenName": TOKEN_NAME,
        "personalAccessTokenSecret": TOKEN_SECRET, "site": { "contentUrl": SITE } } });
    let resp = http
        .post(format!("{root}/auth/signin"))
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/xml;charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    let site_id = t.state().site_id.clone();
    let me = t.state().token_user.id.clone();
    assert!(
        text.starts_with(
            "<?xml version='1.0' encoding='UTF-8'?>\n<tsResponse xmlns=\"http://tableau.com/api\""
        ),
        "{text}"
    );
    let token = text
        .split("token=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        text.contains(&format!(
            "<credentials token=\"{token}\"><site contentUrl=\"{SITE}\" id=\"{site_id}\"/><user id=\"{me}\"/></credentials></tsResponse>"
        )),
        "{text}"
    );
    let get = |path: &str| {
        http.get(format!("{root}/sites/{site_id}/{path}"))
            .header("accept", "application/json")
            .header("x-tableau-auth", token)
            .send()
    };
    let users = get("users?pageSize=1&pageNumber=2").await.unwrap();
    let users = users.text().await.unwrap();
    let bob = t.user_id("bob");
    assert!(
        users.contains(&format!(
            "<pagination pageNumber=\"2\" pageSize=\"1\" totalAvailable=\"2\"/><users><user externalAuthUserId=\"\" id=\"{bob}\" lastLogin=\"2026-11-01T09:00:00Z\" name=\"bob\" siteRole=\"Viewer\"/></users>"
        )),
        "{users}"
    );
    let groups = get("groups").await.unwrap().text().await.unwrap();
    assert!(
        groups.contains("<groups><group id=")
            && groups.contains("name=\"Sales\"><domain name=\"local\"/></group></groups>"),
        "{groups}"
    );
    let missing = get("users/nobody/groups").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.text().await.unwrap().contains(
            "<error code=\"404002\"><summary>Resource Not Found</summary><detail>User 'nobody' could not be found.</detail></error>"
        )
    );
}

#[tokio::test]
async fn a_request_for_a_tableau_group_goes_through_slack_to_the_site_and_back() {
    let t = site(Form::Json).await;
    let dave = t.add_user("dave", None);
    let settings = format!(
        r#"kind = "tableau"
base_url = "{}"
site = "{SITE}"
api_version = "{VERSION}"
token_name = "{TOKEN_NAME}"
token_secret = {{ file = "{}" }}"#,
        t.url,
        t.secret_file()
    );
    let resources = [
        (
            "tableau-finance",
            "Finance dashboards",
            r#"{ group = "Finance" }"#,
        ),
        (
            "tableau-missing",
            "Missing",
            r#"{ group = "No such group" }"#,
        ),
    ];
    let catalog = round_trip::catalog("tableau", &settings, &resources);
    // Tableau lists Alice's email, which is her Slack email; Dave's user has none.
    let groups: Vec<String> = t.state().groups.iter().map(|g| g.id.clone()).collect();
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let trip = ["tableau-finance", &dave, "tableau-missing", "No such group"];
    let holds = |who: &str| t.holds(who, "Finance");
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &groups, holds, || {
        assert_eq!(t.calls("/users -> 200"), 2, "two adds: {:#?}", t.log());
        assert_eq!(t.calls("DELETE "), 2, "{:#?}", t.log());
        assert_eq!(t.sign_ins(), 1, "one session throughout: {:#?}", t.log());
    })
    .await;
}
