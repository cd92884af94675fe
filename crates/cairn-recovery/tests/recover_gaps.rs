//! The edges between snapshot and log: a snapshot ahead of a log that lost its tail (gap
//! markers, then the log continues at `snapshot_lsn + 1`), a gap marker met above a
//! fallback snapshot, a log truncated past the state, progress reporting, and a torn tail
//! cut and reported.

mod common;

use std::io::Write;
use std::path::Path;

use cairn_io::{OpenMode, Vfs};
use cairn_recovery::{Durable, Error, Layout, StateMachine, format, recover};
use cairn_sim::{CrashModel, SimVfs};
use cairn_snapshot::NewSnapshot;
use cairn_wal::{Durability, Lsn};
use common::{Kv, Rng, durable_options, ops, recover_options, vfs};

const DIR: &str = "/db";

fn layout() -> Layout {
    Layout::in_dir(DIR)
}

#[test]
fn recover_snapshot_ahead_of_log_continues_after_the_snapshot() {
    let sim = SimVfs::new(31);
    let all = ops(&mut Rng::new(5), 12, 10);
    let mut kv = Kv::default();
    let (wal, store, _) = recover(
        &layout(),
        &recover_options(2),
        vfs(&sim),
        &mut kv,
        &mut |_| {},
    )
    .unwrap();
    for (i, o) in all[..10].iter().enumerate() {
        // The first five reach the disk; the next five stay in memory.
        let durability = if i < 5 {
            Durability::Fsync
        } else {
            Durability::None
        };
        let lsn = wal.append(o, durability).unwrap();
        kv.apply(lsn, o).unwrap();
    }
    // A snapshot published without first syncing the log (not what `checkpoint` does).
    let mut pending = store.create(NewSnapshot::new(10, 0)).unwrap();
    kv.snapshot(&mut pending).unwrap();
    pending.flush().unwrap();
    pending.publish().unwrap();
    sim.crash();
    let image = sim.crash_image(&CrashModel::DropAll);
    drop((wal, store));

    let mut kv = Kv::default();
    let (wal, store, report) = recover(
        &layout(),
        &recover_options(2),
        vfs(&image),
        &mut kv,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.wal.last_lsn, Some(Lsn::new(5)), "{report:#?}");
    assert_eq!(report.gap_filled, Some(Lsn::new(6)..=Lsn::new(10)));
    assert_eq!(report.applied_lsn, Lsn::new(10));
    assert_eq!(report.records_replayed, 0);
    assert!(kv.same(&Kv::after(&all[..10])));
    assert_eq!(wal.next_lsn(), Lsn::new(11));
    assert_eq!(wal.first_lsn(), Lsn::new(11));
    drop((wal, store));

    // The log continues at 11 through `Durable`, across reopens.
    let (mut durable, report) =
        Durable::open(DIR, durable_options(2), vfs(&image), Kv::default()).unwrap();
    assert_eq!(report.gap_filled, None);
    for o in &all[10..] {
        durable.apply(o, Durability::Fsync).unwrap();
    }
    assert_eq!(durable.applied_lsn(), Lsn::new(12));
    durable.close().unwrap();
    let (durable, report) =
        Durable::open(DIR, durable_options(2), vfs(&image), Kv::default()).unwrap();
    assert_eq!(report.records_replayed, 2);
    assert!(durable.state().same(&Kv::after(&all)));
}

#[test]
fn recover_refuses_gap_marker_above_fallback_snapshot() {
    let sim = SimVfs::new(32);
    let all = ops(&mut Rng::new(6), 5, 4);
    let mut kv = Kv::default();
    let (wal, store, _) = recover(
        &layout(),
        &recover_options(2),
        vfs(&sim),
        &mut kv,
        &mut |_| {},
    )
    .unwrap();
    for o in &all {
        let lsn = wal.append(o, Durability::Fsync).unwrap();
        kv.apply(lsn, o).unwrap();
        if lsn.get() == 3 {
            let mut pending = store.create(NewSnapshot::new(3, 0)).unwrap();
            kv.snapshot(&mut pending).unwrap();
            pending.publish().unwrap();
        }
    }
    // As if a crash cut an earlier gap fill before the front moved: markers 6..=10 and the
    // snapshot at 10 they stand for, which is then damaged.
    for lsn in 6..=10 {
        wal.append(format::gap_marker(lsn), Durability::Fsync)
            .unwrap();
    }
    let mut pending = store.create(NewSnapshot::new(10, 0)).unwrap();
    pending.write_all(b"the state at 10").unwrap();
    let published = pending.publish().unwrap();
    wal.close().unwrap();
    drop((wal, store));
    let file = sim.open(&published.path, OpenMode::ReadWrite).unwrap();
    let len = file.len().unwrap();
    file.write_all_at(&[0xee; 4], len - 20).unwrap();

    let err = recover(
        &layout(),
        &recover_options(2),
        vfs(&sim),
        &mut Kv::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::GapMarker {
                lsn: 6,
                snapshot_lsn: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn recover_refuses_log_truncated_past_the_state() {
    let sim = SimVfs::new(33);
    let all = ops(&mut Rng::new(7), 10, 4);
    let (wal, store, _) = recover(
        &layout(),
        &recover_options(2),
        vfs(&sim),
        &mut Kv::default(),
        &mut |_| {},
    )
    .unwrap();
    for o in &all {
        wal.append(o, Durability::Fsync).unwrap();
    }
    wal.truncate_front(Lsn::new(5)).unwrap();
    wal.close().unwrap();
    drop((wal, store));
    let err = recover(
        &layout(),
        &recover_options(2),
        vfs(&sim),
        &mut Kv::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WalGap {
                snapshot_lsn: 0,
                wal_first_lsn: 5
            }
        ),
        "{err}"
    );
}

#[test]
fn recover_reports_progress() {
    let sim = SimVfs::new(34);
    let all = ops(&mut Rng::new(8), 100, 4);
    let (mut durable, _) =
        Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    for o in &all {
        durable.apply(o, Durability::Buffered).unwrap();
    }
    durable.close().unwrap();
    let mut seen = Vec::new();
    let mut kv = Kv::default();
    let (_wal, _store, report) = recover(
        &layout(),
        &recover_options(2),
        vfs(&sim),
        &mut kv,
        &mut |p| {
            seen.push(p);
        },
    )
    .unwrap();
    // Every 8 records (the tests' interval), and once at the end.
    assert_eq!(seen.len(), 100 / 8 + 1);
    assert!(
        seen.windows(2)
            .all(|w| w[0].records_replayed <= w[1].records_replayed)
    );
    let last = seen.last().unwrap();
    assert_eq!(last.records_replayed, 100);
    assert_eq!(last.bytes_replayed, report.bytes_replayed);
    assert_eq!(last.applied_lsn, Lsn::new(100));
    assert_eq!(last.wal_last_lsn, Some(Lsn::new(100)));
    assert!(kv.same(&Kv::after(&all)));
}

#[test]
fn recover_cuts_and_reports_a_torn_tail() {
    let sim = SimVfs::new(35);
    let all = ops(&mut Rng::new(9), 20, 4);
    let (mut durable, _) =
        Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    for o in &all {
        durable.apply(o, Durability::Fsync).unwrap();
    }
    durable.close().unwrap();
    // Garbage after the last frame of the (only) segment: a write torn by a crash.
    let wal_dir = Path::new(DIR).join("wal");
    let segment = sim
        .list(&wal_dir)
        .unwrap()
        .into_iter()
        .find(|n| n.ends_with(".wal"))
        .expect("a segment file");
    let path = wal_dir.join(segment);
    let bytes = sim.file_bytes(&path).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    let at = end.next_multiple_of(8);
    let file = sim.open(&path, OpenMode::ReadWrite).unwrap();
    file.write_all_at(&[0x5a; 40], at).unwrap();
    file.sync_data().unwrap();

    let (durable, report) =
        Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap();
    assert!(report.wal.torn_tail);
    assert!(report.bytes_truncated >= 40, "{report:?}");
    assert!(!report.quarantined_files.is_empty());
    assert!(durable.state().same(&Kv::after(&all)));
}
