//! Topic mapping: what MQTT clients rely on when they publish and subscribe through the bridge.

use proptest::prelude::*;

use super::topic::*;
use crate::wamp::uri::MatchPolicy;

fn pat(uri: &str, policy: MatchPolicy) -> WampPattern {
    WampPattern {
        uri: uri.into(),
        policy,
    }
}

#[test]
fn topic_names_map_level_by_level_both_ways() {
    assert_eq!(topic_to_uri("a/b/c").unwrap(), "a.b.c");
    assert_eq!(topic_to_uri("sensors").unwrap(), "sensors");
    assert_eq!(
        topic_to_uri("Home/Kitchen-1/temp_C").unwrap(),
        "Home.Kitchen-1.temp_C"
    );
    assert_eq!(uri_to_topic("a.b.c").as_deref(), Some("a/b/c"));
    assert_eq!(uri_to_topic("sensors").as_deref(), Some("sensors"));
}

#[test]
fn unmappable_topic_names_are_refused_not_altered() {
    for t in [
        "a.b/c",
        "/a",
        "a//b",
        "a/",
        "a b/c",
        "$SYS/uptime",
        "wamp/session/on_join",
    ] {
        assert!(
            matches!(topic_to_uri(t), Err(TopicError::Unmappable { .. })),
            "{t:?}: {:?}",
            topic_to_uri(t)
        );
    }
}

#[test]
fn invalid_topic_names_are_protocol_errors() {
    for t in ["", "a/+/c", "a/#", "+", "a\0b"] {
        assert!(
            matches!(topic_to_uri(t), Err(TopicError::Invalid { .. })),
            "{t:?}"
        );
    }
}

#[test]
fn wamp_uris_without_an_mqtt_form_are_not_delivered() {
    for u in ["", "a..b", "a.", ".a", "a.b/c", "a.+", "a.#", "$x.y"] {
        assert_eq!(uri_to_topic(u), None, "{u:?}");
    }
}

#[test]
fn filters_map_to_match_policies() {
    assert_eq!(
        filter_to_wamp("a/b").unwrap().patterns,
        vec![pat("a.b", MatchPolicy::Exact)]
    );
    assert_eq!(
        filter_to_wamp("a/+/c").unwrap().patterns,
        vec![pat("a..c", MatchPolicy::Wildcard)]
    );
    assert_eq!(
        filter_to_wamp("+").unwrap().patterns,
        vec![pat("", MatchPolicy::Wildcard)]
    );
    assert_eq!(
        filter_to_wamp("+/+").unwrap().patterns,
        vec![pat(".", MatchPolicy::Wildcard)]
    );
    assert_eq!(
        filter_to_wamp("#").unwrap().patterns,
        vec![pat("", MatchPolicy::Prefix)]
    );
}

#[test]
fn hash_filter_also_matches_its_parent_topic() {
    // MQTT: `a/#` matches `a`, `a/b` and `a/b/c`. WAMP prefix `a.` does not match `a`, so the
    // filter stands for two subscriptions that never overlap.
    let f = filter_to_wamp("a/b/#").unwrap();
    assert_eq!(
        f.patterns,
        vec![
            pat("a.b", MatchPolicy::Exact),
            pat("a.b.", MatchPolicy::Prefix)
        ]
    );
    for (uri, hits) in [
        ("a.b", 1),
        ("a.b.c", 1),
        ("a.b.c.d", 1),
        ("a.bc", 0),
        ("a", 0),
    ] {
        let n = f
            .patterns
            .iter()
            .filter(|p| p.policy.matches(&p.uri, uri))
            .count();
        assert_eq!(n, hits, "{uri}");
    }
}

#[test]
fn bad_filters_are_refused_with_their_reason() {
    for f in ["", "a/#/b", "a/b#", "a+/b", "#/a"] {
        assert!(
            matches!(filter_to_wamp(f), Err(TopicError::Invalid { .. })),
            "{f:?}"
        );
    }
    for f in ["a/+/#", "+/#", "a.b/+", "a//b", "$SYS/#", "a b"] {
        assert!(
            matches!(filter_to_wamp(f), Err(TopicError::Unmappable { .. })),
            "{f:?}"
        );
    }
    assert!(matches!(
        filter_to_wamp("$share/g/a/b"),
        Err(TopicError::Shared(_))
    ));
}

#[test]
fn mqtt_matching_follows_the_spec() {
    assert!(mqtt_matches("a/#", "a"));
    assert!(mqtt_matches("a/#", "a/b/c"));
    assert!(mqtt_matches("a/+/c", "a/b/c"));
    assert!(!mqtt_matches("a/+/c", "a/b/d"));
    assert!(!mqtt_matches("a/+", "a/b/c"));
    assert!(mqtt_matches("#", "x/y"));
    assert!(!mqtt_matches("#", "$SYS/x"));
    assert!(!mqtt_matches("+/x", "$SYS/x"));
}

fn level() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_\\-]{1,6}"
}

fn topic() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(level(), 1..5)
}

proptest! {
    #[test]
    fn topic_round_trip(levels in topic()) {
        let t = levels.join("/");
        let uri = topic_to_uri(&t).unwrap();
        prop_assert_eq!(uri_to_topic(&uri), Some(t));
    }

    /// For every mappable filter and topic, the WAMP patterns match the WAMP URI exactly when
    /// the MQTT filter matches the MQTT topic, and at most one pattern matches.
    #[test]
    fn filter_mapping_agrees_with_mqtt_matching(
        levels in topic(),
        filter_levels in proptest::collection::vec(prop_oneof![level(), Just("+".to_string()), Just("a".to_string())], 1..5),
        hash in any::<bool>(),
    ) {
        let mut f = filter_levels.join("/");
        if hash {
            f = if f.contains('+') { "#".into() } else { format!("{f}/#") };
        }
        let t = levels.join("/");
        let wamp = filter_to_wamp(&f).unwrap();
        let uri = topic_to_uri(&t).unwrap();
        let hits = wamp.patterns.iter().filter(|p| p.policy.matches(&p.uri, &uri)).count();
        prop_assert!(hits <= 1);
        prop_assert_eq!(hits == 1, mqtt_matches(&f, &t), "filter {} topic {}", f, t);
    }
}
