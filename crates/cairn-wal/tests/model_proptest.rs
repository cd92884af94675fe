//! Property test against a model: random sequences of appends, batches, syncs, truncations
//! at both ends, reopens and power cuts on `cairn-sim`. After every recovery the log must be a
//! prefix of the model's history holding every acknowledged record at its level, with no
//! batch split. Seeded from `CAIRN_SEED`; 40 cases of 260 operations each (10,400 in all).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use cairn_sim::{CrashModel, SECTOR_512, SimVfs};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const DIR: &str = "/log";
const CASES: u32 = 40;
const OPS_PER_CASE: usize = 260;

#[derive(Clone, Debug)]
enum Op {
    Append { len: u16, level: u8 },
    Batch { count: u8, len: u16, level: u8 },
    Sync,
    TruncateFront { at: u8 },
    TruncateBack { at: u8 },
    Reopen,
    PowerCut { model: u8, seed: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u16..600, 0u8..3).prop_map(|(len, level)| Op::Append { len, level }),
        3 => (1u8..6, 0u16..300, 0u8..3).prop_map(|(count, len, level)| Op::Batch { count, len, level }),
        2 => Just(Op::Sync),
        1 => any::<u8>().prop_map(|at| Op::TruncateFront { at }),
        1 => any::<u8>().prop_map(|at| Op::TruncateBack { at }),
        1 => Just(Op::Reopen),
        2 => (0u8..4, any::<u64>()).prop_map(|(model, seed)| Op::PowerCut { model, seed }),
    ]
}

fn options() -> WalOptions {
    WalOptions {
        segment_size_max: 4096,
        record_size_max: 1024,
        ..WalOptions::default()
    }
}

fn level(l: u8) -> Durability {
    [Durability::None, Durability::Buffered, Durability::Fsync][usize::from(l % 3)]
}

struct Model {
    /// The current log: LSN → payload.
    log: BTreeMap<u64, Vec<u8>>,
    front: u64,
    next: u64,
    /// Highest LSN that must survive a power loss / a process crash.
    durable: u64,
    in_os: u64,
    /// LSNs that are inside a batch (not its last record).
    inside_batch: BTreeSet<u64>,
    counter: u64,
}

impl Model {
    fn payload(&mut self, len: u16) -> Vec<u8> {
        self.counter += 1;
        let mut v = vec![(self.counter % 251) as u8; usize::from(len).max(8)];
        v[..8].copy_from_slice(&self.counter.to_le_bytes());
        v
    }

    fn acked(&mut self, last: u64, d: Durability) {
        match d {
            Durability::Fsync => {
                self.durable = last;
                self.in_os = last;
            }
            Durability::Buffered => self.in_os = last,
            _ => {}
        }
    }

    /// Checks a recovered log against the model and adopts it.
    fn check_recovered(&mut self, wal: &Wal, required: u64) -> Result<(), TestCaseError> {
        let records: Vec<(Lsn, bytes::Bytes)> = wal
            .reader(Lsn::FIRST)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(wal.first_lsn().get(), self.front, "front watermark");
        let last = records.last().map_or(self.front - 1, |r| r.0.get());
        prop_assert!(
            last >= required,
            "lost acknowledged records: last {} < {}",
            last,
            required
        );
        prop_assert!(
            !self.inside_batch.contains(&last),
            "a batch was split at {}",
            last
        );
        for (i, (lsn, payload)) in records.iter().enumerate() {
            prop_assert_eq!(lsn.get(), self.front + i as u64, "LSNs dense");
            let want = self.log.get(&lsn.get());
            prop_assert!(
                want.is_some_and(|w| w[..] == payload[..]),
                "record {} differs from the model",
                lsn
            );
        }
        self.log.retain(|&l, _| l <= last);
        self.inside_batch.retain(|&l| l <= last);
        self.next = last + 1;
        self.durable = last;
        self.in_os = last;
        prop_assert_eq!(wal.next_lsn().get(), self.next);
        Ok(())
    }
}

fn run(ops: Vec<Op>, sim_seed: u64) -> Result<(), TestCaseError> {
    let mut sim = SimVfs::new(sim_seed);
    let open = |sim: &SimVfs| Wal::open(Path::new(DIR), options(), Arc::new(sim.clone()));
    let mut wal = open(&sim)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .0;
    let mut m = Model {
        log: BTreeMap::new(),
        front: 1,
        next: 1,
        durable: 0,
        in_os: 0,
        inside_batch: BTreeSet::new(),
        counter: 0,
    };
    for op in ops {
        match op {
            Op::Append { len, level: l } => {
                let p = m.payload(len);
                let lsn = wal
                    .append(&p, level(l))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(lsn.get(), m.next);
                m.log.insert(m.next, p);
                m.next += 1;
                m.acked(lsn.get(), level(l));
            }
            Op::Batch {
                count,
                len,
                level: l,
            } => {
                let records: Vec<Vec<u8>> = (0..count).map(|_| m.payload(len)).collect();
                let range = wal
                    .append_batch(&records, level(l))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(range.start().get(), m.next);
                for p in records {
                    m.log.insert(m.next, p);
                    m.next += 1;
                }
                for l in range.start().get()..range.end().get() {
                    m.inside_batch.insert(l);
                }
                m.acked(range.end().get(), level(l));
            }
            Op::Sync => {
                wal.sync().map_err(|e| TestCaseError::fail(e.to_string()))?;
                m.durable = m.next - 1;
                m.in_os = m.next - 1;
            }
            Op::TruncateFront { at } => {
                let lsn = m.front + (m.next - m.front) * u64::from(at) / 255;
                wal.truncate_front(Lsn::new(lsn))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                if lsn > m.front {
                    m.durable = m.durable.max(lsn - 1);
                    m.in_os = m.in_os.max(lsn - 1);
                    m.front = lsn;
                    m.log.retain(|&l, _| l >= lsn);
                }
                prop_assert_eq!(wal.first_lsn().get(), m.front);
            }
            Op::TruncateBack { at } => {
                let lsn = m.front + (m.next - m.front) * u64::from(at) / 255;
                if lsn == 0 || m.inside_batch.contains(&(lsn - 1)) {
                    continue;
                }
                wal.truncate_back(Lsn::new(lsn))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                if lsn < m.next {
                    m.log.retain(|&l, _| l < lsn);
                    m.inside_batch.retain(|&l| l < lsn);
                    m.next = lsn;
                    m.durable = m.durable.min(lsn - 1);
                    m.in_os = m.in_os.min(lsn - 1);
                }
            }
            Op::Reopen => {
                drop(wal);
                let (w, _) = open(&sim).map_err(|e| TestCaseError::fail(e.to_string()))?;
                wal = w;
                let required = m.in_os.max(m.front - 1);
                m.check_recovered(&wal, required)?;
            }
            Op::PowerCut { model, seed } => {
                let (crash, required) = match model {
                    0 => (CrashModel::DropAll, m.durable),
                    1 => (CrashModel::RandomSubset { seed }, m.durable),
                    2 => (
                        CrashModel::Torn {
                            sector_size: SECTOR_512,
                            psow: false,
                            seed,
                        },
                        m.durable,
                    ),
                    _ => (CrashModel::Process, m.in_os),
                };
                let image = sim.crash_image(&crash);
                drop(wal);
                sim = image;
                let (w, _) = open(&sim)
                    .map_err(|e| TestCaseError::fail(format!("recovery after {crash:?}: {e}")))?;
                wal = w;
                m.check_recovered(&wal, required.max(m.front - 1))?;
            }
        }
    }
    Ok(())
}

#[test]
fn wal_matches_model_across_power_cuts() {
    let seed = common::seed("model_proptest");
    let config = Config {
        cases: CASES,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (prop::collection::vec(op(), OPS_PER_CASE), any::<u64>());
    runner
        .run(&strategy, |(ops, sim_seed)| run(ops, sim_seed))
        .unwrap();
    println!(
        "operations checked: {}",
        u64::from(CASES) * OPS_PER_CASE as u64
    );
}
