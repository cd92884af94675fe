//! Round trips: single appends, batches, every durability level, rotation across many
//! segments, reopen (clean and without close), readers and the tailing reader.

mod common;

use std::time::Duration;

use cairn_wal::{Durability, Error, Lsn, WalOptions};
use common::*;

fn payload(i: u64) -> Vec<u8> {
    let len = (i * 37 % 700) as usize;
    (0..len).map(|j| (i as usize + j) as u8).collect()
}

#[test]
fn append_read_reopen_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, report) = open(dir.path(), small_options());
    assert_eq!(report.records, 0);
    let levels = [Durability::None, Durability::Buffered, Durability::Fsync];
    for i in 1..=400u64 {
        let lsn = wal.append(payload(i), levels[(i % 3) as usize]).unwrap();
        assert_eq!(lsn, Lsn::new(i));
    }
    assert!(
        segment_files(dir.path()).len() > 10,
        "crossed many rotations"
    );
    for i in [1u64, 2, 77, 200, 399, 400] {
        assert_eq!(wal.read(Lsn::new(i)).unwrap().unwrap(), payload(i));
    }
    assert_eq!(wal.read(Lsn::new(401)).unwrap(), None);
    let all: Vec<_> = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 400);
    for (k, (lsn, p)) in all.iter().enumerate() {
        assert_eq!(lsn.get(), k as u64 + 1);
        assert_eq!(p[..], payload(k as u64 + 1)[..]);
    }
    let stats = wal.stats();
    assert!(stats.rotations > 10);
    wal.close().unwrap();
    assert!(matches!(
        wal.append(b"x", Durability::Fsync),
        Err(Error::Closed)
    ));
    drop(wal);

    let (wal, report) = open(dir.path(), small_options());
    assert_eq!(report.last_lsn, Some(Lsn::new(400)));
    assert_eq!(report.bytes_truncated, 0);
    assert!(!report.torn_tail);
    assert_eq!(
        report.segments_scanned, 1,
        "sealed segments are not rescanned"
    );
    let from_mid: Vec<_> = wal
        .reader(Lsn::new(250))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(from_mid.len(), 151);
    assert_eq!(
        wal.append(b"after", Durability::Fsync).unwrap(),
        Lsn::new(401)
    );
}

#[test]
fn batches_get_consecutive_lsns_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    wal.append(b"one", Durability::Buffered).unwrap();
    let range = wal
        .append_batch(&[&b"a"[..], b"bb", b"ccc"], Durability::Fsync)
        .unwrap();
    assert_eq!(range, Lsn::new(2)..=Lsn::new(4));
    assert!(matches!(
        wal.append_batch::<&[u8]>(&[], Durability::Fsync),
        Err(Error::EmptyBatch)
    ));
    let big = vec![vec![0u8; 2000]; 10];
    assert!(matches!(
        wal.append_batch(&big, Durability::Fsync),
        Err(Error::BatchTooLarge { .. })
    ));
    drop(wal); // no close: like a process crash
    let (wal, report) = open(dir.path(), small_options());
    assert_eq!(report.last_lsn, Some(Lsn::new(4)));
    assert_eq!(wal.read(Lsn::new(3)).unwrap().unwrap(), &b"bb"[..]);
}

#[test]
fn record_size_max_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    let err = wal.append(vec![0u8; 2049], Durability::Fsync).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RecordTooLarge {
                size: 2049,
                max: 2048
            }
        ),
        "{err}"
    );
    assert_eq!(wal.next_lsn(), Lsn::FIRST);
    wal.append(vec![7u8; 2048], Durability::Fsync).unwrap();
    assert!(matches!(
        wal.append(b"x", Durability::Remote),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn options_are_validated() {
    let bad = WalOptions {
        segment_size_max: 1000,
        ..WalOptions::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(Error::InvalidOptions {
            field: "segment_size_max",
            ..
        })
    ));
    let bad = WalOptions {
        segment_size_max: 8192,
        record_size_max: 8000,
        ..WalOptions::default()
    };
    assert!(bad.validate().is_err());
    assert!(WalOptions::default().validate().is_ok());
}

#[test]
fn tail_reader_follows_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    let mut tail = wal.tail(Lsn::FIRST).unwrap();
    assert_eq!(tail.next_timeout(Duration::from_millis(10)).unwrap(), None);
    let writer = {
        let wal = wal.clone();
        std::thread::spawn(move || {
            for i in 0..50u64 {
                wal.append(i.to_le_bytes(), Durability::Buffered).unwrap();
            }
        })
    };
    let mut seen = 0u64;
    while seen < 50 {
        let (lsn, p) = tail
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("record arrives");
        assert_eq!(lsn.get(), seen + 1);
        assert_eq!(p[..], seen.to_le_bytes());
        seen += 1;
    }
    writer.join().unwrap();
}

#[test]
fn directory_lock_refuses_a_second_open() {
    let dir = tempfile::tempdir().unwrap();
    let (_wal, _) = open(dir.path(), small_options());
    let second = cairn_wal::Wal::open(dir.path(), small_options(), std_vfs());
    assert!(matches!(
        second,
        Err(Error::Io(cairn_io::Error::Locked { .. }))
    ));
}

#[test]
fn dedup_returns_the_original_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        dedup_window: 8,
        ..small_options()
    };
    let (wal, _) = open(dir.path(), options);
    let a = wal.append(b"event-a", Durability::Fsync).unwrap();
    let b = wal.append(b"event-b", Durability::Fsync).unwrap();
    assert_eq!(wal.append(b"event-a", Durability::Fsync).unwrap(), a);
    assert_eq!(wal.append(b"event-b", Durability::Buffered).unwrap(), b);
    for i in 0..20u64 {
        wal.append(i.to_le_bytes(), Durability::Buffered).unwrap();
    }
    // Out of the window now: appended again.
    assert_eq!(
        wal.append(b"event-a", Durability::Fsync).unwrap(),
        Lsn::new(23)
    );
}

#[test]
fn dedup_window_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        dedup_window: 16,
        ..small_options()
    };
    let (wal, _) = open(dir.path(), options.clone());
    let a = wal.append(b"re-sent event", Durability::Fsync).unwrap();
    wal.append(b"other", Durability::Fsync).unwrap();
    drop(wal);
    let (wal, _) = open(dir.path(), options);
    assert_eq!(wal.append(b"re-sent event", Durability::Fsync).unwrap(), a);
}

#[test]
fn close_racing_appends_never_hangs() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = open(dir.path(), small_options());
        let appenders: Vec<_> = (0..4)
            .map(|_| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    loop {
                        match wal.append(b"x", Durability::Fsync) {
                            Ok(lsn) => acked.push(lsn),
                            Err(Error::Closed) => return acked,
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(5));
        wal.close().unwrap();
        let acked: Vec<Lsn> = appenders
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert!(
            acked.iter().all(|&l| l <= wal.durable_lsn()),
            "acknowledged implies durable"
        );
        drop(wal);
        let (_wal, report) = open(dir.path(), small_options());
        assert_eq!(report.records, acked.len() as u64);
    }
}

#[test]
fn group_commit_max_delay_syncs_old_unsynced_records_on_the_next_append() {
    for (delay, expect_sync) in [
        (Duration::from_millis(20), true),
        (Duration::from_secs(10), false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut options = small_options();
        options.group_commit_max_delay = delay;
        let (wal, _) = open(dir.path(), options);
        wal.append(b"first", Durability::None).unwrap();
        wal.append(b"second", Durability::Buffered).unwrap();
        assert_eq!(wal.stats().fsyncs, 0, "nothing asked for durability yet");
        // Past the delay by more than a tick of the coarse clock (at most 10 ms).
        std::thread::sleep(Duration::from_millis(60));
        wal.append(b"third", Durability::None).unwrap();
        let fsyncs = wal.stats().fsyncs;
        if expect_sync {
            assert_eq!(
                fsyncs, 1,
                "an append after {delay:?} syncs the older records"
            );
        } else {
            assert_eq!(fsyncs, 0, "{delay:?} has not passed: no fsync");
        }
        wal.close().unwrap();
    }
}
