//! A stateful fake of Tableau's REST API on 127.0.0.1, answering JSON or (when told to) XML: one site, its users, groups and
//! memberships; personal-access-token sign-in where a new sign-in with the same token ends the
//! earlier session (as Tableau does); `X-Tableau-Auth` checked on every call; pageSize /
//! pageNumber paging with the `pagination` object; the documented error body and codes; and
//! knobs for expired sessions and 429/503 answers. Tests assert on what the site holds.

pub mod contract;
mod routes;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gatehouse::config::{SecretRef, TableauSettings};
use gatehouse::connectors::tableau::Tableau;

pub const VERSION: &str = "3.24";
pub const SITE: &str = "acme";
pub const TOKEN_NAME: &str = "gatehouse";
pub const TOKEN_SECRET: &str = "pat-secret-0123456789abcdef";

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub site_role: String,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub name: String,
}

pub(super) struct Session {
    pub(super) token_name: String,
    pub(super) expires: Instant,
}

pub struct FakeState {
    pub site_id: String,
    pub content_url: String,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// (group id, user id).
    pub members: BTreeSet<(String, String)>,
    /// Personal access tokens: name → secret.
    pub tokens: HashMap<String, String>,
    pub(super) sessions: HashMap<String, Session>,
    pub session_life: Duration,
    /// Every call received, `"METHOD /path?query -> status"`, in order.
    pub log: Vec<String>,
    pub sign_ins: usize,
    pub throttle_next: usize,
    pub retry_after: Option<u64>,
    pub unavailable_next: usize,
    /// Answer in Tableau's XML whatever the Accept header asks, as its default and some
    /// servers and proxies do.
    pub xml: bool,
    /// The user the personal access token signs in as: named by the sign-in answer
    /// (`credentials.user.id`) and answered by Query User on Site, but kept out of the listed
    /// `users` so that listings hold only the tests' people.
    pub token_user: User,
}

#[derive(Clone)]
pub struct TableauFake {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    secrets: crate::support::rest_fake::Secrets,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl TableauFake {
    /// A fake server with the site `acme` and the token `gatehouse`, no users or groups yet.
    pub async fn start() -> TableauFake {
        let state = Arc::new(Mutex::new(FakeState {
            site_id: new_id(),
            content_url: SITE.into(),
            users: Vec::new(),
            groups: Vec::new(),
            members: BTreeSet::new(),
            tokens: HashMap::from([(TOKEN_NAME.to_owned(), TOKEN_SECRET.to_owned())]),
            sessions: HashMap::new(),
            session_life: Duration::from_secs(2 * 3600),
            log: Vec::new(),
            sign_ins: 0,
            throttle_next: 0,
            retry_after: None,
            unavailable_next: 0,
            xml: false,
            token_user: User {
                id: new_id(),
                name: "gatehouse-svc".into(),
                email: None,
                site_role: "SiteAdministratorCreator".into(),
            },
        }));
        let app = routes::router(state.clone());
        let url = crate::support::rest_fake::listen(app).await;
        let secrets = crate::support::rest_fake::Secrets::new(&[("token-secret", TOKEN_SECRET)]);
        TableauFake {
            url,
            state,
            secrets,
        }
    }

    /// Every answer from now on (success and error) in XML, or in JSON again.
    pub fn answer_xml(&self, on: bool) {
        self.state().xml = on;
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    pub fn settings(&self) -> TableauSettings {
        TableauSettings {
            base_url: self.url.clone(),
            site: SITE.into(),
            api_version: VERSION.into(),
            token_name: TOKEN_NAME.into(),
            token_secret: SecretRef::Env("TABLEAU_TEST_SECRET".into()),
        }
    }

    /// A file holding the token's secret, for catalogs (`token_secret = { file = … }`).
    pub fn secret_file(&self) -> String {
        self.secrets.path("token-secret")
    }

    /// The connector, as Gatehouse would build it.
    pub fn connector(&self) -> Tableau {
        Tableau::new(&self.settings(), TOKEN_SECRET).unwrap()
    }

    /// The site role of the token's user (one of Tableau's: `SiteAdministratorCreator`,
    /// `SiteAdministratorExplorer`, `Creator`, `Explorer`, `Viewer`, `Unlicensed`, …).
    pub fn token_site_role(&self, role: &str) {
        self.state().token_user.site_role = role.into();
    }

    /// Adds a user; returns its id.
    pub fn add_user(&self, name: &str, email: Option<&str>) -> String {
        let id = new_id();
        self.state().users.push(User {
            id: id.clone(),
            name: name.into(),
            email: email.map(str::to_owned),
            site_role: "Viewer".into(),
        });
        id
    }

    /// Adds a group; returns its id.
    pub fn add_group(&self, name: &str) -> String {
        let id = new_id();
        self.state().groups.push(Group {
            id: id.clone(),
            name: name.into(),
        });
        id
    }

    /// Remove User from Site (`DELETE users/{id}`), done by an admin behind Gatehouse's back:
    /// the user goes, and with it every group membership.
    pub fn remove_from_site(&self, id: &str) {
        let mut s = self.state();
        s.users.retain(|u| u.id != id);
        s.members.retain(|(_, u)| u != id);
    }

    pub fn user_id(&self, name: &str) -> String {
        let s = self.state();
        s.users.iter().find(|u| u.name == name).unwrap().id.clone()
    }

    /// Does the user called `user` belong to the group called `group`?
    pub fn holds(&self, user: &str, group: &str) -> bool {
        let s = self.state();
        let uid = s.users.iter().find(|u| u.name == user).map(|u| &u.id);
        let gid = s.groups.iter().find(|g| g.name == group).map(|g| &g.id);
        match (gid, uid) {
            (Some(g), Some(u)) => s.members.contains(&(g.clone(), u.clone())),
            _ => false,
        }
    }

    pub fn join(&self, user: &str, group: &str) {
        let (uid, gid) = (self.user_id(user), {
            let s = self.state();
            s.groups
                .iter()
                .find(|g| g.name == group)
                .unwrap()
                .id
                .clone()
        });
        self.state().members.insert((gid, uid));
    }

    /// Ends every session now, as an idle timeout on the server would.
    pub fn expire_sessions(&self) {
        let past = Instant::now() - Duration::from_secs(1);
        for s in self.state().sessions.values_mut() {
            s.expires = past;
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// Calls whose `"METHOD /path"` contains `what`.
    pub fn calls(&self, what: &str) -> usize {
        self.log().iter().filter(|l| l.contains(what)).count()
    }

    pub fn sign_ins(&self) -> usize {
        self.state().sign_ins
    }
}
