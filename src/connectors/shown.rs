//! What a connector shows of itself in a log line (`Debug`): its addresses and client ids,
//! never a secret. Each REST client writes its own `Debug` (a `Url` as the address it is, not
//! the parts `derive` would print); this test holds that Looker's, Sigma's, Power BI's and
//! Databricks' show no secret (Tableau, BigQuery and Snowflake have tests of their own).

use crate::config::{ApiSettings, DatabricksSettings, PowerbiSettings, Secret, SecretRef};

const SECRET: &str = "s3cr3t-never-shown";

fn secret() -> Secret {
    Secret::new(SECRET)
}

fn env(name: &str) -> SecretRef {
    SecretRef::Env(name.into())
}

fn assert_hidden(shown: String, client_id: &str) {
    assert!(!shown.contains(SECRET), "a secret in {shown}");
    assert!(shown.contains(client_id), "no client id in {shown}");
}

#[test]
fn no_rest_connector_shows_its_secret() {
    let api = ApiSettings {
        base_url: "https://acme.example.com".into(),
        client_id: "client-7".into(),
        client_secret: env("X"),
    };
    let looker = super::looker::Looker::new(&api, secret()).unwrap();
    assert_hidden(format!("{looker:?}"), "client-7");
    let sigma = super::sigma::Sigma::new(&api, secret()).unwrap();
    assert_hidden(format!("{sigma:?}"), "client-7");
    let powerbi = PowerbiSettings {
        tenant_id: "tenant-1".into(),
        client_id: "client-8".into(),
        client_secret: env("X"),
        authority_url: None,
        api_url: None,
        graph_url: None,
    };
    let powerbi = super::powerbi::PowerBi::new(&powerbi, secret()).unwrap();
    assert_hidden(format!("{powerbi:?}"), "client-8");
    let host = "https://adb-1.azuredatabricks.net".to_owned();
    let with_token = DatabricksSettings {
        host: host.clone(),
        token: Some(env("X")),
        client_id: None,
        client_secret: None,
    };
    let databricks = super::databricks::Databricks::new(&with_token, Some(secret()), None).unwrap();
    assert_hidden(format!("{databricks:?}"), "adb-1");
    let with_oauth = DatabricksSettings {
        host,
        token: None,
        client_id: Some("client-9".into()),
        client_secret: Some(env("X")),
    };
    let databricks = super::databricks::Databricks::new(&with_oauth, None, Some(secret())).unwrap();
    assert_hidden(format!("{databricks:?}"), "client-9");
}
