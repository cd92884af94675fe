//! Model test: cutting a random workload after its k-th mutating call freezes the simulator
//! in exactly the state an uncut run had after k calls, records exactly the first k calls of
//! the uncut trace, and lets nothing after the cut change anything.

mod common;

use cairn_io::{Op, OpenMode, Vfs};
use cairn_sim::{CrashModel, FaultKind, FaultRule, SimVfs, TraceEvent};
use proptest::collection::vec;
use proptest::prelude::any;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;

use common::{DIR, Model, Step, config, path, run_step, seed, setup, step};

/// Issues the same calls as [`run_step`] but ignores every result: the cut run.
fn run_blind(sim: &SimVfs, step: &Step) {
    let open = |name: u8| sim.open(&path(name), OpenMode::ReadWrite);
    match *step {
        Step::Create(n) => drop(sim.create_new(&path(n))),
        Step::Write(n, offset, ref data) => {
            if let Ok(file) = open(n) {
                let _ = file.write_all_at(data, offset);
            }
        }
        Step::SetLen(n, len) => {
            if let Ok(file) = open(n) {
                let _ = file.set_len(len);
            }
        }
        Step::Sync(n) => {
            if let Ok(file) = open(n) {
                let _ = file.sync_data();
            }
        }
        Step::SyncFail(n) => {
            if let Ok(file) = open(n) {
                sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::SyncData).nth(1));
                let _ = file.sync_data();
                sim.clear_faults();
                let _ = file.sync_data();
            }
        }
        Step::Rename(a, b) => drop(sim.rename(&path(a), &path(b))),
        Step::Remove(n) => drop(sim.remove_file(&path(n))),
        Step::SyncDir => drop(sim.sync_dir(DIR.as_ref())),
        Step::PowerCut => unreachable!("the strategy excludes power cuts"),
    }
}

fn calls(sim: &SimVfs) -> Vec<TraceEvent> {
    sim.trace()
        .into_iter()
        .filter(|event| matches!(event, TraceEvent::Call(_)))
        .collect()
}

#[test]
fn a_cut_freezes_the_state_of_the_uncut_run_at_that_call() {
    let seed = seed("model_crash_cut");
    let mut runner = TestRunner::new(config(seed, 200));
    let input = (
        vec(step(false, true), 1..30),
        any::<Index>(),
        0u64..u64::MAX,
    );
    runner
        .run(&input, |(steps, pick, sim_seed)| {
            // The uncut run, with the state at every step boundary.
            let mut uncut = setup(sim_seed);
            let mut model = Model::default();
            let mut boundaries = vec![(
                uncut.stats().mutating_calls,
                uncut.live_tree(),
                uncut.durable_tree(),
                uncut.pending_ops(),
            )];
            for step in &steps {
                run_step(&mut uncut, &mut model, step);
                boundaries.push((
                    uncut.stats().mutating_calls,
                    uncut.live_tree(),
                    uncut.durable_tree(),
                    uncut.pending_ops(),
                ));
            }
            let (cut, live, durable, pending) = pick.get(&boundaries).clone();

            let sim = setup(sim_seed);
            sim.crash_after_call(cut);
            for step in &steps {
                run_blind(&sim, step);
            }
            assert!(sim.is_crashed());
            assert_eq!(sim.stats().mutating_calls, cut);
            assert_eq!(sim.live_tree(), live);
            assert_eq!(sim.durable_tree(), durable);
            assert_eq!(sim.pending_ops(), pending);
            let uncut_calls = calls(&uncut);
            assert_eq!(
                calls(&sim),
                uncut_calls[..usize::try_from(cut).unwrap()].to_vec()
            );
            assert_eq!(
                sim.trace().last(),
                Some(&TraceEvent::Crash { after_call: cut })
            );
            // The rebooted images agree with the uncut run's at that point.
            let image = sim.crash_image(&CrashModel::DropAll);
            assert_eq!(image.live_tree(), durable);
            Ok(())
        })
        .unwrap();
}
