//! The environment Gatehouse runs with against slack-sim, for the tests that start the real
//! binary (or `App::start`) themselves rather than through `SlackTestApp`.

use std::sync::Arc;

use slack_sim::SimHandle;

use super::app::config_for;
use super::db::TestDb;
use super::platform::FakePlatform;
use super::slack::CHANNEL;

/// Slack's settings for `sim` (its API, both tokens, the Access Requests channel), then `more`.
pub fn slack_env(sim: &SimHandle, more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("SLACK_API_URL", sim.api_url().as_str()),
        ("SLACK_BOT_TOKEN", sim.bot_token()),
        ("SLACK_APP_TOKEN", sim.app_token()),
        ("ACCESS_REQUESTS_CHANNEL", CHANNEL),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// What `gatehouse serve` (or another command) needs for the database at `db_url` and `sim`,
/// then `more`.
pub fn serve_env(db_url: &str, sim: &SimHandle, more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![("DATABASE_URL".to_owned(), db_url.to_owned())];
    env.extend(slack_env(sim, more));
    env
}

/// `env` as the borrowed pairs `config_for` and the command helpers take.
pub fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `App::start` on `db` with `catalog` against `sim`, which must refuse: what it said.
pub async fn start_refusal(db: &TestDb, catalog: &str, sim: &SimHandle) -> String {
    let env = slack_env(sim, &[]);
    let config = config_for(db, catalog, &pairs(&env));
    let opts = gatehouse::AppOptions::new(Arc::new(FakePlatform::default()));
    match gatehouse::App::start(config, opts).await {
        Ok(_) => panic!("the start should have been refused"),
        Err(e) => e.to_string(),
    }
}
