//! The PostgreSQL connector against the machine's real server: role membership granted,
//! checked and revoked, idempotently; hostile names quoted so that only the grant runs; and a
//! whole request through Slack that leaves the membership on the server, then takes it away.

use chrono::Duration;
use gatehouse::connectors::postgres::Postgres;
use gatehouse::domain::Status;
use sea_orm::ConnectionTrait;

use crate::support::contract::{Case, Platform, role_of};
use crate::support::pg::{Server, quoted};
use crate::support::round_trip;
use crate::support::sql_suite::{self as sql, SqlServer, on_server, sql_suite};
use gatehouse::connectors::{Connector, Readiness};
use gatehouse::domain::Unit;

sql_suite!(Server {
    granted: |c: &Case| format!("GRANT \"{}\" TO \"{}\"", role_of(&c.unit), c.identity),
    revoked: |c: &Case| format!("REVOKE \"{}\" FROM \"{}\"", role_of(&c.unit), c.identity),
    no_login: |who: &str| format!("there is no user named `{who}` on the PostgreSQL server"),
    no_unit: |role: &str| format!("there is no role named `{role}` on the PostgreSQL server"),
    // Too long for PostgreSQL, which would silently cut it.
    refused: |p: &str, _: &str, role: &str| vec![(
        format!("{p}{}", "x".repeat(60)),
        role.to_owned(),
        "longer than 63 bytes",
    )],
});

on_server!(
    Server,
    the_listing_shows_users_and_roles_but_not_the_servers_own,
    |s| {
        let listed = s.connector().list_identities().await.unwrap();
        let (alice, analysts) = (s.names.name("alice"), s.names.name("analysts"));
        assert!(listed.iter().any(|i| i.id == alice && i.kind == "user"));
        assert!(listed.iter().any(|i| i.id == analysts && i.kind == "role"));
        assert!(!listed.iter().any(|i| i.id.starts_with("pg_")));
    }
);

on_server!(
    Server,
    a_request_for_a_postgres_role_goes_through_slack_to_the_server_and_back,
    |s| {
        let (alice, analysts) = (s.names.name("alice"), s.names.name("analysts"));
        let grant = format!(r#"{{ role = "{analysts}" }}"#);
        let catalog = round_trip::catalog(
            "warehouse",
            SETTINGS,
            &[("warehouse-analysts", "Warehouse analysts", &grant)],
        );
        let health =
            "`warehouse` (postgres): role memberships on a PostgreSQL server — ✅ reachable";
        let trip = ["warehouse-analysts", alice.as_str()];
        let holds = async || s.roles.member(&alice, &analysts).await;
        round_trip::picked_and_expired(&catalog, trip, &[&analysts], Some(health), holds).await
    }
);

/// The connector as a catalog names it, reaching the test's server.
const SETTINGS: &str = r#"kind = "postgres"
url = { env = "GATEHOUSE_TEST_POSTGRES_URL" }"#;

on_server!(
    Server,
    a_role_two_live_grants_give_stays_until_the_last_one_expires,
    |s| {
        let (alice, analysts) = (s.names.name("alice"), s.names.name("analysts"));
        // Two resources, one role: a week-long one and a two-hour one.
        let grant = format!(r#"{{ role = "{analysts}" }}"#);
        let resources = [
            ("analysts-short", "Analysts (short)", grant.as_str()),
            ("analysts-long", "Analysts (long)", &grant),
        ];
        let catalog = round_trip::catalog("warehouse", SETTINGS, &resources);
        let (_db, t) = round_trip::start(&catalog).await;
        for (n, ask) in [(1, "analysts-long 7d"), (2, "analysts-short 2h")] {
            t.request_access("UALICE", ask).await;
            let msg = t.request_message(n).await;
            let form = t.approve_and_open_picker_of(n, &msg, "UBOB").await;
            t.pick(&form, "UBOB", &alice).await;
            t.wait_for(n, Status::Active).await;
        }

        t.expire(2, Duration::hours(2)).await;
        assert!(
            s.roles.member(&alice, &analysts).await,
            "the week-long grant still gives the role"
        );
        t.expire(1, Duration::days(7)).await;
        assert!(!s.roles.member(&alice, &analysts).await, "the role is gone");
        t.stop().await
    }
);

on_server!(
    Server,
    identities_sync_from_the_command_line_and_disappeared_ones_are_marked,
    |mut s| {
        let p = s.names.0.clone();
        let keep = s.login(&format!("{p}_keep")).await;
        let leave = s.login(&format!("{p}_leave")).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
        dir.path().join("gatehouse.toml"),
        "[connectors.warehouse]\nkind = \"postgres\"\nurl = { env = \"GATEHOUSE_TEST_POSTGRES_URL\" }\n\n[connectors.manual]\nkind = \"manual\"\n",
    )
    .unwrap();
        let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let sync = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .args(["identities", "sync"])
                .current_dir(dir.path())
                .env("DATABASE_URL", &db_url)
                .env_remove("GATEHOUSE_CONFIG")
                .env_remove("SLACK_BOT_TOKEN")
                .output()
                .unwrap()
        };
        let first = sync();
        assert!(
            first.status.success(),
            "{}",
            String::from_utf8_lossy(&first.stderr)
        );
        let out = String::from_utf8_lossy(&first.stdout).to_string();
        assert!(
            out.contains("warehouse: ") && out.contains(" identities, 0 newly missing"),
            "{out}"
        );
        assert!(out.contains("manual: nothing to sync"), "{out}");

        s.drop_login(&leave).await;
        let second = sync();
        let out = String::from_utf8_lossy(&second.stdout).to_string();
        // Other tests share the server and drop their roles too, so count at least ours.
        let missing: u64 = out
            .split(" identities, ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(missing >= 1, "{out}");

        let db = gatehouse::store::Db::connect(&db_url).await.unwrap();
        let found = gatehouse::store::identities::search(db.conn(), &p, 10)
            .await
            .unwrap();
        let gone: Vec<_> = found
            .iter()
            .filter(|i| i.missing_since.is_some())
            .map(|i| i.platform_id.clone())
            .collect();
        assert_eq!(
            gone,
            vec![leave.clone()],
            "kept, and marked missing, never deleted"
        );
        assert!(
            found
                .iter()
                .any(|i| i.platform_id == keep && i.missing_since.is_none())
        )
    }
);

/// `postgres://user:password@host…` for another login on the same server.
fn as_login(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{password}@{host}")
}

on_server!(
    Server,
    a_service_account_without_the_privilege_gets_the_servers_refusal_and_nothing_changes,
    |mut s| {
        let svc = s.login(&s.names.name("svc")).await;
        s.exec(format!("ALTER ROLE {} PASSWORD 'svc-pw'", quoted(&svc)))
            .await;
        // Checks pass (anyone may read pg_roles); the GRANT itself is refused mid-way.
        let weak = Postgres::new(&as_login(&s.url, &svc, "svc-pw")).unwrap();
        let gone = Postgres::new("postgres://nobody:secret-pw@127.0.0.1:1/none").unwrap();
        let analysts = s.names.name("analysts");
        // PostgreSQL 15 and 16 word it differently; both say what to give the service account.
        let said = |words: &str| {
            (words.contains("must have admin option on role")
                || words.contains("permission denied to grant role"))
                && words.contains("ADMIN OPTION")
                && words.contains(&format!("GRANT \"{analysts}\" TO"))
        };
        sql::a_service_account_without_the_right_changes_nothing(&s, &weak, said, &gone).await
    }
);

// `check-config --platforms` asks each role before anyone requests it: one that exists and
// may be granted, one that does not exist, and a service account without the right, each
// said with its fix for this server's version; nothing on the server changes.
on_server!(
    Server,
    readiness_says_which_roles_the_service_account_may_grant_and_how_to_fix_the_rest,
    |mut s| {
        let (p, url, analysts) = (s.names.0.clone(), s.url.clone(), s.names.name("analysts"));
        let svc = s.login(&format!("{p}_svc")).await;
        let root = format!("{p}_root");
        s.make_unit(&root).await;
        let alter = |sql: String| s.exec(sql);
        alter(format!("ALTER ROLE {} PASSWORD 'svc-pw'", quoted(&svc))).await;
        let role = |name: &str| Unit::Role { role: name.into() };
        let version: i32 = {
            let row = s
                .roles
                .admin
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT current_setting('server_version_num')::int",
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index(0).unwrap()
        };

        // The test's own login (a superuser here, CREATEROLE in CI) made the role: it may grant it.
        let admin = Postgres::new(&url).unwrap();
        let ready = admin.readiness(&role(&analysts)).await.unwrap();
        assert!(
            matches!(&ready, Readiness::Ready(how) if how.contains(&format!("role `{analysts}` exists"))),
            "{ready:?}"
        );
        let superuser = matches!(&ready, Readiness::Ready(how) if how.contains("is a superuser"));
        if superuser {
            alter(format!("ALTER ROLE {} SUPERUSER", quoted(&root))).await;
        }
        let missing = admin.readiness(&role(&format!("{p}_nope"))).await.unwrap();
        let Readiness::Missing { what, fix } = missing else {
            panic!("{missing:?}")
        };
        assert_eq!(
            what,
            format!("role `{p}_nope` does not exist on the server")
        );
        assert!(
            fix.contains(&format!("CREATE ROLE \"{p}_nope\" NOLOGIN")) && fix.contains("catalog"),
            "{fix}"
        );

        // A service account with no right: what to give it, for this version, by name.
        let weak = Postgres::new(&as_login(&url, &svc, "svc-pw")).unwrap();
        let Readiness::Missing { what, fix } = weak.readiness(&role(&analysts)).await.unwrap()
        else {
            panic!("a service account without the right is not ready")
        };
        assert_eq!(
            what,
            format!("the service account `{svc}` may not grant role `{analysts}`")
        );
        assert!(
            fix.contains(&format!(
                "GRANT \"{analysts}\" TO \"{svc}\" WITH ADMIN OPTION"
            )),
            "{fix}"
        );
        assert_eq!(
            fix.contains("CREATEROLE (`ALTER ROLE"),
            version < 160_000,
            "{fix}"
        );

        // CREATEROLE is enough before 16 (never for a superuser role); ADMIN OPTION always is.
        alter(format!("ALTER ROLE {} CREATEROLE", quoted(&svc))).await;
        let with_createrole = weak.readiness(&role(&analysts)).await.unwrap();
        assert_eq!(
            matches!(with_createrole, Readiness::Ready(_)),
            version < 160_000,
            "{with_createrole:?}"
        );
        // Only a superuser can make a superuser role to try.
        if superuser {
            let superuser_role = weak.readiness(&role(&root)).await.unwrap();
            assert!(
                matches!(&superuser_role, Readiness::Missing { what, .. } if what.contains("superuser role")),
                "{superuser_role:?}"
            );
        }
        alter(format!("ALTER ROLE {} NOCREATEROLE", quoted(&svc))).await;
        alter(format!(
            "GRANT {} TO {} WITH ADMIN OPTION",
            quoted(&analysts),
            quoted(&svc)
        ))
        .await;
        let with_admin = weak.readiness(&role(&analysts)).await.unwrap();
        assert!(
            matches!(&with_admin, Readiness::Ready(how) if how.contains("has ADMIN OPTION on it")),
            "{with_admin:?}"
        );
        assert!(!format!("{with_admin:?}").contains("svc-pw"))
    }
);
