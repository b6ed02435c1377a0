//! A stateful fake of Looker's API 4.0 on 127.0.0.1: API-key login issuing expiring tokens,
//! `Authorization: token …` checked on every call, users and groups listed with `fields`,
//! `limit` and `offset`, group search by name (case-insensitive, `%`/`_` wildcards), group
//! membership added and removed with the documented statuses and `{message, documentation_url}`
//! errors, and knobs for expired tokens, 429 and 503 answers. Tests assert on what it holds.
//!
//! Undocumented outcomes, chosen here: adding a member twice answers 200 with the user and
//! changes nothing; removing a non-member answers 404 `Not found`; a change to an externally
//! managed group answers 422 `Validation Failed` with an `errors` entry saying why.

mod routes;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use gatehouse::config::{ApiSettings, Secret, SecretRef};
use gatehouse::connectors::looker::Looker;

use crate::support::rest_fake::{self, Fake, Req};
use routes::error;

pub const CLIENT_ID: &str = "gatehouse-client-id";
pub const CLIENT_SECRET: &str = "looker-test-secret-4QDkCyCtZz";
const DOCS: &str = "https://cloud.google.com/looker/docs/r/api/4.0";

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub display_name: String,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub externally_managed: bool,
}

/// A role as Looker's API shows it: a name and its permission set (`all_access` is true for
/// the built-in Admin set, which holds every permission).
#[derive(Clone, Debug)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub all_access: bool,
    pub permissions: Vec<String>,
}

/// One request as received: method, path, query and the status it was answered with.
pub use crate::support::rest_fake::Call;

#[derive(Default)]
pub struct FakeState {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// (group id, user id).
    pub members: BTreeSet<(String, String)>,
    /// The roles of the API key's own user (id 1), through its groups included.
    pub api_user_roles: Vec<Role>,
    /// Tokens issued and still valid.
    tokens: BTreeSet<String>,
    next_id: u64,
    pub logins: usize,
    pub throttle_next: usize,
    pub retry_after: Option<u64>,
    pub unavailable_next: usize,
    pub log: Vec<Call>,
}

#[derive(Clone)]
pub struct LookerFake {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    secrets: rest_fake::Secrets,
}

impl rest_fake::Answers for FakeState {
    fn answer(&mut self, r: &Req) -> Response {
        let path = &r.path;
        let throttled = || error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        let fault = rest_fake::plain_fault(rest_fake::knobs!(self), throttled);
        if let Some(fault) = fault {
            fault
        } else if path.len() < 2 || path[0] != "api" || path[1] != "4.0" {
            error(StatusCode::NOT_FOUND, "Not found")
        } else if r.method == Method::POST && path[2..] == ["login".to_owned()] {
            let form = if r.query.is_empty() {
                r.text()
            } else {
                r.query.clone()
            };
            self.login(&form)
        } else {
            match rest_fake::token(&r.headers, "token ") {
                Some(t) if self.tokens.contains(t) => self.serve(r, 2),
                _ => error(StatusCode::UNAUTHORIZED, "Requires authentication."),
            }
        }
    }
}

impl LookerFake {
    /// An empty instance (its API user, id 1, is not listed).
    pub async fn start() -> LookerFake {
        let (url, state) = rest_fake::serve_answers(FakeState {
            next_id: 1,
            api_user_roles: vec![Role {
                id: "2".into(),
                name: "Admin".into(),
                all_access: true,
                permissions: vec!["administer".into()],
            }],
            ..FakeState::default()
        })
        .await;
        LookerFake {
            url,
            state,
            secrets: rest_fake::Secrets::new(&[("looker-secret", CLIENT_SECRET)]),
        }
    }

    /// A file holding the API key's secret, for catalogs (`client_secret = { file = … }`).
    pub fn secret_file(&self) -> String {
        self.secrets.path("looker-secret")
    }

    pub fn settings(&self) -> ApiSettings {
        ApiSettings {
            base_url: self.url.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: SecretRef::File(self.secret_file().into()),
        }
    }

    /// The connector, as Gatehouse would build it.
    pub fn connector(&self) -> Looker {
        self.connector_with_secret(CLIENT_SECRET)
    }

    /// The connector, built with `secret` (a wrong one, say) instead of the right one.
    pub fn connector_with_secret(&self, secret: &str) -> Looker {
        Looker::new(&self.settings(), Secret::new(secret)).unwrap()
    }

    fn next_id(&self) -> String {
        let mut s = self.state();
        s.next_id += 1;
        s.next_id.to_string()
    }

    /// Adds a user and returns its id.
    pub fn add_user(&self, display_name: &str, email: Option<&str>) -> String {
        let id = self.next_id();
        self.state().users.push(User {
            id: id.clone(),
            email: email.map(str::to_owned),
            display_name: display_name.to_owned(),
        });
        id
    }

    /// Adds a group and returns its id.
    pub fn add_group(&self, name: &str, externally_managed: bool) -> String {
        let id = self.next_id();
        self.state().groups.push(Group {
            id: id.clone(),
            name: name.to_owned(),
            externally_managed,
        });
        id
    }

    /// The API key's user loses the Admin role and keeps a Developer role, whose permission
    /// set lacks admin rights.
    pub fn api_user_not_admin(&self) {
        self.state().api_user_roles = vec![Role {
            id: "3".into(),
            name: "Developer".into(),
            all_access: false,
            permissions: [
                "access_data",
                "see_looks",
                "explore",
                "develop",
                "see_users",
            ]
            .map(String::from)
            .to_vec(),
        }];
    }

    /// Delete User (`DELETE /api/4.0/users/{user_id}`, "Delete the user with a specific id"),
    /// done by an admin behind Gatehouse's back: the user goes, and with it its memberships.
    pub fn delete_user(&self, id: &str) {
        let mut s = self.state();
        s.users.retain(|u| u.id != id);
        s.members.retain(|(_, u)| u != id);
    }
}

rest_fake::fake!(LookerFake => FakeState, members);
