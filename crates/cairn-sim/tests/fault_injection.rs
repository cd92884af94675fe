//! Unit tests of each injected fault: `EIO` and `ENOSPC` by countdown, probability and path
//! rule; short writes; bit flips on read and on the persisted copy; misdirected writes; the
//! capacity limit; and the crash fault.

use std::path::Path;

use cairn_io::{Op, OpenMode, Vfs, VfsFile};
use cairn_sim::{CrashModel, FaultKind, FaultRule, SimVfs, TraceEvent};

fn p(path: &str) -> &Path {
    Path::new(path)
}

/// A simulator with a durable, empty `/f`.
fn with_file(seed: u64) -> (SimVfs, Box<dyn VfsFile>) {
    let sim = SimVfs::new(seed);
    let file = sim.create_new(p("/f")).unwrap();
    sim.sync_dir(p("/")).unwrap();
    (sim, file)
}

#[test]
fn eio_on_the_nth_write_changes_nothing() {
    let (sim, file) = with_file(1);
    sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::Write).nth(2));
    file.write_all_at(b"one", 0).unwrap();
    let err = file.write_all_at(b"two", 3).unwrap_err();
    assert!(err.is_eio());
    assert_eq!(err.op(), Some(Op::Write));
    file.write_all_at(b"three", 3).unwrap();
    assert_eq!(sim.file_bytes(p("/f")).unwrap(), b"onethree");
    assert_eq!(sim.stats().faults_injected, 1);
    let failed = sim.trace().into_iter().filter(|event| {
        matches!(event, TraceEvent::Call(call) if call.result == Err(5) && call.fault == Some(FaultKind::Eio))
    });
    assert_eq!(failed.count(), 1);
}

#[test]
fn eio_on_read_and_rules_filtered_by_path() {
    let sim = SimVfs::new(2);
    let wal = sim.create_new(p("/wal")).unwrap();
    let other = sim.create_new(p("/other")).unwrap();
    wal.write_all_at(b"w", 0).unwrap();
    other.write_all_at(b"o", 0).unwrap();
    sim.add_fault(
        FaultRule::new(FaultKind::Eio)
            .on(Op::Read)
            .path_contains("wal"),
    );
    let mut buf = [0u8; 1];
    assert!(wal.read_at(&mut buf, 0).unwrap_err().is_eio());
    assert!(
        wal.read_at(&mut buf, 0).unwrap_err().is_eio(),
        "an unlimited rule keeps firing"
    );
    assert_eq!(other.read_at(&mut buf, 0).unwrap(), 1);
    sim.clear_faults();
    assert_eq!(wal.read_at(&mut buf, 0).unwrap(), 1);
}

#[test]
fn enospc_on_write_and_allocate() {
    let (sim, file) = with_file(3);
    sim.add_fault(FaultRule::new(FaultKind::NoSpace).on(Op::Allocate).times(1));
    assert!(file.allocate(0, 4096).unwrap_err().is_no_space());
    file.allocate(0, 4096).unwrap();
    sim.add_fault(FaultRule::new(FaultKind::NoSpace).on(Op::Write));
    let err = file.write_all_at(b"x", 0).unwrap_err();
    assert!(err.is_no_space() && !err.is_eio());
    assert_eq!(sim.file_bytes(p("/f")).unwrap(), vec![0; 4096]);
}

#[test]
fn capacity_limits_growth() {
    let (sim, file) = with_file(4);
    sim.set_capacity(Some(10));
    file.write_all_at(&[1; 10], 0).unwrap();
    assert!(file.write_all_at(&[1], 10).unwrap_err().is_no_space());
    file.write_all_at(&[2; 10], 0).unwrap(); // overwriting needs no space
    assert!(file.set_len(11).unwrap_err().is_no_space());
    sim.remove_file(p("/f")).unwrap();
    drop(file);
    let again = sim.create_new(p("/g")).unwrap();
    again.write_all_at(&[3; 10], 0).unwrap(); // the removed, closed file's space came back
}

#[test]
fn short_writes_take_a_prefix_and_write_all_finishes() {
    let (sim, file) = with_file(5);
    sim.add_fault(FaultRule::new(FaultKind::ShortWrite).times(3));
    let n = file.write_at(b"abcdefgh", 0).unwrap();
    assert!((1..8).contains(&n), "a short write took {n} bytes");
    assert_eq!(sim.file_bytes(p("/f")).unwrap(), &b"abcdefgh"[..n]);
    file.write_all_at(b"0123456789", 0).unwrap();
    assert_eq!(sim.file_bytes(p("/f")).unwrap(), b"0123456789");
}

#[test]
fn bit_flip_on_read_damages_only_the_returned_bytes() {
    let (sim, file) = with_file(6);
    file.write_all_at(&[0u8; 64], 0).unwrap();
    sim.add_fault(FaultRule::new(FaultKind::BitFlipOnRead).nth(1));
    let mut buf = [0u8; 64];
    file.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(buf.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
    file.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(buf, [0u8; 64]);
}

#[test]
fn bit_flip_on_persist_shows_after_power_loss() {
    let (sim, file) = with_file(7);
    sim.add_fault(FaultRule::new(FaultKind::BitFlipOnPersist).nth(1));
    file.write_all_at(&[0u8; 64], 0).unwrap();
    file.sync_data().unwrap();
    assert_eq!(
        sim.file_bytes(p("/f")).unwrap(),
        vec![0; 64],
        "reads see the cache"
    );
    let image = sim
        .crash_image(&CrashModel::DropAll)
        .file_bytes(p("/f"))
        .unwrap();
    assert_eq!(image.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
}

#[test]
fn misdirected_writes_land_elsewhere() {
    let (sim, file) = with_file(8);
    file.write_all_at(&[1u8; 8192], 0).unwrap();
    file.sync_data().unwrap();
    sim.add_fault(FaultRule::new(FaultKind::Misdirect { delta: 4096 }).nth(1));
    file.write_all_at(&[2u8; 512], 0).unwrap();
    assert_eq!(sim.file_bytes(p("/f")).unwrap()[..512], [2u8; 512]);
    let pending = sim.pending_ops();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].kind,
        cairn_sim::PendingKind::Write {
            offset: 4096,
            len: 512
        }
    );
    file.sync_data().unwrap();
    let image = sim
        .crash_image(&CrashModel::DropAll)
        .file_bytes(p("/f"))
        .unwrap();
    assert_eq!(
        image[..512],
        [1u8; 512],
        "the intended range keeps the old data"
    );
    assert_eq!(image[4096..4608], [2u8; 512], "another offset got the new");
}

#[test]
fn probability_faults_replay_from_the_seed() {
    let outcomes = |seed| {
        let (sim, file) = with_file(seed);
        sim.add_fault(
            FaultRule::new(FaultKind::Eio)
                .on(Op::Write)
                .per_million(300_000),
        );
        (0..200)
            .map(|i| file.write_at(b"x", i).is_ok())
            .collect::<Vec<_>>()
    };
    let first = outcomes(9);
    assert_eq!(first, outcomes(9));
    let failures = first.iter().filter(|ok| !**ok).count();
    assert!(
        (20..120).contains(&failures),
        "{failures} of 200 failed at 30 %"
    );
    assert_ne!(first, outcomes(10));
}

#[test]
fn the_crash_fault_freezes_before_the_call() {
    let (sim, file) = with_file(10);
    file.write_all_at(b"a", 0).unwrap();
    sim.add_fault(FaultRule::new(FaultKind::Crash).on(Op::SyncData));
    assert!(file.sync_data().unwrap_err().is_eio());
    assert!(sim.is_crashed());
    assert_eq!(
        sim.file_state(p("/f")).unwrap().durable,
        b"",
        "the sync never happened"
    );
    assert!(sim.open(p("/f"), OpenMode::Read).unwrap_err().is_eio());
}

#[test]
fn faults_hit_directory_operations() {
    let sim = SimVfs::new(11);
    sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::Create).nth(1));
    assert!(sim.create_new(p("/f")).unwrap_err().is_eio());
    assert!(!sim.exists(p("/f")).unwrap());
    sim.create_new(p("/f")).unwrap();
    sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::Rename).nth(1));
    assert!(sim.rename(p("/f"), p("/g")).unwrap_err().is_eio());
    assert!(sim.exists(p("/f")).unwrap());
    sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::SyncDir).nth(1));
    assert!(sim.sync_dir(p("/")).unwrap_err().is_eio());
    sim.sync_dir(p("/")).unwrap();
    // Linux semantics for directories too: the failed sync dropped the pending entry.
    assert!(
        !sim.crash_image(&CrashModel::DropAll)
            .exists(p("/f"))
            .unwrap()
    );
    assert!(sim.exists(p("/f")).unwrap());
}
