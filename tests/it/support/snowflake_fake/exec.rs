//! The fake's account: users, roles and grants, and what each statement does to them and
//! answers, in the columns Snowflake's SHOW commands print.

use std::collections::{BTreeMap, BTreeSet};

use super::sql::Statement;

#[derive(Debug, Clone)]
pub struct User {
    pub login_name: String,
    pub email: Option<String>,
}

/// A statement's rows: column names and values, as the SQL API's `jsonv2` format carries them.
pub struct Rows {
    pub columns: Vec<(&'static str, &'static str)>,
    pub data: Vec<Vec<Option<String>>>,
}

/// A SQL error, answered with HTTP 422.
pub struct SqlError {
    pub code: &'static str,
    pub sql_state: &'static str,
    pub message: String,
}

#[derive(Default)]
pub struct Account {
    pub users: BTreeMap<String, User>,
    pub roles: BTreeSet<String>,
    /// (user, role): the role granted to the user.
    pub user_grants: BTreeSet<(String, String)>,
    /// (grantee role, granted role): the second granted to the first.
    pub role_grants: BTreeSet<(String, String)>,
    /// Roles the service role may not grant: changes to them are "not executed".
    pub not_grantable: BTreeSet<String>,
    /// Users that exist but that the service role may not see (it neither owns them nor has
    /// CREATE USER): SHOW USERS leaves them out, as its output is filtered by the active role's
    /// privileges (docs.snowflake.com/en/release-notes/bcr-bundles/2023_06/bcr-975), and a
    /// statement naming them fails as if they did not exist ("… does not exist or not
    /// authorized"). Grants of the roles the service role owns still list them.
    pub hidden: BTreeSet<String>,
    /// Role → the role holding OWNERSHIP on it; a role not listed is owned by USERADMIN, which
    /// creates roles by default (docs.snowflake.com/en/user-guide/security-access-control-overview,
    /// "System-defined roles").
    pub owners: BTreeMap<String, String>,
    /// Roles holding the global MANAGE GRANTS privilege ("GRANT MANAGE GRANTS ON ACCOUNT TO ROLE
    /// r"; docs.snowflake.com/en/sql-reference/sql/grant-privilege). SECURITYADMIN has it by
    /// default; this fake starts with no one.
    pub manage_grants: BTreeSet<String>,
}

/// The roles every account has (docs.snowflake.com/en/user-guide/security-access-control-overview,
/// "System-defined roles"). They exist for statements naming them; SHOW ROLES leaves them out
/// here, to keep the lists tests compare short.
const SYSTEM_ROLES: [&str; 5] = [
    "ACCOUNTADMIN",
    "SECURITYADMIN",
    "USERADMIN",
    "SYSADMIN",
    "PUBLIC",
];

/// SHOW … LIKE: case-insensitive, `%` any run of characters, `_` any one character
/// (docs.snowflake.com/en/sql-reference/sql/show-roles, "LIKE 'pattern'").
fn like(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('%', rest)) => (0..=name.len()).any(|i| like(rest, &name[i..])),
        Some((p, rest)) => name.split_first().is_some_and(|(n, more)| {
            (*p == '_' || p.to_lowercase().eq(n.to_lowercase())) && like(rest, more)
        }),
    }
}

const CREATED: &str = "1764320400.000 -0800";
const DONE: &str = "Statement executed successfully.";

/// The columns SHOW GRANTS TO ROLE and SHOW GRANTS ON print.
const SHOW_GRANTS: [(&str, &str); 8] = [
    ("created_on", "timestamp_ltz"),
    ("privilege", "text"),
    ("granted_on", "text"),
    ("name", "text"),
    ("granted_to", "text"),
    ("grantee_name", "text"),
    ("grant_option", "text"),
    ("granted_by", "text"),
];

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// Snowflake's answer for an object that is missing *or* that the active role may not see: the
/// same code, state and words whichever it is, e.g. `002003 (02000): SQL compilation error:
/// User 'X' does not exist or not authorized.` after a `DROP USER`
/// (github.com/snowflakedb/terraform-provider-snowflake/issues/1174 and #1176, where the REVOKE
/// of a dropped user's role fails this way). The SQL API carries it in a 422 QueryFailureStatus
/// (docs.snowflake.com/en/developer-guide/sql-api/handling-errors).
fn missing(what: &str, name: &str) -> SqlError {
    SqlError {
        code: "002003",
        sql_state: "02000",
        message: format!(
            "SQL compilation error:\n{what} '{name}' does not exist or not authorized."
        ),
    }
}

fn status(text: &str) -> Rows {
    Rows {
        columns: vec![("status", "text")],
        data: vec![vec![some(text)]],
    }
}

impl Account {
    /// `DROP USER`: the user goes, and with it every role granted to it. The docs say a dropped
    /// user "cannot be recovered; they must be recreated"
    /// (docs.snowflake.com/en/sql-reference/sql/drop-user); that a user created again under the
    /// same name starts without the old grants is assumed, not documented.
    pub fn drop_user(&mut self, user: &str) {
        self.users.remove(user);
        self.user_grants.retain(|(u, _)| u != user);
    }

    pub fn owner_of(&self, role: &str) -> String {
        self.owners
            .get(role)
            .cloned()
            .unwrap_or_else(|| "USERADMIN".into())
    }

    fn need_role(&self, role: &str) -> Result<(), SqlError> {
        if self.roles.contains(role) || SYSTEM_ROLES.contains(&role) {
            Ok(())
        } else {
            Err(missing("Role", role))
        }
    }

    fn need_user(&self, user: &str) -> Result<(), SqlError> {
        if self.users.contains_key(user) && !self.hidden.contains(user) {
            Ok(())
        } else {
            Err(missing("User", user))
        }
    }

    pub fn run(&mut self, statement: &Statement) -> Result<Rows, SqlError> {
        Ok(match statement {
            Statement::SelectOne => Rows {
                columns: vec![("1", "fixed")],
                data: vec![vec![some("1")]],
            },
            Statement::ShowUsers {
                starts_with,
                limit,
                from,
            } => {
                let rows = self
                    .users
                    .iter()
                    .filter(|(name, _)| !self.hidden.contains(name.as_str()))
                    // STARTS WITH is case-sensitive and has no wildcards.
                    .filter(|(name, _)| {
                        starts_with
                            .as_ref()
                            .is_none_or(|p| name.starts_with(p.as_str()))
                    })
                    // FROM 'x' starts after the first name that matches x.
                    .filter(|(name, _)| from.as_ref().is_none_or(|f| name.as_str() > f.as_str()))
                    .take(limit.unwrap_or(usize::MAX))
                    .map(|(name, u)| {
                        vec![
                            some(name),
                            some(CREATED),
                            some(&u.login_name),
                            some(name),
                            None,
                            None,
                            u.email.clone(),
                            some("false"),
                            some("PUBLIC"),
                            some("true"),
                        ]
                    })
                    .collect();
                Rows {
                    columns: vec![
                        ("name", "text"),
                        ("created_on", "timestamp_ltz"),
                        ("login_name", "text"),
                        ("display_name", "text"),
                        ("first_name", "text"),
                        ("last_name", "text"),
                        ("email", "text"),
                        ("disabled", "text"),
                        ("default_role", "text"),
                        ("has_rsa_public_key", "text"),
                    ],
                    data: rows,
                }
            }
            Statement::ShowRoles(pattern) => Rows {
                columns: vec![
                    ("created_on", "timestamp_ltz"),
                    ("name", "text"),
                    ("is_default", "text"),
                    ("is_current", "text"),
                    ("assigned_to_users", "fixed"),
                    ("owner", "text"),
                    ("comment", "text"),
                ],
                data: self
                    .roles
                    .iter()
                    .filter(|r| {
                        let name: Vec<char> = r.chars().collect();
                        pattern
                            .as_ref()
                            .is_none_or(|p| like(&p.chars().collect::<Vec<_>>(), &name))
                    })
                    .map(|r| {
                        let users = self.user_grants.iter().filter(|(_, g)| g == r).count();
                        vec![
                            some(CREATED),
                            some(r),
                            some("N"),
                            some("N"),
                            some(&users.to_string()),
                            some(&self.owner_of(r)),
                            some(""),
                        ]
                    })
                    .collect(),
            },
            // The column set of bundle 2025_01: `name` and `role` both name the role.
            Statement::GrantsToUser(user) => {
                self.need_user(user)?;
                Rows {
                    columns: vec![
                        ("created_on", "timestamp_ltz"),
                        ("privilege", "text"),
                        ("granted_on", "text"),
                        ("name", "text"),
                        ("role", "text"),
                        ("granted_to", "text"),
                        ("grantee_name", "text"),
                        ("grant_option", "text"),
                        ("granted_by", "text"),
                    ],
                    data: self
                        .user_grants
                        .iter()
                        .filter(|(u, _)| u == user)
                        .map(|(u, r)| {
                            let row = [
                                CREATED,
                                "USAGE",
                                "ROLE",
                                r,
                                r,
                                "USER",
                                u,
                                "false",
                                "USERADMIN",
                            ];
                            row.iter().map(|v| some(v)).collect()
                        })
                        .collect(),
                }
            }
            Statement::GrantsToRole(role) => {
                self.need_role(role)?;
                // Every role also holds a warehouse privilege, which is not a role grant.
                let mut data = vec![
                    [
                        CREATED,
                        "USAGE",
                        "WAREHOUSE",
                        "COMPUTE_WH",
                        "ROLE",
                        role,
                        "false",
                        "SYSADMIN",
                    ]
                    .iter()
                    .map(|v| some(v))
                    .collect::<Vec<_>>(),
                ];
                if self.manage_grants.contains(role) {
                    let row = [
                        CREATED,
                        "MANAGE GRANTS",
                        "ACCOUNT",
                        "GATEHOUSE-TEST",
                        "ROLE",
                        role,
                        "false",
                        "ACCOUNTADMIN",
                    ];
                    data.push(row.iter().map(|v| some(v)).collect());
                }
                for (_, child) in self.role_grants.iter().filter(|(g, _)| g == role) {
                    let row = [
                        CREATED,
                        "USAGE",
                        "ROLE",
                        child,
                        "ROLE",
                        role,
                        "false",
                        "USERADMIN",
                    ];
                    data.push(row.iter().map(|v| some(v)).collect());
                }
                Rows {
                    columns: SHOW_GRANTS.to_vec(),
                    data,
                }
            }
            // The users and roles the role is granted to, in the columns SHOW GRANTS OF ROLE
            // prints: created_on, role, granted_to, grantee_name, granted_by.
            Statement::GrantsOfRole(role) => {
                self.need_role(role)?;
                let users = self
                    .user_grants
                    .iter()
                    .filter(|(_, r)| r == role)
                    .map(|(u, _)| ("USER", u));
                let roles = self
                    .role_grants
                    .iter()
                    .filter(|(_, child)| child == role)
                    .map(|(parent, _)| ("ROLE", parent));
                Rows {
                    columns: vec![
                        ("created_on", "timestamp_ltz"),
                        ("role", "text"),
                        ("granted_to", "text"),
                        ("grantee_name", "text"),
                        ("granted_by", "text"),
                    ],
                    data: users
                        .chain(roles)
                        .map(|(kind, grantee)| {
                            [CREATED, role, kind, grantee, "USERADMIN"]
                                .iter()
                                .map(|v| some(v))
                                .collect()
                        })
                        .collect(),
                }
            }
            // The OWNERSHIP row, in SHOW GRANTS ON's columns.
            Statement::GrantsOnRole(role) => {
                self.need_role(role)?;
                let owner = self.owner_of(role);
                let row = [
                    CREATED,
                    "OWNERSHIP",
                    "ROLE",
                    role,
                    "ROLE",
                    &owner,
                    "true",
                    &owner,
                ];
                Rows {
                    columns: SHOW_GRANTS.to_vec(),
                    data: vec![row.iter().map(|v| some(v)).collect()],
                }
            }
            Statement::Grant { role, user } | Statement::Revoke { role, user } => {
                self.need_role(role)?;
                self.need_user(user)?;
                if self.not_grantable.contains(role) {
                    return Ok(status("Grant not executed: Insufficient privileges."));
                }
                let key = (user.clone(), role.clone());
                if matches!(statement, Statement::Grant { .. }) {
                    self.user_grants.insert(key);
                } else {
                    self.user_grants.remove(&key);
                }
                status(DONE)
            }
        })
    }
}
