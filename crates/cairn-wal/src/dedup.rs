//! De-duplication of re-sent appends by BLAKE3 content hash over a bounded window.
//!
//! Two maps, double-buffered: inserts go to the active one; when it holds half the window it
//! becomes the previous one and a fresh map becomes active, so memory stays bounded and a
//! payload is remembered for at least `window / 2` and at most `window` appends.

use std::collections::HashMap;

use cairn_crc::Digest;

/// The two maps of the window.
#[derive(Debug, Default)]
pub(crate) struct Dedup {
    active: HashMap<Digest, u64>,
    previous: HashMap<Digest, u64>,
    half: usize,
}

impl Dedup {
    pub(crate) fn new(window: u32) -> Self {
        let half = (window as usize).div_ceil(2).max(1);
        Self {
            active: HashMap::new(),
            previous: HashMap::new(),
            half,
        }
    }

    /// The LSN a payload with this digest was appended at, if it is in the window.
    pub(crate) fn get(&self, digest: &Digest) -> Option<u64> {
        self.active
            .get(digest)
            .or_else(|| self.previous.get(digest))
            .copied()
    }

    /// Remembers a payload's LSN.
    pub(crate) fn insert(&mut self, digest: Digest, lsn: u64) {
        if self.active.len() >= self.half {
            self.previous = std::mem::take(&mut self.active);
        }
        self.active.insert(digest, lsn);
        debug_assert!(self.active.len() <= self.half && self.previous.len() <= self.half);
    }

    /// Forgets every LSN at or above `lsn` (after a suffix truncation).
    pub(crate) fn forget_from(&mut self, lsn: u64) {
        self.active.retain(|_, l| *l < lsn);
        self.previous.retain(|_, l| *l < lsn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_bounded_and_remembers_recent() {
        let mut d = Dedup::new(4);
        for i in 0..10u64 {
            d.insert(Digest::of(&i.to_le_bytes()), i);
        }
        assert_eq!(d.get(&Digest::of(&9u64.to_le_bytes())), Some(9));
        assert_eq!(d.get(&Digest::of(&8u64.to_le_bytes())), Some(8));
        assert_eq!(d.get(&Digest::of(&0u64.to_le_bytes())), None);
        d.forget_from(9);
        assert_eq!(d.get(&Digest::of(&9u64.to_le_bytes())), None);
    }
}
