//! `Durable` round trips on the simulator and on a real directory: changes survive close and
//! reopen with and without checkpoints; automatic checkpoints fire by log size and time;
//! a failed apply poisons and reopen recovers; reserved payloads and closed handles are
//! refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cairn_io::StdVfs;
use cairn_recovery::{Durable, DurableOptions, Error, SnapshotChoice, format};
use cairn_sim::SimVfs;
use cairn_wal::{Durability, Lsn};
use common::{Kv, Rng, durable_options, fail_next_apply, op, ops, vfs};

const DIR: &str = "/db";

#[test]
fn durable_round_trip_with_and_without_checkpoints() {
    let sim = SimVfs::new(1);
    let all = ops(&mut Rng::new(7), 120, 40);
    let (mut kv, report) =
        Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    assert_eq!(report.snapshot_choice, SnapshotChoice::None);
    assert_eq!(report.applied_lsn, Lsn::new(0));
    for (i, o) in all[..50].iter().enumerate() {
        let lsn = kv.apply(o, Durability::Fsync).unwrap();
        assert_eq!(lsn.get(), i as u64 + 1);
    }
    let cp = kv.checkpoint().unwrap();
    assert_eq!(cp.snapshot.as_ref().map(|m| m.lsn), Some(50));
    // Nothing new: no snapshot, no error.
    assert!(kv.checkpoint().unwrap().snapshot.is_none());
    for o in &all[50..90] {
        kv.apply(o, Durability::Buffered).unwrap();
    }
    kv.checkpoint().unwrap();
    for o in &all[90..] {
        kv.apply(o, Durability::None).unwrap();
    }
    assert!(kv.state().same(&Kv::after(&all)));
    kv.close().unwrap();

    let (kv, report) = Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    assert_eq!(report.snapshot_choice, SnapshotChoice::Newest);
    assert_eq!(report.snapshot.as_ref().map(|m| m.lsn), Some(90));
    assert_eq!(report.records_replayed, 30);
    assert_eq!(report.applied_lsn, Lsn::new(120));
    assert!(kv.state().same(&Kv::after(&all)));
    // Retention of two snapshots: the log keeps everything after the older one (LSN 50).
    assert_eq!(kv.wal().first_lsn(), Lsn::new(51));
}

#[test]
fn durable_on_a_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = Arc::new(StdVfs::new());
    let all = ops(&mut Rng::new(9), 40, 100);
    let (mut kv, _) =
        Durable::open(dir.path(), durable_options(1), vfs.clone(), Kv::default()).unwrap();
    for (i, o) in all.iter().enumerate() {
        kv.apply(o, Durability::Fsync).unwrap();
        if i == 19 {
            kv.checkpoint().unwrap();
            // One retained snapshot: the log starts right after it.
            assert_eq!(kv.wal().first_lsn(), Lsn::new(21));
        }
    }
    drop(kv); // no close: records were fsynced
    let (kv, report) = Durable::open(dir.path(), durable_options(1), vfs, Kv::default()).unwrap();
    assert_eq!(report.records_replayed, 20);
    assert!(kv.state().same(&Kv::after(&all)));
}

#[test]
fn durable_checkpoints_automatically_by_log_size() {
    let sim = SimVfs::new(2);
    let options = DurableOptions {
        checkpoint_wal_bytes: 2048,
        ..durable_options(2)
    };
    let all = ops(&mut Rng::new(3), 200, 50);
    let (mut kv, _) = Durable::open(DIR, options.clone(), vfs(&sim), Kv::default()).unwrap();
    for o in &all {
        kv.apply(o, Durability::Buffered).unwrap();
        assert!(kv.wal_bytes_since_checkpoint() < 2048);
        assert!(kv.take_checkpoint_error().is_none());
    }
    let ids = kv.store().ids().unwrap();
    assert_eq!(ids.len(), 2, "retention keeps two snapshots");
    assert!(ids[0].lsn > 150, "a recent automatic checkpoint: {ids:?}");
    assert!(kv.wal().first_lsn().get() > 1, "the log was truncated");
    kv.close().unwrap();
    let (kv, report) = Durable::open(DIR, options, vfs(&sim), Kv::default()).unwrap();
    assert!(report.records_replayed < 60);
    assert!(kv.state().same(&Kv::after(&all)));
}

#[test]
fn durable_checkpoints_automatically_by_time() {
    let sim = SimVfs::new(4);
    let options = DurableOptions {
        checkpoint_interval: Some(Duration::from_millis(1)),
        ..durable_options(2)
    };
    let (mut kv, _) = Durable::open(DIR, options, vfs(&sim), Kv::default()).unwrap();
    kv.apply(&op(1, 1, 0), Durability::Fsync).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    kv.apply(&op(1, 2, 0), Durability::Fsync).unwrap();
    assert_eq!(kv.store().ids().unwrap()[0].lsn, 2);
}

#[test]
fn durable_apply_failure_poisons_and_reopen_recovers() {
    let sim = SimVfs::new(5);
    let (mut kv, _) = Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    kv.apply(&op(1, 10, 0), Durability::Fsync).unwrap();
    fail_next_apply();
    let err = kv.apply(&op(2, 20, 0), Durability::Fsync).unwrap_err();
    assert!(
        matches!(err, Error::StateMachine { lsn: Some(2), .. }),
        "{err}"
    );
    let err = kv.apply(&op(3, 30, 0), Durability::Fsync).unwrap_err();
    assert!(matches!(err, Error::Poisoned { lsn: 2 }), "{err}");
    assert!(err.to_string().contains("reopen"));
    assert!(matches!(kv.checkpoint(), Err(Error::Poisoned { .. })));
    drop(kv);
    // The change was logged before the apply failed: recovery replays it.
    let (kv, report) = Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    assert_eq!(report.records_replayed, 2);
    assert_eq!(kv.state().map.get(&2), Some(&20));
}

#[test]
fn durable_refuses_reserved_payloads_and_use_after_close() {
    let sim = SimVfs::new(6);
    let (mut kv, _) = Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    let err = kv
        .apply(&format::gap_marker(1), Durability::Fsync)
        .unwrap_err();
    assert!(matches!(err, Error::ReservedPayload { size: 32 }), "{err}");
    assert_eq!(kv.wal().next_lsn(), Lsn::FIRST, "nothing was logged");
    kv.apply(&op(1, 1, 0), Durability::Fsync).unwrap();
    let state = kv.close().unwrap();
    assert_eq!(state.count, 1);
}

#[test]
fn durable_options_validate() {
    let mut options = DurableOptions::default();
    assert!(options.validate().is_ok());
    options.recover.wal.dedup_window = 16;
    assert!(matches!(
        options.validate(),
        Err(Error::InvalidOptions {
            field: "recover.wal.dedup_window",
            ..
        })
    ));
    let options = DurableOptions {
        checkpoint_interval: Some(Duration::ZERO),
        ..DurableOptions::default()
    };
    assert!(options.validate().is_err());
    let sim = SimVfs::new(8);
    let options = DurableOptions {
        checkpoint_interval: Some(Duration::ZERO),
        ..DurableOptions::default()
    };
    assert!(Durable::open(DIR, options, vfs(&sim), Kv::default()).is_err());
}
