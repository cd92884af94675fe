//! The deterministic pseudo-random generator behind every choice the simulator makes.
//!
//! SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, full period, good enough
//! statistics for fault schedules and garbage bytes, and trivially reproducible from a seed.

/// The increment of SplitMix64: the odd constant nearest 2^64 / φ.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator whose stream is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// A value uniform in `0..bound`. `bound` must not be zero.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "SimRng::below needs a non-zero bound");
        // Lemire's multiply-shift; the bias is below 2^-32 for the small bounds used here.
        let value = ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64;
        assert!(value < bound);
        value
    }

    /// True with probability `per_million / 1_000_000`.
    pub(crate) fn chance_per_million(&mut self, per_million: u32) -> bool {
        assert!(
            per_million <= 1_000_000,
            "a probability is at most one million per million"
        );
        self.below(1_000_000) < u64::from(per_million)
    }

    /// Fills `buf` with random bytes.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The SplitMix64 output function; also used to derive independent seeds from one another.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from `seed` and a stream number, independent of both for practical purposes.
pub(crate) fn derive(seed: u64, stream: u64) -> u64 {
    mix(seed ^ mix(stream.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_bounds_hold() {
        let mut a = SimRng::new(42);
        let mut b = SimRng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(7) < 7);
            b.below(7);
        }
        assert_ne!(SimRng::new(1).next_u64(), SimRng::new(2).next_u64());
        assert_ne!(derive(1, 0), derive(1, 1));
    }
}
