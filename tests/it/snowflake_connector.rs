//! The Snowflake connector against a stateful fake of the SQL API v2: role membership granted,
//! checked and revoked idempotently; the "Grant not executed" trap, 202 polling, throttling,
//! outages and refused keys classed right; hostile names quoted into one identifier; and a whole
//! request through Slack that leaves the grant in the account, then takes it away.

use std::time::Duration;

use gatehouse::connectors::snowflake::Snowflake;
use gatehouse::connectors::{Connector, ConnectorError, Holding, Readiness};
use gatehouse::domain::Unit;

use crate::support::contract;
use crate::support::roles::RoleOps;
use crate::support::round_trip;
use crate::support::snowflake_fake::contract::Account;
use crate::support::snowflake_fake::{KEY_FILE, OTHER_KEY_FILE, SnowflakeFake};

/// A fake account with ALICE and BOB, and the roles ANALYST and LOADER.
async fn account() -> SnowflakeFake {
    let sf = SnowflakeFake::start().await;
    sf.add_user("ALICE", Some("alice@example.com"));
    sf.add_user("BOB", None);
    sf.add_role("ANALYST");
    sf.add_role("LOADER");
    sf
}

fn role(name: &str) -> Unit {
    Unit::Role { role: name.into() }
}

#[tokio::test]
async fn a_grant_is_made_once_and_held_by_the_account() {
    let a = Account(account().await);
    let did = contract::grant_is_idempotent_and_verified(&a, &a.case(), "GRANT ROLE").await;
    assert_eq!(did, r#"GRANT ROLE "ANALYST" TO USER "ALICE""#);
}

#[tokio::test]
async fn a_revoke_removes_the_grant_and_a_missing_one_is_already_absent() {
    let a = Account(account().await);
    let did = contract::revoke_is_idempotent(&a, &a.case(), "REVOKE ROLE").await;
    assert_eq!(did, r#"REVOKE ROLE "ANALYST" FROM USER "ALICE""#);
}

#[tokio::test]
async fn a_role_held_through_another_role_is_reported_and_not_taken() {
    let a = Account(account().await);
    contract::check_reports_direct_and_inherited(&a, &a.case()).await;
    // Granted directly too: both ways are reported, and TEAM stays.
    let c = a.0.connector();
    c.grant_role("BOB", "ANALYST").await.unwrap();
    let both = c.check("BOB", &role("ANALYST")).await.unwrap();
    assert!(both.direct && both.through == ["role `TEAM`"], "{both:?}");
    assert!(a.0.holds("BOB", "TEAM"));
}

#[tokio::test]
async fn identities_are_listed_across_pages_and_partitions() {
    let sf = account().await;
    for i in 0..9 {
        sf.add_user(&format!("USER_{i}"), Some(&format!("user{i}@example.com")));
    }
    sf.add_role("READER");
    sf.state().partition_size = 2;
    let c = sf.connector().with_page_size(4);
    let all = c.list_identities().await.unwrap();
    let users: Vec<_> = all.iter().filter(|i| i.kind == "user").collect();
    let roles: Vec<_> = all
        .iter()
        .filter(|i| i.kind == "role")
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(users.len(), 11, "{users:?}");
    let u3 = users.iter().find(|u| u.id == "USER_3").unwrap();
    assert_eq!(
        (u3.name.as_str(), u3.email.as_deref()),
        ("user_3", Some("user3@example.com"))
    );
    assert_eq!(users.iter().find(|u| u.id == "BOB").unwrap().email, None);
    assert_eq!(roles, ["ANALYST", "LOADER", "READER"]);
    let pages = sf
        .log()
        .iter()
        .filter(|s| s.starts_with("SHOW USERS"))
        .count();
    assert_eq!(pages, 3, "11 users, 4 a page: {:?}", sf.log());
    assert!(
        sf.log()
            .contains(&"SHOW USERS LIMIT 4 FROM 'USER_1'".to_owned()),
        "{:?}",
        sf.log()
    );
    // Pages of 4, 4 and 3 users and 3 roles, 2 rows a partition: one more partition each.
    assert_eq!(sf.state().partitions_fetched, 4);
    let grantable = c.list_grantable().await.unwrap();
    assert!(grantable.iter().all(|i| i.kind == "role") && grantable.len() == 3);
}

#[tokio::test]
async fn a_statement_still_running_is_polled_until_it_answers() {
    let sf = account().await;
    sf.state().accept_next = 3;
    let c = sf.connector();
    c.grant_role("ALICE", "ANALYST").await.unwrap();
    assert!(sf.holds("ALICE", "ANALYST"));
    assert_eq!(sf.state().accept_next, 0, "all three answered 202 first");
    assert_eq!(sf.state().polls, 3);
}

#[tokio::test]
async fn an_unknown_role_fails_permanently_in_snowflakes_words() {
    let sf = account().await;
    let err = sf
        .connector()
        .grant_role("ALICE", "NOPE")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "SQL compilation error:\nRole 'NOPE' does not exist or not authorized. (Snowflake error 002003)".into()
        )
    );
}

#[tokio::test]
async fn a_dropped_users_role_is_already_absent_and_no_longer_held() {
    let sf = account().await;
    let c = sf.connector();
    c.grant_role("ALICE", "ANALYST").await.unwrap();
    c.grant_role("BOB", "ANALYST").await.unwrap();
    let before = sf.log().len();
    assert!(c.holds("ALICE", "ANALYST").await.unwrap());
    assert_eq!(
        sf.log()[before..],
        [r#"SHOW GRANTS TO USER "ALICE""#],
        "a check on a user who exists costs one statement, as before"
    );

    sf.drop_user("ALICE");
    assert_eq!(
        c.check("ALICE", &role("ANALYST")).await.unwrap(),
        Holding::default(),
        "{:?}",
        sf.log()
    );
    assert_eq!(
        c.revoke_role("alice", "ANALYST").await.unwrap(),
        "already absent"
    );
    assert_eq!(
        sf.executed("REVOKE"),
        0,
        "nothing to revoke: {:?}",
        sf.log()
    );
    assert!(sf.holds("BOB", "ANALYST"), "Bob's grant is not touched");
    assert!(
        !sf.state()
            .account
            .user_grants
            .iter()
            .any(|(u, _)| u == "ALICE"),
        "the account holds nothing for Alice"
    );
}

#[tokio::test]
async fn a_grant_to_a_user_that_does_not_exist_fails_permanently_in_snowflakes_words() {
    let sf = account().await;
    let c = sf.connector();
    assert!(!c.holds("NOBODY", "ANALYST").await.unwrap());
    let err = c.grant_role("NOBODY", "ANALYST").await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "SQL compilation error:\nUser 'NOBODY' does not exist or not authorized. (Snowflake error 002003)".into()
        )
    );
    assert!(!sf.holds("NOBODY", "ANALYST"));
}

#[tokio::test]
async fn a_check_on_a_role_that_does_not_exist_stays_an_error_when_the_user_is_gone() {
    let sf = account().await;
    let c = sf.connector();
    c.grant_role("ALICE", "ANALYST").await.unwrap();
    sf.drop_user("ALICE");
    let err = c.check("ALICE", &role("NOPE")).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "SQL compilation error:\nRole 'NOPE' does not exist or not authorized. (Snowflake error 002003)".into()
        )
    );
    assert!(c.revoke_role("ALICE", "NOPE").await.is_err());
}

#[tokio::test]
async fn a_user_the_service_role_may_not_see_is_not_taken_for_gone() {
    let sf = account().await;
    let c = sf.connector();
    c.grant_role("ALICE", "ANALYST").await.unwrap();
    // Alice still exists, but the service role lost sight of her: SHOW USERS leaves her out and
    // SHOW GRANTS TO USER says "does not exist or not authorized".
    sf.state().account.hidden.insert("ALICE".into());
    let err = c.check("ALICE", &role("ANALYST")).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "SQL compilation error:\nUser 'ALICE' does not exist or not authorized. (Snowflake error 002003)".into()
        )
    );
    assert!(c.revoke_role("ALICE", "ANALYST").await.is_err());
    assert!(sf.holds("ALICE", "ANALYST"), "her grant is still there");
}

#[tokio::test]
async fn grant_not_executed_is_a_permanent_failure_and_the_account_is_unchanged() {
    let sf = account().await;
    sf.add_role("SECURE");
    sf.state().account.not_grantable.insert("SECURE".into());
    let c = sf.connector();
    let err = c.grant_role("ALICE", "SECURE").await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            r#"Snowflake did not make the change `GRANT ROLE "SECURE" TO USER "ALICE"`: Grant not executed: Insufficient privileges."#.into()
        )
    );
    assert!(!sf.holds("ALICE", "SECURE"));
    assert!(
        !c.holds("ALICE", "SECURE").await.unwrap(),
        "the check is not fooled"
    );
    // A second try fails the same way instead of claiming "already held".
    assert!(c.grant_role("ALICE", "SECURE").await.is_err());
}

#[tokio::test]
async fn a_throttled_call_says_when_to_come_back() {
    let sf = account().await;
    let c = sf.connector();
    {
        let mut s = sf.state();
        s.throttle_next = 1;
        s.retry_after = Some(7);
    }
    match c.grant_role("ALICE", "ANALYST").await.unwrap_err() {
        ConnectorError::Throttled {
            message,
            retry_after,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(message.contains("Request rate exceeds max"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    {
        let mut s = sf.state();
        s.throttle_next = 1;
        s.retry_after = None;
    }
    let err = c.grant_role("ALICE", "ANALYST").await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Throttled {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!sf.holds("ALICE", "ANALYST"));
    c.grant_role("ALICE", "ANALYST").await.unwrap();
    assert!(sf.holds("ALICE", "ANALYST"));
}

#[tokio::test]
async fn an_outage_is_retryable_and_changes_nothing() {
    let sf = account().await;
    sf.state().unavailable_next = 1;
    let c = sf.connector();
    let err = c.grant_role("ALICE", "ANALYST").await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Retryable(m) if m.contains("HTTP 503: Service Unavailable")),
        "{err:?}"
    );
    assert!(!sf.holds("ALICE", "ANALYST"));
    assert!(sf.log().is_empty(), "{:?}", sf.log());
    // Nothing listens any more: also retryable.
    let gone = sf.settings(KEY_FILE);
    let mut gone = gone;
    gone.base_url = Some("http://127.0.0.1:9".into());
    let pem = std::fs::read_to_string(KEY_FILE).unwrap();
    let c = gatehouse::connectors::snowflake::Snowflake::new(&gone, &pem).unwrap();
    assert!(matches!(c.ping().await, Err(ConnectorError::Retryable(_))));
}

#[tokio::test]
async fn an_unknown_or_expired_key_is_a_clear_permanent_failure_without_the_key() {
    let sf = account().await;
    let pem = std::fs::read_to_string(OTHER_KEY_FILE).unwrap();
    let key_line = pem.lines().nth(1).unwrap().to_owned();
    let err = sf.connector_with(OTHER_KEY_FILE).ping().await.unwrap_err();
    let ConnectorError::Permanent(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("RSA_PUBLIC_KEY"), "{message}");
    assert!(
        message.contains("GATEHOUSE-TEST.GATEHOUSE_SVC"),
        "{message}"
    );
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(!message.contains(&key_line[..20]) && !message.contains("PRIVATE KEY"));

    let c = sf.connector();
    c.ping().await.unwrap();
    sf.state().clock_ahead = 2 * 3600;
    let err = sf.connector().ping().await.unwrap_err();
    assert!(err.to_string().contains("RSA_PUBLIC_KEY"), "{err}");
    assert!(sf.log().iter().all(|s| s == "SELECT 1"));
}

#[tokio::test]
async fn hostile_names_become_one_identifier_that_the_account_resolves() {
    let sf = account().await;
    let c = sf.connector();
    let hostile = [
        "o\"brien\"; DROP USER BOB; --",
        "eve' OR '1'='1",
        "with spaces /* comment */",
        "semi;colon",
        "ünïcødé_✅",
        "back\\slash",
        "lower_case_but_quoted-",
    ];
    for name in hostile {
        sf.add_user(name, None);
        c.grant_role(name, "ANALYST").await.unwrap();
        assert!(sf.holds(name, "ANALYST"), "{name:?}: {:?}", sf.log());
        c.revoke_role(name, "ANALYST").await.unwrap();
        assert!(!sf.holds(name, "ANALYST"), "{name:?}");
        // Dropped after a grant, the user is looked for by that name, quoted as a string.
        c.grant_role(name, "ANALYST").await.unwrap();
        sf.drop_user(name);
        assert_eq!(
            c.revoke_role(name, "ANALYST").await.unwrap(),
            "already absent",
            "{name:?}: {:?}",
            sf.log()
        );
    }
    assert!(
        sf.state().account.users.contains_key("BOB"),
        "no injected DROP ran"
    );
    // `Mixed` is a valid unquoted identifier: it means the upper-case MIXED, as in Snowflake.
    sf.add_user("Mixed", None);
    let err = c.grant_role("Mixed", "ANALYST").await.unwrap_err();
    assert!(
        err.to_string().contains("User 'MIXED' does not exist"),
        "{err}"
    );
    sf.add_user("MIXED", None);
    c.grant_role("Mixed", "ANALYST").await.unwrap();
    assert!(sf.holds("MIXED", "ANALYST") && !sf.holds("Mixed", "ANALYST"));

    let before = sf.log().len();
    let long = "x".repeat(256);
    let err = c.grant_role(&long, "ANALYST").await.unwrap_err();
    assert!(err.to_string().contains("longer than 255 bytes"), "{err}");
    let err = c.grant_role("a\nb", "ANALYST").await.unwrap_err();
    assert!(err.to_string().contains("control character"), "{err}");
    assert_eq!(sf.log().len(), before, "refused before anything was sent");
}

/// Whether `name` can be granted, checking that asking changed nothing on the account.
async fn readiness_of(sf: &SnowflakeFake, c: &Snowflake, name: &str) -> Readiness {
    let ready = c.readiness(&role(name)).await;
    let wrote = sf.log().into_iter().filter(|s| !s.starts_with("SHOW "));
    assert_eq!(wrote.count(), 0, "only SHOW statements: {:?}", sf.log());
    assert!(sf.state().account.user_grants.is_empty());
    ready.unwrap()
}

#[tokio::test]
async fn snowflake_readiness_is_ready_when_the_service_role_owns_inherits_or_manages_grants() {
    let sf = account().await;
    let c = sf.connector();
    assert_eq!(
        readiness_of(&sf, &c, "analyst").await,
        Readiness::Ready("role `ANALYST` exists; the service role `USERADMIN` owns it".into())
    );
    sf.add_role("GRANTERS");
    sf.set_owner("LOADER", "GRANTERS");
    sf.grant_to_role("USERADMIN", "GRANTERS");
    assert_eq!(
        readiness_of(&sf, &c, "LOADER").await,
        Readiness::Ready(
            "role `LOADER` exists; it is owned by role `GRANTERS`, which is granted to the \
             service role `USERADMIN`"
                .into()
        )
    );
    // A name with LIKE's wildcards and a backslash is found exactly, not a look-alike.
    let (name, look_alike) = ("FIN_%\\x", "FINa%\\x");
    sf.add_role(look_alike);
    let absent = readiness_of(&sf, &c, name).await;
    assert!(matches!(absent, Readiness::Missing { .. }), "{absent:?}");
    sf.add_role(name);
    sf.set_owner(name, "SYSADMIN");
    sf.grant_manage_grants("USERADMIN");
    let Readiness::Ready(seen) = readiness_of(&sf, &c, name).await else {
        panic!("{:?}", sf.log())
    };
    assert!(seen.contains("`USERADMIN` holds MANAGE GRANTS"), "{seen}");
}

#[tokio::test]
async fn snowflake_readiness_names_a_missing_role_and_how_to_create_it() {
    let sf = account().await;
    assert_eq!(
        readiness_of(&sf, &sf.connector(), "fin_old").await,
        Readiness::Missing {
            what: "role `FIN_OLD` does not exist on the account".into(),
            fix: r#"create it (`CREATE ROLE "FIN_OLD"`) or correct `grant` in the catalog"#.into()
        }
    );
}

#[tokio::test]
async fn snowflake_readiness_without_ownership_or_manage_grants_says_how_to_give_either() {
    let sf = account().await;
    sf.set_owner("ANALYST", "SYSADMIN");
    let c = sf.connector();
    let Readiness::Missing { what, fix } = readiness_of(&sf, &c, "ANALYST").await else {
        panic!("{:?}", sf.log())
    };
    assert!(what.contains("`SYSADMIN` owns it"), "{what}");
    assert!(
        what.contains("`USERADMIN` holds neither OWNERSHIP on it nor MANAGE GRANTS"),
        "{what}"
    );
    for statement in [
        r#"GRANT OWNERSHIP ON ROLE "ANALYST" TO ROLE "USERADMIN""#,
        r#"GRANT MANAGE GRANTS ON ACCOUNT TO ROLE "USERADMIN""#,
    ] {
        assert!(fix.contains(statement), "{fix}");
    }
    // Without a configured role, which role grants is unknown: the setting is the fix.
    let mut settings = sf.settings(KEY_FILE);
    settings.role = None;
    let pem = std::fs::read_to_string(KEY_FILE).unwrap();
    let unnamed = Snowflake::new(&settings, &pem).unwrap();
    let Readiness::Missing { fix, .. } = readiness_of(&sf, &unnamed, "LOADER").await else {
        panic!()
    };
    assert!(fix.starts_with("set `role = "), "{fix}");
    // The platform not answering is an error to retry, not a missing right.
    sf.state().unavailable_next = 1;
    let err = c.readiness(&role("ANALYST")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Retryable(_)), "{err:?}");
}

/// A catalog with the account at `url` and two roles: ANALYST, and one it does not have.
fn slack_catalog(url: &str) -> String {
    let settings = format!(
        r#"kind = "snowflake"
account = "gatehouse-test"
user = "gatehouse_svc"
role = "USERADMIN"
private_key = {{ file = "{KEY_FILE}" }}
base_url = "{url}""#
    );
    let resources = [
        (
            "snowflake-analysts",
            "Snowflake analysts",
            r#"{ role = "ANALYST" }"#,
        ),
        (
            "snowflake-missing",
            "Missing",
            r#"{ role = "NO_SUCH_ROLE" }"#,
        ),
    ];
    round_trip::catalog("snowflake", &settings, &resources)
}

#[tokio::test]
async fn a_request_for_a_snowflake_role_goes_through_slack_to_the_account_and_back() {
    let sf = account().await;
    let catalog = slack_catalog(&sf.url);
    sf.add_user("DAVE", None);
    // Snowflake lists Alice's email, which is her Slack email; Dave's user has none.
    let trip = [
        "snowflake-analysts",
        "DAVE",
        "snowflake-missing",
        "NO_SUCH_ROLE",
    ];
    let holds = |who: &str| sf.holds(&who.to_uppercase(), "ANALYST");
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &["ANALYST"], holds, || {
        assert_eq!(sf.executed("GRANT ROLE"), 2);
        assert_eq!(sf.executed("REVOKE ROLE"), 2);
    })
    .await;
}

#[tokio::test]
async fn a_user_dropped_on_snowflake_while_granted_ends_at_expiry_instead_of_revoking_for_ever() {
    let sf = account().await;
    sf.add_user("DAVE", None);
    let (_db, t) = round_trip::start(&slack_catalog(&sf.url)).await;
    t.sim
        .slash_command(
            "UDAVE",
            crate::support::slack::CHANNEL,
            "/request-access",
            "snowflake-analysts 2h",
        )
        .await
        .unwrap();
    let msg = t.request_message(1).await;
    let form = t.approve_and_open_picker_of(1, &msg, "UBOB").await;
    t.pick(&form, "UBOB", "DAVE").await;
    t.wait_for(1, gatehouse::domain::Status::Active).await;
    assert!(sf.holds("DAVE", "ANALYST"));

    // An admin drops Dave's user on Snowflake; at expiry there is nothing left to take away.
    sf.drop_user("DAVE");
    t.expire(1, chrono::Duration::hours(2)).await;
    t.dm_for("UDAVE", "has expired and was removed").await;
    assert_eq!(
        sf.executed("REVOKE ROLE"),
        0,
        "nothing to revoke from a user that is gone"
    );
    t.stop().await;
}

/// Each documented way of writing the account signs as the account Snowflake knows: the
/// locator without its region and cloud, `orgname.account_name` as `ORGNAME-ACCOUNT_NAME`,
/// and a PrivateLink host's account without `.privatelink`.
#[tokio::test]
async fn every_documented_form_of_the_account_signs_in_as_that_account() {
    let forms = [
        ("myorg-myaccount", "MYORG-MYACCOUNT"),
        ("myorg.myaccount", "MYORG-MYACCOUNT"),
        ("MyOrg.My_Account", "MYORG-MY_ACCOUNT"),
        ("xy12345", "XY12345"),
        ("xy12345.us-east-2.aws", "XY12345"),
        ("xy12345.privatelink", "XY12345"),
        ("xy12345.us-east-2.aws.privatelink", "XY12345"),
        ("myorg-myaccount.privatelink", "MYORG-MYACCOUNT"),
    ];
    for (written, known_as) in forms {
        let sf = SnowflakeFake::start_as(known_as).await;
        sf.add_role("ANALYST");
        let mut settings = sf.settings(KEY_FILE);
        settings.account = written.into();
        let pem = std::fs::read_to_string(KEY_FILE).unwrap();
        let c = gatehouse::connectors::snowflake::Snowflake::new(&settings, &pem).unwrap();
        c.ping()
            .await
            .unwrap_or_else(|e| panic!("`{written}` should sign in as {known_as}: {e}"));
    }
}
