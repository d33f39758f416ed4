//! URI rules as Crossbar applies them: `loose` (default) or `strict` per realm, with empty
//! components allowed only where a match policy needs them.

/// How strictly a realm checks URIs (Crossbar realm option `uri_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriCheck {
    /// Any component of non-whitespace characters other than `.` and `#`.
    #[default]
    Loose,
    /// Components of `[0-9a-z_]` only.
    Strict,
}

/// A subscription or registration match policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatchPolicy {
    /// The URI itself.
    #[default]
    Exact,
    /// Every URI that starts with these characters.
    Prefix,
    /// Empty components match any one component.
    Wildcard,
}

impl MatchPolicy {
    /// Parses the `match` option; `None` for an unknown policy.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// The option value as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }

    /// True if `uri` matches `pattern` under this policy (one pattern; many patterns are
    /// matched through `router::index::PatternIndex`).
    pub fn matches(self, pattern: &str, uri: &str) -> bool {
        match self {
            MatchPolicy::Exact => pattern == uri,
            MatchPolicy::Prefix => uri.starts_with(pattern),
            MatchPolicy::Wildcard => wildcard_matches(pattern, uri),
        }
    }
}

fn component_ok(c: &str, check: UriCheck) -> bool {
    match check {
        UriCheck::Loose => c.chars().all(|ch| !ch.is_whitespace() && ch != '#'),
        UriCheck::Strict => c
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_'),
    }
}

/// True if `uri` is valid for the given policy: exact URIs have no empty component, prefixes may
/// end in an empty component (so `""` and `"com.myapp."` are valid prefixes), wildcard patterns
/// may have empty components anywhere.
pub fn is_valid(uri: &str, check: UriCheck, policy: MatchPolicy) -> bool {
    let count = uri.split('.').count();
    uri.split('.').enumerate().all(|(i, c)| {
        if c.is_empty() {
            match policy {
                MatchPolicy::Exact => false,
                MatchPolicy::Prefix => i + 1 == count,
                MatchPolicy::Wildcard => true,
            }
        } else {
            component_ok(c, check)
        }
    })
}

/// True if `uri` matches the wildcard `pattern` (same number of components; an empty pattern
/// component matches any one component).
pub fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let mut p = pattern.split('.');
    let mut u = uri.split('.');
    loop {
        match (p.next(), u.next()) {
            (None, None) => return true,
            (Some(pc), Some(uc)) => {
                if !pc.is_empty() && pc != uc {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// True for URIs in the `wamp.` namespace, which the router reserves for itself.
pub fn is_reserved(uri: &str) -> bool {
    uri.starts_with("wamp.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_accepts_what_crossbar_accepts() {
        assert!(is_valid(
            "com.myapp.hello",
            UriCheck::Loose,
            MatchPolicy::Exact
        ));
        assert!(is_valid(
            "com.MyApp.Hello-World",
            UriCheck::Loose,
            MatchPolicy::Exact
        ));
        assert!(!is_valid("com..hello", UriCheck::Loose, MatchPolicy::Exact));
        assert!(!is_valid("com.my app", UriCheck::Loose, MatchPolicy::Exact));
        assert!(!is_valid("com.#x", UriCheck::Loose, MatchPolicy::Exact));
        assert!(!is_valid("", UriCheck::Loose, MatchPolicy::Exact));
        assert!(!is_valid("com.myapp.", UriCheck::Loose, MatchPolicy::Exact));
    }

    #[test]
    fn strict_rejects_upper_case_and_dashes() {
        assert!(is_valid(
            "com.myapp.hello_1",
            UriCheck::Strict,
            MatchPolicy::Exact
        ));
        assert!(!is_valid(
            "com.MyApp.hello",
            UriCheck::Strict,
            MatchPolicy::Exact
        ));
        assert!(!is_valid(
            "com.my-app",
            UriCheck::Strict,
            MatchPolicy::Exact
        ));
    }

    #[test]
    fn empty_components_only_where_the_policy_allows() {
        assert!(is_valid("", UriCheck::Strict, MatchPolicy::Prefix));
        assert!(is_valid(
            "com.myapp.",
            UriCheck::Strict,
            MatchPolicy::Prefix
        ));
        assert!(!is_valid("com..x", UriCheck::Strict, MatchPolicy::Prefix));
        assert!(is_valid("com..x", UriCheck::Strict, MatchPolicy::Wildcard));
        assert!(is_valid(".x.", UriCheck::Loose, MatchPolicy::Wildcard));
    }

    #[test]
    fn wildcard_matching_is_per_component() {
        assert!(wildcard_matches("com..temp", "com.dev1.temp"));
        assert!(!wildcard_matches("com..temp", "com.dev1.x.temp"));
        assert!(!wildcard_matches("com..temp", "com.temp"));
        assert!(wildcard_matches("..", "a.b.c"));
    }
}
