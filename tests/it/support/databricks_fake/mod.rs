//! A stateful fake of a Databricks workspace's SCIM 2.0 API and OAuth token endpoint on
//! 127.0.0.1: a fixed personal access token and one OAuth client (HTTP Basic checked) issuing
//! expiring tokens, `Authorization: Bearer` checked on every SCIM call, users, groups and
//! service principals listed with 1-based `startIndex`/`count`, `filter=displayName eq "…"`,
//! group membership changed by PatchOp, SCIM error bodies, and knobs for expired tokens, 429
//! and 503 answers. Tests assert on what it holds.
//!
//! Unity Catalog too (`uc.rs`): securables that exist (seeded), direct privileges per
//! (securable, principal name), `GET`/`PATCH /api/2.1/unity-catalog/permissions/…` and
//! `GET …/effective-permissions/…` with inheritance from parent securables and from the groups
//! the principal is a member of.
//!
//! Outcomes chosen here (as SCIM and Databricks' docs describe them): adding a member twice and
//! removing a non-member both answer 204 and change nothing; an empty list has no `Resources`;
//! adding an unknown principal answers 404.

mod routes;
mod uc;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use gatehouse::config::{DatabricksSettings, Secret, SecretRef};
use gatehouse::connectors::databricks::Databricks;

use crate::support::rest_fake::{self, Fake, Req};
use routes::scim_error;

pub const PAT: &str = "dapi-test-token-0f3b9c2d";
pub const CLIENT_ID: &str = "6f2c1a9e-gatehouse-sp";
pub const CLIENT_SECRET: &str = "dose-test-secret-Q7wLx2";

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub user_name: String,
    pub display_name: Option<String>,
    /// (address, primary)
    pub emails: Vec<(String, bool)>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub display_name: String,
}

/// One request as received: method, path, query and the status it was answered with.
pub use crate::support::rest_fake::Call;

#[derive(Default)]
pub struct FakeState {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// (id, applicationId, displayName)
    pub service_principals: Vec<(String, String, String)>,
    /// (group id, member id): users, groups or service principals.
    pub members: BTreeSet<(String, String)>,
    /// OAuth tokens issued and still valid.
    tokens: BTreeSet<String>,
    next_id: u64,
    pub tokens_issued: usize,
    pub throttle_next: usize,
    pub retry_after: Option<u64>,
    pub unavailable_next: usize,
    pub log: Vec<Call>,
    /// Unity Catalog securables that exist: (type, full name), type lowercase.
    pub securables: BTreeSet<(String, String)>,
    /// Direct UC privileges: (type, full name, principal name, privilege).
    pub uc_grants: BTreeSet<(String, String, String, String)>,
    /// Privilege assignments a UC page holds, when set (else all in one page).
    pub uc_page_size: Option<usize>,
    /// Owners of UC securables, by (type, full name); one not listed is owned by
    /// [`OTHER_OWNER`]. Tables, schemas and catalogs get answer it as `owner`.
    pub uc_owners: std::collections::BTreeMap<(String, String), String>,
    /// Whether the principal Gatehouse signs in as is a workspace admin: `Me` lists the `admins`
    /// group among its `groups`, and only then may it change a group's members (a PATCH is
    /// refused 403 otherwise), as docs.databricks.com/en/admin/users-groups/groups says of
    /// workspace-local groups.
    pub caller_is_admin: bool,
}

/// Who owns a UC securable nobody set an owner for: someone other than Gatehouse.
pub const OTHER_OWNER: &str = "data-platform@example.com";

#[derive(Clone)]
pub struct DatabricksFake {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    secrets: rest_fake::Secrets,
}

impl rest_fake::Answers for FakeState {
    fn answer(&mut self, r: &Req) -> Response {
        let (method, path) = (&r.method, &r.path);
        let auth = rest_fake::token(&r.headers, "").unwrap_or("");
        let throttled = || scim_error(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        let fault = rest_fake::plain_fault(rest_fake::knobs!(self), throttled);
        if let Some(fault) = fault {
            fault
        } else if method == Method::POST && path == &["oidc", "v1", "token"] {
            self.token(auth, &r.text())
        } else if path.len() >= 3 && path[..3] == ["api", "2.1", "unity-catalog"] {
            match auth.strip_prefix("Bearer ") {
                Some(t) if t == PAT || self.tokens.contains(t) => self.serve_uc(r, 3),
                _ => uc::uc_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "Invalid access token.",
                ),
            }
        } else if path.len() < 5 || path[..5] != ["api", "2.0", "preview", "scim", "v2"] {
            scim_error(StatusCode::NOT_FOUND, "No API found")
        } else {
            match auth.strip_prefix("Bearer ") {
                Some(t) if t == PAT || self.tokens.contains(t) => self.serve(r, 5),
                _ => scim_error(StatusCode::UNAUTHORIZED, "Invalid access token."),
            }
        }
    }
}

impl DatabricksFake {
    /// An empty workspace.
    pub async fn start() -> DatabricksFake {
        let (url, state) = rest_fake::serve_answers(FakeState {
            next_id: 1000,
            caller_is_admin: true,
            ..FakeState::default()
        })
        .await;
        let secrets = rest_fake::Secrets::new(&[("client-secret", CLIENT_SECRET), ("token", PAT)]);
        DatabricksFake {
            url,
            state,
            secrets,
        }
    }

    /// A file holding the OAuth client's secret, or (`"token"`) the PAT, for catalogs.
    pub fn secret_file(&self, name: &str) -> String {
        self.secrets.path(name)
    }

    /// OAuth machine-to-machine settings.
    pub fn oauth_settings(&self) -> DatabricksSettings {
        DatabricksSettings {
            host: self.url.clone(),
            token: None,
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(SecretRef::File(self.secret_file("client-secret").into())),
        }
    }

    /// The connector signing in with OAuth, as Gatehouse would build it.
    pub fn connector(&self) -> Databricks {
        Databricks::new(
            &self.oauth_settings(),
            None,
            Some(Secret::new(CLIENT_SECRET)),
        )
        .unwrap()
    }

    /// The connector signing in with the personal access token.
    pub fn pat_connector(&self) -> Databricks {
        let settings = DatabricksSettings {
            host: self.url.clone(),
            token: Some(SecretRef::File(self.secret_file("token").into())),
            client_id: None,
            client_secret: None,
        };
        Databricks::new(&settings, Some(Secret::new(PAT)), None).unwrap()
    }

    fn next_id(&self) -> String {
        let mut s = self.state();
        s.next_id += 1;
        s.next_id.to_string()
    }

    /// Adds a user whose userName is `user_name` (with a primary email when it is one).
    pub fn add_user(&self, user_name: &str, display_name: Option<&str>) -> String {
        let id = self.next_id();
        let emails = if user_name.contains('@') {
            vec![(user_name.to_owned(), true)]
        } else {
            Vec::new()
        };
        self.state().users.push(User {
            id: id.clone(),
            user_name: user_name.to_owned(),
            display_name: display_name.map(str::to_owned),
            emails,
        });
        id
    }

    pub fn add_group(&self, display_name: &str) -> String {
        let id = self.next_id();
        self.state().groups.push(Group {
            id: id.clone(),
            display_name: display_name.to_owned(),
        });
        id
    }

    pub fn add_service_principal(&self, display_name: &str) -> String {
        let id = self.next_id();
        let app = format!("app-{id}");
        self.state()
            .service_principals
            .push((id.clone(), app, display_name.to_owned()));
        id
    }

    /// `DELETE /api/2.0/preview/scim/v2/Users/{id}` done by an admin behind Gatehouse's back:
    /// the user goes and no group lists it any more (SCIM: a deleted resource is omitted from
    /// later query results, RFC 7644 §3.6; that group `members` follow is assumed here).
    pub fn delete_user(&self, id: &str) {
        let mut s = self.state();
        s.users.retain(|u| u.id != id);
        s.members.retain(|(_, m)| m != id);
    }

    /// Seeds a UC table and its catalog and schema (`catalog.schema.table`).
    pub fn add_table(&self, full_name: &str) {
        let parts: Vec<&str> = full_name.split('.').collect();
        assert_eq!(parts.len(), 3, "{full_name}");
        let mut s = self.state();
        s.securables.insert(("catalog".into(), parts[0].into()));
        s.securables
            .insert(("schema".into(), format!("{}.{}", parts[0], parts[1])));
        s.securables.insert(("table".into(), full_name.into()));
    }

    /// Grants `privilege` on a securable to a principal name directly, as an admin would.
    pub fn grant_uc(
        &self,
        securable_type: &str,
        full_name: &str,
        principal: &str,
        privilege: &str,
    ) {
        self.state().uc_grants.insert((
            securable_type.into(),
            full_name.into(),
            principal.into(),
            privilege.into(),
        ));
    }

    /// Makes `owner` the owner of a UC securable.
    pub fn set_uc_owner(&self, securable_type: &str, full_name: &str, owner: &str) {
        let key = (securable_type.to_owned(), full_name.to_owned());
        self.state().uc_owners.insert(key, owner.to_owned());
    }

    /// Whether the principal holds `privilege` on the securable directly.
    pub fn uc_holds(
        &self,
        securable_type: &str,
        full_name: &str,
        principal: &str,
        privilege: &str,
    ) -> bool {
        self.state().uc_grants.contains(&(
            securable_type.into(),
            full_name.into(),
            principal.into(),
            privilege.into(),
        ))
    }

    /// Every direct UC privilege of a principal: (type, full name, privilege).
    pub fn uc_privileges_of(&self, principal: &str) -> Vec<(String, String, String)> {
        self.state()
            .uc_grants
            .iter()
            .filter(|g| g.2 == principal)
            .map(|g| (g.0.clone(), g.1.clone(), g.3.clone()))
            .collect()
    }

    /// `/api/2.0/preview/scim/v2/Groups/{gid}`.
    pub fn group_path(gid: &str) -> String {
        format!("/api/2.0/preview/scim/v2/Groups/{gid}")
    }
}

rest_fake::fake!(DatabricksFake => FakeState, members);
