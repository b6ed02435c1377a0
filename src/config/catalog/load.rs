//! Loading the catalog: the file's text, parsed into the raw shapes (`read`), then checked
//! into the model (`check`). The only place that sees both.

use std::path::Path;

use super::super::error::{ConfigError, ConfigErrors};
use super::check::validate;
use super::model::Catalog;
use super::read::RawCatalog;

impl Catalog {
    pub fn load(path: &Path) -> Result<Catalog, ConfigErrors> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::file(
                path,
                format!(
                    "cannot read the catalog ({e}); copy gatehouse.example.toml to {} or set GATEHOUSE_CONFIG",
                    path.display()
                ),
            )
        })?;
        Catalog::parse(path, &source)
    }

    /// `path` only labels errors; `source` is the file's text.
    pub fn parse(path: &Path, source: &str) -> Result<Catalog, ConfigErrors> {
        let raw: RawCatalog = toml::from_str(source).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            ConfigError::at(path, source, at, e.message().to_owned())
        })?;
        validate(path, source, raw)
    }
}
