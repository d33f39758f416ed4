//! The Crossbar config schema (version 2) and its validation. An error names the JSON path
//! (`workers[0].transports[1].endpoint.port`) and what was expected. A Crossbar feature that
//! ferrobar does not support yet is refused by name; a tuning knob with no meaning here is
//! accepted with one log line.

pub mod capabilities;
pub mod model;

pub use model::*;

mod auth;
mod error;
mod load;
mod mqtt;
mod realm;
mod tls;
mod transport;
mod universal;
mod walk;
mod web;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;
#[cfg(test)]
mod tests_capabilities;
#[cfg(test)]
mod tests_cookie;
#[cfg(test)]
mod tests_mqtt;
#[cfg(test)]
mod tests_refuse;
#[cfg(test)]
mod tests_tls;

pub use error::{ConfigError, ConfigErrors, Notice, NoticeLevel};
pub use load::{
    check_file, check_str, default_node, find_config, load_file, load_file_in, parse_str, Checked,
    DEFAULT_CONFIG_JSON,
};
pub use walk::EnvLookup;
