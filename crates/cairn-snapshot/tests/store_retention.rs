//! Retention keeps the newest N snapshots and deletes older ones only after publishing the
//! new one; snapshots must be newer than the newest; ids and list agree.

mod common;

use cairn_snapshot::{Error, NewSnapshot, SnapshotId, StoreOptions};

fn lsns(store: &cairn_snapshot::SnapshotStore) -> Vec<u64> {
    store.ids().unwrap().iter().map(|id| id.lsn).collect()
}

#[test]
fn store_retention_keeps_newest_two_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default());
    assert!(common::publish(&store, 1, 1, b"a").pruned.is_empty());
    assert!(common::publish(&store, 2, 1, b"b").pruned.is_empty());
    let third = common::publish(&store, 3, 1, b"c");
    assert_eq!(third.pruned, [SnapshotId::new(1, 1)]);
    assert_eq!(lsns(&store), [3, 2]);
    let fourth = common::publish(&store, 4, 2, b"d");
    assert_eq!(fourth.pruned, [SnapshotId::new(2, 1)]);
    assert_eq!(lsns(&store), [4, 3]);
}

#[test]
fn store_retention_honours_retain_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default().retain_count(4));
    for lsn in 1..=10 {
        common::publish(&store, lsn, 1, &[lsn as u8; 10]);
    }
    assert_eq!(lsns(&store), [10, 9, 8, 7]);
    drop(store);
    let store = common::open_store(dir.path(), StoreOptions::default().retain_count(1));
    let published = common::publish(&store, 11, 1, b"x");
    assert_eq!(published.pruned.len(), 4);
    assert_eq!(lsns(&store), [11]);
}

#[test]
fn store_rejects_ids_not_newer_and_deletes_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default());
    common::publish(&store, 5, 2, b"x");
    for (lsn, term) in [(5, 2), (5, 1), (4, 9)] {
        let err = store.create(NewSnapshot::new(lsn, term)).unwrap_err();
        assert!(matches!(err, Error::NotNewer { .. }), "{err}");
    }
    // Two writers racing: the second to publish is no longer newer.
    let mut a = store.create(NewSnapshot::new(7, 2)).unwrap();
    let mut b = store.create(NewSnapshot::new(6, 2)).unwrap();
    let err = store.create(NewSnapshot::new(7, 2)).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    std::io::Write::write_all(&mut a, b"a").unwrap();
    std::io::Write::write_all(&mut b, b"b").unwrap();
    a.publish().unwrap();
    let err = b.publish().unwrap_err();
    assert!(matches!(err, Error::NotNewer { .. }), "{err}");
    assert_eq!(lsns(&store), [7, 5]);

    store.delete(SnapshotId::new(7, 2)).unwrap();
    assert_eq!(lsns(&store), [5]);
    let err = store.delete(SnapshotId::new(7, 2)).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(store.removed_temp_files().is_empty());
    let names = common::std_vfs().list(dir.path()).unwrap();
    assert_eq!(
        names.len(),
        2,
        "LOCK and one snapshot, no temporary files: {names:?}"
    );
}

#[test]
fn store_rejects_invalid_options() {
    let dir = tempfile::tempdir().unwrap();
    for options in [
        StoreOptions::default().retain_count(0),
        StoreOptions::default().chunk_size(1),
    ] {
        let err = cairn_snapshot::SnapshotStore::open(dir.path(), options, common::std_vfs())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidOptions { .. }), "{err}");
    }
}
