//! Model test: random workloads (create, write, `set_len`, sync, failed sync, rename,
//! remove, directory sync, power cut) against a reference model of live and durable state.
//!
//! After every step the live tree, the durable tree and the number of pending operations
//! must match the model; a clean sync must make the file's durable bytes equal its live
//! bytes; a failed fsync followed by a successful one must still lose the dropped data; and
//! a power cut that drops everything unsynced must reboot into exactly the model's durable
//! state.

mod common;

use cairn_sim::CrashModel;
use proptest::collection::vec;
use proptest::test_runner::TestRunner;

use common::{Model, config, run_step, seed, setup, step};

#[test]
fn power_loss_drops_exactly_the_unsynced_operations() {
    let seed = seed("model_power_loss");
    let mut runner = TestRunner::new(config(seed, 400));
    runner
        .run(
            &(vec(step(true, true), 1..40), 0u64..u64::MAX),
            |(steps, sim_seed)| {
                let mut sim = setup(sim_seed);
                let mut model = Model::default();
                for step in &steps {
                    run_step(&mut sim, &mut model, step);
                }
                // The final power cut: the image is the model's durable state, nothing pending.
                let image = sim.crash_image(&CrashModel::DropAll);
                let rebooted = model.after_power_loss(&[]);
                assert_eq!(image.live_tree(), rebooted.live_tree());
                assert_eq!(image.durable_tree(), rebooted.durable_tree());
                assert_eq!(image.pending_count(), 0);
                Ok(())
            },
        )
        .unwrap();
}
