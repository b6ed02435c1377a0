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
}

const CREATED: &str = "1764320400.000 -0800";
const DONE: &str = "Statement executed successfully.";

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

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
    fn need_role(&self, role: &str) -> Result<(), SqlError> {
        if self.roles.contains(role) {
            Ok(())
        } else {
            Err(missing("Role", role))
        }
    }

    fn need_user(&self, user: &str) -> Result<(), SqlError> {
        if self.users.contains_key(user) {
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
            Statement::ShowUsers { limit, from } => {
                let rows = self
                    .users
                    .iter()
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
            Statement::ShowRoles => Rows {
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
                    .map(|r| {
                        let users = self.user_grants.iter().filter(|(_, g)| g == r).count();
                        vec![
                            some(CREATED),
                            some(r),
                            some("N"),
                            some("N"),
                            some(&users.to_string()),
                            some("USERADMIN"),
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
                    columns: vec![
                        ("created_on", "timestamp_ltz"),
                        ("privilege", "text"),
                        ("granted_on", "text"),
                        ("name", "text"),
                        ("granted_to", "text"),
                        ("grantee_name", "text"),
                        ("grant_option", "text"),
                        ("granted_by", "text"),
                    ],
                    data,
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
