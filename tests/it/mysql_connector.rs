//! The MySQL/MariaDB connector against the machine's real MariaDB: a role granted to an account
//! and made its default role, checked and revoked idempotently; hostile names backticked so
//! that only the grant runs; and a whole request through Slack to the server and back.

use gatehouse::connectors::mysql::MySql;
use sqlx::Row;

use crate::support::contract::{self, Changes, Platform, Prefixed, role_of};
use crate::support::db::mariadb_server;
use crate::support::mariadb::{Server, prefix, tick};
use crate::support::roles::RoleOps;
use crate::support::round_trip;
use gatehouse::connectors::{Connector, Readiness};
use gatehouse::domain::Unit;

/// The server with the accounts alice and bob and the roles analysts, other and team (which
/// is granted analysts), made for one test; the connector's changes are counted.
struct Shop {
    server: Server,
    url: String,
    changes: Changes,
    names: Prefixed,
}

impl Shop {
    /// None when the test is skipped for want of a server.
    async fn start(test: &str) -> Option<Shop> {
        let url = mariadb_server(test)?;
        let names = Prefixed(prefix());
        let mut server = Server::new(&url).await;
        server.user(&names.name("alice")).await;
        server.user(&names.name("bob")).await;
        for role in ["analysts", "other", "team"] {
            server.role(&names.name(role)).await;
        }
        let changes = Changes::default();
        Some(Shop {
            server,
            url,
            changes,
            names,
        })
    }
}

impl Platform for Shop {
    fn connector(&self) -> Box<dyn Connector> {
        self.changes.wrap(MySql::new(&self.url).unwrap())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        self.server.has(identity, role_of(unit)).await
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let role = tick(role_of(unit));
        self.server
            .exec(format!("GRANT {role} TO {}@'%'", tick(identity)))
            .await;
    }
    fn changes(&self) -> usize {
        self.changes.count()
    }
    /// Through the role team, which is granted the unit's role.
    async fn give_inherited(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
        let team = self.names.name("team");
        let role = tick(role_of(unit));
        self.server
            .exec(format!("GRANT {role} TO {}", tick(&team)))
            .await;
        self.server
            .exec(format!("GRANT {} TO {}@'%'", tick(&team), tick(identity)))
            .await;
        Some(vec![format!("role `{team}`")])
    }
}

#[tokio::test]
async fn a_role_is_granted_once_and_made_the_default_role() {
    let Some(s) = Shop::start("a_role_is_granted_once_and_made_the_default_role").await else {
        return;
    };
    let case = s.names.role_case();
    let (alice, analysts) = (&case.identity, role_of(&case.unit));
    let done = contract::grant_is_idempotent_and_verified(&s, &case, "GRANT").await;
    assert_eq!(
        done,
        format!(
            "GRANT `{analysts}` TO `{alice}`@`%`; SET DEFAULT ROLE `{analysts}` FOR `{alice}`@`%`"
        )
    );
    assert_eq!(
        s.server.default_role(alice).await,
        analysts,
        "active at the next login"
    );
    // A second role does not steal the default.
    let db = MySql::new(&s.url).unwrap();
    let second = db.grant_role(alice, &s.names.name("other")).await.unwrap();
    assert!(
        second.contains(&format!("default role left as `{analysts}`")),
        "{second}"
    );
    // The default role it set is cleared with it.
    assert_eq!(
        db.revoke_role(alice, analysts).await.unwrap(),
        format!("SET DEFAULT ROLE NONE FOR `{alice}`@`%`; REVOKE `{analysts}` FROM `{alice}`@`%`")
    );
    assert!(!s.server.has(alice, analysts).await);
    assert_eq!(s.server.default_role(alice).await, "");
    s.server.drop_all().await;
}

#[tokio::test]
async fn a_revoke_takes_only_that_role_and_a_missing_one_is_already_absent() {
    let Some(s) =
        Shop::start("a_revoke_takes_only_that_role_and_a_missing_one_is_already_absent").await
    else {
        return;
    };
    let case = s.names.role_case();
    let (alice, analysts) = (&case.identity, role_of(&case.unit));
    // Given by hand, not as the default role: only the REVOKE runs.
    let undone = contract::revoke_is_idempotent(&s, &case, "REVOKE").await;
    assert_eq!(undone, format!("REVOKE `{analysts}` FROM `{alice}`@`%`"));
    s.server.drop_all().await;
}

#[tokio::test]
async fn a_check_reports_direct_and_inherited_roles() {
    let Some(s) = Shop::start("a_check_reports_direct_and_inherited_roles").await else {
        return;
    };
    contract::check_reports_direct_and_inherited(&s, &s.names.role_case()).await;
    s.server.drop_all().await;
}

#[tokio::test]
async fn an_unknown_account_is_refused_and_the_listing_shows_accounts_and_roles() {
    let Some(s) =
        Shop::start("an_unknown_account_is_refused_and_the_listing_shows_accounts_and_roles").await
    else {
        return;
    };
    let (p, alice, analysts) = (&s.names.0, s.names.name("alice"), s.names.name("analysts"));
    let db = MySql::new(&s.url).unwrap();
    let err = db
        .grant_role(&format!("{p}_nobody"), &analysts)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("there is no account `{p}_nobody`@`%` on the server")
    );
    let listed = db.list_identities().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|i| i.id == format!("{alice}@%") && i.kind == "user")
    );
    assert!(listed.iter().any(|i| i.id == analysts && i.kind == "role"));
    s.server.drop_all().await;
}

/// An account dropped on the server (DROP USER removes its rows from the grant tables,
/// `mysql.roles_mapping` included) holds nothing: the check reads roles_mapping with bound
/// values, where a missing account is no row, so the revocation completes as already absent.
#[tokio::test]
async fn a_dropped_accounts_role_is_already_absent_and_no_longer_held() {
    let Some(url) = mariadb_server("a_dropped_accounts_role_is_already_absent_and_no_longer_held")
    else {
        return;
    };
    let p = prefix();
    let (alice, bob, analysts) = (
        format!("{p}_alice"),
        format!("{p}_bob"),
        format!("{p}_analysts"),
    );
    let mut server = Server::new(&url).await;
    server.user(&alice).await;
    server.user(&bob).await;
    server.role(&analysts).await;
    let db = MySql::new(&url).unwrap();
    db.grant_role(&alice, &analysts).await.unwrap();
    db.grant_role(&bob, &analysts).await.unwrap();

    server.exec(format!("DROP USER {}@'%'", tick(&alice))).await;
    assert!(!server.has(&alice, &analysts).await, "the server took it");
    let unit = gatehouse::domain::Unit::Role {
        role: analysts.clone(),
    };
    assert_eq!(
        db.check(&alice, &unit).await.unwrap(),
        gatehouse::connectors::Holding::default()
    );
    assert_eq!(
        db.revoke_role(&alice, &analysts).await.unwrap(),
        "already absent"
    );
    assert!(server.has(&bob, &analysts).await, "Bob keeps his");
    let err = db.grant_role(&alice, &analysts).await.unwrap_err();
    assert_eq!(
        err,
        gatehouse::connectors::ConnectorError::Permanent(format!(
            "there is no account `{alice}`@`%` on the server"
        ))
    );
    server.drop_all().await;
}

#[tokio::test]
async fn hostile_names_are_backticked_and_only_the_grant_runs() {
    let Some(url) = mariadb_server("hostile_names_are_backticked_and_only_the_grant_runs") else {
        return;
    };
    let p = prefix();
    let mut server = Server::new(&url).await;
    let canary = format!("{p}_canary");
    server
        .exec(format!("CREATE DATABASE {}", tick(&canary)))
        .await;
    let role = format!("{p}_target");
    server.role(&role).await;
    let db = MySql::new(&url).unwrap();
    for name in [
        format!("{p}`; DROP DATABASE `{canary}`; --"),
        format!("{p}' OR '1'='1"),
        format!("{p}\\\\ back\\slash"),
        format!("{p}_ünï✅"),
    ] {
        server.user(&name).await;
        db.grant_role(&name, &role).await.unwrap();
        assert!(server.has(&name, &role).await, "{name:?}");
        db.revoke_role(&name, &role).await.unwrap();
        assert!(!server.has(&name, &role).await, "{name:?}");
    }
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?")
            .bind(&canary)
            .fetch_one(&server.pool)
            .await
            .unwrap()
            .get(0);
    assert_eq!(n, 1, "the canary database survived every name");
    let err = db
        .grant_role(&format!("{p}trailing "), &role)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ends with a space"), "{err}");
    server
        .exec(format!("DROP DATABASE {}", tick(&canary)))
        .await;
    server.drop_all().await;
}

#[tokio::test]
async fn a_request_for_a_mariadb_role_goes_through_slack_to_the_server_and_back() {
    let Some(url) =
        mariadb_server("a_request_for_a_mariadb_role_goes_through_slack_to_the_server_and_back")
    else {
        return;
    };
    let p = prefix();
    let (alice, analysts) = (format!("{p}_alice"), format!("{p}_analysts"));
    let mut server = Server::new(&url).await;
    server.user(&alice).await;
    server.role(&analysts).await;
    let settings = r#"kind = "mysql"
url = { env = "GATEHOUSE_TEST_MARIADB_URL" }"#;
    let grant = format!(r#"{{ role = "{analysts}" }}"#);
    let catalog = round_trip::catalog(
        "shop",
        settings,
        &[("shop-analysts", "Shop analysts", &grant)],
    );
    let trip = ["shop-analysts", &format!("{alice}@%")];
    let holds = async || server.has(&alice, &analysts).await;
    round_trip::picked_and_expired(&catalog, trip, &[&analysts], None, holds).await;
    server.drop_all().await;
}

#[tokio::test]
async fn a_service_account_without_the_privilege_gets_the_servers_refusal_and_nothing_changes() {
    let Some(url) = mariadb_server(
        "a_service_account_without_the_privilege_gets_the_servers_refusal_and_nothing_changes",
    ) else {
        return;
    };
    let p = prefix();
    let (alice, analysts, svc) = (
        format!("{p}_alice"),
        format!("{p}_analysts"),
        format!("{p}_svc"),
    );
    let mut server = Server::new(&url).await;
    server.user(&alice).await;
    server.role(&analysts).await;
    let weak = service_account(&mut server, &url, &svc).await;
    // It may read the grant tables, so the checks pass; the GRANT is refused mid-way.
    server
        .exec(format!("GRANT SELECT ON mysql.* TO {}@'%'", tick(&svc)))
        .await;
    let err = weak.grant_role(&alice, &analysts).await.unwrap_err();
    assert!(
        matches!(err, gatehouse::connectors::ConnectorError::Permanent(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().to_lowercase().contains("denied"),
        "the server's own words: {err}"
    );
    assert!(!err.to_string().contains("svc-pw"));
    assert!(!server.has(&alice, &analysts).await);

    let gone = MySql::new("mysql://nobody:secret-pw@127.0.0.1:1/none").unwrap();
    let err = gone.grant_role(&alice, &analysts).await.unwrap_err();
    assert!(
        matches!(err, gatehouse::connectors::ConnectorError::Retryable(_)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret-pw"), "{err}");
    server.drop_all().await;
}

/// A login `name`@`%` with password `svc-pw` and no privileges, and a connector using it.
async fn service_account(server: &mut Server, url: &str, name: &str) -> MySql {
    server.user(name).await;
    server
        .exec(format!(
            "ALTER USER {}@'%' IDENTIFIED BY 'svc-pw'",
            tick(name)
        ))
        .await;
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    // The database everyone may use, so that logging in needs no privilege.
    let host = host.split_once('/').map_or(host, |(h, _)| h);
    MySql::new(&format!(
        "{scheme}://{name}:svc-pw@{host}/information_schema"
    ))
    .unwrap()
}

/// `check-config --platforms` on MariaDB: each right the connector needs is named with the
/// statement that gives it, one after the other, until the account is ready, and then the
/// grant it promised works.
#[tokio::test]
async fn readiness_names_each_missing_right_until_the_grant_works() {
    let Some(url) = mariadb_server("readiness_names_each_missing_right_until_the_grant_works")
    else {
        return;
    };
    let p = prefix();
    let (alice, analysts, svc) = (
        format!("{p}_alice"),
        format!("{p}_analysts"),
        format!("{p}_svc"),
    );
    let mut server = Server::new(&url).await;
    server.user(&alice).await;
    server.role(&analysts).await;
    let role = |name: &str| Unit::Role { role: name.into() };
    let admin = MySql::new(&url).unwrap();
    let ready = admin.readiness(&role(&analysts)).await.unwrap();
    assert!(matches!(ready, Readiness::Ready(_)), "{ready:?}");
    assert_eq!(
        admin.readiness(&role(&format!("{p}_nope"))).await.unwrap(),
        Readiness::Missing {
            what: format!("role `{p}_nope` does not exist on the server"),
            fix: format!(
                "create it (`CREATE ROLE `{p}_nope``) and give it its privileges, or correct `grant` in the catalog"
            ),
        }
    );

    let weak = service_account(&mut server, &url, &svc).await;
    let account = format!("`{svc}`@`%`");
    let fix = |r: Readiness| match r {
        Readiness::Missing { fix, .. } => fix,
        ready => panic!("not ready yet: {ready:?}"),
    };
    let steps = [
        (
            format!("GRANT SELECT ON mysql.* TO {account}"),
            format!("GRANT SELECT ON mysql.* TO `{svc}`@'%'"),
        ),
        (
            format!("GRANT `{analysts}` TO {account} WITH ADMIN OPTION"),
            format!("GRANT `{analysts}` TO `{svc}`@'%' WITH ADMIN OPTION"),
        ),
        (
            format!("GRANT UPDATE ON mysql.* TO {account}"),
            format!("GRANT UPDATE ON mysql.* TO `{svc}`@'%'"),
        ),
    ];
    for (said, run) in steps {
        let missing = fix(weak.readiness(&role(&analysts)).await.unwrap());
        assert!(missing.contains(&said), "{missing} should say {said}");
        assert!(!server.has(&alice, &analysts).await);
        server.exec(run).await;
    }
    let ready = weak.readiness(&role(&analysts)).await.unwrap();
    assert_eq!(
        ready,
        Readiness::Ready(format!(
            "role `{analysts}` exists; the service account `{svc}@%` may grant it and set default roles"
        ))
    );
    // What it promised holds: the service account grants, sets the default role, and revokes.
    weak.grant_role(&alice, &analysts).await.unwrap();
    assert_eq!(server.default_role(&alice).await, analysts);
    weak.revoke_role(&alice, &analysts).await.unwrap();
    assert!(!server.has(&alice, &analysts).await);
    server.drop_all().await;
}
