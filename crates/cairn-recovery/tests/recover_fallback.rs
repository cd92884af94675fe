//! Fallback when the newest snapshot is damaged: with the default retention the log still
//! holds every record after the oldest retained snapshot, so recovery loads the older
//! snapshot, replays the longer log and reaches the same state; the damaged snapshot is
//! moved to quarantine. With `WalRetention::NewestSnapshot` the log was truncated past the
//! older snapshot, and recovery refuses with `WalGap` naming both LSNs instead of skipping
//! records.

mod common;

use cairn_io::{OpenMode, Vfs};
use cairn_recovery::{Durable, DurableOptions, Error, SnapshotChoice, WalRetention};
use cairn_sim::SimVfs;
use cairn_wal::{Durability, Lsn};
use common::{Kv, Rng, durable_options, ops, vfs};

const DIR: &str = "/db";

/// 20 changes, checkpoint, 20 more, checkpoint, 10 more; returns the changes.
fn build(sim: &SimVfs, options: &DurableOptions) -> Vec<Vec<u8>> {
    let all = ops(&mut Rng::new(11), 50, 30);
    let (mut kv, _) = Durable::open(DIR, options.clone(), vfs(sim), Kv::default()).unwrap();
    for (i, o) in all.iter().enumerate() {
        kv.apply(o, Durability::Fsync).unwrap();
        if i == 19 || i == 39 {
            kv.checkpoint().unwrap();
        }
    }
    kv.close().unwrap();
    all
}

/// Flips a byte in the middle of the snapshot file at `lsn`.
fn damage_snapshot(sim: &SimVfs, lsn: u64) -> std::path::PathBuf {
    let name = format!("snap-{lsn:020}-{:020}.snap", 0);
    let path = std::path::Path::new(DIR).join("snapshots").join(name);
    let file = sim.open(&path, OpenMode::ReadWrite).unwrap();
    let len = file.len().unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, len / 2).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], len / 2).unwrap();
    file.sync_data().unwrap();
    path
}

#[test]
fn recover_falls_back_to_older_snapshot_and_replays_longer_log() {
    let sim = SimVfs::new(21);
    let options = durable_options(2);
    let all = build(&sim, &options);
    let damaged = damage_snapshot(&sim, 40);

    let (mut kv, report) = Durable::open(DIR, options.clone(), vfs(&sim), Kv::default()).unwrap();
    assert_eq!(report.snapshot_choice, SnapshotChoice::FellBack);
    assert_eq!(report.snapshot.as_ref().map(|m| m.lsn), Some(20));
    assert_eq!(report.skipped_snapshots.len(), 1);
    let skipped = &report.skipped_snapshots[0];
    assert_eq!(skipped.id.lsn, 40);
    assert_eq!(skipped.path, damaged);
    assert!(skipped.reason.is_corruption(), "{}", skipped.reason);
    assert!(report.quarantined_files.contains(&skipped.quarantined_to));
    assert!(sim.exists(&skipped.quarantined_to).unwrap());
    assert!(!sim.exists(&damaged).unwrap());
    assert_eq!(report.records_replayed, 30);
    assert_eq!(report.applied_lsn, Lsn::new(50));
    assert!(kv.state().same(&Kv::after(&all)));

    // The damaged snapshot no longer blocks or counts: the next checkpoint works, and the
    // one after it prunes the old one.
    let ids: Vec<u64> = kv.store().ids().unwrap().iter().map(|id| id.lsn).collect();
    assert_eq!(ids, [20]);
    kv.checkpoint().unwrap();
    kv.close().unwrap();
    let (kv, report) = Durable::open(DIR, options, vfs(&sim), Kv::default()).unwrap();
    assert_eq!(report.snapshot_choice, SnapshotChoice::Newest);
    assert_eq!(report.records_replayed, 0);
    assert!(kv.state().same(&Kv::after(&all)));
}

#[test]
fn recover_refuses_gap_when_log_was_truncated_past_the_fallback() {
    let sim = SimVfs::new(22);
    let options = DurableOptions {
        wal_retention: WalRetention::NewestSnapshot,
        ..durable_options(2)
    };
    build(&sim, &options);
    damage_snapshot(&sim, 40);
    let err = Durable::open(DIR, options, vfs(&sim), Kv::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WalGap {
                snapshot_lsn: 20,
                wal_first_lsn: 41
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("LSN 20") && message.contains("LSN 41"),
        "{message}"
    );
}

#[test]
fn recover_refuses_gap_when_every_snapshot_is_damaged() {
    let sim = SimVfs::new(23);
    let options = durable_options(2);
    build(&sim, &options);
    damage_snapshot(&sim, 40);
    damage_snapshot(&sim, 20);
    let err = Durable::open(DIR, options, vfs(&sim), Kv::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WalGap {
                snapshot_lsn: 0,
                wal_first_lsn: 21
            }
        ),
        "{err}"
    );
}
