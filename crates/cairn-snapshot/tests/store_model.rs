//! Property test of the store against a model (a `BTreeSet` of ids plus the set of stray
//! temporary files): random sequences of publish, abandon, crash-leftover temp files,
//! delete, reopen and power cut on `cairn-sim`; after every step the store lists exactly
//! what the model holds, newest first.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use cairn_io::Vfs;
use cairn_sim::{CrashModel, SimVfs};
use cairn_snapshot::{Error, NewSnapshot, SnapshotId, SnapshotStore, StoreOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

const DIR: &str = "/store";
const RETAIN: u32 = 3;

#[derive(Clone, Debug)]
enum Step {
    /// Create, write `size` bytes, publish.
    Publish { lsn: u64, term: u64, size: usize },
    /// Create, write, drop without publishing.
    Abandon { lsn: u64, term: u64 },
    /// A crash's leftover: a temporary file the store did not finish.
    LeaveTemp { lsn: u64, term: u64 },
    /// Delete the `index`-th newest snapshot (or a missing id if there are fewer).
    Delete { index: usize },
    /// Drop the store and open it again.
    Reopen,
    /// Power loss keeping only what was synced, then reopen on the rebooted machine.
    PowerCut,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0_u64..40, 0_u64..3, 0_usize..10_000).prop_map(|(lsn, term, size)| Step::Publish { lsn, term, size }),
        1 => (0_u64..40, 0_u64..3).prop_map(|(lsn, term)| Step::Abandon { lsn, term }),
        1 => (0_u64..40, 0_u64..3).prop_map(|(lsn, term)| Step::LeaveTemp { lsn, term }),
        2 => (0_usize..4).prop_map(|index| Step::Delete { index }),
        1 => Just(Step::Reopen),
        1 => Just(Step::PowerCut),
    ]
}

fn open(sim: &SimVfs) -> SnapshotStore {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    SnapshotStore::open(
        DIR,
        StoreOptions::default()
            .retain_count(RETAIN)
            .chunk_size(4096),
        vfs,
    )
    .expect("open")
}

fn temp_name(id: SnapshotId) -> String {
    format!("{DIR}/snap-{:020}-{:020}.tmp", id.lsn, id.term)
}

fn run(steps: &[Step], seed: u64) -> Result<(), TestCaseError> {
    let mut sim = SimVfs::new(seed);
    let mut store = open(&sim);
    let mut model: BTreeSet<SnapshotId> = BTreeSet::new();
    let mut temps: BTreeSet<SnapshotId> = BTreeSet::new();
    for (i, step) in steps.iter().enumerate() {
        match *step {
            Step::Publish { lsn, term, size } => {
                let id = SnapshotId::new(lsn, term);
                let result = store
                    .create(NewSnapshot::new(lsn, term))
                    .and_then(|mut pending| {
                        pending.write_all(&vec![lsn as u8; size])?;
                        pending.publish()
                    });
                if model.last().is_some_and(|&newest| id <= newest) {
                    prop_assert!(
                        matches!(result, Err(Error::NotNewer { .. })),
                        "step {i}: {result:?}"
                    );
                } else if temps.contains(&id) {
                    prop_assert!(
                        matches!(result, Err(Error::AlreadyExists { .. })),
                        "step {i}: {result:?}"
                    );
                } else {
                    let published =
                        result.map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
                    prop_assert_eq!(published.meta.payload_size, size as u64);
                    model.insert(id);
                    let mut expected_pruned = Vec::new();
                    while model.len() > RETAIN as usize {
                        expected_pruned.push(model.pop_first().expect("non-empty"));
                    }
                    expected_pruned.reverse();
                    prop_assert_eq!(published.pruned, expected_pruned);
                }
            }
            Step::Abandon { lsn, term } => {
                if let Ok(mut pending) = store.create(NewSnapshot::new(lsn, term)) {
                    pending.write_all(b"abandoned").expect("write");
                }
            }
            Step::LeaveTemp { lsn, term } => {
                let id = SnapshotId::new(lsn, term);
                if let Ok(file) = sim.create_new(temp_name(id).as_ref()) {
                    file.write_all_at(b"CRNSNAP\x01 half a snapshot", 0)
                        .expect("write");
                    temps.insert(id);
                }
            }
            Step::Delete { index } => {
                let target = model.iter().rev().nth(index).copied();
                let id = target.unwrap_or(SnapshotId::new(1000, 0));
                let result = store.delete(id);
                if target.is_some() {
                    prop_assert!(result.is_ok(), "step {i}: {result:?}");
                    model.remove(&id);
                } else {
                    prop_assert!(
                        matches!(result, Err(Error::NotFound { .. })),
                        "step {i}: {result:?}"
                    );
                }
            }
            Step::Reopen => {
                drop(store);
                store = open(&sim);
                let removed: BTreeSet<String> = store
                    .removed_temp_files()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                let expected: BTreeSet<String> = temps.iter().map(|&id| temp_name(id)).collect();
                prop_assert_eq!(removed, expected, "step {}", i);
                temps.clear();
            }
            Step::PowerCut => {
                drop(store);
                sim.crash();
                sim = sim.crash_image(&CrashModel::DropAll);
                store = open(&sim);
                // Leftover temp files were never made durable by a directory fsync.
                temps.clear();
            }
        }
        let expected: Vec<SnapshotId> = model.iter().rev().copied().collect();
        prop_assert_eq!(
            store.ids().expect("ids"),
            expected.clone(),
            "step {}: {:?}",
            i,
            step
        );
        let listed: Vec<SnapshotId> = store
            .list()
            .expect("list")
            .into_iter()
            .map(|entry| entry.meta.expect("meta readable").id())
            .collect();
        prop_assert_eq!(listed, expected.clone());
        let latest = store.latest_valid().expect("latest_valid");
        prop_assert!(latest.skipped.is_empty());
        prop_assert_eq!(latest.snapshot.map(|m| m.id()), expected.first().copied());
    }
    Ok(())
}

#[test]
fn store_matches_model() {
    let seed = common::seed("store_model");
    let config = Config {
        cases: 128,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(
        &(proptest::collection::vec(step(), 1..40), any::<u64>()),
        |(steps, sim_seed)| run(&steps, sim_seed),
    );
    if let Err(e) = result {
        panic!("{e}\nreplay: CAIRN_SEED={seed} cargo test -p cairn-snapshot --test store_model");
    }
}
