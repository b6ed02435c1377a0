//! The Redshift connector against the machine's real PostgreSQL server, standing in for a
//! cluster. Each test makes a schema of its own holding views named like Redshift's system views
//! (`svv_user_grants`, `svv_roles`, `svv_role_grants`) over `pg_roles` and `pg_auth_members`,
//! and connects with that schema first on the search_path; `pg_user` and `pg_group` are
//! PostgreSQL's own (users are login roles, groups the others).
//!
//! What runs for real: the **group** unit (`ALTER GROUP … ADD USER` / `DROP USER` is valid
//! PostgreSQL) is granted, checked and revoked on the server, hostile names included, and a
//! whole request goes through Slack to the server and back. For the **role** unit, PostgreSQL
//! does not accept Redshift's `GRANT ROLE "r" TO "u"` / `REVOKE ROLE "r" FROM "u"`: here only
//! its checks (through the views), its refusals of unknown names, and the listing run on the
//! server; the grant and revoke statements are tested as exact SQL strings by the unit tests in
//! `src/connectors/redshift/sql.rs`. Roles made here are dropped at the end of each test.

use gatehouse::connectors::redshift;
use gatehouse::connectors::{self, Connector, ConnectorError, Readiness};
use gatehouse::domain::Unit;
use sqlx::Connection;

use crate::support::contract::{self, Case, Changes, Platform};
use crate::support::db::postgres_server;
use crate::support::redshift::{Stage, quoted};
use crate::support::round_trip;

fn group(name: &str) -> Unit {
    Unit::Group {
        group: name.to_owned(),
    }
}

fn role(name: &str) -> Unit {
    Unit::Role {
        role: name.to_owned(),
    }
}

/// The stand-in cluster with the users alice and bob and the groups analysts and other;
/// the connector's changes are counted.
struct Cluster {
    s: Stage,
    changes: Changes,
}

impl Cluster {
    /// None when the test is skipped for want of a server.
    async fn start(test: &str) -> Option<Cluster> {
        let server = postgres_server(test)?;
        let mut s = Stage::new(&server).await;
        let p = s.p.clone();
        for user in ["alice", "bob"] {
            s.user(&format!("{p}_{user}")).await;
        }
        for g in ["analysts", "other"] {
            s.group(&format!("{p}_{g}")).await;
        }
        let changes = Changes::default();
        Some(Cluster { s, changes })
    }

    /// Alice joins the group analysts; Bob looks on; a table is no unit of Redshift's.
    fn case(&self) -> Case {
        let name = |of| format!("{}_{of}", self.s.p);
        Case {
            identity: name("alice"),
            bystander: name("bob"),
            unit: group(&name("analysts")),
            other_unit: group(&name("other")),
            foreign_unit: Some(Unit::Table { table: "t".into() }),
        }
    }
}

fn group_of(unit: &Unit) -> &str {
    let Unit::Group { group } = unit else {
        panic!("{unit:?}")
    };
    group
}

impl Platform for Cluster {
    fn connector(&self) -> Box<dyn Connector> {
        self.changes.wrap(self.s.connector())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        let members = self.s.members(group_of(unit)).await;
        members.iter().any(|m| m == identity)
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let (g, u) = (quoted(group_of(unit)), quoted(identity));
        self.s.exec(format!("ALTER GROUP {g} ADD USER {u}")).await;
    }
    fn changes(&self) -> usize {
        self.changes.count()
    }
}

#[tokio::test]
async fn a_group_membership_is_granted_once_and_held_by_the_server() {
    let Some(c) = Cluster::start("a_group_membership_is_granted_once_and_held_by_the_server").await
    else {
        return;
    };
    let case = c.case();
    let did = contract::grant_is_idempotent_and_verified(&c, &case, "ALTER GROUP").await;
    let (alice, analysts) = (&case.identity, group_of(&case.unit));
    assert_eq!(
        did,
        format!("ALTER GROUP \"{analysts}\" ADD USER \"{alice}\"")
    );
    c.s.drop_all().await;
}

#[tokio::test]
async fn a_group_membership_is_revoked_once_and_a_missing_one_is_already_absent() {
    let Some(c) =
        Cluster::start("a_group_membership_is_revoked_once_and_a_missing_one_is_already_absent")
            .await
    else {
        return;
    };
    let case = c.case();
    let did = contract::revoke_is_idempotent(&c, &case, "ALTER GROUP").await;
    let (alice, analysts) = (&case.identity, group_of(&case.unit));
    assert_eq!(
        did,
        format!("ALTER GROUP \"{analysts}\" DROP USER \"{alice}\"")
    );
    c.s.drop_all().await;
}

#[tokio::test]
async fn a_group_membership_is_checked_in_any_case() {
    let Some(c) = Cluster::start("a_group_membership_is_checked_in_any_case").await else {
        return;
    };
    let case = c.case();
    contract::check_reports_direct_and_inherited(&c, &case).await;
    // Redshift folds names, so the same membership answers to any case.
    let (alice, analysts) = (&case.identity, group_of(&case.unit));
    let upper = group(&analysts.to_uppercase());
    let rs = c.s.connector();
    assert!(
        rs.check(&alice.to_uppercase(), &upper)
            .await
            .unwrap()
            .direct
    );
    c.s.drop_all().await;
}

#[tokio::test]
async fn unknown_users_groups_and_roles_are_refused_before_any_change() {
    let Some(server) =
        postgres_server("unknown_users_groups_and_roles_are_refused_before_any_change")
    else {
        return;
    };
    let mut s = Stage::new(&server).await;
    let p = s.p.clone();
    let alice = s.user(&format!("{p}_alice")).await;
    let analysts = s.group(&format!("{p}_analysts")).await;
    let reader = s.group(&format!("{p}_role_reader")).await;
    let rs = s.connector();

    let nobody = format!("{p}_nobody");
    let err = connectors::grant(&rs, &nobody, &group(&analysts))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(format!(
            "there is no user named `{nobody}` on the Redshift cluster"
        ))
    );
    let err = connectors::grant(&rs, &alice, &group(&format!("{p}_nogroup")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(format!(
            "there is no group named `{p}_nogroup` on the Redshift cluster"
        ))
    );
    // The role path looks the role up in svv_roles before it would run GRANT ROLE.
    let err = connectors::grant(&rs, &alice, &role(&format!("{p}_role_nope")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(format!(
            "there is no role named `{p}_role_nope` on the Redshift cluster"
        ))
    );
    // A role that exists passes the checks and reaches the server with Redshift's GRANT ROLE,
    // which PostgreSQL refuses: its own words come back as a permanent error.
    let err = connectors::grant(&rs, &alice, &role(&reader))
        .await
        .unwrap_err();
    match err {
        ConnectorError::Permanent(m) => assert!(m.contains("syntax error"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(s.members(&analysts).await.is_empty());
    assert!(s.members(&reader).await.is_empty());
    s.drop_all().await;
}

#[tokio::test]
async fn role_checks_read_svv_user_grants_and_one_level_of_svv_role_grants() {
    let Some(server) =
        postgres_server("role_checks_read_svv_user_grants_and_one_level_of_svv_role_grants")
    else {
        return;
    };
    let mut s = Stage::new(&server).await;
    let p = s.p.clone();
    let alice = s.user(&format!("{p}_alice")).await;
    let reader = s.group(&format!("{p}_role_reader")).await;
    let team = s.group(&format!("{p}_role_team")).await;
    let rs = s.connector();

    assert_eq!(
        rs.check(&alice, &role(&reader)).await.unwrap(),
        connectors::Holding::default()
    );
    // What GRANT ROLE would leave in svv_user_grants, made the PostgreSQL way.
    s.exec(format!("GRANT {} TO {}", quoted(&reader), quoted(&alice)))
        .await;
    let direct = rs.check(&alice, &role(&reader)).await.unwrap();
    assert!(direct.direct && direct.through.is_empty(), "{direct:?}");
    assert!(
        rs.check(&alice.to_uppercase(), &role(&reader.to_uppercase()))
            .await
            .unwrap()
            .direct,
        "names are compared as Redshift folds them"
    );
    // A direct grant is Gatehouse's to revoke: revoke() reaches REVOKE ROLE, which PostgreSQL
    // refuses; the re-check never claims success.
    assert!(
        connectors::revoke(&rs, &alice, &role(&reader))
            .await
            .is_err()
    );
    assert_eq!(s.members(&reader).await, vec![alice.clone()]);

    // Held through another role only: not direct, and named.
    s.exec(format!(
        "REVOKE {} FROM {}",
        quoted(&reader),
        quoted(&alice)
    ))
    .await;
    s.exec(format!("GRANT {} TO {}", quoted(&reader), quoted(&team)))
        .await;
    s.exec(format!("GRANT {} TO {}", quoted(&team), quoted(&alice)))
        .await;
    let through = rs.check(&alice, &role(&reader)).await.unwrap();
    assert!(!through.direct, "{through:?}");
    assert_eq!(through.through, vec![format!("role `{team}`")]);
    assert_eq!(
        connectors::revoke(&rs, &alice, &role(&reader))
            .await
            .unwrap(),
        "already absent",
        "access held through another role is not Gatehouse's to take"
    );
    s.drop_all().await;
}

/// A user dropped on the cluster holds nothing: the check reads the catalogs (`pg_group`,
/// `svv_user_grants`) with the name bound, where a missing user is no row, so the revocation
/// completes as already absent instead of failing for ever.
#[tokio::test]
async fn a_dropped_users_group_and_role_are_already_absent_and_no_longer_held() {
    let Some(server) =
        postgres_server("a_dropped_users_group_and_role_are_already_absent_and_no_longer_held")
    else {
        return;
    };
    let mut s = Stage::new(&server).await;
    let p = s.p.clone();
    let alice = s.user(&format!("{p}_alice")).await;
    let bob = s.user(&format!("{p}_bob")).await;
    let analysts = s.group(&format!("{p}_analysts")).await;
    let reader = s.group(&format!("{p}_role_reader")).await;
    let rs = s.connector();
    for who in [&alice, &bob] {
        connectors::grant(&rs, who, &group(&analysts))
            .await
            .unwrap();
        // What GRANT ROLE would leave in svv_user_grants, made the PostgreSQL way.
        s.exec(format!("GRANT {} TO {}", quoted(&reader), quoted(who)))
            .await;
    }
    assert!(rs.check(&alice, &role(&reader)).await.unwrap().direct);

    // Redshift's DROP USER; on the stand-in server, DROP ROLE, which takes the memberships.
    s.exec(format!("DROP ROLE {}", quoted(&alice))).await;
    for unit in [group(&analysts), role(&reader)] {
        assert_eq!(
            rs.check(&alice, &unit).await.unwrap(),
            connectors::Holding::default(),
            "{unit:?}"
        );
        assert_eq!(
            connectors::revoke(&rs, &alice, &unit).await.unwrap(),
            "already absent"
        );
    }
    assert_eq!(s.members(&analysts).await, vec![bob.clone()]);
    assert_eq!(s.members(&reader).await, vec![bob.clone()]);
    let err = connectors::grant(&rs, &alice, &group(&analysts))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(format!(
            "there is no user named `{alice}` on the Redshift cluster"
        ))
    );
    s.drop_all().await;
}

#[tokio::test]
async fn users_roles_and_groups_are_listed_across_several_pages() {
    let Some(server) = postgres_server("users_roles_and_groups_are_listed_across_several_pages")
    else {
        return;
    };
    let mut s = Stage::new(&server).await;
    let p = s.p.clone();
    let mut users = Vec::new();
    let mut roles = Vec::new();
    let mut groups = Vec::new();
    for i in 1..=3 {
        users.push(s.user(&format!("{p}_user{i}")).await);
        roles.push(s.group(&format!("{p}_role{i}")).await);
        groups.push(s.group(&format!("{p}_group{i}")).await);
    }
    let listed = s
        .connector()
        .with_page_size(2)
        .list_identities()
        .await
        .unwrap();
    let of = |kind: &str| -> Vec<String> {
        listed
            .iter()
            .filter(|i| i.kind == kind && i.id.starts_with(&p))
            .map(|i| i.id.clone())
            .collect()
    };
    assert_eq!(of("user"), users, "three users, read two at a time");
    assert_eq!(of("role"), roles, "svv_roles holds exactly our roles");
    // pg_group holds every non-login role: our groups and (on PostgreSQL) our roles too.
    let mut all_groups = groups.clone();
    all_groups.extend(roles.iter().cloned());
    all_groups.sort();
    assert_eq!(of("group"), all_groups);
    // Pages never repeat a name (nor skip one: ours are all there, above).
    let distinct: std::collections::BTreeSet<(&str, &str)> = listed
        .iter()
        .map(|i| (i.kind.as_str(), i.id.as_str()))
        .collect();
    assert_eq!(distinct.len(), listed.len());
    assert!(
        listed.iter().filter(|i| i.kind == "user").count() > 2,
        "more than one page"
    );
    assert!(listed.iter().all(|i| i.name == i.id && i.email.is_none()));
    s.drop_all().await;
}

#[tokio::test]
async fn hostile_group_and_user_names_become_one_identifier_or_are_refused() {
    let Some(server) =
        postgres_server("hostile_group_and_user_names_become_one_identifier_or_are_refused")
    else {
        return;
    };
    let mut s = Stage::new(&server).await;
    let p = s.p.clone();
    // A table that an injected statement would drop, where the connector's search_path looks.
    let canary = format!("{}.canary", s.schema);
    s.exec(format!("CREATE TABLE {canary} (x int)")).await;
    let hostile = [
        format!("{p}\"; DROP TABLE canary; --"),
        format!("{p}' OR '1'='1"),
        format!("{p} with spaces /* comment */"),
        format!("{p};SELECT pg_sleep(0)--"),
        format!("{p}_ünïcødé_✅"),
        format!("{p}_MiXeD\"Case\""),
    ];
    let rs = s.connector();
    for (i, name) in hostile.iter().enumerate() {
        let user = s.user(name).await;
        let grp = s.group(&format!("{name}_g{i}")).await;
        let unit = group(&format!("{name}_g{i}"));
        connectors::grant(&rs, name, &unit).await.unwrap();
        assert_eq!(
            s.members(&grp).await,
            vec![user.clone()],
            "{name:?}: exactly that membership"
        );
        connectors::revoke(&rs, name, &unit).await.unwrap();
        assert!(s.members(&grp).await.is_empty(), "{name:?}");
    }
    let survived: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'canary'",
    )
    .bind(&s.schema)
    .fetch_one(&s.admin)
    .await
    .unwrap();
    assert_eq!(survived, 1, "the canary table survived every name");

    // Refused before any SQL runs, with a message that says why.
    let someone = s.user(&format!("{p}_someone")).await;
    let grp = s.group(&format!("{p}_grp")).await;
    let long = format!("{p}{}", "x".repeat(120));
    let refused = [
        (long.clone(), grp.clone(), "longer than 127 bytes"),
        (someone.clone(), long.clone(), "longer than 127 bytes"),
        (String::new(), grp.clone(), "the name is empty"),
        (format!("{p}\nx"), grp.clone(), "control character"),
        (someone.clone(), format!("{p}\0g"), "control character"),
    ];
    for (who, what, why) in refused {
        let err = connectors::grant(&rs, &who, &group(&what))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Permanent(m) if m.contains(why)),
            "{who:?} / {what:?}: {err}"
        );
    }
    assert!(s.members(&grp).await.is_empty());
    s.drop_all().await;
}

#[tokio::test]
async fn connections_carry_an_extra_float_digits_that_redshift_accepts() {
    let Some(server) =
        postgres_server("connections_carry_an_extra_float_digits_that_redshift_accepts")
    else {
        return;
    };
    let options = redshift::connect_options(&server).unwrap();
    let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let digits: String = sqlx::query_scalar("SHOW extra_float_digits")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(digits, redshift::EXTRA_FLOAT_DIGITS.to_string());
    assert_eq!(digits, "2");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_request_for_a_redshift_group_goes_through_slack_to_the_server_and_back() {
    let Some(server) =
        postgres_server("a_request_for_a_redshift_group_goes_through_slack_to_the_server_and_back")
    else {
        return;
    };
    let mut s = Stage::new(&server).await;
    let p = s.p.clone();
    let alice = s.user(&format!("{p}_alice")).await;
    let analysts = s.group(&format!("{p}_analysts")).await;
    // The connector's URL (with the views' schema on its search_path) as a secret file.
    let secrets = tempfile::tempdir().unwrap();
    let url_file = secrets.path().join("redshift-url");
    std::fs::write(&url_file, &s.url).unwrap();
    let settings = format!(
        r#"kind = "redshift"
url = {{ file = "{}" }}"#,
        url_file.display()
    );
    let grant = format!(r#"{{ group = "{analysts}" }}"#);
    let catalog = round_trip::catalog(
        "warehouse",
        &settings,
        &[("warehouse-analysts", "Warehouse analysts", &grant)],
    );
    let health =
        "`warehouse` (redshift): roles and groups on an Amazon Redshift cluster — ✅ reachable";
    let trip = ["warehouse-analysts", alice.as_str()];
    let holds = async || s.members(&analysts).await == [alice.clone()];
    round_trip::picked_and_expired(&catalog, trip, &[&analysts], Some(health), holds).await;
    s.drop_all().await;
}

/// Before anyone asks: a role or group that exists is ready for a superuser; one that does not
/// exist says how to create it; a service user that is no superuser may grant a role only as
/// its administrator (ADMIN OPTION), and a group never.
#[tokio::test]
async fn readiness_follows_redshifts_rules_for_roles_and_groups() {
    let Some(server) = postgres_server("readiness_follows_redshifts_rules_for_roles_and_groups")
    else {
        return;
    };
    let mut s = Stage::new(&server).await;
    let p = s.p.clone();
    let analysts = s.group(&format!("{p}_analysts")).await;
    let finance = s.group(&format!("{p}_role_finance")).await;
    let (svc, svc_url) = s.service_user(&format!("{p}_svc"), "svc-pw").await;
    let said = |r: Readiness| format!("{r:?}");

    // The test's own login: a superuser may change both; a login that is not (CI's) neither,
    // for the stand-in's roles are owned by `postgres` and a group takes a superuser.
    let admin = s.connector();
    let superuser =
        sqlx::query_scalar::<_, bool>("SELECT usesuper FROM pg_user WHERE usename = current_user")
            .fetch_one(&s.admin)
            .await
            .unwrap();
    for unit in [group(&analysts), role(&finance)] {
        let ready = admin.readiness(&unit).await.unwrap();
        assert_eq!(
            matches!(&ready, Readiness::Ready(how) if how.contains("is a superuser")),
            superuser,
            "{ready:?}"
        );
    }
    let missing = admin
        .readiness(&role(&format!("{p}_role_Nope")))
        .await
        .unwrap();
    assert_eq!(
        missing,
        Readiness::Missing {
            what: format!("role `{p}_role_nope` does not exist on the cluster"),
            fix: format!(
                "create it (`CREATE ROLE \"{p}_role_nope\"`), or correct `grant` in the catalog"
            ),
        }
    );

    let weak = redshift::Redshift::new(&svc_url).unwrap();
    let Readiness::Missing { what, fix } = weak.readiness(&group(&analysts)).await.unwrap() else {
        panic!("only a superuser alters groups")
    };
    assert_eq!(
        what,
        format!("the service user `{svc}` may not change members of group `{analysts}`")
    );
    assert!(fix.starts_with("only a superuser alters groups"), "{fix}");
    let Readiness::Missing { fix, .. } = weak.readiness(&role(&finance)).await.unwrap() else {
        panic!("no ADMIN OPTION yet")
    };
    assert!(
        fix.contains(&format!(
            "GRANT ROLE \"{finance}\" TO \"{svc}\" WITH ADMIN OPTION"
        )),
        "{fix}"
    );
    s.exec(format!(
        "GRANT {} TO {} WITH ADMIN OPTION",
        quoted(&finance),
        quoted(&svc)
    ))
    .await;
    let ready = weak.readiness(&role(&finance)).await.unwrap();
    assert!(
        matches!(&ready, Readiness::Ready(how) if how.contains("has ADMIN OPTION")),
        "{ready:?}"
    );
    assert!(!said(ready).contains("svc-pw"));
    s.drop_all().await;
}
