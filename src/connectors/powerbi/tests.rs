//! Unit tests of the Power BI connector's pure parts.

use super::*;
use crate::config::SecretRef;

fn settings() -> PowerbiSettings {
    PowerbiSettings {
        tenant_id: "contoso-tenant".into(),
        client_id: "app-id".into(),
        client_secret: SecretRef::Env("PBI_SECRET".into()),
        authority_url: None,
        api_url: Some("https://api.powerbi.com/v1.0/".into()),
        graph_url: None,
    }
}

#[test]
fn a_guest_upn_is_one_encoded_segment_and_the_secret_is_never_shown() {
    let p = PowerBi::new(&settings(), Secret::new("s3cr3t")).unwrap();
    let url = p.api.powerbi_url(&[
        "groups",
        "w1",
        "users",
        "ann_corp.com#EXT#@t.onmicrosoft.com",
    ]);
    assert_eq!(
        url.as_str(),
        "https://api.powerbi.com/v1.0/myorg/groups/w1/users/ann_corp.com%23EXT%23@t.onmicrosoft.com"
    );
    assert_eq!(
        p.api.graph_url(&["users"]).as_str(),
        "https://graph.microsoft.com/v1.0/users"
    );
    assert!(!format!("{p:?}").contains("s3cr3t"), "{p:?}");
    assert!(
        format!("{p:?}").contains("login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token")
    );
}

#[test]
fn roles_are_validated_without_case_and_spelled_as_power_bi_does() {
    let unit = |role: &str| Unit::WorkspaceRole {
        workspace: "Finance".into(),
        role: role.into(),
    };
    assert_eq!(
        workspace_role(&unit("viewer")).unwrap(),
        ("Finance", "Viewer")
    );
    assert_eq!(workspace_role(&unit(" ADMIN ")).unwrap().1, "Admin");
    let err = workspace_role(&unit("Owner")).unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Permanent(
            "`Owner` is not a Power BI workspace role; use one of Viewer, Contributor, Member, Admin".into()
        )
    );
    assert!(workspace_role(&Unit::Role { role: "x".into() }).is_err());
}

#[test]
fn workspace_names_are_quoted_as_odata_strings() {
    assert_eq!(odata_string("Bob's & Co"), "'Bob''s & Co'");
}

#[test]
fn error_bodies_are_quoted_in_the_services_words() {
    let pbi = json!({"error": {"code": "AddingAlreadyExistsGroupUserNotSupportedError",
        "pbi.error": {"code": "AddingAlreadyExistsGroupUserNotSupportedError"}}});
    assert_eq!(
        api::platform_message(&pbi),
        "AddingAlreadyExistsGroupUserNotSupportedError"
    );
    let graph = json!({"error": {"code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation."}});
    assert_eq!(
        api::platform_message(&graph),
        "Authorization_RequestDenied: Insufficient privileges to complete the operation."
    );
    let entra = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."});
    assert_eq!(
        api::platform_message(&entra),
        "invalid_client: AADSTS7000215: Invalid client secret provided."
    );
    assert_eq!(api::platform_message(&Value::Null), "no message");
}
