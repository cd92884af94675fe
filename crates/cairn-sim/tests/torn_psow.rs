//! Model test: torn power-loss images under power-safe overwrite never damage durable bytes.
//!
//! A file with durable contents takes random pending writes; every torn image (seeded, at
//! 512 B and 4 KiB, and explicit plans with every piece fate) must keep each durable byte
//! either as it was or as one of the pending writes to that byte left it, and must never
//! shorten the file. Without PSOW the same plans may damage durable bytes, which the
//! zero-filled case checks does happen.

mod common;

use std::path::Path;

use cairn_io::Vfs;
use cairn_sim::{CrashModel, CrashPlan, OpFate, SECTOR_4K, SECTOR_512, SectorFate, SimVfs};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use common::{config, seed};

const FILE: &str = "/torn";

/// `(offset, data)` of each pending write, oldest first.
type Writes = Vec<(u64, Vec<u8>)>;

/// Asserts every durable byte of `durable` survives in `image` as itself or as a byte some
/// pending write put there.
fn assert_durable_bytes_intact(durable: &[u8], writes: &Writes, image: &[u8], what: &str) {
    assert!(
        image.len() >= durable.len(),
        "{what}: the file shrank to {}",
        image.len()
    );
    for (at, (old, now)) in durable.iter().zip(image).enumerate() {
        let at = at as u64;
        let written = writes.iter().any(|(offset, data)| {
            at >= *offset
                && at < offset + data.len() as u64
                && data[usize::try_from(at - offset).unwrap()] == *now
        });
        assert!(
            old == now || written,
            "{what}: durable byte {at} went from {old} to {now}"
        );
    }
}

fn fate() -> impl Strategy<Value = SectorFate> {
    prop_oneof![
        Just(SectorFate::Old),
        Just(SectorFate::New),
        Just(SectorFate::Zeros),
        Just(SectorFate::Garbage),
    ]
}

#[test]
fn psow_torn_images_never_damage_durable_bytes() {
    let seed = seed("torn_psow");
    let mut runner = TestRunner::new(config(seed, 300));
    let write = (0u64..12_000, vec(any::<u8>(), 1..5_000));
    let input = (
        vec(any::<u8>(), 0..10_000),
        vec(write, 1..6),
        vec(any::<u64>(), 4),
        vec(fate(), 64),
        0u64..u64::MAX,
    );
    runner
        .run(&input, |(initial, writes, seeds, fates, sim_seed)| {
            let sim = SimVfs::new(sim_seed);
            let file = sim.create_new(FILE.as_ref()).unwrap();
            file.write_all_at(&initial, 0).unwrap();
            file.sync_data().unwrap();
            sim.sync_dir("/".as_ref()).unwrap();
            for (offset, data) in &writes {
                file.write_all_at(data, *offset).unwrap();
            }
            let durable = sim.durable_file_bytes(FILE.as_ref()).unwrap();
            assert_eq!(durable, initial);
            let pending = sim.pending_ops();
            assert_eq!(pending.len(), writes.len());

            let torn = |image: &SimVfs| image.file_bytes(Path::new(FILE)).unwrap();
            for seed in &seeds {
                for sector_size in [SECTOR_512, SECTOR_4K] {
                    let model = CrashModel::Torn {
                        sector_size,
                        psow: true,
                        seed: *seed,
                    };
                    let image = sim.crash_image(&model);
                    let what = format!("{model:?}");
                    assert_durable_bytes_intact(&durable, &writes, &torn(&image), &what);
                }
            }
            // Explicit plans: every write torn, its pieces given the drawn fates.
            for sector_size in [SECTOR_512, SECTOR_4K] {
                let mut cursor = fates.iter().cycle();
                let plan_fates = pending
                    .iter()
                    .map(|op| OpFate::Tear {
                        sector_size,
                        pieces: (0..op.sector_count(sector_size))
                            .map(|_| *cursor.next().unwrap())
                            .collect(),
                    })
                    .collect::<Vec<_>>();
                let plan = CrashPlan {
                    fates: plan_fates.clone(),
                    psow: true,
                };
                let image = sim.crash_image(&CrashModel::Plan(plan));
                assert_durable_bytes_intact(&durable, &writes, &torn(&image), "explicit PSOW plan");

                // Without PSOW, zeroing every piece zeroes every overwritten durable byte.
                let zeros = plan_fates
                    .iter()
                    .zip(&pending)
                    .map(|(_, op)| OpFate::Tear {
                        sector_size,
                        pieces: vec![SectorFate::Zeros; op.sector_count(sector_size)],
                    })
                    .collect();
                let image = sim.crash_image(&CrashModel::Plan(CrashPlan {
                    fates: zeros,
                    psow: false,
                }));
                let bytes = torn(&image);
                for (offset, data) in &writes {
                    let start = usize::try_from(*offset).unwrap();
                    assert!(bytes[start..start + data.len()].iter().all(|b| *b == 0));
                }
            }
            Ok(())
        })
        .unwrap();
}
