//! What the audit log holds for a request, read the way the tests look at it: its actions in
//! order, or one row with its details parsed.

use gatehouse::App;
use gatehouse::store::audit::StoredEvent;
use serde_json::Value;

/// Every row of request `n`, oldest first.
pub async fn rows(app: &App, n: i64) -> Vec<StoredEvent> {
    gatehouse::store::audit::for_request(app.db().conn(), n)
        .await
        .unwrap()
}

/// The actions of request `n`, oldest first.
pub async fn actions(app: &App, n: i64) -> Vec<String> {
    rows(app, n).await.into_iter().map(|e| e.action).collect()
}

/// How many rows of request `n` record `action`.
pub async fn count(app: &App, n: i64, action: &str) -> usize {
    let actions = actions(app, n).await;
    actions.iter().filter(|a| *a == action).count()
}

/// The latest row of request `n` recording `action`; the test fails when there is none.
pub async fn row(app: &App, n: i64, action: &str) -> StoredEvent {
    let rows = rows(app, n).await;
    let found = rows.into_iter().rfind(|e| e.action == action);
    found.unwrap_or_else(|| panic!("request #{n} has no `{action}` in its audit log"))
}

/// The details of `row`, parsed.
pub fn details(row: &StoredEvent) -> Value {
    serde_json::from_str(&row.details).unwrap()
}
