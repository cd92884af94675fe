//! Truncation at both ends: `truncate_front` after a checkpoint and `truncate_back` on a
//! conflict, both surviving reopen, and never mixing dropped records with new ones.

mod common;

use cairn_wal::{Durability, Error, Lsn};
use common::*;

fn rec(i: u64, generation: u8) -> Vec<u8> {
    let mut v = vec![generation; 200];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

#[test]
fn truncate_front_drops_whole_segments_and_hides_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    for i in 1..=500 {
        wal.append(rec(i, 0), Durability::Buffered).unwrap();
    }
    let before = segment_files(dir.path()).len();
    wal.truncate_front(Lsn::new(300)).unwrap();
    assert_eq!(wal.first_lsn(), Lsn::new(300));
    assert_eq!(wal.read(Lsn::new(299)).unwrap(), None);
    assert_eq!(
        wal.read(Lsn::new(300)).unwrap().unwrap()[..],
        rec(300, 0)[..]
    );
    let first = wal.reader(Lsn::FIRST).unwrap().next().unwrap().unwrap();
    assert_eq!(first.0, Lsn::new(300));
    assert!(matches!(
        wal.truncate_front(Lsn::new(10_000)),
        Err(Error::LsnOutOfRange { .. })
    ));
    wal.close().unwrap();
    assert!(
        segment_files(dir.path()).len() < before,
        "purged after close"
    );
    drop(wal);

    let (wal, report) = open(dir.path(), small_options());
    assert_eq!(report.first_lsn, Some(Lsn::new(300)));
    assert_eq!(report.records, 201);
    assert_eq!(wal.read(Lsn::new(299)).unwrap(), None);
    assert_eq!(wal.reader(Lsn::FIRST).unwrap().count(), 201);
}

#[test]
fn truncate_back_then_append_never_mixes_generations() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    for i in 1..=300 {
        wal.append(rec(i, 0), Durability::Buffered).unwrap();
    }
    wal.truncate_back(Lsn::new(120)).unwrap();
    assert_eq!(wal.next_lsn(), Lsn::new(120));
    assert_eq!(wal.read(Lsn::new(120)).unwrap(), None);
    for i in 120..=150 {
        assert_eq!(
            wal.append(rec(i, 1), Durability::Buffered).unwrap(),
            Lsn::new(i)
        );
    }
    drop(wal); // without close

    let (wal, report) = open(dir.path(), small_options());
    assert_eq!(report.last_lsn, Some(Lsn::new(150)));
    let all: Vec<_> = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 150);
    for (lsn, p) in &all {
        let generation = u8::from(lsn.get() >= 120);
        assert_eq!(p[..], rec(lsn.get(), generation)[..]);
    }
    // Truncating inside a batch is refused; at its start it works.
    let batch = wal
        .append_batch(&[rec(151, 2), rec(152, 2), rec(153, 2)], Durability::Fsync)
        .unwrap();
    assert!(matches!(
        wal.truncate_back(Lsn::new(152)),
        Err(Error::LsnOutOfRange { .. })
    ));
    wal.truncate_back(*batch.start()).unwrap();
    assert_eq!(wal.next_lsn(), Lsn::new(151));
    // Truncating everything down to the first LSN.
    wal.truncate_back(Lsn::FIRST).unwrap();
    assert_eq!(wal.next_lsn(), Lsn::FIRST);
    assert_eq!(wal.append(b"fresh", Durability::Fsync).unwrap(), Lsn::FIRST);
    drop(wal);
    let (wal, report) = open(dir.path(), small_options());
    assert_eq!(report.last_lsn, Some(Lsn::FIRST));
    assert_eq!(wal.read(Lsn::FIRST).unwrap().unwrap()[..], b"fresh"[..]);
}

#[test]
fn front_past_the_end_of_the_log_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    for i in 1..=50 {
        wal.append(rec(i, 0), Durability::Buffered).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    // A watermark claiming records that the log does not have.
    let front = dir.path().join("FRONT");
    std_vfs()
        .create_new(&front)
        .unwrap()
        .write_all_at(&cairn_wal::format::encode_front(1000), 0)
        .unwrap();
    let err = cairn_wal::Wal::open(dir.path(), small_options(), std_vfs())
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Corrupt {
                kind: cairn_wal::CorruptKind::BadFront,
                ..
            }
        ),
        "{err}"
    );
    let salvage = cairn_wal::WalOptions {
        recovery_mode: cairn_wal::RecoveryMode::SkipCorrupted,
        ..small_options()
    };
    let (wal, report) = cairn_wal::Wal::open(dir.path(), salvage, std_vfs()).unwrap();
    assert_eq!(report.first_lsn, Some(Lsn::FIRST));
    assert_eq!(
        wal.append(b"next", Durability::Fsync).unwrap(),
        Lsn::new(51)
    );
}
