//! Workloads for the explorer: client operations, the model of what each one leaves
//! acknowledged, and the two generators — bounded-exhaustive (every sequence of up to three
//! operations over the interesting parameter classes) and seeded-random (long sequences).
//!
//! A workload is identified by its *case seed*: the top byte names the family (exhaustive or
//! random), the rest the index or seed. The case seed alone rebuilds the workload, which is
//! what makes `--seed S --cut C --model M` a complete replay.

use std::sync::Arc;

use cairn_wal::Durability;
use cairn_wal::format::{FRAME_HEADER_SIZE, SEAL_RESERVE, SEGMENT_HEADER_SIZE, frame_size};

use crate::rng::Rng;
use crate::system::{RECORD_SIZE_MAX, SmState};

/// The family byte of exhaustive case seeds.
pub const FAMILY_EXHAUSTIVE: u64 = 1;
/// The family byte of random case seeds.
pub const FAMILY_RANDOM: u64 = 2;
/// The family byte of threaded (group-commit) case seeds.
pub const FAMILY_THREADED: u64 = 3;

/// A case seed from a family and a 56-bit value.
pub fn case_seed(family: u64, value: u64) -> u64 {
    family << 56 | (value & ((1 << 56) - 1))
}

/// One client operation.
#[derive(Clone, Debug)]
pub enum Op {
    /// One record.
    Append {
        /// The record.
        payload: Vec<u8>,
        /// The level the append waits for.
        level: Durability,
    },
    /// An all-or-nothing batch.
    Batch {
        /// The records.
        payloads: Vec<Vec<u8>>,
        /// The level the append waits for.
        level: Durability,
    },
    /// `Wal::sync`.
    Sync,
    /// `Wal::truncate_back(lsn)`.
    TruncateBack {
        /// The first LSN dropped.
        lsn: u64,
    },
    /// Snapshot publish + `truncate_front` (see [`crate::system::Sys::checkpoint`]).
    Checkpoint,
    /// Close and recover again on the live file system.
    Reopen,
}

/// A workload: operations run after opening the system on an empty file system.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The case seed that rebuilds it.
    pub case_seed: u64,
    /// A readable description.
    pub name: String,
    /// The log's `segment_size_max`.
    pub segment_size_max: u64,
    /// The operations.
    pub ops: Vec<Op>,
    /// Whether the harness creates the base directory `/db` and syncs its entry before
    /// opening, as an application whose data directory exists would. Preamble 2 leaves it to
    /// the libraries (`Wal::open` and `SnapshotStore::open` create missing parents).
    pub base_dir_synced: bool,
    /// Operations before this index are a preamble: crash points inside it are explored by
    /// the preamble's own workload, not again by each workload that extends it.
    pub explore_from_op: usize,
}

/// One issued record.
#[derive(Clone, Debug)]
pub struct Rec {
    /// Its bytes.
    pub payload: Arc<[u8]>,
    /// Whether it ends its batch (single records always do).
    pub batch_end: bool,
}

/// The issued history: records by LSN (index `lsn - 1`) and the state after each prefix.
#[derive(Clone, Debug)]
pub struct History {
    /// The records.
    pub recs: Vec<Rec>,
    /// `states[n]` is the state machine after the first `n` records.
    pub states: Vec<SmState>,
}

impl History {
    /// The empty history.
    pub fn new() -> Self {
        Self {
            recs: Vec::new(),
            states: vec![SmState::EMPTY],
        }
    }

    /// The history of `payloads` appended one by one, each its own batch.
    pub fn of(payloads: &[Vec<u8>]) -> Self {
        let mut h = Self::new();
        for p in payloads {
            h.push(p, true);
        }
        h
    }

    /// How many records.
    pub fn len(&self) -> u64 {
        self.recs.len() as u64
    }

    /// Issues the next record (LSN `len() + 1`); `batch_end` if it ends its batch.
    pub fn push(&mut self, payload: &[u8], batch_end: bool) {
        let mut state = *self.states.last().expect("states has the empty prefix");
        let lsn = self.len() + 1;
        state.apply(lsn, payload);
        self.recs.push(Rec {
            payload: payload.into(),
            batch_end,
        });
        self.states.push(state);
    }

    fn truncate(&mut self, len: u64) {
        let len = usize::try_from(len).expect("histories are small");
        self.recs.truncate(len);
        self.states.truncate(len + 1);
    }
}

/// The model after some operations completed.
#[derive(Clone, Debug)]
pub struct Point {
    /// What the log holds.
    pub history: Arc<History>,
    /// Highest LSN that must survive power loss.
    pub fsync_req: u64,
    /// Highest LSN that must survive a process crash.
    pub buffered_req: u64,
    /// LSN of the newest snapshot published by a completed checkpoint.
    pub snap_lsn: u64,
}

/// The payload size classes of the exhaustive mode.
#[derive(Clone, Copy, Debug)]
pub enum Class {
    /// Zero bytes.
    Empty,
    /// 40 bytes.
    Small,
    /// 600 bytes: the frame crosses a 512 B sector boundary wherever it starts.
    Straddle,
    /// Exactly fills the rest of the active segment (clamped to the maximum).
    Boundary,
    /// One aligned step more than fits: forces a rotation.
    Over,
    /// `RECORD_SIZE_MAX`.
    Max,
    /// A given size.
    Sized(usize),
}

/// Tracks the model and the log's segment layout while a workload is built, to resolve
/// size classes and pick valid truncation points.
#[derive(Clone, Debug)]
pub struct Gen {
    point: Point,
    segment_size_max: u64,
    /// `(segment number, frame offset)` of each record.
    starts: Vec<(u64, u64)>,
    segment: u64,
    offset: u64,
    tag: u64,
}

impl Gen {
    /// An empty system with this segment size; `tag_base` makes payloads unique per case.
    pub fn new(segment_size_max: u64, tag_base: u64) -> Self {
        Self {
            point: Point {
                history: Arc::new(History::new()),
                fsync_req: 0,
                buffered_req: 0,
                snap_lsn: 0,
            },
            segment_size_max,
            starts: Vec::new(),
            segment: 1,
            offset: SEGMENT_HEADER_SIZE as u64,
            tag: tag_base,
        }
    }

    /// The model now.
    pub fn point(&self) -> &Point {
        &self.point
    }

    fn limit(&self) -> u64 {
        self.segment_size_max - SEAL_RESERVE as u64
    }

    /// The payload size a class resolves to here.
    pub fn size(&self, class: Class) -> usize {
        let remaining = self.limit().saturating_sub(self.offset);
        let fill = remaining.saturating_sub(FRAME_HEADER_SIZE as u64);
        let max = RECORD_SIZE_MAX as usize;
        match class {
            Class::Empty => 0,
            Class::Small => 40,
            Class::Straddle => 600,
            Class::Boundary => usize::try_from(fill).unwrap_or(max).min(max),
            Class::Over => usize::try_from(fill + 1).unwrap_or(max).min(max),
            Class::Max => max,
            Class::Sized(n) => n.min(max),
        }
    }

    /// A fresh, unique payload of `len` bytes.
    pub fn payload(&mut self, len: usize) -> Vec<u8> {
        self.tag += 1;
        payload(self.tag, len)
    }

    /// A payload of the given class.
    pub fn payload_of(&mut self, class: Class) -> Vec<u8> {
        let len = self.size(class);
        self.payload(len)
    }

    /// The first LSN of the last batch (or record), if truncating there is allowed.
    pub fn last_batch_start(&self) -> Option<u64> {
        let h = &self.point.history;
        let len = h.len();
        if len == 0 {
            return None;
        }
        let mut lsn = len;
        while lsn > 1 && !h.recs[usize::try_from(lsn - 2).ok()?].batch_end {
            lsn -= 1;
        }
        (lsn > self.point.snap_lsn).then_some(lsn)
    }

    /// Every LSN a `truncate_back` may name: batch starts above the snapshot.
    pub fn batch_starts(&self) -> Vec<u64> {
        let h = &self.point.history;
        (self.point.snap_lsn + 1..=h.len())
            .filter(|&lsn| lsn == 1 || h.recs[(lsn - 2) as usize].batch_end)
            .collect()
    }

    fn place(&mut self, sizes: &[usize]) {
        let total: u64 = sizes.iter().map(|&s| frame_size(s as u64)).sum();
        if self.offset + total > self.limit() {
            self.segment += 1;
            self.offset = SEGMENT_HEADER_SIZE as u64;
        }
        for &s in sizes {
            self.starts.push((self.segment, self.offset));
            self.offset += frame_size(s as u64);
        }
    }

    /// Applies `op` to the model.
    pub fn apply(&mut self, op: &Op) {
        let p = &mut self.point;
        let h = Arc::make_mut(&mut p.history);
        match op {
            Op::Append { payload, level } => {
                h.push(payload, true);
                raise(p, *level);
                self.place(&[payload.len()]);
            }
            Op::Batch { payloads, level } => {
                for (i, payload) in payloads.iter().enumerate() {
                    h.push(payload, i + 1 == payloads.len());
                }
                raise(p, *level);
                let sizes: Vec<usize> = payloads.iter().map(Vec::len).collect();
                self.place(&sizes);
            }
            Op::Sync | Op::Reopen => {
                p.fsync_req = h.len();
                p.buffered_req = h.len();
            }
            Op::Checkpoint => {
                p.fsync_req = h.len();
                p.buffered_req = h.len();
                p.snap_lsn = p.snap_lsn.max(h.len());
            }
            Op::TruncateBack { lsn } => {
                h.truncate(lsn - 1);
                p.fsync_req = p.fsync_req.min(lsn - 1);
                p.buffered_req = p.buffered_req.min(lsn - 1);
                let (segment, offset) = self.starts[(lsn - 1) as usize];
                self.starts.truncate((lsn - 1) as usize);
                self.segment = segment;
                self.offset = offset;
            }
        }
    }
}

fn raise(p: &mut Point, level: Durability) {
    let len = p.history.len();
    match level {
        Durability::Fsync => {
            p.fsync_req = len;
            p.buffered_req = len;
        }
        Durability::Buffered => p.buffered_req = len,
        _ => {}
    }
}

/// A payload of `len` bytes starting with `tag` (as far as it fits) and then bytes derived
/// from it, so records are distinguishable.
pub fn payload(tag: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend(tag.to_le_bytes().iter().take(len));
    let mut x = tag;
    while out.len() < len {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.push((x >> 59) as u8 + b'a');
    }
    out
}

/// The model points of a workload: `points[k]` after `k` operations.
pub fn points(w: &Workload) -> Vec<Point> {
    let mut g = Gen::new(w.segment_size_max, 0);
    let mut out = vec![g.point().clone()];
    for op in &w.ops {
        g.apply(op);
        out.push(g.point().clone());
    }
    out
}

/// The exhaustive alphabet: each symbol is one client operation over a parameter class.
pub const ALPHABET: [&str; 17] = [
    "append(empty,fsync)",
    "append(small,buffered)",
    "append(straddle,fsync)",
    "append(boundary,fsync)",
    "append(max,buffered)",
    "append(boundary,buffered)",
    "append(over,fsync)",
    "append(small,none)",
    "append(max,fsync)",
    "append(empty,buffered)",
    "append(straddle,buffered)",
    "batch(small+straddle,fsync)",
    "batch(max+empty,buffered)",
    "sync",
    "truncate_back(last batch)",
    "checkpoint",
    "reopen",
];

/// The alphabet the CI profile enumerates (indices into [`ALPHABET`]).
pub const ALPHABET_CI: [usize; 8] = [0, 2, 3, 4, 11, 14, 15, 16];

/// Segment size of the exhaustive workloads: 8 KiB.
pub const EXHAUSTIVE_SEGMENT_SIZE: u64 = 8192;
/// How many preambles there are (0: empty; 1: four fsync'd records, 1,944 B left in the
/// segment; 2: empty, and the base directory is not created by the harness).
pub const PREAMBLES: u64 = 3;
const RADIX: u64 = ALPHABET.len() as u64 + 1;

/// The case seed of exhaustive workload `(preamble, symbols)`.
pub fn exhaustive_seed(preamble: u64, symbols: &[usize]) -> u64 {
    assert!(symbols.len() <= 3 && preamble < PREAMBLES);
    let mut digits = [0u64; 3];
    for (i, s) in symbols.iter().enumerate() {
        digits[i] = *s as u64 + 1;
    }
    case_seed(
        FAMILY_EXHAUSTIVE,
        ((preamble * RADIX + digits[0]) * RADIX + digits[1]) * RADIX + digits[2],
    )
}

/// Builds exhaustive workload from its case seed; `None` if the seed names no valid workload
/// (a truncation with nothing to truncate).
pub fn exhaustive(case: u64) -> Option<Workload> {
    let mut v = case & ((1 << 56) - 1);
    let d2 = v % RADIX;
    v /= RADIX;
    let d1 = v % RADIX;
    v /= RADIX;
    let d0 = v % RADIX;
    let preamble = v / RADIX;
    if preamble >= PREAMBLES {
        return None;
    }
    let mut symbols = Vec::new();
    for d in [d0, d1, d2] {
        if d == 0 {
            break;
        }
        symbols.push(usize::try_from(d - 1).ok()?);
    }
    let mut g = Gen::new(EXHAUSTIVE_SEGMENT_SIZE, case << 8);
    let mut ops = Vec::new();
    let mut name = format!("preamble {preamble}:");
    if preamble == 1 {
        for _ in 0..4 {
            let op = Op::Append {
                payload: g.payload(1240),
                level: Durability::Fsync,
            };
            g.apply(&op);
            ops.push(op);
        }
    }
    let explore_from_op = ops.len();
    for &s in &symbols {
        let op = symbol_op(&mut g, s)?;
        name.push(' ');
        name.push_str(ALPHABET[s]);
        g.apply(&op);
        ops.push(op);
    }
    Some(Workload {
        case_seed: case,
        name,
        segment_size_max: EXHAUSTIVE_SEGMENT_SIZE,
        ops,
        base_dir_synced: preamble != 2,
        explore_from_op: if symbols.is_empty() {
            0
        } else {
            explore_from_op
        },
    })
}

fn symbol_op(g: &mut Gen, s: usize) -> Option<Op> {
    use Durability::{Buffered, Fsync};
    let append = |g: &mut Gen, class, level| Op::Append {
        payload: g.payload_of(class),
        level,
    };
    Some(match s {
        0 => append(g, Class::Empty, Fsync),
        1 => append(g, Class::Small, Buffered),
        2 => append(g, Class::Straddle, Fsync),
        3 => append(g, Class::Boundary, Fsync),
        4 => append(g, Class::Max, Buffered),
        5 => append(g, Class::Boundary, Buffered),
        6 => append(g, Class::Over, Fsync),
        7 => append(g, Class::Small, Durability::None),
        8 => append(g, Class::Max, Fsync),
        9 => append(g, Class::Empty, Buffered),
        10 => append(g, Class::Straddle, Buffered),
        11 => Op::Batch {
            payloads: vec![g.payload_of(Class::Small), g.payload_of(Class::Straddle)],
            level: Fsync,
        },
        12 => Op::Batch {
            payloads: vec![g.payload_of(Class::Max), g.payload_of(Class::Empty)],
            level: Buffered,
        },
        13 => Op::Sync,
        14 => Op::TruncateBack {
            lsn: g.last_batch_start()?,
        },
        15 => Op::Checkpoint,
        16 => Op::Reopen,
        _ => return None,
    })
}

/// Every exhaustive case seed over `alphabet`, shortest first.
pub fn exhaustive_cases(alphabet: &[usize], preambles: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for &p in preambles {
        out.push(exhaustive_seed(p, &[]));
        for &a in alphabet {
            out.push(exhaustive_seed(p, &[a]));
        }
        for &a in alphabet {
            for &b in alphabet {
                out.push(exhaustive_seed(p, &[a, b]));
            }
        }
        for &a in alphabet {
            for &b in alphabet {
                for &c in alphabet {
                    out.push(exhaustive_seed(p, &[a, b, c]));
                }
            }
        }
    }
    out
}

/// Segment size of the random workloads: 4 KiB, the minimum, so rotation is frequent.
pub const RANDOM_SEGMENT_SIZE: u64 = 4096;

/// The case seed of a random workload: `op_count` in bits 40..56, the seed below.
pub fn random_seed(seed: u64, op_count: usize) -> u64 {
    case_seed(
        FAMILY_RANDOM,
        (op_count as u64 & 0xffff) << 40 | (seed & ((1 << 40) - 1)),
    )
}

/// The seeded random workload a case seed names (see [`random_seed`]).
pub fn random(case: u64) -> Workload {
    use Durability::{Buffered, Fsync};
    let op_count = usize::try_from(case >> 40 & 0xffff).unwrap_or(0);
    let mut rng = Rng::new(case);
    let mut g = Gen::new(RANDOM_SEGMENT_SIZE, case << 8);
    let mut ops = Vec::with_capacity(op_count);
    let level = |rng: &mut Rng| match rng.below(20) {
        0..=7 => Fsync,
        8..=16 => Buffered,
        _ => Durability::None,
    };
    for _ in 0..op_count {
        let op = match rng.below(100) {
            0..=49 => {
                let class = match rng.below(20) {
                    0 => Class::Empty,
                    1..=10 => Class::Sized(1 + rng.below(200) as usize),
                    11..=15 => Class::Sized(200 + rng.below(1000) as usize),
                    16 => Class::Max,
                    17 => Class::Over,
                    _ => Class::Boundary,
                };
                Op::Append {
                    payload: g.payload_of(class),
                    level: level(&mut rng),
                }
            }
            50..=63 => {
                let n = 2 + rng.below(4) as usize;
                let payloads = (0..n)
                    .map(|_| {
                        let len = rng.below(400) as usize;
                        g.payload(len)
                    })
                    .collect();
                let level = if rng.below(2) == 0 { Fsync } else { Buffered };
                Op::Batch { payloads, level }
            }
            64..=75 => Op::Sync,
            76..=84 => {
                let starts = g.batch_starts();
                if starts.is_empty() {
                    Op::Sync
                } else {
                    // Mostly near the end, as Raft conflicts are.
                    let k = starts.len();
                    let back = (rng.below(4) as usize).min(k - 1);
                    Op::TruncateBack {
                        lsn: starts[k - 1 - back],
                    }
                }
            }
            85..=93 => Op::Checkpoint,
            _ => Op::Reopen,
        };
        g.apply(&op);
        ops.push(op);
    }
    Workload {
        case_seed: case,
        name: format!("random({op_count} ops)"),
        segment_size_max: RANDOM_SEGMENT_SIZE,
        ops,
        base_dir_synced: true,
        explore_from_op: 0,
    }
}

/// Rebuilds any sequential workload from its case seed.
pub fn from_case(case: u64) -> Option<Workload> {
    match case >> 56 {
        FAMILY_EXHAUSTIVE => exhaustive(case),
        FAMILY_RANDOM => Some(random(case)),
        _ => None,
    }
}
