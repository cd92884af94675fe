//! Property test of `Durable` against a model (the list of changes issued, replayed into a
//! fresh state): random changes at every durability level, explicit and automatic
//! checkpoints, clean reopens, process crashes and power cuts (dropping all unsynced data or
//! a random subset of it) on `cairn-sim`. After every crash the recovered state must be the
//! model's state after a prefix of the changes that holds every change acknowledged at a
//! level that survives that crash; the model then forgets the lost suffix.

mod common;

use cairn_recovery::{Durable, DurableOptions};
use cairn_sim::{CrashModel, SimVfs};
use cairn_wal::Durability;
use common::{Kv, durable_options, op, vfs};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

const DIR: &str = "/db";

static ACTIONS: AtomicU64 = AtomicU64::new(0);
static RECOVERIES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug)]
enum Action {
    Apply {
        key: u8,
        value: u64,
        pad: u16,
        durability: Durability,
    },
    Checkpoint,
    Reopen,
    ProcessCrash,
    PowerCut {
        subset_seed: Option<u64>,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let durability = prop_oneof![
        Just(Durability::None),
        Just(Durability::Buffered),
        Just(Durability::Fsync),
    ];
    prop_oneof![
        12 => (0u8..16, 0u64..100, 0u16..700, durability).prop_map(|(key, value, pad, durability)| {
            Action::Apply { key, value, pad, durability }
        }),
        2 => Just(Action::Checkpoint),
        1 => Just(Action::Reopen),
        1 => Just(Action::ProcessCrash),
        2 => proptest::option::of(any::<u64>()).prop_map(|subset_seed| Action::PowerCut { subset_seed }),
    ]
}

/// The model: every change issued and still part of history, and how many of them are known
/// to survive a process crash and a power loss.
struct Model {
    history: Vec<Vec<u8>>,
    survives_process_crash: usize,
    survives_power_loss: usize,
}

fn options() -> DurableOptions {
    DurableOptions {
        checkpoint_wal_bytes: 6 << 10,
        ..durable_options(2)
    }
}

fn check_recovered(kv: &Durable<Kv>, model: &mut Model, floor: usize) -> Result<(), TestCaseError> {
    let n = usize::try_from(kv.state().count).unwrap();
    prop_assert!(n >= floor, "{floor} changes had to survive, {n} did");
    prop_assert!(
        n <= model.history.len(),
        "phantom changes: {n} > {}",
        model.history.len()
    );
    prop_assert!(
        kv.state().same(&Kv::after(&model.history[..n])),
        "the state is not the state after the first {n} changes"
    );
    model.history.truncate(n);
    RECOVERIES.fetch_add(1, Ordering::Relaxed);
    // Recovery makes what it found durable.
    model.survives_process_crash = n;
    model.survives_power_loss = n;
    Ok(())
}

fn run(case_seed: u64, actions: &[Action]) -> Result<(), TestCaseError> {
    let mut sim = SimVfs::new(case_seed);
    let mut model = Model {
        history: Vec::new(),
        survives_process_crash: 0,
        survives_power_loss: 0,
    };
    let (mut kv, _) = Durable::open(DIR, options(), vfs(&sim), Kv::default())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for action in actions {
        ACTIONS.fetch_add(1, Ordering::Relaxed);
        match action {
            Action::Apply {
                key,
                value,
                pad,
                durability,
            } => {
                let change = op(*key, *value, usize::from(*pad));
                let lsn = kv
                    .apply(&change, *durability)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.history.push(change);
                prop_assert_eq!(lsn.get(), model.history.len() as u64);
                if *durability >= Durability::Buffered {
                    model.survives_process_crash = model.history.len();
                }
                if *durability == Durability::Fsync {
                    model.survives_power_loss = model.history.len();
                }
                prop_assert!(kv.take_checkpoint_error().is_none());
            }
            Action::Checkpoint => {
                kv.checkpoint()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.survives_process_crash = model.history.len();
                model.survives_power_loss = model.history.len();
            }
            Action::Reopen => {
                kv.close().map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (reopened, _) = Durable::open(DIR, options(), vfs(&sim), Kv::default())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                kv = reopened;
                let all = model.history.len();
                check_recovered(&kv, &mut model, all)?;
            }
            Action::ProcessCrash | Action::PowerCut { .. } => {
                let (crash, floor) = match action {
                    Action::ProcessCrash => (CrashModel::Process, model.survives_process_crash),
                    Action::PowerCut {
                        subset_seed: Some(seed),
                    } => (
                        CrashModel::RandomSubset { seed: *seed },
                        model.survives_power_loss,
                    ),
                    _ => (CrashModel::DropAll, model.survives_power_loss),
                };
                sim.crash();
                let image = sim.crash_image(&crash);
                drop(kv);
                sim = image;
                let (reopened, _) = Durable::open(DIR, options(), vfs(&sim), Kv::default())
                    .map_err(|e| TestCaseError::fail(format!("recovery after {crash:?}: {e}")))?;
                kv = reopened;
                check_recovered(&kv, &mut model, floor)?;
            }
        }
    }
    Ok(())
}

#[test]
fn durable_matches_model_across_crashes() {
    let seed = common::seed("durable_model_proptest");
    let config = Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (any::<u64>(), vec(action(), 1..80));
    let result = runner.run(&strategy, |(case_seed, actions)| run(case_seed, &actions));
    let line = format!(
        "durable model: 256 cases, {} actions, {} reopens/crash recoveries checked",
        ACTIONS.load(Ordering::Relaxed),
        RECOVERIES.load(Ordering::Relaxed)
    );
    println!("{line}");
    eprintln!("{line}");
    if let Err(e) = result {
        panic!(
            "{e}\nseed: {seed} (replay: CAIRN_SEED={seed} cargo test -p cairn-recovery --test durable_model_proptest)"
        );
    }
}
