//! The URI pattern index: which subscriptions (or registrations) match a concrete URI, for all
//! three WAMP match policies, without scanning every pattern.
//!
//! - exact: a hash map;
//! - prefix (character-level, `com.a.emergency` matches `com.a.emergency-low`): a hash map per
//!   prefix, probed only at the prefix lengths that exist, so a topic costs one lookup per
//!   distinct prefix length rather than one comparison per prefix;
//! - wildcard (an empty component matches any one component): a trie of components with a
//!   separate slot for the empty component, walked once per topic.

use std::collections::BTreeMap;

use hashbrown::HashMap;

use crate::wamp::uri::MatchPolicy;

/// Maps patterns to values of type `T` (ids) and finds every value whose pattern matches a URI.
#[derive(Debug)]
pub struct PatternIndex<T> {
    exact: HashMap<String, T>,
    prefix: HashMap<String, T>,
    /// Distinct prefix lengths in use, with how many prefixes have each.
    prefix_lengths: BTreeMap<usize, usize>,
    wildcard: WildNode<T>,
    wildcard_count: usize,
}

impl<T> Default for PatternIndex<T> {
    fn default() -> Self {
        PatternIndex {
            exact: HashMap::new(),
            prefix: HashMap::new(),
            prefix_lengths: BTreeMap::new(),
            wildcard: WildNode::default(),
            wildcard_count: 0,
        }
    }
}

#[derive(Debug)]
struct WildNode<T> {
    literal: HashMap<String, WildNode<T>>,
    any: Option<Box<WildNode<T>>>,
    /// The value of the pattern that ends here.
    value: Option<T>,
}

impl<T> Default for WildNode<T> {
    fn default() -> Self {
        WildNode {
            literal: HashMap::new(),
            any: None,
            value: None,
        }
    }
}

impl<T> WildNode<T> {
    fn is_empty(&self) -> bool {
        self.value.is_none() && self.literal.is_empty() && self.any.is_none()
    }

    fn collect<'a>(&'a self, components: &[&str], found: &mut impl FnMut(&'a T)) {
        let Some((first, rest)) = components.split_first() else {
            if let Some(v) = &self.value {
                found(v);
            }
            return;
        };
        if let Some(child) = self.literal.get(*first) {
            child.collect(rest, found);
        }
        if let Some(any) = &self.any {
            any.collect(rest, found);
        }
    }

    /// The best-ranked wildcard pattern that matches `components`, walking from this node at
    /// component `depth`.
    fn best<'a>(
        &'a self,
        components: &[&str],
        depth: usize,
        first_wild: Option<usize>,
        literals: usize,
        best: &mut Option<(WildRank, &'a T)>,
    ) {
        let Some((first, rest)) = components.split_first() else {
            if let Some(v) = &self.value {
                let rank = WildRank {
                    first_wild: first_wild.unwrap_or(depth),
                    literals,
                };
                if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                    *best = Some((rank, v));
                }
            }
            return;
        };
        if let Some(child) = self.literal.get(*first) {
            child.best(rest, depth + 1, first_wild, literals + 1, best);
        }
        if let Some(any) = &self.any {
            any.best(rest, depth + 1, first_wild.or(Some(depth)), literals, best);
        }
    }

    /// Removes the pattern `components`; prunes nodes left empty. Returns the removed value.
    fn remove(&mut self, components: &[&str]) -> Option<T> {
        let Some((first, rest)) = components.split_first() else {
            return self.value.take();
        };
        if first.is_empty() {
            let any = self.any.as_mut()?;
            let v = any.remove(rest);
            if any.is_empty() {
                self.any = None;
            }
            v
        } else {
            let child = self.literal.get_mut(*first)?;
            let v = child.remove(rest);
            if child.is_empty() {
                self.literal.remove(*first);
            }
            v
        }
    }
}

/// Most URIs have few components; deeper ones spill to the heap.
const INLINE_COMPONENTS: usize = 16;

/// How well a wildcard pattern matches a URI (all have its number of components): the one
/// whose first wildcard comes latest wins, then the one with the most literal components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct WildRank {
    first_wild: usize,
    literals: usize,
}

/// Splits `uri` into components without allocating for the common depths.
fn with_components<R>(uri: &str, f: impl FnOnce(&[&str]) -> R) -> R {
    let mut inline = [""; INLINE_COMPONENTS];
    let count = uri.split('.').count();
    if count <= INLINE_COMPONENTS {
        for (slot, c) in inline.iter_mut().zip(uri.split('.')) {
            *slot = c;
        }
        f(&inline[..count])
    } else {
        let components: Vec<&str> = uri.split('.').collect();
        f(&components)
    }
}

impl<T> PatternIndex<T> {
    /// Adds `pattern` under `policy`. Returns the previous value for the same pattern, if any.
    pub fn insert(&mut self, policy: MatchPolicy, pattern: &str, value: T) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.insert(pattern.to_owned(), value),
            MatchPolicy::Prefix => {
                let old = self.prefix.insert(pattern.to_owned(), value);
                if old.is_none() {
                    *self.prefix_lengths.entry(pattern.len()).or_insert(0) += 1;
                }
                old
            }
            MatchPolicy::Wildcard => {
                let mut node = &mut self.wildcard;
                for c in pattern.split('.') {
                    node = if c.is_empty() {
                        node.any.get_or_insert_with(Default::default)
                    } else {
                        node.literal.entry_ref(c).or_default()
                    };
                }
                let old = node.value.replace(value);
                if old.is_none() {
                    self.wildcard_count += 1;
                }
                old
            }
        }
    }

    /// Removes `pattern` under `policy`, returning its value.
    pub fn remove(&mut self, policy: MatchPolicy, pattern: &str) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(pattern),
            MatchPolicy::Prefix => {
                let old = self.prefix.remove(pattern)?;
                if let Some(n) = self.prefix_lengths.get_mut(&pattern.len()) {
                    *n -= 1;
                    if *n == 0 {
                        self.prefix_lengths.remove(&pattern.len());
                    }
                }
                Some(old)
            }
            MatchPolicy::Wildcard => {
                let components: Vec<&str> = pattern.split('.').collect();
                let old = self.wildcard.remove(&components)?;
                self.wildcard_count -= 1;
                Some(old)
            }
        }
    }

    /// The value stored for exactly this pattern and policy.
    pub fn get(&self, policy: MatchPolicy, pattern: &str) -> Option<&T> {
        match policy {
            MatchPolicy::Exact => self.exact.get(pattern),
            MatchPolicy::Prefix => self.prefix.get(pattern),
            MatchPolicy::Wildcard => {
                let mut node = &self.wildcard;
                for c in pattern.split('.') {
                    node = if c.is_empty() {
                        node.any.as_deref()?
                    } else {
                        node.literal.get(c)?
                    };
                }
                node.value.as_ref()
            }
        }
    }

    /// Calls `found` with every value whose pattern matches `uri`: the exact match first, then
    /// prefixes from shortest to longest, then wildcard patterns.
    pub fn for_each_match<'a>(&'a self, uri: &str, mut found: impl FnMut(&'a T)) {
        if let Some(v) = self.exact.get(uri) {
            found(v);
        }
        for &len in self.prefix_lengths.keys() {
            if len > uri.len() {
                break;
            }
            if let Some(v) = uri.get(..len).and_then(|p| self.prefix.get(p)) {
                found(v);
            }
        }
        if self.wildcard_count > 0 {
            with_components(uri, |components| {
                self.wildcard.collect(components, &mut found)
            });
        }
    }

    /// The value of the one pattern that decides for `uri` (a call's registration, a
    /// permission): the exact pattern, else the longest prefix, else the wildcard pattern whose
    /// first wildcard comes latest, then with the most literal components (the WAMP spec's
    /// rule for pattern-based registrations).
    pub fn best_match(&self, uri: &str) -> Option<&T> {
        if let Some(v) = self.exact.get(uri) {
            return Some(v);
        }
        for &len in self.prefix_lengths.keys().rev() {
            if let Some(v) = uri.get(..len).and_then(|p| self.prefix.get(p)) {
                return Some(v);
            }
        }
        if self.wildcard_count == 0 {
            return None;
        }
        let mut best = None;
        with_components(uri, |components| {
            self.wildcard.best(components, 0, None, 0, &mut best)
        });
        best.map(|(_, v)| v)
    }

    /// True when no pattern is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.prefix.is_empty()
            && self.wildcard_count == 0
            && self.wildcard.is_empty()
    }

    /// Number of patterns stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefix.len() + self.wildcard_count
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wamp::uri::wildcard_matches;

    fn matches(index: &PatternIndex<u32>, uri: &str) -> Vec<u32> {
        let mut v = Vec::new();
        index.for_each_match(uri, |x| v.push(*x));
        v.sort_unstable();
        v
    }

    #[test]
    fn all_three_policies() {
        let mut index = PatternIndex::default();
        index.insert(MatchPolicy::Exact, "com.a.emergency", 1);
        index.insert(MatchPolicy::Prefix, "com.a.emergency", 2);
        index.insert(MatchPolicy::Prefix, "com.a.", 3);
        index.insert(MatchPolicy::Prefix, "", 4);
        index.insert(MatchPolicy::Wildcard, "com..emergency", 5);
        index.insert(MatchPolicy::Wildcard, "com.a.", 6);
        assert_eq!(matches(&index, "com.a.emergency"), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(matches(&index, "com.a.emergency-low"), vec![2, 3, 4, 6]);
        assert_eq!(matches(&index, "com.b.emergency"), vec![4, 5]);
        assert_eq!(matches(&index, "com.a.x.y"), vec![3, 4]);
        assert_eq!(index.len(), 6);
        for (p, uri) in [
            (MatchPolicy::Exact, "com.a.emergency"),
            (MatchPolicy::Prefix, "com.a.emergency"),
            (MatchPolicy::Prefix, "com.a."),
            (MatchPolicy::Prefix, ""),
            (MatchPolicy::Wildcard, "com..emergency"),
            (MatchPolicy::Wildcard, "com.a."),
        ] {
            assert!(index.get(p, uri).is_some());
            assert!(index.remove(p, uri).is_some());
        }
        assert!(index.is_empty());
        assert!(index.prefix_lengths.is_empty());
    }

    fn component() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[ab]{1,2}"]
    }

    fn uri() -> impl Strategy<Value = String> {
        prop::collection::vec("[ab]{1,2}", 1..4).prop_map(|c| c.join("."))
    }

    fn pattern() -> impl Strategy<Value = (MatchPolicy, String)> {
        prop_oneof![
            uri().prop_map(|u| (MatchPolicy::Exact, u)),
            "[ab.]{0,5}".prop_map(|u| (MatchPolicy::Prefix, u)),
            prop::collection::vec(component(), 1..4)
                .prop_map(|c| (MatchPolicy::Wildcard, c.join("."))),
        ]
    }

    proptest! {
        /// The index agrees with a brute-force matcher after any insert/remove sequence, and
        /// leaves no empty trie nodes behind.
        #[test]
        fn agrees_with_brute_force(ops in prop::collection::vec((pattern(), any::<bool>()), 1..40), uris in prop::collection::vec(uri(), 1..10)) {
            let mut index = PatternIndex::default();
            let mut model: Vec<((MatchPolicy, String), u32)> = Vec::new();
            for (i, ((policy, p), add)) in ops.into_iter().enumerate() {
                if add {
                    index.insert(policy, &p, i as u32);
                    model.retain(|(k, _)| *k != (policy, p.clone()));
                    model.push(((policy, p), i as u32));
                } else {
                    let expect = model.iter().position(|(k, _)| *k == (policy, p.clone())).map(|i| model.remove(i).1);
                    prop_assert_eq!(index.remove(policy, &p), expect);
                }
            }
            for u in &uris {
                let mut expect: Vec<u32> = model.iter().filter(|((policy, p), _)| match policy {
                    MatchPolicy::Exact => p == u,
                    MatchPolicy::Prefix => u.starts_with(p.as_str()),
                    MatchPolicy::Wildcard => wildcard_matches(p, u),
                }).map(|(_, v)| *v).collect();
                expect.sort_unstable();
                prop_assert_eq!(matches(&index, u), expect);
                // best_match returns one of the matching patterns of the highest rank.
                let rank = |policy: MatchPolicy, p: &str| match policy {
                    MatchPolicy::Exact => (3, 0, 0),
                    MatchPolicy::Prefix => (2, p.len(), 0),
                    MatchPolicy::Wildcard => {
                        let c: Vec<&str> = p.split('.').collect();
                        let first_wild = c.iter().position(|x| x.is_empty()).unwrap_or(c.len());
                        (1, first_wild, c.iter().filter(|x| !x.is_empty()).count())
                    }
                };
                let matching: Vec<_> = model.iter().filter(|((policy, p), _)| policy.matches(p, u)).collect();
                let top = matching.iter().map(|((policy, p), _)| rank(*policy, p)).max();
                let best: Vec<u32> = matching.iter().filter(|((policy, p), _)| Some(rank(*policy, p)) == top).map(|(_, v)| *v).collect();
                match index.best_match(u) {
                    Some(v) => prop_assert!(best.contains(v), "{} chose {} of {:?}", u, v, best),
                    None => prop_assert!(best.is_empty()),
                }
            }
            for ((policy, p), _) in model.clone() {
                index.remove(policy, &p);
            }
            prop_assert!(index.is_empty());
            prop_assert!(index.wildcard.literal.is_empty() && index.wildcard.any.is_none());
        }
    }
}
