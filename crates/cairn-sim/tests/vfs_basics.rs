//! Unit tests of the plain file-system behaviour: create, open, read, write, list, rename,
//! remove, directories, errors with the right OS codes, locks, entropy and handle sharing.

use std::path::Path;

use cairn_io::{Error, OpenMode, Vfs, VfsFile};
use cairn_sim::SimVfs;

fn p(path: &str) -> &Path {
    Path::new(path)
}

fn read_all(file: &dyn VfsFile) -> Vec<u8> {
    let mut buf = vec![0; usize::try_from(file.len().unwrap()).unwrap()];
    file.read_exact_at(&mut buf, 0).unwrap();
    buf
}

#[test]
fn write_read_and_lengths() {
    let sim = SimVfs::new(1);
    let file = sim.create_new(p("/f")).unwrap();
    assert!(file.is_empty().unwrap());
    file.write_all_at(b"hello", 0).unwrap();
    file.write_all_at(b"!", 7).unwrap();
    assert_eq!(read_all(file.as_ref()), b"hello\0\0!");
    let mut buf = [0u8; 4];
    assert_eq!(file.read_at(&mut buf, 6).unwrap(), 2);
    assert_eq!(file.read_at(&mut buf, 100).unwrap(), 0);
    file.set_len(3).unwrap();
    assert_eq!(read_all(file.as_ref()), b"hel");
    file.allocate(0, 10).unwrap();
    assert_eq!(file.len().unwrap(), 10);
    file.allocate(0, 4).unwrap();
    assert_eq!(file.len().unwrap(), 10, "allocate never shrinks");
    assert_eq!(file.path(), p("/f"));
    assert_eq!(sim.file_bytes(p("/f")).unwrap(), b"hel\0\0\0\0\0\0\0");
    let stats = sim.stats();
    assert_eq!(stats.writes, 2);
    assert_eq!(stats.bytes_written, 6);
}

#[test]
fn errors_carry_the_os_codes() {
    let sim = SimVfs::new(2);
    sim.create_new(p("/f")).unwrap();
    assert!(sim.create_new(p("/f")).unwrap_err().is_already_exists());
    assert!(
        sim.open(p("/missing"), OpenMode::Read)
            .unwrap_err()
            .is_not_found()
    );
    assert!(sim.create_new(p("/no/dir/f")).unwrap_err().is_not_found());
    assert!(sim.remove_file(p("/missing")).unwrap_err().is_not_found());
    assert!(
        sim.rename(p("/missing"), p("/x"))
            .unwrap_err()
            .is_not_found()
    );
    assert!(sim.list(p("/missing")).unwrap_err().is_not_found());
    assert!(sim.sync_dir(p("/missing")).unwrap_err().is_not_found());
    let read_only = sim.open(p("/f"), OpenMode::Read).unwrap();
    let err = read_only.write_at(b"x", 0).unwrap_err();
    assert_eq!(err.op(), Some(cairn_io::Op::Write));
    assert!(!err.is_eio());
    assert!(read_only.set_len(1).is_err());
    assert!(
        sim.open(p("/f"), OpenMode::ReadWrite)
            .unwrap()
            .write_at(b"x", 0)
            .is_ok()
    );
    let writable = sim.open(p("/f"), OpenMode::ReadWrite).unwrap();
    assert!(
        writable.write_at(b"x", cairn_sim::FILE_SIZE_MAX).is_err(),
        "EFBIG past the bound"
    );
    assert!(writable.set_len(cairn_sim::FILE_SIZE_MAX + 1).is_err());
}

#[test]
fn directories_list_rename_and_remove() {
    let sim = SimVfs::new(3);
    sim.create_dir_all(p("/a/b/c")).unwrap();
    sim.create_dir_all(p("a/b")).unwrap(); // relative paths name the same tree
    sim.create_new(p("/a/b/f")).unwrap();
    assert_eq!(sim.list(p("/a/b")).unwrap(), vec!["c", "f"]);
    assert!(sim.exists(p("/a/./b/f")).unwrap());
    assert!(!sim.exists(p("/a/b/g")).unwrap());
    assert!(!sim.exists(p("/a/b/f/g")).unwrap());
    assert!(
        sim.create_dir_all(p("/a/b/f"))
            .unwrap_err()
            .is_already_exists()
    );
    assert!(sim.open(p("/a/b"), OpenMode::Read).is_err());
    assert!(
        sim.remove_file(p("/a/b/c")).is_err(),
        "remove_file refuses directories"
    );
    assert!(
        sim.rename(p("/a"), p("/a/b/c/inside")).is_err(),
        "no directory into itself"
    );

    sim.rename(p("/a/b"), p("/moved")).unwrap();
    assert_eq!(sim.list(p("/moved")).unwrap(), vec!["c", "f"]);
    assert!(sim.list(p("/a")).unwrap().is_empty());
    sim.rename(p("/moved/f"), p("/moved/f")).unwrap();
    sim.remove_file(p("/moved/f")).unwrap();
    assert_eq!(sim.list(p("/moved")).unwrap(), vec!["c"]);
    assert_eq!(sim.list(p("/")).unwrap(), vec!["a", "moved"]);
}

#[test]
fn rename_replaces_and_open_handles_survive_unlink() {
    let sim = SimVfs::new(4);
    let old = sim.create_new(p("/target")).unwrap();
    old.write_all_at(b"old", 0).unwrap();
    let new = sim.create_new(p("/tmp")).unwrap();
    new.write_all_at(b"new", 0).unwrap();
    sim.rename(p("/tmp"), p("/target")).unwrap();
    assert_eq!(sim.file_bytes(p("/target")).unwrap(), b"new");
    assert!(!sim.exists(p("/tmp")).unwrap());
    // The replaced file is still readable through its open handle, as on Unix.
    assert_eq!(read_all(old.as_ref()), b"old");
    new.write_all_at(b"N", 0).unwrap();
    assert_eq!(sim.file_bytes(p("/target")).unwrap(), b"New");
    sim.remove_file(p("/target")).unwrap();
    assert_eq!(read_all(new.as_ref()), b"New");
}

#[test]
fn lock_dir_is_exclusive_until_dropped() {
    let sim = SimVfs::new(5);
    sim.create_dir_all(p("/db")).unwrap();
    let lock = sim.lock_dir(p("/db")).unwrap();
    assert_eq!(lock.dir(), p("/db"));
    assert!(matches!(
        sim.clone().lock_dir(p("/db")),
        Err(Error::Locked { .. })
    ));
    assert!(
        sim.lock_dir(p("/")).is_ok(),
        "other directories are independent"
    );
    drop(lock);
    assert!(sim.lock_dir(p("/db")).is_ok());
    assert!(sim.lock_dir(p("/nope")).unwrap_err().is_not_found());
}

#[test]
fn entropy_and_everything_else_follow_the_seed() {
    let draws = |seed| {
        let sim = SimVfs::new(seed);
        (0..4).map(|_| sim.entropy()).collect::<Vec<_>>()
    };
    assert_eq!(draws(7), draws(7));
    assert_ne!(draws(7), draws(8));
    let values = draws(7);
    assert!(values.windows(2).all(|w| w[0] != w[1]));
    assert_eq!(SimVfs::new(11).seed(), 11);
}

#[test]
fn handles_share_state_across_threads() {
    let sim = SimVfs::new(6);
    let file: std::sync::Arc<dyn VfsFile> = sim.create_new(p("/f")).unwrap().into();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let file = std::sync::Arc::clone(&file);
            scope.spawn(move || file.write_all_at(&[t + 1; 8], u64::from(t) * 8).unwrap());
        }
    });
    let bytes = sim.file_bytes(p("/f")).unwrap();
    assert_eq!(bytes.len(), 32);
    for t in 0..4u8 {
        assert!(bytes[usize::from(t) * 8..][..8].iter().all(|b| *b == t + 1));
    }
}
