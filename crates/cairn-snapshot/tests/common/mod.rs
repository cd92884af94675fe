//! Helpers shared by the integration tests: seeded randomness with a replay line, payload
//! generation, and opening stores on temporary directories.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use cairn_io::{StdVfs, Vfs};
use cairn_snapshot::{NewSnapshot, Published, SnapshotStore, StoreOptions};

/// Reads `CAIRN_SEED` or takes one from the clock, and prints it with a replay command.
pub fn seed(test_binary: &str) -> u64 {
    let seed = std::env::var("CAIRN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    println!(
        "seed: {seed} (replay: CAIRN_SEED={seed} cargo test -p cairn-snapshot --test {test_binary})"
    );
    seed
}

/// SplitMix64: a tiny, seedable generator for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// The real file system behind an `Arc<dyn Vfs>`.
pub fn std_vfs() -> Arc<dyn Vfs> {
    Arc::new(StdVfs::new())
}

/// Opens a store on `dir` with the real file system.
pub fn open_store(dir: &Path, options: StoreOptions) -> SnapshotStore {
    SnapshotStore::open(dir, options, std_vfs()).expect("open store")
}

/// Writes and publishes one snapshot with `payload`, created at a fixed time.
pub fn publish(store: &SnapshotStore, lsn: u64, term: u64, payload: &[u8]) -> Published {
    let mut pending = store
        .create(
            NewSnapshot::new(lsn, term)
                .created_unix_nanos(lsn * 1000)
                .user_meta(b"meta".to_vec()),
        )
        .expect("create");
    pending.write_all(payload).expect("write payload");
    pending.publish().expect("publish")
}
