//! The PostgreSQL connector against the machine's real server: role membership granted,
//! checked and revoked, idempotently; hostile names quoted so that only the grant runs; and a
//! whole request through Slack that leaves the membership on the server, then takes it away.

use chrono::Duration;
use gatehouse::connectors::postgres::Postgres;
use gatehouse::domain::Status;
use sea_orm::ConnectionTrait;

use crate::support::contract::{self, Changes, Platform, Prefixed, role_of};
use crate::support::db::postgres_server;
use crate::support::pg::{Roles, prefix, quoted};
use crate::support::roles::RoleOps;
use crate::support::round_trip;
use crate::support::slack::CHANNEL;
use gatehouse::connectors::{Connector, Readiness};
use gatehouse::domain::Unit;

/// The server with the logins alice and bob and the roles analysts, other and team (which
/// gives analysts), made for one test; the connector's changes are counted.
struct Server {
    roles: Roles,
    url: String,
    changes: Changes,
    names: Prefixed,
}

impl Server {
    /// None when the test is skipped for want of a server.
    async fn start(test: &str) -> Option<Server> {
        let url = postgres_server(test)?;
        let names = Prefixed(prefix());
        let mut roles = Roles::new(&url).await;
        roles.make(&names.name("alice"), true).await;
        roles.make(&names.name("bob"), true).await;
        for role in ["analysts", "other", "team"] {
            roles.make(&names.name(role), false).await;
        }
        let changes = Changes::default();
        Some(Server {
            roles,
            url,
            changes,
            names,
        })
    }

    async fn exec(&self, sql: String) {
        self.roles.admin.execute_unprepared(&sql).await.unwrap();
    }
}

impl Platform for Server {
    fn connector(&self) -> Box<dyn Connector> {
        self.changes.wrap(Postgres::new(&self.url).unwrap())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        self.roles.member(identity, role_of(unit)).await
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let role = quoted(role_of(unit));
        self.exec(format!("GRANT {role} TO {}", quoted(identity)))
            .await;
    }
    fn changes(&self) -> usize {
        self.changes.count()
    }
    /// Through the role team, which is granted the unit's role.
    async fn give_inherited(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
        let team = self.names.name("team");
        self.exec(format!(
            "GRANT {} TO {}",
            quoted(role_of(unit)),
            quoted(&team)
        ))
        .await;
        self.exec(format!("GRANT {} TO {}", quoted(&team), quoted(identity)))
            .await;
        Some(vec![format!("role `{team}`")])
    }
}

#[tokio::test]
async fn a_grant_is_made_once_and_held_by_the_server() {
    let Some(s) = Server::start("a_grant_is_made_once_and_held_by_the_server").await else {
        return;
    };
    let case = s.names.role_case();
    let did = contract::grant_is_idempotent_and_verified(&s, &case, "GRANT").await;
    let role = role_of(&case.unit);
    assert_eq!(did, format!("GRANT \"{role}\" TO \"{}\"", case.identity));
    s.roles.drop_all().await;
}

#[tokio::test]
async fn a_revoke_takes_only_that_membership_and_a_missing_one_is_already_absent() {
    let Some(s) =
        Server::start("a_revoke_takes_only_that_membership_and_a_missing_one_is_already_absent")
            .await
    else {
        return;
    };
    let case = s.names.role_case();
    let did = contract::revoke_is_idempotent(&s, &case, "REVOKE").await;
    let role = role_of(&case.unit);
    assert_eq!(did, format!("REVOKE \"{role}\" FROM \"{}\"", case.identity));
    s.roles.drop_all().await;
}

#[tokio::test]
async fn a_check_reports_direct_and_inherited_membership() {
    let Some(s) = Server::start("a_check_reports_direct_and_inherited_membership").await else {
        return;
    };
    contract::check_reports_direct_and_inherited(&s, &s.names.role_case()).await;
    s.roles.drop_all().await;
}

#[tokio::test]
async fn an_unknown_role_is_refused_and_the_listing_shows_users_and_roles() {
    let Some(s) =
        Server::start("an_unknown_role_is_refused_and_the_listing_shows_users_and_roles").await
    else {
        return;
    };
    let (p, alice, analysts) = (&s.names.0, s.names.name("alice"), s.names.name("analysts"));
    let pg = Postgres::new(&s.url).unwrap();
    let err = pg
        .grant_role(&alice, &format!("{p}_nope"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("there is no role named `{p}_nope` on the PostgreSQL server")
    );
    let listed = pg.list_identities().await.unwrap();
    assert!(listed.iter().any(|i| i.id == alice && i.kind == "user"));
    assert!(listed.iter().any(|i| i.id == analysts && i.kind == "role"));
    assert!(!listed.iter().any(|i| i.id.starts_with("pg_")));
    s.roles.drop_all().await;
}

/// A login dropped on the server (DROP ROLE takes its memberships with it) holds nothing: the
/// check reads the catalogs, where a missing name is simply no row, so the revocation completes.
#[tokio::test]
async fn a_dropped_users_membership_is_already_absent_and_no_longer_held() {
    let Some(url) =
        postgres_server("a_dropped_users_membership_is_already_absent_and_no_longer_held")
    else {
        return;
    };
    let p = prefix();
    let (alice, bob, analysts) = (
        format!("{p}_alice"),
        format!("{p}_bob"),
        format!("{p}_analysts"),
    );
    let mut roles = Roles::new(&url).await;
    roles.make(&alice, true).await;
    roles.make(&bob, true).await;
    roles.make(&analysts, false).await;
    let pg = Postgres::new(&url).unwrap();
    pg.grant_role(&alice, &analysts).await.unwrap();
    pg.grant_role(&bob, &analysts).await.unwrap();

    roles
        .admin
        .execute_unprepared(&format!("DROP ROLE {}", quoted(&alice)))
        .await
        .unwrap();
    let unit = gatehouse::domain::Unit::Role {
        role: analysts.clone(),
    };
    assert_eq!(
        pg.check(&alice, &unit).await.unwrap(),
        gatehouse::connectors::Holding::default()
    );
    assert_eq!(
        pg.revoke_role(&alice, &analysts).await.unwrap(),
        "already absent"
    );
    assert!(!roles.member(&alice, &analysts).await);
    assert!(roles.member(&bob, &analysts).await, "Bob keeps his");

    // A grant to the login that is gone still fails, saying so.
    let err = pg.grant_role(&alice, &analysts).await.unwrap_err();
    assert_eq!(
        err,
        gatehouse::connectors::ConnectorError::Permanent(format!(
            "there is no user named `{alice}` on the PostgreSQL server"
        ))
    );
    roles.drop_all().await;
}

#[tokio::test]
async fn hostile_names_become_one_quoted_identifier_and_only_the_grant_runs() {
    let Some(url) =
        postgres_server("hostile_names_become_one_quoted_identifier_and_only_the_grant_runs")
    else {
        return;
    };
    let p = prefix();
    let mut roles = Roles::new(&url).await;
    // A table that an injected statement would drop.
    let canary = format!("{p}_canary");
    roles
        .admin
        .execute_unprepared(&format!("CREATE TABLE {canary} (x int)"))
        .await
        .unwrap();
    let pg = Postgres::new(&url).unwrap();
    let hostile = [
        format!("{p}\"; DROP TABLE {canary}; --"),
        format!("{p}' OR '1'='1"),
        format!("{p} with spaces /* comment */"),
        format!("{p}_ünïcødé_✅"),
        format!("{p}`back`;tick"),
    ];
    let role = format!("{p}_target");
    roles.make(&role, false).await;
    for name in &hostile {
        roles.make(name, true).await;
        pg.grant_role(name, &role).await.unwrap();
        assert!(roles.member(name, &role).await, "{name:?}");
        pg.revoke_role(name, &role).await.unwrap();
        assert!(!roles.member(name, &role).await, "{name:?}");
    }
    let still_there = roles
        .admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT 1 FROM pg_tables WHERE tablename = '{canary}'"),
        ))
        .await
        .unwrap();
    assert!(
        still_there.is_some(),
        "the canary table survived every name"
    );
    // Too long for PostgreSQL (which would silently cut it): refused before any SQL runs.
    let long = format!("{p}{}", "x".repeat(60));
    let err = pg.grant_role(&long, &role).await.unwrap_err();
    assert!(err.to_string().contains("longer than 63 bytes"), "{err}");
    roles
        .admin
        .execute_unprepared(&format!("DROP TABLE {canary}"))
        .await
        .unwrap();
    roles.drop_all().await;
}

#[tokio::test]
async fn a_request_for_a_postgres_role_goes_through_slack_to_the_server_and_back() {
    let Some(url) =
        postgres_server("a_request_for_a_postgres_role_goes_through_slack_to_the_server_and_back")
    else {
        return;
    };
    let p = prefix();
    let (alice, analysts) = (format!("{p}_alice"), format!("{p}_analysts"));
    let mut roles = Roles::new(&url).await;
    roles.make(&alice, true).await;
    roles.make(&analysts, false).await;
    let grant = format!(r#"{{ role = "{analysts}" }}"#);
    let catalog = round_trip::catalog(
        "warehouse",
        SETTINGS,
        &[("warehouse-analysts", "Warehouse analysts", &grant)],
    );
    let health = "`warehouse` (postgres): role memberships on a PostgreSQL server — ✅ reachable";
    let trip = ["warehouse-analysts", alice.as_str()];
    let holds = async || roles.member(&alice, &analysts).await;
    round_trip::picked_and_expired(&catalog, trip, &[&analysts], Some(health), holds).await;
    roles.drop_all().await;
}

/// The connector as a catalog names it, reaching the test's server.
const SETTINGS: &str = r#"kind = "postgres"
url = { env = "GATEHOUSE_TEST_POSTGRES_URL" }"#;

#[tokio::test]
async fn a_role_two_live_grants_give_stays_until_the_last_one_expires() {
    let Some(url) = postgres_server("a_role_two_live_grants_give_stays_until_the_last_one_expires")
    else {
        return;
    };
    let p = prefix();
    let (alice, analysts) = (format!("{p}_alice"), format!("{p}_analysts"));
    let mut roles = Roles::new(&url).await;
    roles.make(&alice, true).await;
    roles.make(&analysts, false).await;
    // Two resources, one role: a week-long one and a two-hour one.
    let grant = format!(r#"{{ role = "{analysts}" }}"#);
    let resources = [
        ("analysts-short", "Analysts (short)", grant.as_str()),
        ("analysts-long", "Analysts (long)", &grant),
    ];
    let catalog = round_trip::catalog("warehouse", SETTINGS, &resources);
    let (_db, t) = round_trip::start(&catalog).await;
    for (n, ask) in [(1, "analysts-long 7d"), (2, "analysts-short 2h")] {
        t.sim
            .slash_command("UALICE", CHANNEL, "/request-access", ask)
            .await
            .unwrap();
        let msg = t.request_message(n).await;
        let form = t.approve_and_open_picker_of(n, &msg, "UBOB").await;
        t.pick(&form, "UBOB", &alice).await;
        t.wait_for(n, Status::Active).await;
    }

    t.expire(2, Duration::hours(2)).await;
    assert!(
        roles.member(&alice, &analysts).await,
        "the week-long grant still gives the role"
    );
    t.expire(1, Duration::days(7)).await;
    assert!(!roles.member(&alice, &analysts).await, "the role is gone");
    t.stop().await;
    roles.drop_all().await;
}

#[tokio::test]
async fn identities_sync_from_the_command_line_and_disappeared_ones_are_marked() {
    let Some(url) =
        postgres_server("identities_sync_from_the_command_line_and_disappeared_ones_are_marked")
    else {
        return;
    };
    let p = prefix();
    let mut roles = Roles::new(&url).await;
    let (keep, leave) = (format!("{p}_keep"), format!("{p}_leave"));
    roles.make(&keep, true).await;
    roles.make(&leave, true).await;
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

    roles
        .admin
        .execute_unprepared(&format!("DROP ROLE {}", quoted(&leave)))
        .await
        .unwrap();
    roles.made.retain(|r| r != &leave);
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
    );
    roles.drop_all().await;
}

/// `postgres://user:password@host…` for another login on the same server.
fn as_login(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{password}@{host}")
}

#[tokio::test]
async fn a_service_account_without_the_privilege_gets_the_servers_refusal_and_nothing_changes() {
    let Some(url) = postgres_server(
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
    let mut roles = Roles::new(&url).await;
    roles.make(&alice, true).await;
    roles.make(&analysts, false).await;
    roles.make(&svc, true).await;
    roles
        .admin
        .execute_unprepared(&format!("ALTER ROLE {} PASSWORD 'svc-pw'", quoted(&svc)))
        .await
        .unwrap();
    // Checks pass (anyone may read pg_roles); the GRANT itself is refused mid-way.
    let weak = Postgres::new(&as_login(&url, &svc, "svc-pw")).unwrap();
    let err = weak.grant_role(&alice, &analysts).await.unwrap_err();
    assert!(
        matches!(err, gatehouse::connectors::ConnectorError::Permanent(_)),
        "{err:?}"
    );
    // PostgreSQL 15 and 16 word it differently.
    let words = err.to_string();
    assert!(
        words.contains("must have admin option on role")
            || words.contains("permission denied to grant role"),
        "the server's own words: {words}"
    );
    assert!(!err.to_string().contains("svc-pw"));
    // …and what to give the service account, for this server's version.
    assert!(
        words.contains("ADMIN OPTION") && words.contains(&format!("GRANT \"{analysts}\" TO")),
        "{words}"
    );
    assert!(!roles.member(&alice, &analysts).await);

    // A server that does not answer is worth trying again later.
    let gone = Postgres::new("postgres://nobody:secret-pw@127.0.0.1:1/none").unwrap();
    let err = gone.grant_role(&alice, &analysts).await.unwrap_err();
    assert!(
        matches!(err, gatehouse::connectors::ConnectorError::Retryable(_)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret-pw"), "{err}");
    roles.drop_all().await;
}

/// `check-config --platforms` asks each role before anyone requests it: one that exists and
/// may be granted, one that does not exist, and a service account without the right, each
/// said with its fix for this server's version; nothing on the server changes.
#[tokio::test]
async fn readiness_says_which_roles_the_service_account_may_grant_and_how_to_fix_the_rest() {
    let Some(url) = postgres_server(
        "readiness_says_which_roles_the_service_account_may_grant_and_how_to_fix_the_rest",
    ) else {
        return;
    };
    let p = prefix();
    let (analysts, svc, root) = (
        format!("{p}_analysts"),
        format!("{p}_svc"),
        format!("{p}_root"),
    );
    let mut roles = Roles::new(&url).await;
    roles.make(&analysts, false).await;
    roles.make(&svc, true).await;
    roles.make(&root, false).await;
    let alter = |sql: String| {
        let admin = &roles.admin;
        async move { admin.execute_unprepared(&sql).await.unwrap() }
    };
    alter(format!("ALTER ROLE {} PASSWORD 'svc-pw'", quoted(&svc))).await;
    let role = |name: &str| Unit::Role { role: name.into() };
    let version: i32 = {
        let row = roles
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
    let Readiness::Missing { what, fix } = weak.readiness(&role(&analysts)).await.unwrap() else {
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
    assert!(!format!("{with_admin:?}").contains("svc-pw"));
    roles.drop_all().await;
}
