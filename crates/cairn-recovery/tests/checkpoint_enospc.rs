//! A full disk during a checkpoint: the snapshot fails with `NoSpace`, the previous
//! snapshots and the log stay intact, no temporary file is left, the `Durable` keeps
//! accepting changes (into the log's preallocated segment), and once space returns the
//! next checkpoint succeeds and everything recovers.

mod common;

use std::path::Path;

use cairn_io::Vfs;
use cairn_recovery::{Durable, DurableOptions, Error};
use cairn_sim::SimVfs;
use cairn_wal::Durability;
use common::{Kv, Rng, durable_options, ops, vfs};

const DIR: &str = "/db";

/// Bytes the simulator's live files hold.
fn used_bytes(sim: &SimVfs) -> u64 {
    sim.live_tree().files.values().map(|f| f.len() as u64).sum()
}

fn snapshot_names(sim: &SimVfs) -> Vec<String> {
    sim.list(&Path::new(DIR).join("snapshots")).unwrap()
}

#[test]
fn checkpoint_enospc_keeps_old_snapshot_and_log_then_recovers() {
    let sim = SimVfs::new(41);
    let all = ops(&mut Rng::new(12), 90, 20);
    let (mut kv, _) = Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    for o in &all[..30] {
        kv.apply(o, Durability::Fsync).unwrap();
    }
    kv.checkpoint().unwrap();
    for o in &all[30..50] {
        kv.apply(o, Durability::Fsync).unwrap();
    }
    let before = snapshot_names(&sim);

    // The disk is full: not one more byte.
    sim.set_capacity(Some(used_bytes(&sim)));
    let err = kv.checkpoint().unwrap_err();
    assert!(matches!(err, Error::NoSpace { lsn: 50, .. }), "{err}");
    assert!(err.is_no_space());
    let message = err.to_string();
    assert!(message.contains("free disk space"), "{message}");
    assert_eq!(
        snapshot_names(&sim),
        before,
        "old snapshot kept, no temp file left"
    );

    // The log keeps accepting durable changes while the disk is full (its segment is
    // preallocated), and the state follows.
    for o in &all[50..70] {
        kv.apply(o, Durability::Fsync).unwrap();
    }
    assert!(kv.state().same(&Kv::after(&all[..70])));

    // Space returns: the checkpoint succeeds.
    sim.set_capacity(None);
    let report = kv.checkpoint().unwrap();
    assert_eq!(report.snapshot.map(|m| m.lsn), Some(70));
    for o in &all[70..] {
        kv.apply(o, Durability::Fsync).unwrap();
    }
    kv.close().unwrap();
    let (kv, report) = Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    assert_eq!(report.snapshot.map(|m| m.lsn), Some(70));
    assert!(kv.state().same(&Kv::after(&all)));
}

#[test]
fn automatic_checkpoint_enospc_does_not_fail_the_change() {
    let sim = SimVfs::new(42);
    let options = DurableOptions {
        checkpoint_wal_bytes: 512,
        ..durable_options(2)
    };
    let all = ops(&mut Rng::new(13), 60, 10);
    let (mut kv, _) = Durable::open(DIR, options.clone(), vfs(&sim), Kv::default()).unwrap();
    for o in &all[..10] {
        kv.apply(o, Durability::Fsync).unwrap();
    }
    sim.set_capacity(Some(used_bytes(&sim)));
    let mut failures = 0;
    for o in &all[10..40] {
        kv.apply(o, Durability::Fsync).unwrap();
        if let Some(e) = kv.take_checkpoint_error() {
            assert!(e.is_no_space(), "{e}");
            failures += 1;
        }
    }
    assert!(
        failures >= 1,
        "an automatic checkpoint ran into the full disk"
    );
    sim.set_capacity(None);
    for o in &all[40..] {
        kv.apply(o, Durability::Fsync).unwrap();
        assert!(kv.take_checkpoint_error().is_none());
    }
    kv.close().unwrap();
    let (kv, _) = Durable::open(DIR, options, vfs(&sim), Kv::default()).unwrap();
    assert!(kv.state().same(&Kv::after(&all)));
}
