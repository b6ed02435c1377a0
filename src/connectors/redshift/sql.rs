//! The SQL the Redshift connector sends, built without IO so that each statement can be tested
//! word for word: changes with names quoted by [`quoting::redshift`], and reads of Redshift's
//! catalogs whose names are bound values, never pasted.

use crate::connectors::quoting::{self, BadName};

/// `GRANT ROLE "role" TO "user"`: Redshift's RBAC roles (PostgreSQL would say `GRANT r TO u`).
pub fn grant_role(role: &str, user: &str) -> Result<String, BadName> {
    quoted(role, user, |r, u| format!("GRANT ROLE {r} TO {u}"))
}

/// `REVOKE ROLE "role" FROM "user"`.
pub fn revoke_role(role: &str, user: &str) -> Result<String, BadName> {
    quoted(role, user, |r, u| format!("REVOKE ROLE {r} FROM {u}"))
}

/// `ALTER GROUP "group" ADD USER "user"`: Redshift's legacy user groups.
pub fn add_to_group(group: &str, user: &str) -> Result<String, BadName> {
    quoted(group, user, |g, u| format!("ALTER GROUP {g} ADD USER {u}"))
}

/// `ALTER GROUP "group" DROP USER "user"`.
pub fn drop_from_group(group: &str, user: &str) -> Result<String, BadName> {
    quoted(group, user, |g, u| format!("ALTER GROUP {g} DROP USER {u}"))
}

/// The statement `write` makes of two names, each quoted by [`quoting::redshift`] first.
fn quoted(
    first: &str,
    second: &str,
    write: impl FnOnce(String, String) -> String,
) -> Result<String, BadName> {
    Ok(write(quoting::redshift(first)?, quoting::redshift(second)?))
}

pub const USER_EXISTS: &str = "SELECT COUNT(*) FROM pg_user WHERE usename = $1";
pub const ROLE_EXISTS: &str = "SELECT COUNT(*) FROM svv_roles WHERE role_name = $1";
pub const GROUP_EXISTS: &str = "SELECT COUNT(*) FROM pg_group WHERE groname = $1";

/// Is the connecting user a superuser? Only a superuser alters groups (Redshift's "Creating,
/// altering, and deleting groups", r_Groups-creating-altering-and-deleting-groups.html).
pub const AM_SUPERUSER: &str =
    "SELECT COUNT(*) FROM pg_user WHERE usename = current_user AND usesuper";

/// Is the connecting user an administrator of role $1: its owner, or granted it WITH ADMIN
/// OPTION? Only they (and superusers) grant and revoke it (Redshift's "Role assignment",
/// t_role_assignment.html).
pub const AM_ROLE_ADMIN: &str = "SELECT (SELECT COUNT(*) FROM svv_roles \
     WHERE role_name = $1 AND role_owner = current_user) + (SELECT COUNT(*) FROM svv_user_grants \
     WHERE role_name = $1 AND user_name = current_user AND admin_option)";

/// Is user $1 granted role $2 directly?
pub const HAS_ROLE: &str =
    "SELECT COUNT(*) FROM svv_user_grants WHERE user_name = $1 AND role_name = $2";

/// The roles user $1 is granted that are themselves granted role $2 (one level).
pub const ROLE_THROUGH: &str = "SELECT DISTINCT u.role_name FROM svv_user_grants u \
     JOIN svv_role_grants r ON r.role_name = u.role_name \
     WHERE u.user_name = $1 AND r.granted_role_name = $2 ORDER BY 1";

/// Is user $2 in group $1? (`grolist` holds the members' `usesysid`.)
pub const IN_GROUP: &str = "SELECT COUNT(*) FROM pg_group g \
     JOIN pg_user u ON u.usesysid = ANY (g.grolist) \
     WHERE g.groname = $1 AND u.usename = $2";

/// One kind of identity and the catalog that lists it.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    pub kind: &'static str,
    column: &'static str,
    table: &'static str,
}

/// Users, roles and groups, read in that order.
pub const LISTINGS: [Listing; 3] = [
    Listing {
        kind: "user",
        column: "usename",
        table: "pg_user",
    },
    Listing {
        kind: "role",
        column: "role_name",
        table: "svv_roles",
    },
    Listing {
        kind: "group",
        column: "groname",
        table: "pg_group",
    },
];

impl Listing {
    /// One page of names in order, read by keyset: the first page has no cursor, each next one
    /// starts after the last name seen ($1), so names added or dropped meanwhile shift nothing.
    /// Both the order and the cursor compare the names as text, so they agree.
    pub fn page(&self, after_cursor: bool, size: usize) -> String {
        let Listing { column, table, .. } = self;
        let cursor = if after_cursor {
            format!(" WHERE {column}::text > $1")
        } else {
            String::new()
        };
        format!("SELECT {column}::text AS name FROM {table}{cursor} ORDER BY 1 LIMIT {size}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forms of Redshift's GRANT, REVOKE and ALTER GROUP pages (docs.aws.amazon.com/redshift/
    /// latest/dg/r_GRANT.html, r_REVOKE.html, r_ALTER_GROUP.html), with every name delimited.
    #[test]
    fn statements_follow_redshifts_documented_forms() {
        for (statement, documented) in [
            (
                grant_role("analyst_ro", "alice"),
                r#"GRANT ROLE "analyst_ro" TO "alice""#,
            ),
            (
                revoke_role("analyst_ro", "alice"),
                r#"REVOKE ROLE "analyst_ro" FROM "alice""#,
            ),
            (
                add_to_group("admin_group", "dwuser"),
                r#"ALTER GROUP "admin_group" ADD USER "dwuser""#,
            ),
            (
                drop_from_group("admin_group", "dwuser"),
                r#"ALTER GROUP "admin_group" DROP USER "dwuser""#,
            ),
        ] {
            assert_eq!(statement.unwrap(), documented);
        }
    }

    #[test]
    fn names_are_folded_and_hostile_ones_stay_one_identifier() {
        assert_eq!(
            grant_role("Analyst_RO", "Alice.Smith").unwrap(),
            r#"GRANT ROLE "analyst_ro" TO "alice.smith""#
        );
        assert_eq!(
            revoke_role(r#"r"; DROP TABLE t; --"#, "bob /* x */").unwrap(),
            r#"REVOKE ROLE "r""; drop table t; --" FROM "bob /* x */""#
        );
        assert_eq!(
            add_to_group("g ; select 1", "o'brien").unwrap(),
            r#"ALTER GROUP "g ; select 1" ADD USER "o'brien""#
        );
        assert_eq!(
            drop_from_group("équipe_✅", "ÜSER").unwrap(),
            r#"ALTER GROUP "équipe_✅" DROP USER "Üser""#
        );
    }

    #[test]
    fn bad_names_are_refused_before_any_statement_exists() {
        assert_eq!(grant_role("", "alice"), Err(BadName::Empty));
        assert_eq!(add_to_group("g", "a\0b"), Err(BadName::Control));
        let long = "x".repeat(128);
        assert!(matches!(
            revoke_role(&long, "alice"),
            Err(BadName::TooLong(_, 127))
        ));
        assert!(matches!(
            drop_from_group("g", &long),
            Err(BadName::TooLong(_, 127))
        ));
        assert!(add_to_group("g", &"x".repeat(127)).is_ok());
    }

    #[test]
    fn listings_read_by_keyset_pages() {
        let [users, roles, groups] = LISTINGS;
        assert_eq!(
            users.page(false, 1000),
            "SELECT usename::text AS name FROM pg_user ORDER BY 1 LIMIT 1000"
        );
        assert_eq!(
            roles.page(true, 1000),
            "SELECT role_name::text AS name FROM svv_roles WHERE role_name::text > $1 ORDER BY 1 LIMIT 1000"
        );
        assert_eq!(
            groups.page(true, 2),
            "SELECT groname::text AS name FROM pg_group WHERE groname::text > $1 ORDER BY 1 LIMIT 2"
        );
        assert_eq!(LISTINGS.map(|l| l.kind), ["user", "role", "group"]);
    }
}
