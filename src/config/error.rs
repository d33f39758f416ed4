//! What the loader reports: errors (the config is refused) and notices (accepted, but the user
//! should know). Both carry the JSON path so the user can find the line to edit.

use std::fmt;

use thiserror::Error;

/// One problem in a config file: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", render(.path, .message))]
pub struct ConfigError {
    /// JSON path (`workers[0].transports[1].endpoint.port`), or a file path, or empty.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

fn render(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

/// Every problem found in a config, in the order found. Displayed one per line so the user
/// fixes them all in one go instead of one run per mistake.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigErrors {
    /// A single problem.
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigErrors(vec![ConfigError::new(path, message)])
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none (never the case for a returned `Err`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

/// How loud a [`Notice`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    /// Accepted as is; nothing to worry about (a tuning knob with no meaning here).
    Info,
    /// Accepted, but it does not do what it did in Crossbar (not enforced yet, missing
    /// directory, ...).
    Warn,
}

/// A key that was accepted but deserves one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Info or warning.
    pub level: NoticeLevel,
    /// The JSON path of the object holding the key.
    pub path: String,
    /// What the user should know.
    pub message: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(&self.path, &self.message))
    }
}

impl Notice {
    /// Emits the notice as one `tracing` line at its level.
    pub fn log(&self) {
        match self.level {
            NoticeLevel::Info => tracing::info!("{self}"),
            NoticeLevel::Warn => tracing::warn!("{self}"),
        }
    }
}
