//! `TestApp`: the real `App` on a test database, a manual clock and the fake platform.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, TimeZone, Utc};
use gatehouse::clock::ManualClock;
use gatehouse::config::{Catalog, Config, Settings};
use gatehouse::domain::SlackUserId;
use gatehouse::store;
use gatehouse::workflow::{Directory, NoGroups, Workflow};
use gatehouse::{App, AppOptions};

use super::catalog;
use super::db::TestDb;
use super::platform::FakePlatform;

/// Alice and Dave ask; Bob and Rita review analytics; Fiona's group reviews finance; Ada administers.
pub static CATALOG: LazyLock<String> = LazyLock::new(|| {
    let analytics = catalog::task("analytics-ro", &["UBOB", "URITA"]);
    let finance = catalog::task("finance-pii", &["UFIONA"]);
    catalog::manual(&[
        catalog::with_reason(analytics) + "default_duration = \"8h\"\nmax_duration = \"3d\"\n",
        finance + "max_duration = \"1d\"\n",
    ])
});

pub fn u(s: &str) -> SlackUserId {
    SlackUserId::parse(s).unwrap()
}

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

pub struct TestApp {
    pub app: App,
    pub clock: ManualClock,
    pub platform: FakePlatform,
}

pub fn config_for(db: &TestDb, catalog: &str, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("GATEHOUSE_JOB_MAX_ATTEMPTS".to_owned(), "3".to_owned()),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_lookup(&|k| env.get(k).cloned()).unwrap();
    let catalog = Catalog::parse(Path::new("test.toml"), catalog).unwrap();
    Config { settings, catalog }
}

impl TestApp {
    pub async fn start(db: &TestDb) -> TestApp {
        Self::start_with(db, &CATALOG).await
    }

    pub async fn start_with(db: &TestDb, catalog: &str) -> TestApp {
        Self::start_custom(db, catalog, FakePlatform::default(), Arc::new(NoGroups)).await
    }

    /// With a platform and a directory (group members, emails) of the test's making.
    pub async fn start_custom(
        db: &TestDb,
        catalog: &str,
        platform: FakePlatform,
        directory: Arc<dyn Directory>,
    ) -> TestApp {
        let clock = ManualClock::new(at(2026, 11, 28, 9, 0));
        let mut opts = AppOptions::new(Arc::new(platform.clone()));
        opts.directory = directory;
        opts.clock = Arc::new(clock.clone());
        opts.background_worker = false;
        let app = App::start(config_for(db, catalog, &[]), opts)
            .await
            .unwrap();
        TestApp {
            app,
            clock,
            platform,
        }
    }

    pub fn wf(&self) -> &Workflow {
        self.app.workflow()
    }

    pub async fn run_jobs(&self) -> usize {
        self.app.run_due_jobs().await.unwrap()
    }

    /// The audit actions recorded for a request, in order.
    pub async fn audit_actions(&self, id: gatehouse::domain::RequestId) -> Vec<String> {
        store::audit::for_request(self.app.db().conn(), id.get())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    pub async fn audit_len(&self) -> i64 {
        store::audit::head(self.app.db().conn()).await.unwrap().0
    }

    pub async fn stop(self) {
        self.app.shutdown().await;
    }
}
