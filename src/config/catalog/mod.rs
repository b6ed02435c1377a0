//! The catalog file (`gatehouse.toml`): connectors, resources, reviewers and admins.
//! Parsed strictly (unknown keys are errors) and validated as a whole, reporting every problem.
//!
//! Split by concern: `model` (the types and their queries), `read` (the raw shapes of the
//! TOML), `check` (raw shapes into the model, with every error message) and `load` (file and
//! TOML through both). This file only wires them together and re-exports the model.

mod check;
mod load;
mod model;
mod read;

pub use model::{
    ApiSettings, AutoApprovedPosting, BigquerySettings, Catalog, ConnectorConfig, ConnectorKind,
    DatabricksSettings, NotifyReviewers, OnCallConfig, OnDrift, PowerbiSettings, Resource,
    SnowflakeSettings, TableauSettings,
};

#[cfg(test)]
mod tests;
