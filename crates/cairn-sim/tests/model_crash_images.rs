//! Model test: every power-loss image built from a prefix or a subset of the pending
//! operations equals the reference model with that prefix or subset applied to its durable
//! state; a process-crash image keeps everything written and everything still pending.

mod common;

use cairn_sim::{CrashModel, OpFate, SECTOR_4K, SECTOR_512};
use proptest::collection::vec;
use proptest::prelude::any;
use proptest::test_runner::TestRunner;

use common::{Model, config, run_step, seed, setup, step};

/// Checks the image `model` builds against the model with `fates` applied.
fn check(sim: &cairn_sim::SimVfs, model: &Model, crash: &CrashModel) {
    let plan = crash
        .plan_for(&sim.pending_ops())
        .expect("a power-loss model has a plan");
    assert!(
        plan.fates
            .iter()
            .all(|fate| matches!(fate, OpFate::Keep | OpFate::Drop))
    );
    let image = sim.crash_image(crash);
    let expected = model.after_power_loss(&plan.fates);
    assert_eq!(
        image.live_tree(),
        expected.live_tree(),
        "image under {crash:?}"
    );
    assert_eq!(
        image.durable_tree(),
        expected.durable_tree(),
        "durable image under {crash:?}"
    );
    assert_eq!(image.pending_count(), 0);
}

#[test]
fn prefix_and_subset_images_match_the_model() {
    let seed = seed("model_crash_images");
    let mut runner = TestRunner::new(config(seed, 300));
    let input = (
        vec(step(false, true), 1..30),
        vec(any::<u64>(), 8),
        0u64..u64::MAX,
    );
    runner
        .run(&input, |(steps, masks, sim_seed)| {
            let mut sim = setup(sim_seed);
            let mut model = Model::default();
            for step in &steps {
                run_step(&mut sim, &mut model, step);
            }
            let pending_count = sim.pending_count();
            assert_eq!(pending_count, model.pending.len());
            for n in 0..=pending_count + 1 {
                check(&sim, &model, &CrashModel::Prefix(n));
            }
            if pending_count <= 8 {
                for mask in 0..1u64 << pending_count {
                    check(&sim, &model, &CrashModel::Subset(mask));
                }
            } else {
                for mask in &masks {
                    check(&sim, &model, &CrashModel::Subset(*mask));
                }
            }
            for seed in &masks {
                check(&sim, &model, &CrashModel::RandomSubset { seed: *seed });
            }
            check(&sim, &model, &CrashModel::DropAll);

            // Torn images: tears touch only bytes, so the names are the model's with every
            // tear counted as kept.
            for (seed, psow) in masks.iter().zip([true, false].into_iter().cycle()) {
                for sector_size in [SECTOR_512, SECTOR_4K] {
                    let torn = CrashModel::Torn {
                        sector_size,
                        psow,
                        seed: *seed,
                    };
                    let plan = torn.plan_for(&sim.pending_ops()).unwrap();
                    let kept: Vec<OpFate> = plan
                        .fates
                        .iter()
                        .map(|fate| match fate {
                            OpFate::Tear { .. } => OpFate::Keep,
                            other => other.clone(),
                        })
                        .collect();
                    let image = sim.crash_image(&torn);
                    let names = |tree: cairn_sim::Tree| tree.files.into_keys().collect::<Vec<_>>();
                    let expected = model.after_power_loss(&kept).live_tree();
                    assert_eq!(names(image.live_tree()), names(expected), "{torn:?}");
                    assert_eq!(image.pending_count(), 0);
                }
            }

            // A process crash keeps the live state and what is pending.
            let process = sim.crash_image(&CrashModel::Process);
            assert_eq!(process.live_tree(), model.live_tree());
            assert_eq!(process.durable_tree(), model.durable_tree());
            assert_eq!(process.pending_count(), pending_count);
            // Building images changed nothing on the source.
            assert_eq!(sim.live_tree(), model.live_tree());
            assert_eq!(sim.pending_count(), pending_count);
            Ok(())
        })
        .unwrap();
}
