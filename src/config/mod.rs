//! Configuration: process settings from the environment, and the catalog file of connectors,
//! resources, reviewers and admins. Both are read and validated once, at start; every error
//! says where it is and how to fix it.

mod catalog;
mod error;
mod link;
mod secret;
mod settings;

pub use catalog::BigquerySettings;
pub use catalog::{
    ApiSettings, AutoApprovedPosting, Catalog, ConnectorConfig, ConnectorKind, DatabricksSettings,
    NotifyReviewers, OnCallConfig, OnDrift, PowerbiSettings, Resource, SnowflakeSettings,
    TableauSettings,
};
pub use error::{ConfigError, ConfigErrors};
pub use link::{Link, LinkRule, parse_domain};
pub use secret::{Secret, SecretRef};
pub use settings::{LlmConfig, LogFormat, Settings, SlackSettings};

/// Everything `App::start` needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub catalog: Catalog,
}

impl Config {
    /// Reads the environment through `lookup` (so tests need not touch the process environment)
    /// and the catalog file that `GATEHOUSE_CONFIG` names.
    pub fn load(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let settings = Settings::from_lookup(lookup)?;
        let catalog = Catalog::load(&settings.catalog_path)?;
        Ok(Config { settings, catalog })
    }
}
