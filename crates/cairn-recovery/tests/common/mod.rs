//! Helpers shared by the integration tests: a small key-value state machine whose state
//! names the exact prefix of history it has applied, the model that replays that history,
//! seeded randomness with a replay line, and simulator set-up.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use cairn_io::Vfs;
use cairn_recovery::{DurableOptions, RecoverOptions, StateMachine};
use cairn_sim::SimVfs;
use cairn_snapshot::StoreOptions;
use cairn_wal::{Lsn, WalOptions};

/// Reads `CAIRN_SEED` or takes one from the clock, and prints it with a replay command.
pub fn seed(test_binary: &str) -> u64 {
    let seed = std::env::var("CAIRN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| {
                    u64::try_from(d.as_nanos() % u128::from(u64::MAX)).unwrap_or(0)
                })
        });
    let line = format!(
        "seed: {seed} (replay: CAIRN_SEED={seed} cargo test -p cairn-recovery --test {test_binary})"
    );
    println!("{line}");
    eprintln!("{line}");
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
}

/// An operation on [`Kv`]: set `key` to `value` (0 deletes), padded to `len` bytes.
pub fn op(key: u8, value: u64, pad: usize) -> Vec<u8> {
    let mut out = vec![key];
    out.extend_from_slice(&value.to_le_bytes());
    out.resize(9 + pad, 0xab);
    out
}

/// A deterministic random op sequence.
pub fn ops(rng: &mut Rng, count: usize, pad_max: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let pad = usize::try_from(rng.below(pad_max + 1)).unwrap();
            op(u8::try_from(rng.below(16)).unwrap(), rng.below(1000), pad)
        })
        .collect()
}

/// The state machine of the tests: a map from key to value (an agent's memory), a count of
/// records applied and a hash chain over (LSN, payload) of every record, so that two states
/// are equal only if they applied the same history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    /// The map.
    pub map: BTreeMap<u8, u64>,
    /// Records applied.
    pub count: u64,
    /// The hash chain.
    pub chain: u64,
}

thread_local! {
    static FAIL_NEXT_APPLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static FAIL_NEXT_RESTORE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes the next [`Kv::restore`] on this thread fail.
pub fn fail_next_restore() {
    FAIL_NEXT_RESTORE.with(|f| f.set(true));
}

/// Makes the next [`Kv::apply`] on this thread fail (a transient fault: not in the state).
pub fn fail_next_apply() {
    FAIL_NEXT_APPLY.with(|f| f.set(true));
}

impl Kv {
    /// The state after applying `ops` at LSNs 1, 2, ...
    pub fn after(ops: &[Vec<u8>]) -> Kv {
        let mut kv = Kv::default();
        for (i, op) in ops.iter().enumerate() {
            kv.apply(Lsn::new(i as u64 + 1), op)
                .expect("model ops apply");
        }
        kv
    }

    /// Equality (kept as a method so call sites read as a check).
    pub fn same(&self, other: &Kv) -> bool {
        self == other
    }
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl StateMachine for Kv {
    type Error = io::Error;

    fn apply(&mut self, lsn: Lsn, payload: &[u8]) -> io::Result<()> {
        if FAIL_NEXT_APPLY.with(|f| f.replace(false)) {
            return Err(io::Error::other("injected apply failure"));
        }
        if payload.len() < 9 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "short op"));
        }
        let key = payload[0];
        let value = u64::from_le_bytes(payload[1..9].try_into().expect("8 bytes"));
        if value == 0 {
            self.map.remove(&key);
        } else {
            self.map.insert(key, value);
        }
        self.count += 1;
        self.chain = fnv(fnv(self.chain, &lsn.get().to_le_bytes()), payload);
        Ok(())
    }

    fn snapshot(&self, writer: &mut dyn Write) -> io::Result<()> {
        writer.write_all(&self.count.to_le_bytes())?;
        writer.write_all(&self.chain.to_le_bytes())?;
        writer.write_all(&u32::try_from(self.map.len()).unwrap().to_le_bytes())?;
        for (&k, &v) in &self.map {
            writer.write_all(&[k])?;
            writer.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    }

    fn restore(&mut self, reader: &mut dyn Read) -> io::Result<()> {
        if FAIL_NEXT_RESTORE.with(|f| f.replace(false)) {
            return Err(io::Error::other("injected restore failure"));
        }
        let mut u64b = [0u8; 8];
        reader.read_exact(&mut u64b)?;
        let count = u64::from_le_bytes(u64b);
        reader.read_exact(&mut u64b)?;
        let chain = u64::from_le_bytes(u64b);
        let mut u32b = [0u8; 4];
        reader.read_exact(&mut u32b)?;
        let len = u32::from_le_bytes(u32b);
        if len > 256 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "too many keys"));
        }
        let mut map = BTreeMap::new();
        for _ in 0..len {
            let mut entry = [0u8; 9];
            reader.read_exact(&mut entry)?;
            map.insert(
                entry[0],
                u64::from_le_bytes(entry[1..].try_into().expect("8 bytes")),
            );
        }
        *self = Kv { map, count, chain };
        Ok(())
    }
}

/// Small segments and chunks, so a test crosses segment and chunk boundaries quickly.
pub fn wal_options() -> WalOptions {
    WalOptions {
        segment_size_max: 16 << 10,
        record_size_max: 4 << 10,
        buffer_size_max: 4 << 10,
        ..WalOptions::default()
    }
}

/// Recovery options for the tests.
pub fn recover_options(retain_count: u32) -> RecoverOptions {
    RecoverOptions {
        wal: wal_options(),
        store: StoreOptions::default()
            .retain_count(retain_count)
            .chunk_size(4096),
        progress_interval_records: 8,
        ..RecoverOptions::default()
    }
}

/// `Durable` options with automatic checkpoints off.
pub fn durable_options(retain_count: u32) -> DurableOptions {
    DurableOptions {
        recover: recover_options(retain_count),
        checkpoint_wal_bytes: 0,
        checkpoint_interval: None,
        ..DurableOptions::default()
    }
}

/// A simulator as a shared Vfs.
pub fn vfs(sim: &SimVfs) -> Arc<dyn Vfs> {
    Arc::new(sim.clone())
}
