//! A failed fsync poisons the log: the group's appends and every later call fail with
//! `Error::Poisoned`, the sync is never retried, nothing panics, and reopening recovers.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_wal::{Durability, Error, Lsn, Wal};
use common::*;

#[test]
fn failed_fsync_poisons_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = Arc::new(FailingVfs::default());
    let (wal, _) = Wal::open(dir.path(), small_options(), vfs.clone()).unwrap();
    let ok = wal.append(b"durable", Durability::Fsync).unwrap();
    vfs.fail_sync.store(true, Ordering::SeqCst);
    let err = wal.append(b"lost?", Durability::Fsync).unwrap_err();
    assert!(matches!(err, Error::Poisoned), "{err}");
    assert!(err.to_string().contains("reopen"));
    assert!(matches!(
        wal.append(b"x", Durability::Buffered),
        Err(Error::Poisoned)
    ));
    assert!(matches!(
        wal.append(b"x", Durability::None),
        Err(Error::Poisoned)
    ));
    assert!(matches!(
        wal.append_batch(&[b"a"], Durability::Fsync),
        Err(Error::Poisoned)
    ));
    assert!(matches!(wal.sync(), Err(Error::Poisoned)));
    assert!(matches!(
        wal.wait_durable(Lsn::new(2)),
        Err(Error::Poisoned)
    ));
    assert!(matches!(
        wal.truncate_back(Lsn::new(2)),
        Err(Error::Poisoned)
    ));
    assert!(matches!(wal.close(), Err(Error::Poisoned)));
    assert_eq!(
        vfs.syncs_after_failure.load(Ordering::SeqCst),
        1,
        "fsync never retried"
    );
    drop(wal);

    vfs.fail_sync.store(false, Ordering::SeqCst);
    let (wal, report) = Wal::open(dir.path(), small_options(), vfs.clone()).unwrap();
    assert!(report.last_lsn >= Some(ok));
    assert_eq!(wal.read(ok).unwrap().unwrap()[..], b"durable"[..]);
    wal.append(b"after reopen", Durability::Fsync).unwrap();
}

#[test]
fn failed_fsync_poisons_concurrent_group() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = Arc::new(FailingVfs::default());
    let (wal, _) = Wal::open(dir.path(), small_options(), vfs.clone()).unwrap();
    vfs.fail_sync.store(true, Ordering::SeqCst);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| wal.append(b"r", Durability::Fsync))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for r in h.join().unwrap() {
            assert!(matches!(r, Err(Error::Poisoned)));
        }
    }
    assert_eq!(vfs.syncs_after_failure.load(Ordering::SeqCst), 1);
}
