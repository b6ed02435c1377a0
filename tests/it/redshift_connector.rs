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

use crate::support::contract::{Case, Changes, Platform, Prefixed};
use crate::support::db::postgres_server;
use crate::support::redshift::{Stage, quoted};
use crate::support::roles::group;
use crate::support::round_trip;
use crate::support::sql_suite::{SqlServer, on_server, sql_suite};

fn role(name: &str) -> Unit {
    Unit::Role {
        role: name.to_owned(),
    }
}

/// The stand-in cluster with the users alice and bob, the groups analysts and other, and the
/// role reader; the connector's changes are counted.
struct Cluster {
    s: Stage,
    changes: Changes,
    names: Prefixed,
}

/// The group or role a unit names.
fn name_of(unit: &Unit) -> &str {
    match unit {
        Unit::Group { group } => group,
        Unit::Role { role } => role,
        _ => panic!("{unit:?}"),
    }
}

impl Platform for Cluster {
    fn connector(&self) -> Box<dyn Connector> {
        self.changes.wrap(self.s.connector())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        let members = self.s.members(name_of(unit)).await;
        members.iter().any(|m| m == identity)
    }
    /// Into the group; for a role, what GRANT ROLE would leave in svv_user_grants.
    async fn give(&self, identity: &str, unit: &Unit) {
        let (g, u) = (quoted(name_of(unit)), quoted(identity));
        self.s.exec(format!("ALTER GROUP {g} ADD USER {u}")).await;
    }
    fn changes(&self) -> usize {
        self.changes.count()
    }
}

impl SqlServer for Cluster {
    const ALSO: &'static str = "role_reader";
    async fn empty(test: &str) -> Option<Cluster> {
        let server = postgres_server(test)?;
        let s = Stage::new(&server).await;
        let changes = Changes::default();
        let names = Prefixed(s.p.clone());
        Some(Cluster { s, changes, names })
    }
    fn names(&self) -> &Prefixed {
        &self.names
    }
    /// Redshift nests no groups, and this suite gives no role to a role.
    async fn nest(&self, unit: &Unit, role: &str) {
        panic!("{unit:?} nested in {role}")
    }
    /// Alice joins the group analysts; Bob looks on; a table is no unit of Redshift's.
    fn case(&self) -> Case {
        Case {
            identity: self.names.name("alice"),
            bystander: self.names.name("bob"),
            unit: group(&self.names.name("analysts")),
            other_unit: group(&self.names.name("other")),
            foreign_unit: Some(Unit::Table { table: "t".into() }),
        }
    }
    fn unit(name: &str) -> Unit {
        group(name)
    }
    async fn login(&mut self, name: &str) -> String {
        self.s.user(name).await
    }
    async fn make_unit(&mut self, name: &str) {
        self.s.group(name).await;
    }
    /// As Redshift stores the group's name: folded.
    async fn holders(&self, unit: &Unit) -> Vec<String> {
        self.s.members(&name_of(unit).to_ascii_lowercase()).await
    }
    /// Redshift's DROP USER; on the stand-in server, DROP ROLE, which takes the memberships.
    async fn drop_login(&self, name: &str) {
        self.s.exec(format!("DROP ROLE {}", quoted(name))).await;
    }
    /// The group and the role.
    fn dropped_units(&self, case: &Case) -> Vec<Unit> {
        vec![case.unit.clone(), role(&self.names.name("role_reader"))]
    }
    /// A table where the connector's search_path looks.
    async fn plant_canary(&self) -> String {
        self.s
            .exec(format!("CREATE TABLE {}.canary (x int)", self.s.schema))
            .await;
        "canary".into()
    }
    async fn canary_survives(&self) -> bool {
        let survived: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'canary'",
        )
        .bind(&self.s.schema)
        .fetch_one(&self.s.admin)
        .await
        .unwrap();
        survived == 1
    }
    async fn principals(&self) -> usize {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_roles WHERE starts_with(rolname, $1)")
                .bind(&self.s.p)
                .fetch_one(&self.s.admin)
                .await
                .unwrap();
        n as usize
    }
    async fn finish(self) {
        self.s.drop_all().await;
    }
}

sql_suite!(Cluster {
    granted: |c: &Case| format!(
        "ALTER GROUP \"{}\" ADD USER \"{}\"",
        name_of(&c.unit),
        c.identity
    ),
    revoked: |c: &Case| format!(
        "ALTER GROUP \"{}\" DROP USER \"{}\"",
        name_of(&c.unit),
        c.identity
    ),
    no_login: |who: &str| format!("there is no user named `{who}` on the Redshift cluster"),
    no_unit: |g: &str| format!("there is no group named `{g}` on the Redshift cluster"),
    refused: |p: &str, someone: &str, grp: &str| {
        let long = format!("{p}{}", "x".repeat(120));
        vec![
            (long.clone(), grp.to_owned(), "longer than 127 bytes"),
            (someone.to_owned(), long, "longer than 127 bytes"),
            (String::new(), grp.to_owned(), "the name is empty"),
            (format!("{p}\nx"), grp.to_owned(), "control character"),
            (someone.to_owned(), format!("{p}\0g"), "control character"),
        ]
    },
});

// Redshift folds names, so the same membership answers to any case.
on_server!(Cluster, a_group_membership_is_checked_in_any_case, |s| {
    let case = s.case();
    s.give(&case.identity, &case.unit).await;
    let upper = group(&name_of(&case.unit).to_uppercase());
    let held =
        s.s.connector()
            .check(&case.identity.to_uppercase(), &upper)
            .await;
    assert!(held.unwrap().direct)
});

// The role path looks the role up in svv_roles before it would run GRANT ROLE; a role that
// exists passes the checks and reaches the server with Redshift's GRANT ROLE, which PostgreSQL
// refuses: its own words come back as a permanent error.
on_server!(
    Cluster,
    unknown_roles_are_refused_and_known_ones_reach_the_server,
    |s| {
        let (alice, reader) = (s.names.name("alice"), s.names.name("role_reader"));
        let rs = s.s.connector();
        let nope = s.names.name("role_nope");
        let err = connectors::grant(&rs, &alice, &role(&nope))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ConnectorError::Permanent(format!(
                "there is no role named `{nope}` on the Redshift cluster"
            ))
        );
        let err = connectors::grant(&rs, &alice, &role(&reader))
            .await
            .unwrap_err();
        match err {
            ConnectorError::Permanent(m) => assert!(m.contains("syntax error"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(s.s.members(&reader).await.is_empty())
    }
);

on_server!(
    Cluster,
    role_checks_read_svv_user_grants_and_one_level_of_svv_role_grants,
    |mut c| {
        let s = &mut c.s;
        let p = s.p.clone();
        let alice = format!("{p}_alice");
        let reader = format!("{p}_role_reader");
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
    }
);

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

on_server!(
    Cluster,
    a_request_for_a_redshift_group_goes_through_slack_to_the_server_and_back,
    |c| {
        let s = &c.s;
        let p = s.p.clone();
        let alice = format!("{p}_alice");
        let analysts = format!("{p}_analysts");
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
    }
);

// Before anyone asks: a role or group that exists is ready for a superuser; one that does not
// exist says how to create it; a service user that is no superuser may grant a role only as
// its administrator (ADMIN OPTION), and a group never.
on_server!(
    Cluster,
    readiness_follows_redshifts_rules_for_roles_and_groups,
    |mut c| {
        let s = &mut c.s;
        let p = s.p.clone();
        let analysts = format!("{p}_analysts");
        let finance = s.group(&format!("{p}_role_finance")).await;
        let (svc, svc_url) = s.service_user(&format!("{p}_svc"), "svc-pw").await;
        let said = |r: Readiness| format!("{r:?}");

        // The test's own login: a superuser may change both; a login that is not (CI's) neither,
        // for the stand-in's roles are owned by `postgres` and a group takes a superuser.
        let admin = s.connector();
        let superuser = sqlx::query_scalar::<_, bool>(
            "SELECT usesuper FROM pg_user WHERE usename = current_user",
        )
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
        let Readiness::Missing { what, fix } = weak.readiness(&group(&analysts)).await.unwrap()
        else {
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
    }
);
