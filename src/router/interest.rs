//! Which other shards have subscribers a publication matches: the interest summary a shard
//! routes publications by, so that a publication crosses only to shards that deliver it.
//!
//! The realm's home shard is the only writer. When a shard gets its first local subscriber for
//! a (policy, URI), the home shard assigns the subscription id and tells every other shard that
//! this shard now has interest in it; each of them acknowledges to the subscribing shard, which
//! answers SUBSCRIBED only when it has the id and every acknowledgement. So the summary any
//! shard routes by already holds every subscription whose SUBSCRIBED was sent: an event
//! published after SUBSCRIBED was received is delivered. When a shard's last subscriber leaves,
//! the home shard tells every other shard to forget its interest. Both go out from the home
//! shard through the mailboxes, which are FIFO per pair of shards, so every shard sees a
//! shard's interest come and go in the order the home shard decided it.
//!
//! A stale entry (a removal still in flight) only costs a forwarded publication that finds no
//! subscriber; a missing one cannot happen for a subscription whose SUBSCRIBED was sent.

use super::index::PatternIndex;
use super::shard_msg::{Inner, SubKey};
use super::Core;

/// A set of shard indexes (any number of shards: one bit each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ShardSet {
    words: Vec<u64>,
}

impl ShardSet {
    /// Adds `shard`; returns true if it was not in the set.
    pub(crate) fn insert(&mut self, shard: usize) -> bool {
        let (word, bit) = (shard / 64, 1u64 << (shard % 64));
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let fresh = self.words[word] & bit == 0;
        self.words[word] |= bit;
        fresh
    }

    /// Removes `shard`; returns true if it was in the set.
    pub(crate) fn remove(&mut self, shard: usize) -> bool {
        let (word, bit) = (shard / 64, 1u64 << (shard % 64));
        match self.words.get_mut(word) {
            Some(w) if *w & bit != 0 => {
                *w &= !bit;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Empties the set, keeping its storage (reused for every publication).
    fn clear(&mut self) {
        self.words.fill(0);
    }

    fn union_with(&mut self, other: &ShardSet) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
    }

    /// The shards in the set, in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(i * 64 + bit)
            })
        })
    }
}

/// One realm's interest summary on one shard: for each (policy, URI) some other shard has local
/// subscribers for, which shards those are. This shard's own subscriptions are not in it (the
/// broker's local index has them).
#[derive(Debug, Default)]
pub(crate) struct Interest {
    index: PatternIndex<ShardSet>,
}

impl Interest {
    fn add(&mut self, key: &SubKey, shard: usize) {
        let mut shards = self.index.remove(key.policy, &key.uri).unwrap_or_default();
        shards.insert(shard);
        self.index.insert(key.policy, &key.uri, shards);
    }

    fn remove(&mut self, key: &SubKey, shard: usize) {
        if let Some(mut shards) = self.index.remove(key.policy, &key.uri) {
            shards.remove(shard);
            if !shards.is_empty() {
                self.index.insert(key.policy, &key.uri, shards);
            }
        }
    }

    /// Adds to `into` every shard with a subscription matching `topic`.
    pub(crate) fn collect(&self, topic: &str, into: &mut ShardSet) {
        self.index
            .for_each_match(topic, |shards| into.union_with(shards));
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl Core {
    /// Home shard: `holder` now has local subscribers for `key`. Every other shard learns it;
    /// returns how many acknowledgements `holder` must wait for (this shard's own is implied).
    pub(super) fn announce_interest(&mut self, realm: usize, key: &SubKey, holder: usize) -> usize {
        let mut acks = 0;
        for shard in 0..self.shards {
            if shard == holder {
                continue;
            }
            if shard == self.shard {
                self.realms[realm].broker.interest.add(key, holder);
            } else {
                let msg = Inner::InterestAdd {
                    realm,
                    key: key.clone(),
                    holder,
                };
                self.send_to_shard(shard, msg);
                acks += 1;
            }
        }
        acks
    }

    /// Home shard: `holder`'s last local subscriber for `key` left.
    pub(super) fn withdraw_interest(&mut self, realm: usize, key: &SubKey, holder: usize) {
        for shard in 0..self.shards {
            if shard == holder {
                continue;
            }
            if shard == self.shard {
                self.realms[realm].broker.interest.remove(key, holder);
            } else {
                let msg = Inner::InterestRemove {
                    realm,
                    key: key.clone(),
                    holder,
                };
                self.send_to_shard(shard, msg);
            }
        }
    }

    /// From the home shard: `holder` has subscribers for `key`; `holder` waits for this answer.
    pub(super) fn interest_added(&mut self, realm: usize, key: SubKey, holder: usize) {
        self.realms[realm].broker.interest.add(&key, holder);
        self.send_to_shard(holder, Inner::InterestAck { realm, key });
    }

    /// From the home shard: `holder` has no subscriber for `key` any more.
    pub(super) fn interest_removed(&mut self, realm: usize, key: &SubKey, holder: usize) {
        self.realms[realm].broker.interest.remove(key, holder);
    }

    /// The other shards a publication in `realm` to `topic` must reach: those with matching
    /// subscribers; every shard for a retained event (each keeps the retained events it serves);
    /// the home shard when the realm keeps event histories (it records them).
    pub(super) fn forward_targets(&mut self, realm: usize, topic: &str, retain: bool) -> ShardSet {
        let mut targets = std::mem::take(&mut self.route_targets);
        targets.clear();
        let r = &self.realms[realm];
        if retain {
            for shard in 0..self.shards {
                targets.insert(shard);
            }
        } else {
            r.broker.interest.collect(topic, &mut targets);
            if !r.history.is_empty() {
                targets.insert(self.home_shard(realm));
            }
        }
        targets.remove(self.shard);
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::ShardSet;

    #[test]
    fn shard_sets_hold_any_shard_number() {
        let mut set = ShardSet::default();
        assert!(set.is_empty());
        for shard in [0, 3, 63, 64, 130] {
            assert!(set.insert(shard));
            assert!(!set.insert(shard));
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 3, 63, 64, 130]);
        assert!(set.remove(64));
        assert!(!set.remove(64));
        assert!(!set.remove(1000));
        let mut other = ShardSet::default();
        other.insert(1);
        other.insert(64);
        set.union_with(&other);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 1, 3, 63, 64, 130]);
        set.clear();
        assert!(set.is_empty());
        assert_eq!(set.iter().count(), 0);
    }
}
