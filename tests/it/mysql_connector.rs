//! The MySQL/MariaDB connector against the machine's real MariaDB: a role granted to an account
//! and made its default role, checked and revoked idempotently; hostile names backticked so
//! that only the grant runs; and a whole request through Slack to the server and back.

use gatehouse::connectors::mysql::MySql;

use crate::support::contract::{Case, Platform, role_of};
use crate::support::mariadb::{Server, Shop, tick};
use crate::support::roles::RoleOps;
use crate::support::round_trip;
use crate::support::sql_suite::{self as sql, SqlServer, on_server, sql_suite};
use gatehouse::connectors::{Connector, Readiness};
use gatehouse::domain::Unit;

sql_suite!(Shop {
    granted: |c: &Case| {
        let (alice, analysts) = (&c.identity, role_of(&c.unit));
        format!(
            "GRANT `{analysts}` TO `{alice}`@`%`; SET DEFAULT ROLE `{analysts}` FOR `{alice}`@`%`"
        )
    },
    // Given by hand, not as the default role: only the REVOKE runs.
    revoked: |c: &Case| format!("REVOKE `{}` FROM `{}`@`%`", role_of(&c.unit), c.identity),
    no_login: |who: &str| format!("there is no account `{who}`@`%` on the server"),
    no_unit: |role: &str| format!("there is no role named `{role}` on the server"),
    refused: |p: &str, _: &str, role: &str| vec![(
        format!("{p}trailing "),
        role.to_owned(),
        "ends with a space",
    )],
});

on_server!(
    Shop,
    a_granted_role_becomes_the_default_role_and_leaves_with_it,
    |s| {
        let (alice, analysts) = (&s.names.name("alice"), &s.names.name("analysts"));
        let db = MySql::new(&s.url).unwrap();
        db.grant_role(alice, analysts).await.unwrap();
        assert_eq!(
            s.server.default_role(alice).await,
            *analysts,
            "active at the next login"
        );
        // A second role does not steal the default.
        let second = db.grant_role(alice, &s.names.name("other")).await.unwrap();
        assert!(
            second.contains(&format!("default role left as `{analysts}`")),
            "{second}"
        );
        // The default role it set is cleared with it.
        assert_eq!(
            db.revoke_role(alice, analysts).await.unwrap(),
            format!(
                "SET DEFAULT ROLE NONE FOR `{alice}`@`%`; REVOKE `{analysts}` FROM `{alice}`@`%`"
            )
        );
        assert!(!s.server.has(alice, analysts).await);
        assert_eq!(s.server.default_role(alice).await, "")
    }
);

on_server!(Shop, the_listing_shows_accounts_and_roles, |s| {
    let (alice, analysts) = (s.names.name("alice"), s.names.name("analysts"));
    let listed = s.connector().list_identities().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|i| i.id == format!("{alice}@%") && i.kind == "user")
    );
    assert!(listed.iter().any(|i| i.id == analysts && i.kind == "role"))
});

on_server!(
    Shop,
    a_request_for_a_mariadb_role_goes_through_slack_to_the_server_and_back,
    |s| {
        let (alice, analysts) = (s.names.name("alice"), s.names.name("analysts"));
        let settings = r#"kind = "mysql"
url = { env = "GATEHOUSE_TEST_MARIADB_URL" }"#;
        let grant = format!(r#"{{ role = "{analysts}" }}"#);
        let catalog = round_trip::catalog(
            "shop",
            settings,
            &[("shop-analysts", "Shop analysts", &grant)],
        );
        let trip = ["shop-analysts", &format!("{alice}@%")];
        let holds = async || s.server.has(&alice, &analysts).await;
        round_trip::picked_and_expired(&catalog, trip, &[&analysts], None, holds).await
    }
);

on_server!(
    Shop,
    a_service_account_without_the_privilege_gets_the_servers_refusal_and_nothing_changes,
    |mut s| {
        let svc = s.names.name("svc");
        let weak = service_account(&mut s.server, &s.url, &svc).await;
        // It may read the grant tables, so the checks pass; the GRANT is refused mid-way.
        s.server
            .exec(format!("GRANT SELECT ON mysql.* TO {}@'%'", tick(&svc)))
            .await;
        let gone = MySql::new("mysql://nobody:secret-pw@127.0.0.1:1/none").unwrap();
        let said = |words: &str| words.to_lowercase().contains("denied");
        sql::a_service_account_without_the_right_changes_nothing(&s, &weak, said, &gone).await
    }
);

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

// `check-config --platforms` on MariaDB: each right the connector needs is named with the
// statement that gives it, one after the other, until the account is ready, and then the
// grant it promised works.
on_server!(
    Shop,
    readiness_names_each_missing_right_until_the_grant_works,
    |mut s| {
        let (p, url) = (s.names.0.clone(), s.url.clone());
        let (alice, analysts, svc) = (
            s.names.name("alice"),
            s.names.name("analysts"),
            s.names.name("svc"),
        );
        let server = &mut s.server;
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

        let weak = service_account(server, &url, &svc).await;
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
        assert!(!server.has(&alice, &analysts).await)
    }
);
