//! MariaDB and MySQL 8 keep roles differently, so each has its own statements.
//!
//! - MariaDB (https://mariadb.com/kb/en/roles_overview/, /mysql-roles_mapping-table/,
//!   /set-default-role/): roles are `mysql.user` rows with `is_role = 'Y'`, memberships are
//!   `mysql.roles_mapping (User, Host, Role)`, the default role is `mysql.user.default_role`,
//!   set with `SET DEFAULT ROLE r FOR u@h`.
//! - MySQL 8.0+ (https://dev.mysql.com/doc/refman/8.0/en/roles.html, /grant-tables.html,
//!   /set-default-role.html): a role is an account (`r@%` unless named otherwise), memberships
//!   are `mysql.role_edges (FROM_HOST, FROM_USER, TO_HOST, TO_USER)`, default roles are
//!   `mysql.default_roles (HOST, USER, DEFAULT_ROLE_HOST, DEFAULT_ROLE_USER)`, set with
//!   `SET DEFAULT ROLE r TO u@h`. MySQL before 8.0 has no roles.
//!
//! Each statement's user, host and role are bound parameters; names in the DDL are quoted by
//! the caller (`quoting::mysql`).

use super::ConnectorError;

/// The connecting account as information_schema names grantees: `'user'@'host'`. The user part
/// is everything before the last `@` (user names may be emails).
macro_rules! me {
    () => {
        "CONCAT('''', SUBSTRING(CURRENT_USER(), 1, CHAR_LENGTH(CURRENT_USER()) - \
         CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1), '''@''', \
         SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')"
    };
}

/// Which server the connector talks to, read once from `SELECT VERSION(), @@version_comment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    MariaDb,
    MySql8,
}

impl Flavour {
    /// The flavour a server's `VERSION()` and `@@version_comment` name, or why Gatehouse cannot
    /// work with it and what to do.
    pub fn of(version: &str, comment: &str) -> Result<Flavour, ConnectorError> {
        let both = format!("{version} {comment}").to_ascii_lowercase();
        if both.contains("mariadb") {
            // Roles came in 10.0.5, default roles in 10.1. Some MariaDB servers prefix their
            // version with `5.5.5-` for old MySQL clients.
            let real = version.strip_prefix("5.5.5-").unwrap_or(version);
            return match major_minor(real) {
                Some((10, m)) if m >= 1 => Ok(Flavour::MariaDb),
                Some((major, _)) if major > 10 => Ok(Flavour::MariaDb),
                _ => Err(ConnectorError::Permanent(format!(
                    "MariaDB {version} has no default roles; Gatehouse needs MariaDB 10.1 or later"
                ))),
            };
        }
        // Servers that only speak MySQL's protocol (TiDB, Vitess…) say so in their version.
        let foreign = ["tidb", "vitess", "singlestore", "memsql"]
            .into_iter()
            .find(|f| both.contains(f));
        if let Some(f) = foreign {
            return Err(ConnectorError::Permanent(format!(
                "the server says it is {f} ({version}); Gatehouse's MySQL connector knows MySQL 8 \
                 and MariaDB roles only — grant this platform's access with the `manual` connector"
            )));
        }
        match major_minor(version) {
            Some((major, _)) if major >= 8 => Ok(Flavour::MySql8),
            Some(_) => Err(ConnectorError::Permanent(format!(
                "MySQL {version} has no roles; Gatehouse needs MySQL 8.0 or later (or MariaDB 10.1 \
                 or later)"
            ))),
            None => Err(ConnectorError::Permanent(format!(
                "cannot tell which server `{version}` ({comment}) is; Gatehouse knows MySQL 8 and \
                 MariaDB 10.1 or later"
            ))),
        }
    }

    /// Whether a role exists; binds the role's name.
    pub fn role_exists(self) -> &'static str {
        match self {
            Flavour::MariaDb => "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND is_role = 'Y'",
            Flavour::MySql8 => "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'",
        }
    }

    /// Whether an account exists; binds user and host.
    pub fn account_exists(self) -> &'static str {
        match self {
            Flavour::MariaDb => {
                "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ? AND is_role = 'N'"
            }
            Flavour::MySql8 => "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?",
        }
    }

    /// Whether the account holds the role directly; binds user, host, role.
    pub fn is_granted(self) -> &'static str {
        match self {
            Flavour::MariaDb => {
                "SELECT COUNT(*) FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Role = ?"
            }
            Flavour::MySql8 => {
                "SELECT COUNT(*) FROM mysql.role_edges \
                 WHERE TO_USER = ? AND TO_HOST = ? AND FROM_USER = ? AND FROM_HOST = '%'"
            }
        }
    }

    /// The account's roles that were themselves granted the role (one level); binds user,
    /// host, role.
    pub fn granted_through(self) -> &'static str {
        match self {
            Flavour::MariaDb => {
                "SELECT CAST(a.Role AS CHAR) FROM mysql.roles_mapping a \
                 JOIN mysql.roles_mapping b ON b.User = a.Role AND b.Host = '' \
                 WHERE a.User = ? AND a.Host = ? AND b.Role = ? ORDER BY 1"
            }
            Flavour::MySql8 => {
                "SELECT CAST(a.FROM_USER AS CHAR) FROM mysql.role_edges a \
                 JOIN mysql.role_edges b ON b.TO_USER = a.FROM_USER AND b.TO_HOST = a.FROM_HOST \
                 WHERE a.TO_USER = ? AND a.TO_HOST = ? AND b.FROM_USER = ? AND b.FROM_HOST = '%' \
                 ORDER BY 1"
            }
        }
    }

    /// The account's default roles (MariaDB has at most one); binds user and host.
    pub fn default_roles(self) -> &'static str {
        match self {
            Flavour::MariaDb => {
                "SELECT CAST(default_role AS CHAR) FROM mysql.user \
                 WHERE User = ? AND Host = ? AND default_role <> ''"
            }
            Flavour::MySql8 => {
                "SELECT CAST(DEFAULT_ROLE_USER AS CHAR) FROM mysql.default_roles \
                 WHERE USER = ? AND HOST = ? ORDER BY 1"
            }
        }
    }

    /// Makes `role` (quoted) the default role of `account` (quoted `user`@`host`).
    pub fn set_default_role(self, role: &str, account: &str) -> String {
        match self {
            Flavour::MariaDb => format!("SET DEFAULT ROLE {role} FOR {account}"),
            Flavour::MySql8 => format!("SET DEFAULT ROLE {role} TO {account}"),
        }
    }

    /// Clears the default role of `account` (quoted).
    pub fn clear_default_role(self, account: &str) -> String {
        match self {
            Flavour::MariaDb => format!("SET DEFAULT ROLE NONE FOR {account}"),
            Flavour::MySql8 => format!("SET DEFAULT ROLE NONE TO {account}"),
        }
    }

    /// How many ways the connecting account may grant and revoke a role; binds the role.
    /// MariaDB: only the role's admins (`WITH ADMIN OPTION`; SUPER is not enough, as tried on
    /// 10.11). MySQL 8: admins, or the ROLE_ADMIN (or SUPER) privilege
    /// (https://dev.mysql.com/doc/refman/8.0/en/grant.html#grant-roles).
    pub fn role_admin(self) -> &'static str {
        match self {
            Flavour::MariaDb => {
                "SELECT COUNT(*) FROM information_schema.APPLICABLE_ROLES \
                 WHERE ROLE_NAME = ? AND IS_GRANTABLE = 'YES'"
            }
            Flavour::MySql8 => concat!(
                "SELECT (SELECT COUNT(*) FROM information_schema.APPLICABLE_ROLES \
                 WHERE ROLE_NAME = ? AND ROLE_HOST = '%' AND IS_GRANTABLE = 'YES') + \
                 (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES \
                 WHERE PRIVILEGE_TYPE IN ('ROLE_ADMIN', 'SUPER') AND GRANTEE = ",
                me!(),
                ")"
            ),
        }
    }

    /// How many ways the connecting account may set another account's default role.
    /// MariaDB: write access to the `mysql` database (set-default-role/; CREATE USER alone is
    /// refused, as tried on 10.11). MySQL 8: CREATE USER, or UPDATE on `mysql.default_roles`
    /// (https://dev.mysql.com/doc/refman/8.0/en/set-default-role.html).
    pub fn default_role_setter(self) -> &'static str {
        match self {
            Flavour::MariaDb => concat!(
                "SELECT (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES \
                 WHERE PRIVILEGE_TYPE = 'UPDATE' AND GRANTEE = ",
                me!(),
                ") + (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES \
                 WHERE TABLE_SCHEMA = 'mysql' AND PRIVILEGE_TYPE = 'UPDATE' AND GRANTEE = ",
                me!(),
                ")"
            ),
            Flavour::MySql8 => concat!(
                "SELECT (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES \
                 WHERE PRIVILEGE_TYPE IN ('CREATE USER', 'UPDATE') AND GRANTEE = ",
                me!(),
                ") + (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES \
                 WHERE TABLE_SCHEMA = 'mysql' AND PRIVILEGE_TYPE = 'UPDATE' AND GRANTEE = ",
                me!(),
                ") + (SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES \
                 WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'default_roles' \
                 AND PRIVILEGE_TYPE = 'UPDATE' AND GRANTEE = ",
                me!(),
                ")"
            ),
        }
    }

    /// What gives `account` (quoted) the right to grant `role` (quoted), in this server's words.
    pub fn fix_role_admin(self, role: &str, account: &str) -> String {
        match self {
            Flavour::MariaDb => format!(
                "as an admin of the role, run `GRANT {role} TO {account} WITH ADMIN OPTION` \
                 (MariaDB lets only a role's admins grant it; SUPER is not enough)"
            ),
            Flavour::MySql8 => format!(
                "run `GRANT {role} TO {account} WITH ADMIN OPTION`, or give it every role with \
                 `GRANT ROLE_ADMIN ON *.* TO {account}`"
            ),
        }
    }

    /// What lets `account` (quoted) set other accounts' default roles.
    pub fn fix_default_role_setter(self, account: &str) -> String {
        match self {
            Flavour::MariaDb => format!("run `GRANT UPDATE ON mysql.* TO {account}`"),
            Flavour::MySql8 => format!(
                "run `GRANT UPDATE ON mysql.default_roles TO {account}` (or give it CREATE USER)"
            ),
        }
    }

    /// Every account and role: user, host, and 'Y' for a role. MySQL 8 has no role flag: a
    /// role is an account that cannot log in (locked, no password), as `CREATE ROLE` makes it.
    pub fn list_accounts(self) -> &'static str {
        match self {
            Flavour::MariaDb => {
                "SELECT CAST(User AS CHAR), CAST(Host AS CHAR), CAST(is_role AS CHAR) \
                 FROM mysql.user ORDER BY User, Host"
            }
            Flavour::MySql8 => {
                "SELECT CAST(User AS CHAR), CAST(Host AS CHAR), \
                 IF(account_locked = 'Y' AND authentication_string = '', 'Y', 'N') \
                 FROM mysql.user ORDER BY User, Host"
            }
        }
    }
}

/// `8.0.36-0ubuntu0.22.04.1` → (8, 0); `10.11.6-MariaDB-0+deb12u1` → (10, 11).
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_is_told_apart_by_its_version() {
        let of = |v: &str, c: &str| Flavour::of(v, c);
        for (version, comment, flavour) in [
            ("10.11.6-MariaDB-0+deb12u1", "Debian 12", Flavour::MariaDb),
            (
                "11.4.2-MariaDB",
                "mariadb.org binary distribution",
                Flavour::MariaDb,
            ),
            // MariaDB may hide behind a 5.5.5- prefix for old clients.
            ("5.5.5-10.6.16-MariaDB", "MariaDB Server", Flavour::MariaDb),
            ("8.0.36-0ubuntu0.22.04.1", "(Ubuntu)", Flavour::MySql8),
            ("8.4.0", "MySQL Community Server - GPL", Flavour::MySql8),
        ] {
            assert_eq!(of(version, comment).unwrap(), flavour, "{version}");
        }
        let old = of("5.7.44", "MySQL Community Server (GPL)").unwrap_err();
        assert!(old.to_string().contains("MySQL 8.0 or later"), "{old}");
        let tidb = of("5.7.25-TiDB-v7.5.0", "").unwrap_err();
        assert!(tidb.to_string().contains("`manual` connector"), "{tidb}");
        let unknown = of("banana", "").unwrap_err();
        assert!(unknown.to_string().contains("cannot tell"), "{unknown}");
        let early = of("10.0.38-MariaDB", "").unwrap_err();
        assert!(early.to_string().contains("10.1 or later"), "{early}");
    }

    #[test]
    fn mysql_8_is_asked_through_its_own_grant_tables_and_statements() {
        let m = Flavour::MySql8;
        assert_eq!(
            m.is_granted(),
            "SELECT COUNT(*) FROM mysql.role_edges WHERE TO_USER = ? AND TO_HOST = ? AND FROM_USER = ? AND FROM_HOST = '%'"
        );
        assert_eq!(
            m.default_roles(),
            "SELECT CAST(DEFAULT_ROLE_USER AS CHAR) FROM mysql.default_roles WHERE USER = ? AND HOST = ? ORDER BY 1"
        );
        assert_eq!(
            m.set_default_role("`analyst`", "`alice`@`%`"),
            "SET DEFAULT ROLE `analyst` TO `alice`@`%`"
        );
        assert_eq!(
            m.clear_default_role("`alice`@`%`"),
            "SET DEFAULT ROLE NONE TO `alice`@`%`"
        );
        assert_eq!(
            m.role_exists(),
            "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'"
        );
        assert!(m.granted_through().contains("JOIN mysql.role_edges b"));
        assert!(m.list_accounts().contains("account_locked = 'Y'"));
        // Readiness: ROLE_ADMIN grants any role; default roles need CREATE USER or UPDATE on
        // mysql.default_roles (MySQL 8.0 reference, GRANT and SET DEFAULT ROLE).
        assert!(
            m.role_admin()
                .contains("ROLE_HOST = '%' AND IS_GRANTABLE = 'YES'")
                && m.role_admin()
                    .contains("PRIVILEGE_TYPE IN ('ROLE_ADMIN', 'SUPER')"),
            "{}",
            m.role_admin()
        );
        assert!(
            m.default_role_setter()
                .contains("TABLE_NAME = 'default_roles'")
        );
        assert!(
            m.default_role_setter()
                .contains("('CREATE USER', 'UPDATE')")
        );
        assert_eq!(
            m.fix_role_admin("`analyst`", "`gh`@`%`"),
            "run `GRANT `analyst` TO `gh`@`%` WITH ADMIN OPTION`, or give it every role with `GRANT ROLE_ADMIN ON *.* TO `gh`@`%``"
        );
        assert_eq!(
            m.fix_default_role_setter("`gh`@`%`"),
            "run `GRANT UPDATE ON mysql.default_roles TO `gh`@`%`` (or give it CREATE USER)"
        );
        for sql in [
            m.is_granted(),
            m.default_roles(),
            m.role_exists(),
            m.list_accounts(),
        ] {
            assert!(
                !sql.contains("roles_mapping")
                    && !sql.contains("is_role")
                    && !sql.contains("default_role ="),
                "MariaDB's tables in MySQL's statement: {sql}"
            );
        }
    }

    #[test]
    fn mariadb_keeps_its_own_statements() {
        let m = Flavour::MariaDb;
        assert_eq!(
            m.set_default_role("`analyst`", "`alice`@`%`"),
            "SET DEFAULT ROLE `analyst` FOR `alice`@`%`"
        );
        assert_eq!(
            m.clear_default_role("`alice`@`%`"),
            "SET DEFAULT ROLE NONE FOR `alice`@`%`"
        );
        assert!(m.is_granted().contains("mysql.roles_mapping"));
    }
}
