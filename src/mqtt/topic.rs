//! MQTT topic names and filters ↔ WAMP URIs and subscription patterns.
//!
//! | MQTT                | WAMP                                          |
//! |---------------------|-----------------------------------------------|
//! | `a/b/c`             | `a.b.c`                                       |
//! | filter `a/+/c`      | `a..c`, match `wildcard`                      |
//! | filter `a/#`        | `a` (exact) **and** `a.` (prefix): MQTT's `a/#` also matches `a` |
//! | filter `#`          | `""`, match `prefix` (everything)             |
//! | filter `+`          | `""`, match `wildcard` (every one-level topic)|
//!
//! What has no faithful mapping is refused, never altered: a level containing `.` (it would
//! become two WAMP components), an empty level (`/a`, `a//b`, `a/`: WAMP has no empty
//! components in a topic), whitespace or `#` inside a level (not allowed in a WAMP URI
//! component), `$`-topics (MQTT reserves them for the broker), publishing into the
//! WAMP-reserved `wamp.` namespace (subscribing to it is left to the role's permissions, as for
//! WAMP clients), shared subscriptions (`$share/...`), and filters that combine `+` with `#`
//! (WAMP has no "wildcard prefix" match).

use thiserror::Error;

use crate::wamp::uri::{self, MatchPolicy, UriCheck};

/// Why a topic name or filter cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    /// Not a valid MQTT topic name or filter at all (empty, a wildcard in a topic name, `#` not
    /// last, a wildcard sharing a level, a NUL character). MQTT calls this a malformed packet
    /// or protocol error.
    #[error("invalid MQTT {what} {topic:?}: {why}")]
    Invalid {
        /// `"topic name"` or `"topic filter"`.
        what: &'static str,
        /// The offending topic.
        topic: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A valid MQTT topic that has no WAMP equivalent here (MQTT 5.0 reason code 0x90 for names,
    /// 0x8F for filters).
    #[error("MQTT {what} {topic:?} cannot be mapped to WAMP: {why}")]
    Unmappable {
        /// `"topic name"` or `"topic filter"`.
        what: &'static str,
        /// The offending topic.
        topic: String,
        /// Why not.
        why: &'static str,
    },
    /// `$share/...`: MQTT 5.0 shared subscriptions (reason code 0x9E).
    #[error("shared subscriptions ({0:?}) are not supported")]
    Shared(String),
}

/// One WAMP subscription an MQTT filter stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WampPattern {
    /// The WAMP topic or pattern.
    pub uri: String,
    /// How it matches.
    pub policy: MatchPolicy,
}

/// The WAMP subscriptions one MQTT filter stands for: one, or two for `a/#` (`a` exact and
/// `a.` prefix). They never overlap, so a publication matches at most one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WampFilter {
    /// The patterns, in a fixed order.
    pub patterns: Vec<WampPattern>,
}

const NAME: &str = "topic name";
const FILTER: &str = "topic filter";

fn invalid(what: &'static str, topic: &str, why: &'static str) -> TopicError {
    TopicError::Invalid {
        what,
        topic: topic.to_owned(),
        why,
    }
}

fn unmappable(what: &'static str, topic: &str, why: &'static str) -> TopicError {
    TopicError::Unmappable {
        what,
        topic: topic.to_owned(),
        why,
    }
}

/// Checks one level for WAMP: non-empty, no `.`, no whitespace or `#`.
fn level_ok(what: &'static str, topic: &str, level: &str) -> Result<(), TopicError> {
    if level.is_empty() {
        return Err(unmappable(what, topic, "empty level"));
    }
    if level.contains('.') {
        return Err(unmappable(what, topic, "a level contains '.'"));
    }
    if !uri::is_valid(level, UriCheck::Loose, MatchPolicy::Exact) {
        return Err(unmappable(
            what,
            topic,
            "a level contains whitespace or '#'",
        ));
    }
    Ok(())
}

fn common_checks(what: &'static str, topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(invalid(what, topic, "empty"));
    }
    if topic.contains('\0') {
        return Err(invalid(what, topic, "contains NUL"));
    }
    if topic.starts_with('$') {
        return Err(unmappable(
            what,
            topic,
            "$-topics are reserved for the broker",
        ));
    }
    Ok(())
}

fn check_reserved(what: &'static str, topic: &str, wamp: &str) -> Result<(), TopicError> {
    if uri::is_reserved(wamp) || wamp == "wamp" {
        return Err(unmappable(what, topic, "the wamp. namespace is reserved"));
    }
    Ok(())
}

/// An MQTT topic name (PUBLISH, will) as a WAMP topic URI: `a/b/c` → `a.b.c`.
pub fn topic_to_uri(topic: &str) -> Result<String, TopicError> {
    common_checks(NAME, topic)?;
    if topic.contains(['+', '#']) {
        return Err(invalid(
            NAME,
            topic,
            "wildcards are not allowed in a topic name",
        ));
    }
    let mut out = String::with_capacity(topic.len());
    for (i, level) in topic.split('/').enumerate() {
        level_ok(NAME, topic, level)?;
        if i > 0 {
            out.push('.');
        }
        out.push_str(level);
    }
    check_reserved(NAME, topic, &out)?;
    Ok(out)
}

/// A WAMP topic URI as an MQTT topic name: `a.b.c` → `a/b/c`. `None` when the URI has no
/// faithful MQTT form (an empty component, or `/`, `+`, `#` or NUL inside a component, or a
/// leading `$`): such events are not delivered to MQTT subscribers.
pub fn uri_to_topic(uri: &str) -> Option<String> {
    if uri.is_empty() || uri.starts_with('$') {
        return None;
    }
    let mut out = String::with_capacity(uri.len());
    for (i, c) in uri.split('.').enumerate() {
        if c.is_empty() || c.contains(['/', '+', '#', '\0']) {
            return None;
        }
        if i > 0 {
            out.push('/');
        }
        out.push_str(c);
    }
    Some(out)
}

/// An MQTT topic filter (SUBSCRIBE, UNSUBSCRIBE) as WAMP subscriptions.
pub fn filter_to_wamp(filter: &str) -> Result<WampFilter, TopicError> {
    if filter.starts_with("$share/") {
        return Err(TopicError::Shared(filter.to_owned()));
    }
    common_checks(FILTER, filter)?;
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    let mut has_plus = false;
    let mut has_hash = false;
    for (i, level) in levels.iter().enumerate() {
        match *level {
            "+" => has_plus = true,
            "#" if i == last => has_hash = true,
            "#" => return Err(invalid(FILTER, filter, "'#' must be the last level")),
            l if l.contains(['+', '#']) => {
                return Err(invalid(
                    FILTER,
                    filter,
                    "a wildcard must occupy a whole level",
                ))
            }
            l => level_ok(FILTER, filter, l)?,
        }
    }
    if has_plus && has_hash {
        return Err(unmappable(
            FILTER,
            filter,
            "'+' together with '#' has no WAMP match policy",
        ));
    }
    let pattern = |uri: String, policy| WampPattern { uri, policy };
    let patterns = if has_hash {
        let parent = levels[..last].join(".");
        if parent.is_empty() {
            vec![pattern(String::new(), MatchPolicy::Prefix)]
        } else {
            vec![
                pattern(parent.clone(), MatchPolicy::Exact),
                pattern(format!("{parent}."), MatchPolicy::Prefix),
            ]
        }
    } else if has_plus {
        let uri: Vec<&str> = levels
            .iter()
            .map(|l| if *l == "+" { "" } else { l })
            .collect();
        vec![pattern(uri.join("."), MatchPolicy::Wildcard)]
    } else {
        vec![pattern(levels.join("."), MatchPolicy::Exact)]
    };
    Ok(WampFilter { patterns })
}

/// True if the MQTT `filter` matches the MQTT `topic` by MQTT's own rules (`+` one level, `#`
/// the parent and everything below, `$`-topics only matched by filters that name the `$`
/// level). Used to check the mapping and to match retained messages and parked sessions.
pub fn mqtt_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && !filter.starts_with('$') {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}
