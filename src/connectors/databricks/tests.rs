//! Unit tests: URLs, filters, sign-in settings and error bodies, without a workspace.

use super::*;
use crate::config::SecretRef;

fn settings(token: bool, client_id: Option<&str>, secret: bool) -> DatabricksSettings {
    DatabricksSettings {
        host: "adb-123.7.azuredatabricks.net/".into(),
        token: token.then(|| SecretRef::Env("DATABRICKS_TOKEN".into())),
        client_id: client_id.map(str::to_owned),
        client_secret: secret.then(|| SecretRef::Env("DATABRICKS_SECRET".into())),
    }
}

/// A connector signing in with a personal access token.
fn with_token() -> Databricks {
    Databricks::new(
        &settings(true, None, false),
        Some(Secret::new("dapiS3cr3t")),
        None,
    )
    .unwrap()
}

#[test]
fn ids_are_pushed_as_one_encoded_segment_under_scim() {
    let d = with_token();
    let url = d.api.url(&["Groups", "1/../../x?y#z"]);
    assert_eq!(
        url.as_str(),
        "https://adb-123.7.azuredatabricks.net/api/2.0/preview/scim/v2/Groups/1%2F..%2F..%2Fx%3Fy%23z"
    );
    assert!(!format!("{d:?}").contains("dapiS3cr3t"), "{d:?}");
}

#[test]
fn filter_strings_escape_quotes_and_backslashes() {
    assert_eq!(scim_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
}

#[test]
fn exactly_one_way_of_signing_in_is_accepted() {
    assert!(check_auth(&settings(true, None, false)).is_ok());
    assert!(check_auth(&settings(false, Some("app"), true)).is_ok());
    for (s, why) in [
        (settings(true, Some("app"), true), "both"),
        (settings(false, None, false), "neither"),
        (settings(false, Some("app"), false), "no client_secret"),
        (settings(false, Some(" "), true), "no client_id"),
    ] {
        let err = check_auth(&s).unwrap_err();
        assert!(err.contains(why) && err.contains("token = {"), "{err}");
    }
}

#[test]
fn databricks_error_bodies_are_quoted_in_its_words() {
    let scim = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "detail": "Group with id 9 not found.", "status": "404"});
    assert_eq!(api::platform_message(&scim), "Group with id 9 not found.");
    let rest = json!({"error_code": "PERMISSION_DENIED", "message": "Only admins"});
    assert_eq!(
        api::platform_message(&rest),
        "PERMISSION_DENIED: Only admins"
    );
    let oauth = json!({"error": "invalid_client", "error_description": "Bad secret"});
    assert_eq!(api::platform_message(&oauth), "invalid_client: Bad secret");
    assert_eq!(api::platform_message(&Value::Null), "no message");
}

#[test]
fn a_users_email_is_the_primary_one_or_an_email_shaped_user_name() {
    let u = json!({"userName": "a@x.com", "emails": [
        {"value": "other@x.com"}, {"value": "main@x.com", "primary": true}]});
    assert_eq!(email_of(&u).as_deref(), Some("main@x.com"));
    assert_eq!(
        email_of(&json!({"userName": "b@x.com"})).as_deref(),
        Some("b@x.com")
    );
    assert_eq!(email_of(&json!({"userName": "svc"})), None);
}

#[test]
fn a_table_names_its_catalog_schema_and_table() {
    let t = uc::TableName::parse("main.sales.orders").unwrap();
    assert_eq!(format!("{t:?}").matches("main.sales").count(), 2, "{t:?}");
    for bad in ["main.orders", "main..orders", "a.b.c.d", " .b.c", "orders"] {
        let err = uc::TableName::parse(bad).unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Permanent(m) if m.contains("\"main.sales.orders\"") && m.contains(bad)),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn a_securables_full_name_is_one_encoded_segment_under_unity_catalog() {
    let d = with_token();
    let url = d
        .api
        .uc_url(&["permissions", "table", "main.sales.q3/../x?y#z %25+"]);
    assert_eq!(
        url.as_str(),
        "https://adb-123.7.azuredatabricks.net/api/2.1/unity-catalog/permissions/table/main.sales.q3%2F..%2Fx%3Fy%23z%20%2525+"
    );
}
