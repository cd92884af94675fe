//! Unit tests of the crash models: process crash keeps pending work pending, prefix and
//! subset replay in order, seeded models replay from their seed, and torn writes split at
//! sector boundaries into old, new, zero and garbage pieces, with and without power-safe
//! overwrite.

use std::path::Path;

use cairn_io::Vfs;
use cairn_sim::{
    CrashModel, CrashPlan, OpFate, PendingKind, SECTOR_4K, SECTOR_512, SectorFate, SimVfs,
};

fn p(path: &str) -> &Path {
    Path::new(path)
}

/// Bytes made of `(value, count)` runs.
fn runs(parts: &[(u8, usize)]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|(value, count)| std::iter::repeat_n(*value, *count))
        .collect()
}

/// `/f` durable with 1024 bytes of 0xAA, then an unsynced 1024-byte write of 0xBB at 512.
fn torn_setup() -> SimVfs {
    let sim = SimVfs::new(1);
    let file = sim.create_new(p("/f")).unwrap();
    sim.sync_dir(p("/")).unwrap();
    file.write_all_at(&[0xAA; 1024], 0).unwrap();
    file.sync_data().unwrap();
    file.write_all_at(&[0xBB; 1024], 512).unwrap();
    sim
}

#[test]
fn process_crash_keeps_writes_but_not_their_durability() {
    let sim = SimVfs::new(2);
    let file = sim.create_new(p("/f")).unwrap();
    file.write_all_at(b"cached", 0).unwrap();
    let image = sim.crash_image(&CrashModel::Process);
    assert_eq!(image.file_bytes(p("/f")).unwrap(), b"cached");
    assert_eq!(image.pending_count(), 2);
    assert_eq!(image.pending_ops(), sim.pending_ops());
    // A power loss after the process crash still loses it all.
    assert!(
        !image
            .crash_image(&CrashModel::DropAll)
            .exists(p("/f"))
            .unwrap()
    );
    // Images are independent of their source and of each other.
    image.create_new(p("/g")).unwrap();
    assert!(!sim.exists(p("/g")).unwrap());
}

#[test]
fn pending_ops_describe_what_a_power_loss_may_keep() {
    let sim = SimVfs::new(3);
    sim.create_dir_all(p("/d")).unwrap();
    let file = sim.create_new(p("/d/f")).unwrap();
    file.write_all_at(b"abc", 5).unwrap();
    file.set_len(2).unwrap();
    let ops = sim.pending_ops();
    let kinds: Vec<PendingKind> = ops.iter().map(|op| op.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            PendingKind::Entries {
                names: vec!["d".into()]
            },
            PendingKind::Entries {
                names: vec!["f".into()]
            },
            PendingKind::Write { offset: 5, len: 3 },
            PendingKind::SetLen { len: 2 },
        ]
    );
    assert_eq!(ops[1].path, p("/d"));
    assert_eq!(ops[2].path, p("/d/f"));
    assert_eq!(
        ops.iter().map(|op| op.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(ops[2].sector_count(SECTOR_512), 1);
    assert_eq!(ops[3].sector_count(SECTOR_512), 0);
    // Prefixes in order: the write lands before the truncation.
    let image = sim.crash_image(&CrashModel::Prefix(3));
    assert_eq!(image.file_bytes(p("/d/f")).unwrap(), b"\0\0\0\0\0abc");
    let image = sim.crash_image(&CrashModel::Prefix(4));
    assert_eq!(image.file_bytes(p("/d/f")).unwrap(), b"\0\0");
    // A subset without the directory's entry keeps nothing visible.
    let image = sim.crash_image(&CrashModel::Subset(0b1110));
    assert!(image.list(p("/")).unwrap().is_empty());
}

#[test]
fn seeded_models_replay_and_differ_by_seed() {
    let sim = torn_setup();
    for model in [
        CrashModel::RandomSubset { seed: 5 },
        CrashModel::Torn {
            sector_size: SECTOR_512,
            psow: false,
            seed: 5,
        },
    ] {
        let pending = sim.pending_ops();
        assert_eq!(model.plan_for(&pending), model.plan_for(&pending));
        let a = sim.crash_image(&model).file_bytes(p("/f"));
        let b = sim.crash_image(&model).file_bytes(p("/f"));
        assert_eq!(a, b);
    }
    let plans: std::collections::BTreeSet<String> = (0..32)
        .map(|seed| {
            let model = CrashModel::Torn {
                sector_size: SECTOR_512,
                psow: false,
                seed,
            };
            format!("{:?}", model.plan_for(&sim.pending_ops()))
        })
        .collect();
    assert!(plans.len() > 4, "seeds choose different tears");
}

#[test]
fn torn_pieces_follow_sector_boundaries() {
    let sim = torn_setup();
    let op = &sim.pending_ops()[0];
    assert_eq!(op.sector_count(SECTOR_512), 2);
    assert_eq!(op.sector_count(SECTOR_4K), 1);
    let plan = |pieces: Vec<SectorFate>, psow| {
        CrashModel::Plan(CrashPlan {
            fates: vec![OpFate::Tear {
                sector_size: SECTOR_512,
                pieces,
            }],
            psow,
        })
    };
    let bytes = |model| sim.crash_image(&model).file_bytes(p("/f")).unwrap();

    // New then old: the overwrite landed, the extension did not.
    let image = bytes(plan(vec![SectorFate::New, SectorFate::Old], true));
    assert_eq!(image, runs(&[(0xAA, 512), (0xBB, 512)]));
    // Old then new: the durable sector kept, the extension landed.
    let image = bytes(plan(vec![SectorFate::Old, SectorFate::New], true));
    assert_eq!(image, runs(&[(0xAA, 1024), (0xBB, 512)]));
    // Zeros over durable data: forbidden by PSOW (kept old), allowed without it.
    let image = bytes(plan(vec![SectorFate::Zeros, SectorFate::Zeros], true));
    assert_eq!(image, runs(&[(0xAA, 1024), (0, 512)]));
    let image = bytes(plan(vec![SectorFate::Zeros, SectorFate::Zeros], false));
    assert_eq!(image, runs(&[(0xAA, 512), (0, 1024)]));
    // Garbage without PSOW: the durable sector is damaged.
    let image = bytes(plan(vec![SectorFate::Garbage, SectorFate::Old], false));
    assert_eq!(image.len(), 1024);
    assert_ne!(image[512..], [0xAA; 512]);
    assert_ne!(image[512..], [0xBB; 512]);
}

#[test]
fn durable_corruption_shows_in_images_not_in_reads() {
    let sim = torn_setup();
    assert!(sim.corrupt_durable(p("/f"), 3, 0x01));
    assert!(!sim.corrupt_durable(p("/f"), 5000, 0x01));
    assert_eq!(sim.file_bytes(p("/f")).unwrap()[3], 0xAA);
    let image = sim
        .crash_image(&CrashModel::DropAll)
        .file_bytes(p("/f"))
        .unwrap();
    assert_eq!(image[3], 0xAB);
    let file = sim.open(p("/f"), cairn_io::OpenMode::Read).unwrap();
    assert_eq!(file.len().unwrap(), 1536);
}
