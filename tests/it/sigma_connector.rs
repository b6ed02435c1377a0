//! The Sigma connector against a stateful fake of Sigma's REST API v2: team membership granted,
//! checked and revoked idempotently by team name; members and teams listed across pages; one
//! token kept for its life (the token endpoint allows one call a second) and renewed once on a
//! 401; throttling, outages, unknown teams and inactive members classed right; grants on
//! documents made, checked and deleted one grant at a time; and a whole request through Slack
//! that leaves the membership in the organisation, then takes it away.

use std::time::Duration;

use gatehouse::connectors::{self, Connector, ConnectorError, Holding, Readiness};
use gatehouse::domain::Unit;

use crate::support::contract::{self, Case, Listed};
use crate::support::round_trip;
use crate::support::sigma_fake::{CLIENT_SECRET, SigmaFake};

/// An organisation with Alice, Bob and an inactive Carol, and the teams Finance and Sales.
async fn org() -> SigmaFake {
    let sg = SigmaFake::start().await;
    sg.add_member("m-alice", "alice@example.com", "Alice", "Liddell");
    sg.add_member("m-bob", "bob@example.com", "Bob", "Stone");
    sg.add_member("m-carol", "carol@example.com", "Carol", "Inactive");
    sg.state().members.get_mut("m-carol").unwrap().inactive = true;
    sg.add_team("t-fin", "Finance");
    sg.add_team("t-sales", "Sales");
    sg.add_document("wb-q3");
    sg
}

/// Alice is put in Finance; Bob looks on.
fn case() -> Case {
    Case {
        identity: "m-alice".into(),
        bystander: "m-bob".into(),
        unit: team("Finance"),
        other_unit: team("Sales"),
        foreign_unit: Some(Unit::Role { role: "x".into() }),
    }
}

fn doc(inode: &str, permission: &str) -> Unit {
    Unit::Document {
        document: inode.into(),
        permission: permission.into(),
    }
}

fn team(name: &str) -> Unit {
    Unit::Group { group: name.into() }
}

/// `unit`'s readiness, asserting that asking changed nothing in the organisation.
async fn readiness(sg: &SigmaFake, unit: &Unit) -> Readiness {
    sg.put_in_team("t-fin", "m-bob");
    sg.put_grant("wb-q3", ("memberId", "m-bob"), "view");
    let r = sg.connector().readiness(unit).await.unwrap();
    assert!(
        sg.log().iter().all(|c| c.starts_with("GET ")),
        "{:?}",
        sg.log()
    );
    let s = sg.state();
    assert_eq!((s.memberships.len(), s.grants.len()), (1, 1));
    r
}

#[tokio::test]
async fn readiness_of_an_existing_team_or_document_with_admin_credentials_is_ready() {
    let sg = org().await;
    sg.add_document_with_slug("wb-slugged", "q3-review-7f3k");
    let admin = "the API credentials' owner has the Admin account type";
    for (unit, seen) in [
        (team("Finance"), "team `Finance` exists"),
        (doc("wb-q3", "view"), "document `wb-q3` exists"),
        (doc("wb-slugged", "edit"), "document `wb-slugged` exists"),
    ] {
        let ready = Readiness::Ready(format!("{seen}; {admin}"));
        assert_eq!(readiness(&sg, &unit).await, ready);
    }
}

#[tokio::test]
async fn readiness_of_a_missing_team_or_document_names_it_and_the_fix() {
    let sg = org().await;
    assert_eq!(
        readiness(&sg, &team("Ghosts")).await,
        Readiness::Missing {
            what: "team `Ghosts` does not exist in Sigma".into(),
            fix: "create it in Sigma (Administration > Teams), or correct `grant` in the catalog"
                .into(),
        }
    );
    let Readiness::Missing { what, fix } = readiness(&sg, &doc("wb/../nope", "view")).await else {
        panic!("an unknown document is missing")
    };
    assert_eq!(
        what,
        "document `wb/../nope` does not exist in Sigma (or the API credentials cannot see it)"
    );
    assert!(fix.starts_with("correct `grant`'s document"), "{fix}");
    assert_eq!(
        sg.calls("GET /v2/files/wb/../nope"),
        1,
        "one encoded segment"
    );
}

#[tokio::test]
async fn readiness_with_credentials_of_a_non_admin_names_the_account_type_and_the_fix() {
    let sg = org().await;
    sg.owner_account_type("Creator");
    for unit in [team("Finance"), doc("wb-q3", "view")] {
        assert_eq!(
            readiness(&sg, &unit).await,
            Readiness::Missing {
                what: "the API credentials' owner has the Creator account type, and only admins \
                       may change team members and other people's access to documents"
                    .into(),
                fix: "give the credentials' owner the Admin account type in Sigma \
                      (Administration > People), or create credentials owned by an admin"
                    .into(),
            }
        );
    }
}

#[tokio::test]
async fn a_grant_is_made_once_and_held_by_the_team() {
    let sg = org().await;
    let says = r#"PATCH /v2/teams/t-fin/members {"add":["m-alice"]}"#;
    contract::grant_is_idempotent_and_verified(&sg, &case(), says).await;
}

#[tokio::test]
async fn a_revoke_removes_the_member_and_a_missing_one_is_already_absent() {
    let sg = org().await;
    let says = r#"PATCH /v2/teams/t-fin/members {"remove":["m-alice"]}"#;
    contract::revoke_is_idempotent(&sg, &case(), says).await;
}

#[tokio::test]
async fn check_reads_the_teams_member_list_across_pages() {
    let sg = org().await;
    for i in 0..5 {
        let id = format!("m-{i}");
        sg.add_member(&id, &format!("u{i}@example.com"), "U", &i.to_string());
        sg.put_in_team("t-sales", &id);
    }
    sg.put_in_team("t-sales", "m-bob");
    let c = sg.connector().with_page_size(2);
    let held = Holding {
        direct: true,
        through: Vec::new(),
    };
    assert_eq!(c.check("m-bob", &team("Sales")).await.unwrap(), held);
    assert_eq!(
        c.check("m-alice", &team("Sales")).await.unwrap(),
        Holding::default()
    );
    assert!(!c.check("m-bob", &team("Finance")).await.unwrap().held());
    // 6 members, 2 a page: 3 pages a check of Sales.
    let pages = sg.calls("GET /v2/teams/t-sales/members");
    assert_eq!(pages, 6, "{:?}", sg.log());
    assert_eq!(
        sg.calls("GET /v2/teams?"),
        1,
        "team names are resolved once"
    );
}

#[tokio::test]
async fn identities_are_listed_across_pages_without_inactive_members() {
    let sg = org().await;
    for i in 0..6 {
        let id = format!("m-{i}");
        sg.add_member(&id, &format!("u{i}@example.com"), "User", &i.to_string());
    }
    sg.add_member("m-noname", "nobody@example.com", "", "");
    sg.add_team("t-ops", "Ops");
    let c = sg.connector().with_page_size(3);
    let user = Listed::user;
    // 10 members but Carol, who is inactive.
    let all = contract::list_pages_through_everything(
        &c,
        &[("user", 9), ("group", 3)],
        &[
            user("m-alice", "Alice Liddell", Some("alice@example.com")),
            user("m-noname", "nobody@example.com", Some("nobody@example.com")),
        ],
        &["group"],
    )
    .await;
    assert!(all.iter().all(|u| u.id != "m-carol"));
    let teams: Vec<_> = all
        .iter()
        .filter(|i| i.kind == "group")
        .map(|i| (i.id.as_str(), i.name.as_str()))
        .collect();
    assert_eq!(
        teams,
        [("t-fin", "Finance"), ("t-ops", "Ops"), ("t-sales", "Sales")]
    );
    assert_eq!(sg.calls("GET /v2/members"), 8, "twice 10 members, 3 a page");
    assert!(
        sg.log()
            .contains(&"GET /v2/members?limit=3&page=pg_3".to_owned())
    );
    assert_eq!(sg.calls("GET /v2/teams?"), 2, "3 teams, 3 a page: one page");
}

#[tokio::test]
async fn one_token_serves_many_calls() {
    let sg = org().await;
    let c = sg.connector();
    c.ping().await.unwrap();
    connectors::grant(&c, "m-alice", &team("Finance"))
        .await
        .unwrap();
    connectors::revoke(&c, "m-alice", &team("Finance"))
        .await
        .unwrap();
    c.list_identities().await.unwrap();
    assert!(sg.log().len() >= 9, "{:?}", sg.log());
    assert_eq!(
        sg.state().token_calls,
        1,
        "the token endpoint is called once"
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_succeeds() {
    let sg = org().await;
    contract::expired_token_is_renewed(&sg, &case()).await;
    let s = sg.state();
    assert_eq!((s.token_calls, s.tokens_issued), (2, 2));
}

#[tokio::test]
async fn a_token_refused_for_coming_too_soon_is_asked_for_again_a_second_later() {
    let sg = org().await;
    let c = sg.connector();
    c.ping().await.unwrap();
    sg.expire_tokens();
    connectors::grant(&c, "m-alice", &team("Finance"))
        .await
        .unwrap();
    assert!(sg.in_team("t-fin", "m-alice"));
    let s = sg.state();
    assert_eq!(
        (s.token_calls, s.tokens_issued),
        (3, 2),
        "one 429, then a token"
    );
}

#[tokio::test]
async fn a_throttled_call_is_throttled_and_changes_nothing() {
    let sg = org().await;
    contract::throttling_is_retryable_with_retry_after(&sg, &case(), &["Too many requests"]).await;
    // The same wait said as an HTTP date is read as well (to the second).
    {
        let mut s = sg.state();
        s.throttle_next = 1;
        s.retry_after = Some(60);
        s.retry_after_as_date = true;
    }
    let c = sg.connector();
    match connectors::grant(&c, "m-bob", &team("Finance"))
        .await
        .unwrap_err()
    {
        ConnectorError::Throttled { retry_after, .. } => {
            let wait = retry_after.expect("the date read as a wait");
            assert!(
                (Duration::from_secs(58)..=Duration::from_secs(60)).contains(&wait),
                "{wait:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!sg.in_team("t-fin", "m-bob"));
}

#[tokio::test]
async fn an_outage_is_retryable_and_changes_nothing() {
    let sg = org().await;
    contract::outage_is_retryable(&sg, &case(), "HTTP 503: Service Unavailable").await;
}

#[tokio::test]
async fn an_unknown_team_or_an_inactive_member_fails_permanently_and_changes_nothing() {
    let sg = org().await;
    let c = sg.connector();
    let err = connectors::grant(&c, "m-alice", &team("Marketing"))
        .await
        .unwrap_err();
    let ConnectorError::Permanent(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("no team named `Marketing`"), "{message}");
    let err = connectors::grant(&c, "m-carol", &team("Finance"))
        .await
        .unwrap_err();
    let ConnectorError::Permanent(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("HTTP 400")
            && message.contains("inactive members cannot be added or removed from a team"),
        "{message}"
    );
    assert!(sg.state().memberships.is_empty(), "nothing changed");
}

#[tokio::test]
async fn wrong_credentials_fail_permanently_without_the_secret() {
    let sg = org().await;
    let wrong = "not-the-secret-42";
    let c = sg.connector_with_secret(wrong);
    let says = ["Invalid client credentials"];
    let right = sg.connector();
    contract::a_wrong_secret_is_permanent_and_never_shown(&c, wrong, &says, &right, CLIENT_SECRET)
        .await;
    assert!(!format!("{c:?}").contains("secret-42"));
    assert!(sg.log().is_empty());
}

#[tokio::test]
async fn a_document_grant_is_posted_once_and_held() {
    let sg = org().await;
    let c = sg.connector();
    assert_eq!(
        connectors::grant(&c, "m-alice", &doc("wb-q3", "view"))
            .await
            .unwrap(),
        r#"POST /v2/grants {"grantee":{"memberId":"m-alice"},"inodeId":"wb-q3","permission":"view"}"#
    );
    assert_eq!(sg.member_grants("wb-q3", "m-alice"), ["view"]);
    assert_eq!(
        connectors::grant(&c, "m-alice", &doc("wb-q3", "view"))
            .await
            .unwrap(),
        "already held"
    );
    assert_eq!(sg.calls("POST /v2/grants"), 1, "{:?}", sg.log());
    assert!(
        sg.log().contains(
            &"GET /v2/grants?directGrantsOnly=true&inodeId=wb-q3&limit=1000&userId=m-alice"
                .to_owned()
        ),
        "{:?}",
        sg.log()
    );
    assert!(sg.member_grants("wb-q3", "m-bob").is_empty());
}

#[tokio::test]
async fn a_document_revoke_deletes_only_that_members_grant_of_that_permission() {
    let sg = org().await;
    let alices = sg.put_grant("wb-q3", ("memberId", "m-alice"), "view");
    sg.put_grant("wb-q3", ("memberId", "m-bob"), "view");
    sg.put_grant("wb-q3", ("teamId", "t-fin"), "view");
    let c = sg.connector();
    assert_eq!(
        connectors::revoke(&c, "m-alice", &doc("wb-q3", "view"))
            .await
            .unwrap(),
        format!("DELETE /v2/grants/{alices}")
    );
    assert!(sg.member_grants("wb-q3", "m-alice").is_empty());
    assert_eq!(
        sg.member_grants("wb-q3", "m-bob"),
        ["view"],
        "Bob's grant stays"
    );
    assert_eq!(sg.state().grants.len(), 2, "the team's grant stays");
    assert_eq!(
        connectors::revoke(&c, "m-alice", &doc("wb-q3", "view"))
            .await
            .unwrap(),
        "already absent"
    );
    assert_eq!(sg.calls("DELETE"), 1, "{:?}", sg.log());
}

#[tokio::test]
async fn a_document_check_reads_another_permission_and_the_members_teams_as_through() {
    let sg = org().await;
    sg.put_in_team("t-fin", "m-alice");
    sg.put_in_team("t-sales", "m-alice");
    sg.put_grant("wb-q3", ("memberId", "m-alice"), "edit");
    sg.put_grant("wb-q3", ("teamId", "t-fin"), "view");
    sg.put_grant("wb-q3", ("teamId", "t-sales"), "explore");
    sg.put_grant("wb-q3", ("memberId", "m-bob"), "view");
    // Three entries apply to Alice: her own and her two teams', over two pages.
    let c = sg.connector().with_page_size(2);
    let held = c.check("m-alice", &doc("wb-q3", "view")).await.unwrap();
    assert!(!held.direct && held.held(), "{held:?}");
    let mut through = held.through.clone();
    through.sort();
    assert_eq!(
        through,
        [
            "the `edit` permission",
            "the `explore` permission of team `t-sales`",
            "the `view` permission of team `t-fin`",
        ],
        "{held:?}"
    );
    assert!(
        c.check("m-alice", &doc("wb-q3", "edit"))
            .await
            .unwrap()
            .direct
    );
    assert_eq!(
        c.check("m-carol", &doc("wb-q3", "view")).await.unwrap(),
        Holding::default()
    );
    // A revoke of `view` Alice holds only through other grants deletes nothing.
    assert_eq!(
        connectors::revoke(&c, "m-alice", &doc("wb-q3", "view"))
            .await
            .unwrap(),
        "already absent"
    );
    assert_eq!(sg.state().grants.len(), 4);
    assert_eq!(sg.calls("DELETE"), 0);
}

/// Sigma raises a member's grant in place: Gatehouse's `edit` over Alice's own `view` is one
/// grant, and its end must give her `view` back, not leave her with nothing.
#[tokio::test]
async fn a_raised_grant_is_put_back_as_it_was_when_it_ends() {
    let sg = org().await;
    let own = sg.put_grant("wb-q3", ("memberId", "m-alice"), "view");
    let c = sg.connector();
    let added = connectors::grant_recorded(&c, "m-alice", &doc("wb-q3", "edit"))
        .await
        .unwrap();
    assert_eq!(sg.member_grants("wb-q3", "m-alice"), ["edit"]);
    assert_eq!(
        sg.state().grants.len(),
        1,
        "raised in place: {:?}",
        sg.log()
    );
    assert!(sg.state().grants.contains_key(&own));
    let receipt = added.receipt.expect("what the raise replaced");
    let undo = connectors::Undo {
        receipt: Some(&receipt),
        keep: &[],
    };
    connectors::revoke_leaving(&c, "m-alice", &doc("wb-q3", "edit"), undo)
        .await
        .unwrap();
    assert_eq!(
        sg.member_grants("wb-q3", "m-alice"),
        ["view"],
        "{:?}",
        sg.log()
    );
    // Ended again (a retry): nothing more changes.
    connectors::revoke_leaving(&c, "m-alice", &doc("wb-q3", "edit"), undo)
        .await
        .unwrap();
    assert_eq!(sg.member_grants("wb-q3", "m-alice"), ["view"]);
    // A grant below what she holds is refused rather than lowering hers.
    sg.put_grant("wb-q3", ("memberId", "m-bob"), "edit");
    let err = connectors::grant(&c, "m-bob", &doc("wb-q3", "view"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains("already has the `edit` permission")),
        "{err:?}"
    );
    assert_eq!(sg.member_grants("wb-q3", "m-bob"), ["edit"]);
}

/// Sigma may list a document under its URL slug: a grant listed so is still the document's.
#[tokio::test]
async fn a_document_listed_under_its_slug_is_still_granted_checked_and_revoked() {
    let sg = org().await;
    sg.add_document_with_slug("6f1c2a9e-0b7d-4e4b-9a51-2f1e0c3d4b5a", "q3-board-pack");
    let unit = doc("6f1c2a9e-0b7d-4e4b-9a51-2f1e0c3d4b5a", "view");
    let c = sg.connector();
    connectors::grant(&c, "m-alice", &unit).await.unwrap();
    assert!(c.check("m-alice", &unit).await.unwrap().direct);
    connectors::revoke(&c, "m-alice", &unit).await.unwrap();
    assert!(
        sg.member_grants("6f1c2a9e-0b7d-4e4b-9a51-2f1e0c3d4b5a", "m-alice")
            .is_empty(),
        "{:?}",
        sg.log()
    );
}

#[tokio::test]
async fn an_unknown_document_fails_permanently_in_sigmas_words() {
    let sg = org().await;
    let c = sg.connector();
    for result in [
        connectors::grant(&c, "m-alice", &doc("wb-gone", "view")).await,
        connectors::revoke(&c, "m-alice", &doc("wb-gone", "view")).await,
    ] {
        let err = result.unwrap_err();
        let ConnectorError::Permanent(message) = &err else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("HTTP 404") && message.contains("Inode wb-gone not found"),
            "{message}"
        );
    }
    assert!(sg.state().grants.is_empty() && sg.calls("POST") == 0);
    // A path segment is sent as one segment, whatever it holds.
    let err = c.check("m-alice", &doc("a/b?c", "view")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
}

#[tokio::test]
async fn a_request_for_a_team_goes_through_slack_to_the_team_and_back() {
    let sg = org().await;
    // Dave's Sigma email is not his Slack email: the reviewer picks him.
    sg.add_member("m-dave", "d.kato@corp.example", "Dave", "Kato");
    let settings = format!(
        r#"kind = "sigma"
base_url = "{}"
client_id = "gatehouse-client"
client_secret = {{ file = "{}" }}"#,
        sg.url,
        sg.secret_file()
    );
    let resources = [
        (
            "sigma-finance",
            "Finance team in Sigma",
            r#"{ team = "Finance" }"#,
        ),
        ("sigma-missing", "Missing", r#"{ team = "No such team" }"#),
    ];
    let catalog = round_trip::catalog("sigma", &settings, &resources);
    // Sigma lists Alice's email, which is her Slack one; Dave's is not his: he is picked.
    let trip = ["sigma-finance", "m-dave", "sigma-missing", "No such team"];
    let holds = |who: &str| sg.in_team("t-fin", &format!("m-{who}"));
    round_trip::linked_picked_expired_and_failed(
        &catalog,
        trip,
        &["t-fin", "m-carol"],
        holds,
        || {
            assert_eq!(sg.calls("PATCH"), 4, "{:?}", sg.log());
            assert_eq!(sg.state().token_calls, 1);
        },
    )
    .await;
}
