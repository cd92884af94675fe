//! Temporary files a crash leaves behind are removed on the next open; other files are
//! left alone; dropping or aborting a pending snapshot removes its temporary file; the
//! directory lock keeps a second store out.

mod common;

use std::io::Write;

use cairn_snapshot::{NewSnapshot, SnapshotStore, StoreOptions};

#[test]
fn store_open_removes_stray_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = common::std_vfs();
    {
        let store = common::open_store(dir.path(), StoreOptions::default());
        common::publish(&store, 1, 1, b"kept");
    }
    // What a crash mid-snapshot leaves: a partial temporary file, plus unrelated files.
    let stray = dir.path().join(format!("snap-{:020}-{:020}.tmp", 2, 1));
    vfs.create_new(&stray)
        .unwrap()
        .write_all_at(b"CRNSNAP partial", 0)
        .unwrap();
    let unrelated = [
        "notes.txt",
        "snap-1-1.tmp",
        "snap-00000000000000000003-1.tmp",
    ];
    for name in unrelated {
        vfs.create_new(&dir.path().join(name)).unwrap();
    }

    let store = common::open_store(dir.path(), StoreOptions::default());
    assert_eq!(store.removed_temp_files(), std::slice::from_ref(&stray));
    assert!(!vfs.exists(&stray).unwrap());
    for name in unrelated {
        assert!(
            vfs.exists(&dir.path().join(name)).unwrap(),
            "{name} is not the store's"
        );
    }
    assert_eq!(store.ids().unwrap().len(), 1);
    assert!(store.latest_valid().unwrap().snapshot.is_some());
    // The id of the abandoned snapshot is free again.
    common::publish(&store, 2, 1, b"new");
}

#[test]
fn store_drop_and_abort_remove_the_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = common::std_vfs();
    let store = common::open_store(dir.path(), StoreOptions::default());
    let mut pending = store.create(NewSnapshot::new(1, 1)).unwrap();
    pending.write_all(&[1; 1000]).unwrap();
    let temp = pending.temp_path().to_path_buf();
    assert!(vfs.exists(&temp).unwrap());
    drop(pending);
    assert!(!vfs.exists(&temp).unwrap());

    let pending = store.create(NewSnapshot::new(1, 1)).unwrap();
    pending.abort().unwrap();
    assert!(!vfs.exists(&temp).unwrap());
    assert!(store.ids().unwrap().is_empty());
}

#[test]
fn store_lock_keeps_a_second_store_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default());
    let err =
        SnapshotStore::open(dir.path(), StoreOptions::default(), common::std_vfs()).unwrap_err();
    assert!(
        matches!(
            err,
            cairn_snapshot::Error::Io(cairn_io::Error::Locked { .. })
        ),
        "{err}"
    );
    drop(store);
    common::open_store(dir.path(), StoreOptions::default());
}
