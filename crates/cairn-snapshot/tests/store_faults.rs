//! Injected faults on `cairn-sim`: `EIO` on the file fsync, the rename and the directory
//! fsync; short writes; `ENOSPC` from a full device; bits flipped or writes misdirected on
//! their way to the media. Each leaves the previous snapshot usable, and a damaged new one is
//! skipped by `latest_valid` with the reason.

mod common;

use std::io::Write;
use std::sync::Arc;

use cairn_io::{Op, Vfs};
use cairn_sim::{CrashModel, FaultKind, FaultRule, SimVfs};
use cairn_snapshot::{Error, NewSnapshot, SnapshotId, SnapshotStore, StoreOptions};
use common::Rng;

const DIR: &str = "/snaps";

fn open(sim: &SimVfs) -> SnapshotStore {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    SnapshotStore::open(DIR, StoreOptions::default().chunk_size(4096), vfs).expect("open")
}

fn snapshot(store: &SnapshotStore, lsn: u64, payload: &[u8]) -> Result<(), Error> {
    let mut pending = store.create(NewSnapshot::new(lsn, 1).created_unix_nanos(lsn))?;
    pending.write_all(payload)?;
    pending.publish()?;
    Ok(())
}

/// A store on a fresh simulator holding snapshot 1, durable.
fn with_old_snapshot(seed: u64) -> (SimVfs, SnapshotStore, Vec<u8>) {
    let sim = SimVfs::new(seed);
    let store = open(&sim);
    let old = Rng::new(seed).bytes(9000);
    snapshot(&store, 1, &old).unwrap();
    (sim, store, old)
}

fn latest_after_power_loss(sim: &SimVfs) -> (Option<SnapshotId>, Vec<SnapshotId>) {
    sim.crash();
    let image = sim.crash_image(&CrashModel::DropAll);
    let store = open(&image);
    let latest = store.latest_valid().unwrap();
    (
        latest.snapshot.map(|m| m.id()),
        latest.skipped.iter().map(|s| s.id).collect(),
    )
}

fn no_temp_files(sim: &SimVfs) -> bool {
    sim.list(DIR.as_ref())
        .unwrap()
        .iter()
        .all(|n| !n.ends_with(".tmp"))
}

#[test]
fn store_faults_eio_on_file_fsync_abandons_the_new_snapshot() {
    let seed = common::seed("store_faults");
    let (sim, store, _) = with_old_snapshot(seed);
    sim.add_fault(
        FaultRule::new(FaultKind::Eio)
            .on(Op::SyncAll)
            .path_contains(".tmp")
            .times(1),
    );
    let err = snapshot(&store, 2, &[2; 20_000]).unwrap_err();
    assert!(matches!(&err, Error::Io(e) if e.is_eio()), "{err}");
    assert!(no_temp_files(&sim));
    assert_eq!(store.ids().unwrap(), [SnapshotId::new(1, 1)]);
    // The store is not poisoned: the failed file was abandoned, never published.
    snapshot(&store, 3, &[3; 100]).unwrap();
    assert_eq!(
        latest_after_power_loss(&sim),
        (Some(SnapshotId::new(3, 1)), vec![])
    );
}

#[test]
fn store_faults_eio_on_rename_keeps_old() {
    let seed = common::seed("store_faults");
    let (sim, store, _) = with_old_snapshot(seed);
    sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::Rename).times(1));
    let err = snapshot(&store, 2, &[2; 5000]).unwrap_err();
    assert!(matches!(&err, Error::Io(e) if e.is_eio()), "{err}");
    assert!(no_temp_files(&sim));
    assert_eq!(
        latest_after_power_loss(&sim),
        (Some(SnapshotId::new(1, 1)), vec![])
    );
}

#[test]
fn store_faults_eio_on_dir_fsync_poisons_and_keeps_old_or_new() {
    let seed = common::seed("store_faults");
    let (sim, store, _) = with_old_snapshot(seed);
    sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::SyncDir).times(1));
    let err = snapshot(&store, 2, &[2; 5000]).unwrap_err();
    assert!(matches!(&err, Error::Io(e) if e.is_eio()), "{err}");
    let err = store.create(NewSnapshot::new(3, 1)).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(err.to_string().contains("open it again"), "{err}");
    let err = store.delete(SnapshotId::new(1, 1)).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    // Nothing was pruned; after power loss the old one (the failed fsync dropped the
    // rename) is there and intact.
    let (latest, skipped) = latest_after_power_loss(&sim);
    assert!(skipped.is_empty());
    assert!(latest.is_some(), "old or new, never neither");
}

#[test]
fn store_faults_short_writes_are_completed() {
    let seed = common::seed("store_faults");
    let (sim, store, _) = with_old_snapshot(seed);
    sim.add_fault(FaultRule::new(FaultKind::ShortWrite).on(Op::Write));
    let payload = Rng::new(seed ^ 9).bytes(30_000);
    snapshot(&store, 2, &payload).unwrap();
    sim.clear_faults();
    assert_eq!(
        latest_after_power_loss(&sim),
        (Some(SnapshotId::new(2, 1)), vec![])
    );
}

#[test]
fn store_faults_full_device_is_no_space_with_old_intact() {
    let seed = common::seed("store_faults");
    let (sim, store, old) = with_old_snapshot(seed);
    let used: u64 = sim
        .list(DIR.as_ref())
        .unwrap()
        .iter()
        .filter_map(|name| sim.file_bytes(format!("{DIR}/{name}").as_ref()))
        .map(|bytes| bytes.len() as u64)
        .sum();
    sim.set_capacity(Some(used + 6000));
    let err = snapshot(&store, 2, &[2; 20_000]).unwrap_err();
    assert!(matches!(err, Error::NoSpace { .. }), "{err}");
    assert!(no_temp_files(&sim));
    let meta = store.verify(SnapshotId::new(1, 1)).unwrap();
    assert_eq!(meta.digest, cairn_crc::Digest::of(&old));
    sim.set_capacity(None);
    snapshot(&store, 2, &[2; 20_000]).unwrap();
}

#[test]
fn store_faults_damage_on_the_way_to_media_falls_back_after_power_loss() {
    let seed = common::seed("store_faults");
    let kinds = [
        FaultKind::BitFlipOnPersist,
        FaultKind::Misdirect { delta: 512 },
    ];
    for kind in kinds {
        for nth in 1..=4 {
            let (sim, store, _) = with_old_snapshot(seed);
            // Write 1 is the header, 2..=4 the chunks, 5 the end marker and footer.
            sim.add_fault(
                FaultRule::new(kind)
                    .on(Op::Write)
                    .path_contains(".tmp")
                    .nth(nth),
            );
            // The live image reads back correctly, so publish (and its read-back) succeeds.
            snapshot(&store, 2, &Rng::new(seed).bytes(10_000)).unwrap();
            let (latest, skipped) = latest_after_power_loss(&sim);
            assert_eq!(
                latest,
                Some(SnapshotId::new(1, 1)),
                "{kind:?} on write {nth}"
            );
            assert_eq!(skipped, [SnapshotId::new(2, 1)], "{kind:?} on write {nth}");
        }
    }
}
