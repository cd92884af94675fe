//! The system every suite drives: a `cairn-wal` log and a `cairn-snapshot` store side by
//! side, with a small deterministic state machine applied from them, and the checkpoint and
//! recovery procedures that tie them together.
//!
//! The state machine is a running hash over `(lsn, payload)` with a record count, so any
//! lost, reordered, duplicated or altered record changes it. Its snapshot payload carries a
//! filler derived from the state, so a snapshot that verifies but holds the wrong bytes is
//! caught as well.

use std::cell::Cell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::LocalKey;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use cairn_io::Vfs;
use cairn_snapshot::{SnapshotStore, StoreOptions};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

/// Largest record the suites append (the "maximum size" parameter class).
pub const RECORD_SIZE_MAX: u32 = 2048;
/// Bytes of filler in a snapshot payload, so snapshot files span several sectors.
const SNAPSHOT_FILLER_SIZE: usize = 1500;
/// Payload bytes of a snapshot: the state, then the filler.
pub const SNAPSHOT_PAYLOAD_SIZE: usize = 16 + SNAPSHOT_FILLER_SIZE;

/// Where the log and the snapshots live.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The WAL directory.
    pub wal: PathBuf,
    /// The snapshot directory.
    pub snap: PathBuf,
    /// `segment_size_max` of the log.
    pub segment_size_max: u64,
}

impl Layout {
    /// The layout on the simulator: `/db/wal` and `/db/snap`.
    pub fn sim(segment_size_max: u64) -> Self {
        Self::under(Path::new("/db"), segment_size_max)
    }

    /// The layout under `base`.
    pub fn under(base: &Path, segment_size_max: u64) -> Self {
        Self {
            wal: base.join("wal"),
            snap: base.join("snap"),
            segment_size_max,
        }
    }

    /// The WAL options every suite uses: small segments so rotation happens often, and a
    /// group-commit delay long enough never to fire (a timer would make call sequences
    /// depend on the clock and break exact replay).
    pub fn wal_options(&self) -> WalOptions {
        WalOptions {
            segment_size_max: self.segment_size_max,
            record_size_max: RECORD_SIZE_MAX,
            group_commit_max_delay: Duration::from_secs(10),
            ..WalOptions::default()
        }
    }
}

/// The snapshot store options: the smallest chunk, two snapshots retained.
pub fn store_options() -> StoreOptions {
    StoreOptions::default().chunk_size(4096).retain_count(2)
}

/// The state machine: how many records were applied and a hash over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmState {
    /// Records applied.
    pub count: u64,
    /// FNV-1a over every applied `(lsn, length, payload)`.
    pub hash: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

impl SmState {
    /// The state before any record.
    pub const EMPTY: SmState = SmState {
        count: 0,
        hash: FNV_OFFSET,
    };

    /// Applies record `lsn`.
    pub fn apply(&mut self, lsn: u64, payload: &[u8]) {
        let mut h = fnv(self.hash, &lsn.to_le_bytes());
        h = fnv(h, &(payload.len() as u64).to_le_bytes());
        self.hash = fnv(h, payload);
        self.count += 1;
    }

    /// The snapshot payload: count, hash, filler derived from both.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SNAPSHOT_PAYLOAD_SIZE);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.hash.to_le_bytes());
        let mut x = self.hash ^ self.count;
        while out.len() < SNAPSHOT_PAYLOAD_SIZE {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            out.push((x >> 56) as u8);
        }
        out
    }

    /// Decodes a snapshot payload; `None` if it is not exactly what [`SmState::encode`]
    /// writes (a snapshot that verified but holds other bytes).
    pub fn decode(bytes: &[u8]) -> Option<SmState> {
        if bytes.len() != SNAPSHOT_PAYLOAD_SIZE {
            return None;
        }
        let count = u64::from_le_bytes(bytes[..8].try_into().ok()?);
        let hash = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
        let state = SmState { count, hash };
        (state.encode() == bytes).then_some(state)
    }
}

/// A running system: the open log and store and the applied state.
pub struct Sys {
    /// The log.
    pub wal: Wal,
    /// The snapshot store.
    pub store: SnapshotStore,
    /// The state after every record appended so far.
    pub state: SmState,
    /// The newest snapshot: its LSN and state.
    pub snap: (u64, SmState),
}

/// The state machine as `cairn-recovery` drives it; remembers the snapshot it restored.
#[derive(Debug)]
struct Machine {
    state: SmState,
    restored: Option<SmState>,
}

impl cairn_recovery::StateMachine for Machine {
    type Error = std::io::Error;

    fn apply(&mut self, lsn: Lsn, payload: &[u8]) -> std::io::Result<()> {
        self.state.apply(lsn.get(), payload);
        Ok(())
    }

    fn snapshot(&self, writer: &mut dyn Write) -> std::io::Result<()> {
        writer.write_all(&self.state.encode())
    }

    fn restore(&mut self, reader: &mut dyn Read) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        let state = SmState::decode(&bytes).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a snapshot that verified holds bytes the state machine never wrote",
            )
        })?;
        self.state = state;
        self.restored = Some(state);
        Ok(())
    }
}

thread_local! {
    static RECOVERING: Cell<bool> = const { Cell::new(false) };
    static HARNESS: Cell<bool> = const { Cell::new(false) };
}

/// Sets one of the current thread's phase flags while alive and restores its previous value
/// when dropped, also when a panic unwinds through it.
struct PhaseFlag {
    flag: &'static LocalKey<Cell<bool>>,
    was: bool,
}

impl PhaseFlag {
    fn enter(flag: &'static LocalKey<Cell<bool>>) -> Self {
        Self {
            flag,
            was: flag.with(|f| f.replace(true)),
        }
    }
}

impl Drop for PhaseFlag {
    fn drop(&mut self) {
        self.flag.with(|f| f.set(self.was));
    }
}

/// Whether the current thread is inside [`recover`] (the sync ablation tells recovery-time
/// syncs from run-time ones by it).
pub fn in_recovery() -> bool {
    RECOVERING.with(Cell::get)
}

/// Runs `f` as the harness's own set-up (not under test: the ablation leaves its syncs alone).
pub fn as_harness<T>(f: impl FnOnce() -> T) -> T {
    let _phase = PhaseFlag::enter(&HARNESS);
    f()
}

/// Whether the current thread runs harness set-up.
pub fn in_harness() -> bool {
    HARNESS.with(Cell::get)
}

/// What recovery found: the running system plus what was read to build it.
pub struct Recovered {
    /// The system, ready for more appends.
    pub sys: Sys,
    /// Every record the log holds, in order.
    pub records: Vec<(u64, Bytes)>,
    /// The snapshot recovery started from, if any: its LSN and state.
    pub snapshot: Option<(u64, SmState)>,
    /// Quarantine copies recovery made (they must survive a later power cut).
    pub quarantine_files: Vec<PathBuf>,
}

impl Recovered {
    /// The last LSN the recovered system holds (snapshot or log).
    pub fn last_lsn(&self) -> u64 {
        let snap = self.snapshot.map_or(0, |s| s.0);
        self.records.last().map_or(snap, |r| r.0.max(snap))
    }
}

/// Recovers with `cairn-recovery` (newest valid snapshot, then the log replayed after it)
/// and reads the whole log back through the WAL's own reader: the recovery every suite
/// checks.
///
/// # Errors
///
/// Any error of recovery or of reading the log.
pub fn recover(vfs: Arc<dyn Vfs>, layout: &Layout) -> Result<Recovered> {
    let _phase = PhaseFlag::enter(&RECOVERING);
    let options = cairn_recovery::RecoverOptions {
        wal: layout.wal_options(),
        store: store_options(),
        ..cairn_recovery::RecoverOptions::default()
    };
    let crl = cairn_recovery::Layout::new(&layout.wal, &layout.snap);
    let mut machine = Machine {
        state: SmState::EMPTY,
        restored: None,
    };
    let (wal, store, report) =
        cairn_recovery::recover(&crl, &options, vfs, &mut machine, &mut |_| {})
            .context("recovery")?;
    let records: Vec<(u64, Bytes)> = wal
        .reader(Lsn::FIRST)
        .context("reading the WAL")?
        .map(|r| r.map(|(lsn, p)| (lsn.get(), p)))
        .collect::<std::result::Result<_, _>>()
        .context("reading the WAL")?;
    let snapshot = report
        .snapshot
        .as_ref()
        .map(|meta| (meta.lsn, machine.restored.unwrap_or(SmState::EMPTY)));
    let snap = snapshot.unwrap_or((0, SmState::EMPTY));
    if report.applied_lsn.get() != records.last().map_or(snap.0, |r| r.0.max(snap.0)) {
        bail!(
            "recovery applied up to LSN {} but the log ends at {:?} and the snapshot is at {}",
            report.applied_lsn,
            records.last().map(|r| r.0),
            snap.0
        );
    }
    Ok(Recovered {
        sys: Sys {
            wal,
            store,
            state: machine.state,
            snap,
        },
        records,
        snapshot,
        quarantine_files: report.quarantined_files.clone(),
    })
}

impl Sys {
    /// Appends one record at `level` and applies it.
    pub fn append(&mut self, payload: &[u8], level: Durability) -> Result<u64> {
        let lsn = self.wal.append(payload, level)?.get();
        self.state.apply(lsn, payload);
        Ok(lsn)
    }

    /// Appends a batch at `level` and applies it; returns the first LSN.
    pub fn append_batch(&mut self, payloads: &[Vec<u8>], level: Durability) -> Result<u64> {
        let range = self.wal.append_batch(payloads, level)?;
        let first = range.start().get();
        for (i, p) in payloads.iter().enumerate() {
            self.state.apply(first + i as u64, p);
        }
        Ok(first)
    }

    /// Drops records from `lsn` on and rebuilds the state from the snapshot and the log.
    pub fn truncate_back(&mut self, lsn: u64) -> Result<()> {
        if lsn <= self.snap.0 {
            bail!("truncate_back({lsn}) below the snapshot at {}", self.snap.0);
        }
        self.wal.truncate_back(Lsn::new(lsn))?;
        let mut state = self.snap.1;
        for record in self.wal.reader(Lsn::new(self.snap.0 + 1))? {
            let (l, p) = record?;
            state.apply(l.get(), &p);
        }
        self.state = state;
        Ok(())
    }

    /// The checkpoint (`cairn_recovery::checkpoint`): the log durable up to the state, a
    /// snapshot published, the log's front truncated.
    pub fn checkpoint(&mut self) -> Result<()> {
        let last = self.wal.next_lsn().get() - 1;
        let machine = Machine {
            state: self.state,
            restored: None,
        };
        cairn_recovery::checkpoint(
            &self.wal,
            &self.store,
            &machine,
            Lsn::new(last),
            cairn_recovery::WalRetention::default(),
        )?;
        if last > self.snap.0 {
            self.snap = (last, self.state);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_harness_set_up_leaves_the_flag_clear() {
        let caught = std::panic::catch_unwind(|| as_harness(|| panic!("set-up failed")));
        assert!(caught.is_err());
        assert!(!in_harness());
        assert!(as_harness(in_harness));
        assert!(!in_harness());
    }
}
