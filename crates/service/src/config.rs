//! Layered configuration: embedded defaults → optional file → overrides (flags and environment).

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml, Yaml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A configuration error: one line naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {problem}")]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
}

/// A [`ConfigError`] for `setting`.
pub fn invalid(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// Merge `defaults`, then the file at `file` (YAML if it ends in .yaml/.yml, else TOML), then
/// `overrides` (which serializes only what was given), into a `T`. An unknown key or a wrong type
/// is reported as the flag it belongs to (`--port`); a missing file as `--config`.
pub fn load_layered<T, O>(
    defaults: &T,
    file: Option<&Path>,
    overrides: &O,
) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
    O: Serialize,
{
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(invalid(
                "--config",
                format!("{} is not a readable file", path.display()),
            ));
        }
        let is_yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        figment = if is_yaml {
            figment.merge(Yaml::file_exact(path))
        } else {
            figment.merge(Toml::file_exact(path))
        };
    }
    figment
        .merge(Serialized::defaults(overrides))
        .extract()
        .map_err(|e| {
            let setting = e
                .path
                .first()
                .map_or_else(|| "--config".to_owned(), |p| format!("--{p}"));
            invalid(&setting, e.kind.to_string())
        })
}
