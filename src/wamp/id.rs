//! WAMP ids: global-scope ids are random in [1, 2^53]; protocol values are always `u64`.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The largest WAMP id, 2^53 (so ids survive a trip through an IEEE double in JavaScript).
pub const MAX_ID: u64 = 1 << 53;

/// A request id as the peer sent it must lie in [0, 2^53]; anything else is a protocol error.
pub fn is_valid_request_id(id: u64) -> bool {
    id <= MAX_ID
}

/// Draws global-scope ids (sessions, publications) uniformly from [1, 2^53].
#[derive(Debug)]
pub struct IdGenerator {
    rng: SmallRng,
}

impl IdGenerator {
    /// A generator seeded explicitly, so the router core stays deterministic under test.
    pub fn from_seed(seed: u64) -> Self {
        IdGenerator {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A random index in `0..n` (`n` > 0), for random callee selection.
    pub fn next_below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    /// The next random id in [1, 2^53].
    pub fn next_id(&mut self) -> u64 {
        (self.rng.next_u64() & (MAX_ID - 1)) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_in_range_and_vary() {
        let mut g = IdGenerator::from_seed(7);
        let ids: Vec<u64> = (0..10_000).map(|_| g.next_id()).collect();
        assert!(ids.iter().all(|&i| (1..=MAX_ID).contains(&i)));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
