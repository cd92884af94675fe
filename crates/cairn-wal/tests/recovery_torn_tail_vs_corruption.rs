//! Recovery tells a torn tail (cut, quarantined, reported) from damage inside the log (an
//! error naming file and offset), per recovery mode; recovering twice gives the same result.

mod common;

use std::path::Path;

use cairn_wal::format::{FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, frame_size};
use cairn_wal::{CorruptKind, Durability, Error, Lsn, RecoveryMode, Wal, WalOptions};
use common::*;

const RECORDS: u64 = 50;
const PAYLOAD: usize = 40;

fn options(mode: RecoveryMode) -> WalOptions {
    WalOptions {
        recovery_mode: mode,
        preallocate: false,
        ..small_options()
    }
}

/// Writes RECORDS records of PAYLOAD bytes into one segment; returns its path.
fn write_log(dir: &Path) -> std::path::PathBuf {
    let (wal, _) = open(
        dir,
        WalOptions {
            segment_size_max: 1 << 20,
            ..options(RecoveryMode::TolerateTornTail)
        },
    );
    for i in 0..RECORDS {
        wal.append(vec![i as u8 + 1; PAYLOAD], Durability::Fsync)
            .unwrap();
    }
    drop(wal);
    segment_files(dir).pop().unwrap()
}

fn frame_offset(lsn: u64) -> u64 {
    SEGMENT_HEADER_SIZE as u64 + (lsn - 1) * frame_size(PAYLOAD as u64)
}

fn reopen(dir: &Path, mode: RecoveryMode) -> Result<(Wal, cairn_wal::RecoveryReport), Error> {
    Wal::open(
        dir,
        WalOptions {
            segment_size_max: 1 << 20,
            ..options(mode)
        },
        std_vfs(),
    )
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for name in std_vfs().list(from).unwrap() {
        if name.ends_with(".wal") {
            let bytes = read_all(&from.join(&name));
            let f = std_vfs().create_new(&to.path().join(&name)).unwrap();
            f.write_all_at(&bytes, 0).unwrap();
        }
    }
    to
}

#[test]
fn torn_tail_is_cut_quarantined_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path());
    let end = frame_offset(RECORDS + 1);
    poke(&seg, end, &[0xAB; 100]);

    let strict = copy_dir(dir.path());
    let err = reopen(strict.path(), RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { kind: CorruptKind::TornTail, offset, .. } if offset == end),
        "{err}"
    );

    let (wal, report) = reopen(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
    assert!(report.torn_tail);
    assert_eq!(report.bytes_truncated, 100);
    assert_eq!(report.last_lsn, Some(Lsn::new(RECORDS)));
    assert_eq!(report.quarantine_files.len(), 1);
    assert_eq!(read_all(&report.quarantine_files[0]), vec![0xAB; 100]);
    assert!(
        report.quarantine_files[0]
            .to_string_lossy()
            .contains(&format!("-{end}.bin"))
    );
    drop(wal);

    let (_wal, again) = reopen(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
    assert!(!again.torn_tail, "the cut was durable");
    assert_eq!(again.last_lsn, Some(Lsn::new(RECORDS)));
}

#[test]
fn torn_last_frame_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path());
    // Damage the last frame's payload: nothing valid follows it.
    poke(
        &seg,
        frame_offset(RECORDS) + FRAME_HEADER_SIZE as u64 + 3,
        &[0xFF],
    );
    let (_wal, report) = reopen(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
    assert!(report.torn_tail);
    assert_eq!(report.last_lsn, Some(Lsn::new(RECORDS - 1)));
}

#[test]
fn mid_log_damage_is_corruption_per_mode() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path());
    let bad = frame_offset(10);
    poke(&seg, bad + FRAME_HEADER_SIZE as u64 + 5, &[0x00, 0x11]);

    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let copy = copy_dir(dir.path());
        let err = reopen(copy.path(), mode).unwrap_err();
        match &err {
            Error::Corrupt {
                segment,
                offset,
                kind,
            } => {
                assert_eq!(*offset, bad);
                assert_eq!(*kind, CorruptKind::BadFrameBeforeValid);
                assert!(segment.ends_with(seg.file_name().unwrap()));
            }
            other => panic!("expected Corrupt, got {other}"),
        }
        assert!(err.to_string().contains(&format!("offset {bad}")));
    }

    let copy = copy_dir(dir.path());
    let (wal, report) = reopen(copy.path(), RecoveryMode::PointInTime).unwrap();
    assert_eq!(report.last_lsn, Some(Lsn::new(9)));
    assert_eq!(report.damage.len(), 1);
    assert!(!report.quarantine_files.is_empty());
    assert_eq!(wal.append(b"new", Durability::Fsync).unwrap(), Lsn::new(10));
    drop(wal);
    let (_wal, again) = reopen(copy.path(), RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(again.last_lsn, Some(Lsn::new(10)));

    let copy = copy_dir(dir.path());
    let (wal, report) = reopen(copy.path(), RecoveryMode::SkipCorrupted).unwrap();
    assert_eq!(report.last_lsn, Some(Lsn::new(RECORDS)));
    assert_eq!(report.damage.len(), 1);
    assert_eq!(wal.read(Lsn::new(10)).unwrap(), None);
    assert_eq!(
        wal.read(Lsn::new(11)).unwrap().unwrap()[..],
        vec![11u8; PAYLOAD][..]
    );
    let all: Vec<_> = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len() as u64, RECORDS - 1);
    drop(wal);
    let (_wal, again) = reopen(copy.path(), RecoveryMode::SkipCorrupted).unwrap();
    assert_eq!(
        again.damage, report.damage,
        "recovering twice gives the same result"
    );
}

#[test]
fn misplaced_frame_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path());
    // Copy frame 5 (valid checksum, same salt) into frame 20's place.
    let bytes = read_all(&seg);
    let size = frame_size(PAYLOAD as u64) as usize;
    let f5 = frame_offset(5) as usize;
    poke(&seg, frame_offset(20), &bytes[f5..f5 + size]);
    let err = reopen(dir.path(), RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: CorruptKind::LsnMismatch {
                    expected: 20,
                    found: 5
                },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn every_single_bit_flip_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path());
    let pristine = read_all(&seg);
    let end = frame_offset(RECORDS + 1) as usize;
    let mut silently_accepted = 0;
    let mut checked = 0;
    for offset in (0..end).step_by(3) {
        let mut damaged = pristine.clone();
        damaged[offset] ^= 1 << (offset % 8);
        poke(&seg, 0, &damaged);
        match reopen(dir.path(), RecoveryMode::TolerateTornTail) {
            Err(_) => {}
            Ok((wal, report)) => {
                // Accepted only as a torn tail that dropped the damaged last frame.
                let all: Vec<_> = wal
                    .reader(Lsn::FIRST)
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let intact = all
                    .iter()
                    .all(|(lsn, p)| p[..] == vec![lsn.get() as u8; PAYLOAD][..]);
                let in_last_frame = offset as u64 >= frame_offset(RECORDS);
                let ok =
                    intact && report.torn_tail && in_last_frame && all.len() as u64 == RECORDS - 1;
                if !ok {
                    silently_accepted += 1;
                    println!("flip at {offset} accepted: {report:?}");
                }
            }
        }
        checked += 1;
        // Restore (recovery may have cut the file or moved it to quarantine).
        let vfs = std_vfs();
        if !vfs.exists(&seg).unwrap() {
            vfs.create_new(&seg).unwrap();
        }
        let f = vfs.open(&seg, cairn_io::OpenMode::ReadWrite).unwrap();
        f.set_len(0).unwrap();
        f.write_all_at(&pristine, 0).unwrap();
    }
    println!("bit flips checked: {checked}, silently accepted: {silently_accepted}");
    assert_eq!(silently_accepted, 0);
}

#[test]
fn sealed_segment_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), options(RecoveryMode::TolerateTornTail));
    for i in 0..200u64 {
        wal.append(vec![i as u8; 300], Durability::Buffered)
            .unwrap();
    }
    let verified = wal.verify().unwrap();
    assert_eq!(verified.records, 200);
    wal.close().unwrap();
    drop(wal);
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 6);

    // A flipped payload byte in a sealed segment is found by the reader, not by reopen.
    let copy = copy_dir(dir.path());
    let seg2 = copy.path().join(segs[1].file_name().unwrap());
    poke(
        &seg2,
        SEGMENT_HEADER_SIZE as u64 + FRAME_HEADER_SIZE as u64 + 7,
        &[0xEE],
    );
    let (wal, _) = Wal::open(
        copy.path(),
        options(RecoveryMode::TolerateTornTail),
        std_vfs(),
    )
    .unwrap();
    let err = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .find_map(Result::err)
        .expect("damage found");
    assert!(
        matches!(err, Error::ChecksumMismatch { offset: 64, .. }),
        "{err}"
    );
    drop(wal);

    // A damaged trailer unseals a middle segment: corruption.
    let copy = copy_dir(dir.path());
    let seg3 = copy.path().join(segs[2].file_name().unwrap());
    let len = read_all(&seg3).len() as u64;
    poke(&seg3, len - 2, &[0x00]);
    let err = Wal::open(
        copy.path(),
        options(RecoveryMode::TolerateTornTail),
        std_vfs(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: CorruptKind::Unsealed,
                ..
            }
        ),
        "{err}"
    );
    // PointInTime keeps the log up to the damaged segment's content.
    let (wal, report) =
        Wal::open(copy.path(), options(RecoveryMode::PointInTime), std_vfs()).unwrap();
    assert!(report.last_lsn.is_some());
    assert!(!report.quarantine_files.is_empty());
    drop(wal);

    // A missing segment breaks the chain.
    let copy = copy_dir(dir.path());
    std_vfs()
        .remove_file(&copy.path().join(segs[3].file_name().unwrap()))
        .unwrap();
    let err = Wal::open(
        copy.path(),
        options(RecoveryMode::TolerateTornTail),
        std_vfs(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: CorruptKind::MissingSegment { .. },
                ..
            }
        ),
        "{err}"
    );
    let (wal, report) =
        Wal::open(copy.path(), options(RecoveryMode::SkipCorrupted), std_vfs()).unwrap();
    assert_eq!(report.last_lsn, Some(Lsn::new(200)));
    assert!(!report.damage.is_empty());
    let n = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .filter(Result::is_ok)
        .count();
    assert!(n < 200 && n > 150, "{n}");
}

#[test]
fn skip_corrupted_with_a_misplaced_newest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), options(RecoveryMode::TolerateTornTail));
    for i in 0..60u64 {
        wal.append(vec![i as u8; 300], Durability::Buffered)
            .unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    let segs = segment_files(dir.path());
    let n = segs.len();
    assert!(n >= 3);
    // The newest segment's file holds a copy of an older segment (a misdirected restore).
    let older = read_all(&segs[n - 2]);
    let f = std_vfs()
        .open(&segs[n - 1], cairn_io::OpenMode::ReadWrite)
        .unwrap();
    f.set_len(0).unwrap();
    f.write_all_at(&older, 0).unwrap();
    drop(f);

    let err = Wal::open(
        dir.path(),
        options(RecoveryMode::TolerateTornTail),
        std_vfs(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let (wal, report) =
        Wal::open(dir.path(), options(RecoveryMode::SkipCorrupted), std_vfs()).unwrap();
    assert!(!report.damage.is_empty());
    assert!(
        !report.quarantine_files.is_empty(),
        "the misplaced file is moved aside"
    );
    let last = report.last_lsn.unwrap();
    assert_eq!(
        wal.append(b"after", Durability::Fsync).unwrap(),
        last.next()
    );
    drop(wal);
    let (_wal, again) = Wal::open(
        dir.path(),
        options(RecoveryMode::TolerateTornTail),
        std_vfs(),
    )
    .unwrap();
    assert_eq!(again.last_lsn, Some(last.next()));
}

#[test]
fn zeroed_header_over_data_is_damage_not_an_unused_segment() {
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path());
    poke(&seg, 0, &[0u8; SEGMENT_HEADER_SIZE]);
    let err = reopen(dir.path(), RecoveryMode::TolerateTornTail).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: CorruptKind::BadHeader,
                offset: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(std_vfs().exists(&seg).unwrap(), "nothing removed");
}
