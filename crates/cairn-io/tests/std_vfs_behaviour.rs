//! Behaviour of [`StdVfs`] on a real directory: errors, permissions, lock, short I/O helpers.

use std::os::unix::fs::PermissionsExt;

use cairn_io::{Error, OpenMode, StdVfs, Vfs};

#[test]
fn create_new_refuses_existing_and_open_reports_missing() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = StdVfs::new();
    let path = dir.path().join("a");
    vfs.create_new(&path).unwrap();
    let err = vfs.create_new(&path).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    let err = vfs
        .open(&dir.path().join("missing"), OpenMode::Read)
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains("missing"),
        "message names the path: {err}"
    );
}

#[test]
fn files_and_directories_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = StdVfs::new();
    let sub = dir.path().join("x/y");
    vfs.create_dir_all(&sub).unwrap();
    let file = sub.join("f");
    vfs.create_new(&file).unwrap();
    let meta = |p: &std::path::Path| p.metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(meta(&sub), 0o700);
    assert_eq!(meta(&dir.path().join("x")), 0o700);
    assert_eq!(meta(&file), 0o600);
}

#[test]
fn write_read_set_len_allocate_and_sync() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = StdVfs::new();
    let path = dir.path().join("f");
    let file = vfs.create_new(&path).unwrap();
    file.write_all_at(b"abcdef", 0).unwrap();
    file.write_all_at(b"XY", 2).unwrap();
    file.sync_data().unwrap();
    file.sync_all().unwrap();
    let mut buf = [0u8; 6];
    file.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"abXYef");

    file.allocate(0, 1 << 20).unwrap();
    assert_eq!(file.len().unwrap(), 1 << 20);
    file.set_len(3).unwrap();
    assert_eq!(file.len().unwrap(), 3);
    let err = file.read_exact_at(&mut buf, 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedEof {
                len: 3,
                wanted: 6,
                ..
            }
        ),
        "{err}"
    );

    let read_only = vfs.open(&path, OpenMode::Read).unwrap();
    assert!(read_only.write_at(b"z", 0).is_err());
}

#[test]
fn rename_remove_list_and_sync_dir() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = StdVfs::new();
    vfs.create_new(&dir.path().join("b.tmp")).unwrap();
    vfs.create_new(&dir.path().join("a")).unwrap();
    vfs.rename(&dir.path().join("b.tmp"), &dir.path().join("b"))
        .unwrap();
    vfs.sync_dir(dir.path()).unwrap();
    assert_eq!(
        vfs.list(dir.path()).unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    vfs.remove_file(&dir.path().join("a")).unwrap();
    assert!(!vfs.exists(&dir.path().join("a")).unwrap());
    assert!(
        vfs.remove_file(&dir.path().join("a"))
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn second_lock_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = StdVfs::new();
    let held = vfs.lock_dir(dir.path()).unwrap();
    let err = vfs.lock_dir(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    drop(held);
    vfs.lock_dir(dir.path()).unwrap();
}

#[test]
fn entropy_values_differ() {
    let vfs = StdVfs::new();
    let values: std::collections::HashSet<u64> = (0..64).map(|_| vfs.entropy()).collect();
    assert_eq!(values.len(), 64);
}
