//! The Power BI connector against stateful fakes of Entra's token endpoint, the Power BI REST
//! API and Microsoft Graph: workspace roles granted (added or raised), checked and revoked
//! idempotently; a guest's UPN with `#EXT#` encoded in the path; Graph users listed across
//! `@odata.nextLink` pages; an expired token renewed once; throttling, outages, unknown
//! workspaces and bad roles classed right; and a whole request through Slack.

use std::time::Duration;

use gatehouse::connectors::{self, Connector, ConnectorError, Readiness};
use gatehouse::domain::Unit;

use crate::support::contract::{self, Case, Faults, Listed, Platform};
use crate::support::powerbi_fake::{
    CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, POWERBI_SCOPE, PowerBiFake, Service, TENANT,
};
use crate::support::round_trip;

const ALICE: &str = "alice@contoso.example";
const BOB: &str = "bob@contoso.example";
const GUEST: &str = "ann_partner.example#EXT#@contoso.onmicrosoft.com";

/// A tenant with Alice (mail alice@example.com), Bob and a guest, and the workspaces
/// "Finance" and "Marketing".
struct Tenant {
    fake: PowerBiFake,
    finance: String,
}

async fn tenant() -> Tenant {
    let fake = PowerBiFake::start().await;
    fake.add_user(ALICE, "Alice Martin", Some("alice@example.com"));
    fake.add_user(BOB, "Bob Stone", None);
    fake.add_user(GUEST, "Ann Partner", Some("ann@partner.example"));
    let finance = fake.add_workspace("Finance");
    fake.add_workspace("Marketing");
    Tenant { fake, finance }
}

impl Tenant {
    /// Alice is made Viewer of Finance; Bob looks on.
    fn case(&self) -> Case {
        Case {
            identity: ALICE.into(),
            bystander: BOB.into(),
            unit: role("Finance", "Viewer"),
            other_unit: role("Marketing", "Viewer"),
            foreign_unit: Some(Unit::Role { role: "x".into() }),
        }
    }

    /// The workspace id and the role a unit names.
    fn place(&self, unit: &Unit) -> (String, String) {
        let Unit::WorkspaceRole { workspace, role } = unit else {
            panic!("{unit:?}")
        };
        let s = self.fake.state();
        let w = s.workspaces.iter().find(|w| &w.name == workspace).unwrap();
        (w.id.clone(), role.clone())
    }
}

impl Platform for Tenant {
    fn connector(&self) -> Box<dyn Connector> {
        Box::new(self.fake.connector())
    }
    async fn holds(&self, identity: &str, unit: &Unit) -> bool {
        let (wid, role) = self.place(unit);
        self.fake
            .role(&wid, identity)
            .is_some_and(|r| r.eq_ignore_ascii_case(&role))
    }
    async fn give(&self, identity: &str, unit: &Unit) {
        let (wid, role) = self.place(unit);
        self.fake.set_role(&wid, identity, &role);
    }
    fn changes(&self) -> usize {
        let log = self.fake.log();
        log.iter()
            .filter(|c| c.method != "GET" && c.service != Service::Entra)
            .count()
    }
    /// A Contributor holds Viewer's access through the higher role.
    async fn give_inherited(&self, identity: &str, unit: &Unit) -> Option<Vec<String>> {
        let (wid, _) = self.place(unit);
        self.fake.set_role(&wid, identity, "Contributor");
        Some(vec!["the Contributor role in the workspace".into()])
    }
}

impl Faults for Tenant {
    contract::token_faults!(|p| p.fake, p.fake.issued(POWERBI_SCOPE));
    fn unreachable(&self) -> Box<dyn Connector> {
        let mut gone = self.fake.settings();
        gone.api_url = Some("http://127.0.0.1:9".into());
        Box::new(
            gatehouse::connectors::powerbi::PowerBi::new(
                &gone,
                gatehouse::config::Secret::new(CLIENT_SECRET),
            )
            .unwrap(),
        )
    }
}

fn role(workspace: &str, role: &str) -> Unit {
    Unit::WorkspaceRole {
        workspace: workspace.into(),
        role: role.into(),
    }
}

fn users_path(wid: &str) -> String {
    format!("/v1.0/myorg/groups/{wid}/users")
}

async fn grant(c: &dyn Connector, who: &str, r: &str) -> Result<String, ConnectorError> {
    connectors::grant(c, who, &role("Finance", r)).await
}

async fn revoke(c: &dyn Connector, who: &str, r: &str) -> Result<String, ConnectorError> {
    connectors::revoke(c, who, &role("Finance", r)).await
}

/// The readiness of a role in `workspace`, asserting that asking changed nothing in Power BI.
async fn readiness(t: &Tenant, workspace: &str) -> Readiness {
    t.fake.set_role(&t.finance, BOB, "Viewer");
    let r = t
        .fake
        .connector()
        .readiness(&role(workspace, "Member"))
        .await;
    let log = t.fake.log();
    assert!(
        log.iter()
            .all(|c| c.method == "GET" || c.service == Service::Entra),
        "{log:?}"
    );
    assert_eq!(t.fake.state().members[&t.finance].len(), 1);
    r.unwrap()
}

#[tokio::test]
async fn powerbi_readiness_of_a_workspace_the_app_is_admin_of_is_ready() {
    let t = tenant().await;
    assert_eq!(
        readiness(&t, "Finance").await,
        Readiness::Ready(
            "workspace `Finance` exists; Gatehouse's app (its service principal) is Admin of it"
                .into()
        )
    );
}

#[tokio::test]
async fn powerbi_readiness_of_a_workspace_missing_or_unseen_names_it_and_the_fix() {
    let t = tenant().await;
    let missing = |name: &str| Readiness::Missing {
        what: format!(
            "workspace `{name}` does not exist in Power BI, or Gatehouse's app is not in it"
        ),
        fix: format!(
            "add the app's service principal to workspace `{name}` as Admin, or correct `grant` \
             in the catalog"
        ),
    };
    assert_eq!(readiness(&t, "Ghosts").await, missing("Ghosts"));
    let marketing = t.fake.state().workspaces[1].id.clone();
    t.fake.app_role(&marketing, None);
    assert_eq!(readiness(&t, "Marketing").await, missing("Marketing"));
}

#[tokio::test]
async fn powerbi_readiness_with_the_app_below_admin_names_its_role_and_the_fix() {
    let t = tenant().await;
    for below in ["Member", "Contributor", "Viewer"] {
        t.fake.app_role(&t.finance, Some(below));
        assert_eq!(
            readiness(&t, "Finance").await,
            Readiness::Missing {
                what: format!(
                    "Gatehouse's app is only {below} of workspace `Finance`, and only an Admin of \
                     a workspace may add, change and remove its users"
                ),
                fix: "add the app's service principal to workspace `Finance` as Admin (Manage \
                      access in Power BI)"
                    .into(),
            }
        );
    }
}

#[tokio::test]
async fn powerbi_graph_users_are_listed_across_pages_with_the_workspaces() {
    let t = tenant().await;
    for n in 0..8 {
        t.fake.add_user(
            &format!("user{n}@contoso.example"),
            &format!("User {n}"),
            None,
        );
    }
    let c = t.fake.connector().with_page_size(4);
    let all = contract::list_pages_through_everything(
        &c,
        &[("user", 11), ("workspace", 2)],
        &[
            Listed::user(ALICE, "Alice Martin", Some("alice@example.com")),
            Listed::named("workspace", &t.finance, "Finance"),
        ],
        &["workspace"],
    )
    .await;
    let spaces: Vec<_> = all.iter().filter(|x| x.kind == "workspace").collect();
    let names: Vec<_> = spaces.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["Finance", "Marketing"]);
    // 11 users at 4 a page: 3 Graph calls, the last two by @odata.nextLink; listed twice.
    let graph: Vec<_> = t
        .fake
        .log()
        .into_iter()
        .filter(|c| c.service == Service::Graph)
        .collect();
    assert_eq!(graph.len(), 6, "{graph:?}");
    assert!(graph[0].query.contains("%24top=4") || graph[0].query.contains("$top=4"));
    assert!(graph[2].query.contains("skiptoken=8"), "{graph:?}");
    assert_eq!(
        (t.fake.issued(GRAPH_SCOPE), t.fake.issued(POWERBI_SCOPE)),
        (1, 1)
    );
}

#[tokio::test]
async fn powerbi_a_next_link_to_another_host_is_not_followed() {
    let t = tenant().await;
    t.fake.state().graph_link_base = "http://127.0.0.2:9".into();
    let err = t
        .fake
        .connector()
        .with_page_size(2)
        .list_identities()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains("another host (127.0.0.2)")),
        "{err:?}"
    );
}

#[tokio::test]
async fn powerbi_a_grant_adds_the_user_once_and_a_revoke_removes_them_once() {
    let t = tenant().await;
    contract::grant_is_idempotent_and_verified(&t, &t.case(), "POST /v1.0/myorg/groups/").await;
    assert_eq!(t.fake.calls("POST", &users_path(&t.finance), 200), 1);
    // Role names are matched without case.
    let c = t.fake.connector();
    assert_eq!(grant(&c, ALICE, "viewer").await.unwrap(), "already held");
    let t = tenant().await;
    contract::revoke_is_idempotent(&t, &t.case(), "DELETE /v1.0/myorg/groups/").await;
}

#[tokio::test]
async fn powerbi_a_lower_role_is_raised_with_put_and_a_higher_one_left_alone() {
    let t = tenant().await;
    let c = t.fake.connector();
    t.fake.set_role(&t.finance, ALICE, "Viewer");
    let did = grant(&c, ALICE, "Member").await.unwrap();
    assert!(did.contains("from Viewer to Member (PUT "), "{did}");
    assert_eq!(t.fake.role(&t.finance, ALICE).as_deref(), Some("Member"));
    assert_eq!(t.fake.calls("PUT", &users_path(&t.finance), 200), 1);
    assert_eq!(t.fake.calls("POST", &users_path(&t.finance), 200), 0);

    // Bob is Admin: a Viewer grant would lower him, so it is refused and nothing changes.
    t.fake.set_role(&t.finance, BOB, "Admin");
    let held = c.check(BOB, &role("Finance", "Viewer")).await.unwrap();
    assert!(!held.direct && held.through == ["the Admin role in the workspace"]);
    let err = grant(&c, BOB, "Viewer").await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains("does not lower it")),
        "{err:?}"
    );
    // A revoke of a role he does not hold directly leaves his Admin role.
    assert_eq!(revoke(&c, BOB, "Viewer").await.unwrap(), "already absent");
    assert_eq!(t.fake.role(&t.finance, BOB).as_deref(), Some("Admin"));
}

#[tokio::test]
async fn powerbi_a_raised_viewer_is_put_back_to_viewer_when_the_grant_ends() {
    let t = tenant().await;
    let c = t.fake.connector();
    t.fake.set_role(&t.finance, ALICE, "Viewer");
    let unit = role("Finance", "Contributor");
    let added = connectors::grant_recorded(&c, ALICE, &unit).await.unwrap();
    assert!(
        added.did.contains("from Viewer to Contributor"),
        "{}",
        added.did
    );
    assert_eq!(
        t.fake.role(&t.finance, ALICE).as_deref(),
        Some("Contributor")
    );
    let undo = connectors::Undo {
        receipt: added.receipt.as_deref(),
        keep: &[],
    };
    let did = connectors::revoke_leaving(&c, ALICE, &unit, undo)
        .await
        .unwrap();
    assert!(
        did.contains("back from Contributor to Viewer (PUT "),
        "{did}"
    );
    // Her standing Viewer role is what she had before: it stays.
    assert_eq!(t.fake.role(&t.finance, ALICE).as_deref(), Some("Viewer"));
    assert_eq!(
        t.fake.calls(
            "DELETE",
            &format!("{}/{ALICE}", users_path(&t.finance)),
            200
        ),
        0
    );
}

#[tokio::test]
async fn powerbi_check_reports_the_exact_role_in_the_named_workspace() {
    let t = tenant().await;
    contract::check_reports_direct_and_inherited(&t, &t.case()).await;
    let c = t.fake.connector();
    t.fake
        .set_role(&t.finance, "Alice@Contoso.Example", "Contributor");
    let h = c
        .check(ALICE, &role("Finance", "contributor"))
        .await
        .unwrap();
    assert!(h.direct && h.through.is_empty(), "{h:?}");
    // A lower role than asked is not holding it.
    assert!(
        !c.check(ALICE, &role("Finance", "Member"))
            .await
            .unwrap()
            .held()
    );
}

#[tokio::test]
async fn powerbi_a_guest_upn_is_granted_and_revoked_with_its_hashes_encoded() {
    let t = tenant().await;
    let c = t.fake.connector();
    grant(&c, GUEST, "Viewer").await.unwrap();
    assert_eq!(t.fake.role(&t.finance, GUEST).as_deref(), Some("Viewer"));
    let did = revoke(&c, GUEST, "Viewer").await.unwrap();
    assert!(did.contains("%23EXT%23"), "{did}");
    assert_eq!(t.fake.role(&t.finance, GUEST), None);
    let path = format!(
        "/v1.0/myorg/groups/{}/users/ann_partner.example%23EXT%23@contoso.onmicrosoft.com",
        t.finance
    );
    assert_eq!(t.fake.calls("DELETE", &path, 200), 1, "{:?}", t.fake.log());
}

#[tokio::test]
async fn powerbi_the_fake_refuses_foreign_tokens_and_a_post_for_an_existing_user() {
    let t = tenant().await;
    let http = gatehouse::connectors::http::client(Duration::from_secs(10)).unwrap();
    let graph_token = t.fake.token_for(GRAPH_SCOPE);
    let pbi_token = t.fake.token_for(POWERBI_SCOPE);
    let pbi = format!("{}/v1.0/myorg/groups", t.fake.api_url);
    let graph = format!("{}/v1.0/users", t.fake.graph_url);
    let status = |url: String, token: String| {
        let req = http.get(url).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(pbi.clone(), graph_token.clone()).await, 401);
    assert_eq!(status(graph.clone(), pbi_token.clone()).await, 401);
    assert_eq!(status(pbi, pbi_token.clone()).await, 200);
    assert_eq!(status(graph, graph_token).await, 200);
    // As Power BI does, a POST for someone already in the workspace is refused (PUT changes).
    t.fake.set_role(&t.finance, ALICE, "Viewer");
    let resp = http
        .post(format!("{}{}", t.fake.api_url, users_path(&t.finance)))
        .bearer_auth(pbi_token)
        .json(
            &serde_json::json!({"identifier": ALICE, "principalType": "User",
            "groupUserAccessRight": "Member"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["code"],
        "AddingAlreadyExistsGroupUserNotSupportedError"
    );
    assert_eq!(t.fake.role(&t.finance, ALICE).as_deref(), Some("Viewer"));
}

contract::fault_cases!(
    tenant(),
    |t| t.case(),
    ["Power BI", "HTTP 429"],
    "HTTP 503",
    renewed: assert_eq!(t.fake.issued(GRAPH_SCOPE), 0, "no Graph token was needed"),
);

#[tokio::test]
async fn powerbi_an_unknown_workspace_or_a_bad_role_fails_permanently() {
    let t = tenant().await;
    let c = t.fake.connector();
    let err = connectors::grant(&c, ALICE, &role("Finance's 'Q4'", "Viewer"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "Power BI has no workspace named `Finance's 'Q4'` that Gatehouse's app can see (it must be Admin or Member of it); check the resource's grant in the catalog".into()
        )
    );
    // The quotes were doubled in the filter (the fake refuses a lone one with a 400).
    let err = grant(&c, ALICE, "Owner").await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent(m) if m.contains("`Owner` is not a Power BI workspace role")),
        "{err:?}"
    );
    assert!(t.fake.state().members.is_empty());
    assert!(
        t.fake
            .log()
            .iter()
            .all(|c| c.method == "GET" || c.service == Service::Entra)
    );
}

#[tokio::test]
async fn powerbi_a_wrong_secret_is_a_clear_permanent_failure_without_the_secret() {
    let t = tenant().await;
    let wrong = "not-the-secret-Zz9";
    let c = t.fake.connector_with_secret(wrong);
    let says = [CLIENT_ID, "AADSTS7000215"];
    let right = t.fake.connector();
    contract::a_wrong_secret_is_permanent_and_never_shown(&c, wrong, &says, &right, CLIENT_SECRET)
        .await;
}

#[tokio::test]
async fn powerbi_a_request_for_a_workspace_role_goes_through_slack_to_power_bi_and_back() {
    let t = tenant().await;
    // Dave's mail in the tenant is not his Slack email: the reviewer picks him.
    const DAVE: &str = "dave@contoso.example";
    t.fake
        .add_user(DAVE, "Dave Kim", Some("dave.kim@corp.example"));
    let settings = format!(
        r#"kind = "powerbi"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "{}" }}
authority_url = "{}"
api_url = "{}"
graph_url = "{}""#,
        t.fake.secret_file(),
        t.fake.authority_url,
        t.fake.api_url,
        t.fake.graph_url,
    );
    let resources = [
        (
            "powerbi-finance",
            "Finance workspace",
            r#"{ workspace = "Finance", role = "Viewer" }"#,
        ),
        (
            "powerbi-missing",
            "Missing",
            r#"{ workspace = "Nowhere", role = "Viewer" }"#,
        ),
    ];
    let catalog = round_trip::catalog("powerbi", &settings, &resources);
    // Graph lists Alice's mail, which is her Slack email: her ✅ grants at once.
    let trip = ["powerbi-finance", DAVE, "powerbi-missing", "Nowhere"];
    let holds = |who: &str| {
        let upn = if who == "alice" { ALICE } else { DAVE };
        t.fake.role(&t.finance, upn).as_deref() == Some("Viewer")
    };
    round_trip::linked_picked_expired_and_failed(&catalog, trip, &[], holds, || {
        assert!(t.fake.state().members.values().all(Vec::is_empty));
        assert_eq!(t.fake.calls("POST", &users_path(&t.finance), 200), 2);
        let log = t.fake.log();
        let deletes = log
            .iter()
            .filter(|c| c.method == "DELETE" && c.status == 200);
        assert_eq!(deletes.count(), 2);
    })
    .await;
}
