//! Power cut at every write/sync point of a sequence of publishes (with retention pruning),
//! on `cairn-sim`: after each cut, under every crash image tried (drop all unsynced data,
//! every prefix and every subset of the pending operations — or a seeded sample when there
//! are too many — torn writes, and a process crash), reopening the store finds the newest
//! acknowledged snapshot or a newer one, intact: old or new, never neither, never damaged.
//! A second cut during that reopen (crash during recovery) must not change the answer.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use cairn_io::Vfs;
use cairn_sim::{CrashModel, Label, SECTOR_4K, SECTOR_512, SimVfs};
use cairn_snapshot::{NewSnapshot, SnapshotId, SnapshotStore, StoreOptions};
use common::Rng;

const DIR: &str = "/snaps";
/// Enumerate every subset of the pending operations up to this many; sample above it.
const SUBSET_EXHAUSTIVE_MAX: usize = 12;
const SUBSET_SAMPLES: u64 = 256;
const TORN_SAMPLES: u64 = 8;
/// A bound on the mutating calls one reopen makes (temp removals, directory fsync).
const RECOVERY_CALLS_MAX: u64 = 64;

fn options() -> StoreOptions {
    StoreOptions::default().chunk_size(4096).retain_count(2)
}

/// The workload: publish each snapshot in turn, marking each acknowledgment with its lsn.
/// Stops at the first error (the cut).
fn workload(sim: &SimVfs, snapshots: &BTreeMap<u64, Vec<u8>>) {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let Ok(store) = SnapshotStore::open(DIR, options(), vfs) else {
        return;
    };
    for (&lsn, payload) in snapshots {
        let new = NewSnapshot::new(lsn, 1)
            .created_unix_nanos(lsn)
            .user_meta(b"crash".to_vec());
        let Ok(mut pending) = store.create(new) else {
            return;
        };
        if pending.write_all(payload).is_err() {
            return;
        }
        if pending.publish().is_err() {
            return;
        }
        sim.mark(lsn);
    }
}

/// Opens the store on a rebooted image and checks it against what was acknowledged.
fn check_image(
    image: SimVfs,
    acked_newest: Option<u64>,
    snapshots: &BTreeMap<u64, Vec<u8>>,
    context: &str,
) {
    let vfs: Arc<dyn Vfs> = Arc::new(image.clone());
    let store = SnapshotStore::open(DIR, options(), vfs)
        .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    let latest = store
        .latest_valid()
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    assert!(
        latest.skipped.is_empty(),
        "{context}: a published snapshot is damaged: {:?}",
        latest
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.id, s.reason))
            .collect::<Vec<_>>()
    );
    match (acked_newest, &latest.snapshot) {
        (Some(acked), None) => panic!("{context}: snapshot {acked} was acknowledged, none found"),
        (Some(acked), Some(meta)) => {
            assert!(
                meta.lsn >= acked,
                "{context}: found {} older than acknowledged {acked}",
                meta.lsn
            )
        }
        (None, _) => {}
    }
    if let Some(meta) = &latest.snapshot {
        let mut back = Vec::new();
        store
            .read(meta.id())
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(
            back == snapshots[&meta.lsn],
            "{context}: payload of {} differs",
            meta.lsn
        );
    }
    let names = image.list(DIR.as_ref()).unwrap();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "{context}: temporary files survive reopen: {names:?}"
    );
    assert!(store.ids().unwrap().len() <= options().retain_count as usize + 1);
}

#[test]
fn crash_at_every_publish_step_leaves_old_or_new_never_neither() {
    let seed = common::seed("crash_publish");
    let mut rng = Rng::new(seed);
    let mut snapshots = BTreeMap::new();
    for lsn in [10_u64, 20, 30] {
        let size = 1 + rng.below(12_000) as usize;
        snapshots.insert(lsn, rng.bytes(size));
    }

    // A reference run counts the cut points.
    let reference = SimVfs::new(seed);
    workload(&reference, &snapshots);
    assert_eq!(reference.marks_through(u64::MAX).len(), snapshots.len());
    let calls = reference.stats().mutating_calls;

    let mut images_checked = 0_u64;
    let mut pending_max = 0;
    let mut recovery_images_checked = 0_u64;
    for cut in 1..=calls {
        let sim = SimVfs::new(seed);
        sim.crash_after_call(cut);
        workload(&sim, &snapshots);
        assert!(sim.is_crashed(), "cut {cut} of {calls} did not crash");
        let acked_newest = sim
            .marks_through(cut)
            .iter()
            .filter_map(|label| match label {
                Label::Num(lsn) => Some(*lsn),
                Label::Text(_) => None,
            })
            .max();
        let pending = sim.pending_ops().len();
        pending_max = pending_max.max(pending);
        let mut models = vec![CrashModel::Process, CrashModel::DropAll];
        models.extend((0..=pending).map(CrashModel::Prefix));
        if pending <= SUBSET_EXHAUSTIVE_MAX {
            models.extend((0..1_u64 << pending).map(CrashModel::Subset));
        } else {
            models.extend((0..SUBSET_SAMPLES).map(|i| CrashModel::RandomSubset { seed: seed ^ i }));
        }
        for i in 0..TORN_SAMPLES {
            for sector_size in [SECTOR_512, SECTOR_4K] {
                for psow in [false, true] {
                    models.push(CrashModel::Torn {
                        sector_size,
                        psow,
                        seed: seed.wrapping_add(i),
                    });
                }
            }
        }
        // Crash during recovery: cut the reopen (which removes temporary files and fsyncs
        // the directory) at each of its calls, then lose power again.
        for model in [CrashModel::Process, CrashModel::DropAll] {
            let base = sim.crash_image(&model);
            for open_cut in 1..=RECOVERY_CALLS_MAX {
                let copy = base.crash_image(&CrashModel::Process);
                copy.crash_after_call(open_cut);
                let vfs: Arc<dyn Vfs> = Arc::new(copy.clone());
                let opened = SnapshotStore::open(DIR, options(), vfs);
                if !copy.is_crashed() {
                    assert!(opened.is_ok());
                    break;
                }
                drop(opened);
                for second in [CrashModel::Process, CrashModel::DropAll] {
                    let context = format!(
                        "cut after call {cut} of {calls}, {model:?}, reopen cut after call \
                         {open_cut}, then {second:?}, acked {acked_newest:?} \
                         (replay: CAIRN_SEED={seed} cargo test -p cairn-snapshot --test crash_publish)"
                    );
                    check_image(
                        copy.crash_image(&second),
                        acked_newest,
                        &snapshots,
                        &context,
                    );
                    recovery_images_checked += 1;
                }
            }
        }
        for model in &models {
            let context = format!(
                "cut after call {cut} of {calls}, {pending} pending, {model:?}, acked {acked_newest:?} \
                 (replay: CAIRN_SEED={seed} cargo test -p cairn-snapshot --test crash_publish)"
            );
            check_image(sim.crash_image(model), acked_newest, &snapshots, &context);
            images_checked += 1;
        }
    }
    println!(
        "crash_publish: cut points checked: {calls}, crash images checked: {images_checked} \
         (at most {pending_max} pending operations at a cut), crash-during-reopen images \
         checked: {recovery_images_checked}, acknowledged snapshots lost: 0, damaged snapshots \
         accepted: 0"
    );
}

#[test]
fn crash_after_acknowledged_publish_keeps_it_under_drop_all() {
    // A snapshot acknowledged by publish survives power loss with nothing unsynced kept:
    // the DropAll image of a run cut right after the acknowledgment still holds it.
    let seed = common::seed("crash_publish");
    let sim = SimVfs::new(seed);
    let mut snapshots = BTreeMap::new();
    snapshots.insert(5_u64, vec![9_u8; 5000]);
    workload(&sim, &snapshots);
    sim.crash();
    let image = sim.crash_image(&CrashModel::DropAll);
    let vfs: Arc<dyn Vfs> = Arc::new(image);
    let store = SnapshotStore::open(DIR, options(), vfs).unwrap();
    let latest = store.latest_valid().unwrap();
    assert_eq!(latest.snapshot.map(|m| m.id()), Some(SnapshotId::new(5, 1)));
}
