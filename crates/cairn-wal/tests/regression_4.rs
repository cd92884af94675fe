//! Regression 4 (found by `cairn-crash faults`, `fsync_eio`): after an fsync failed, Linux
//! marks the pages clean — reads still return the data, but no later fsync writes it. Recovery
//! read such records from the page cache, fsynced (a no-op for them), and reported them; a
//! power cut right after recovery then lost records recovery had reported. Recovery now
//! rewrites the part of the tail not known durable (and the FRONT file) before its fsync.

mod common;

use std::path::Path;
use std::sync::Arc;

use cairn_io::Op;
use cairn_sim::{CrashModel, FaultKind, FaultRule, SimVfs};
use cairn_wal::{Durability, Error, Lsn, Wal};

#[test]
fn records_reported_after_a_failed_fsync_survive_the_next_power_cut() {
    let sim = SimVfs::new(11);
    let dir = Path::new("/wal");
    let (wal, _) = Wal::open(dir, common::small_options(), Arc::new(sim.clone())).unwrap();
    wal.append(b"one", Durability::Fsync).unwrap();
    sim.add_fault(
        FaultRule::new(FaultKind::Eio)
            .on(Op::SyncData)
            .path_contains(".wal")
            .nth(1),
    );
    assert!(matches!(
        wal.append(b"two", Durability::Fsync),
        Err(Error::Poisoned)
    ));
    drop(wal);

    // The process dies; the page cache still shows "two".
    let after_crash = sim.crash_image(&CrashModel::Process);
    let (wal, report) =
        Wal::open(dir, common::small_options(), Arc::new(after_crash.clone())).unwrap();
    let reported = report.last_lsn;
    drop(wal);

    // Power fails right after recovery: what recovery reported must still be there.
    let after_power_cut = after_crash.crash_image(&CrashModel::DropAll);
    let (wal, again) = Wal::open(dir, common::small_options(), Arc::new(after_power_cut)).unwrap();
    assert_eq!(
        again.last_lsn, reported,
        "recovery reported records that were not durable"
    );
    assert_eq!(wal.read(Lsn::FIRST).unwrap().as_deref(), Some(&b"one"[..]));
}
