//! Unit tests of the Linux fsync-failure semantics: a failed `sync_data` drops the file's
//! pending data without making it durable, reads still return it, the next sync succeeds,
//! and that success does not bring the dropped data back.

use std::path::Path;

use cairn_io::{Op, Vfs};
use cairn_sim::{CrashModel, FaultKind, FaultRule, SimVfs};

fn p(path: &str) -> &Path {
    Path::new(path)
}

#[test]
fn a_failed_fsync_loses_the_data_and_the_retry_lies() {
    let sim = SimVfs::new(1);
    let file = sim.create_new(p("/wal")).unwrap();
    sim.sync_dir(p("/")).unwrap();
    file.write_all_at(b"durable", 0).unwrap();
    file.sync_data().unwrap();
    file.write_all_at(b"+dropped", 7).unwrap();

    sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::SyncData).nth(1));
    let err = file.sync_data().unwrap_err();
    assert!(err.is_eio());
    assert_eq!(err.op(), Some(Op::SyncData));
    assert_eq!(sim.pending_count(), 0, "the dirty pages were marked clean");

    let mut buf = [0u8; 15];
    file.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"durable+dropped", "reads still see the dropped data");

    file.sync_data().expect("the retry succeeds ...");
    let image = sim.crash_image(&CrashModel::DropAll);
    assert_eq!(
        image.file_bytes(p("/wal")).unwrap(),
        b"durable",
        "... but the data is gone"
    );

    // Later writes are unaffected: they become durable on the next sync.
    file.write_all_at(b"!", 15).unwrap();
    file.sync_all().unwrap();
    let state = sim.file_state(p("/wal")).unwrap();
    assert_eq!(state.durable, b"durable\0\0\0\0\0\0\0\0!");
    assert_eq!(state.live, b"durable+dropped!");
}

#[test]
fn a_failed_fsync_drops_only_that_files_data() {
    let sim = SimVfs::new(2);
    let a = sim.create_new(p("/a")).unwrap();
    let b = sim.create_new(p("/b")).unwrap();
    sim.sync_dir(p("/")).unwrap();
    a.write_all_at(b"a", 0).unwrap();
    b.write_all_at(b"b", 0).unwrap();
    sim.add_fault(
        FaultRule::new(FaultKind::NoSpace)
            .on(Op::SyncAll)
            .path_contains("/a")
            .nth(1),
    );
    assert!(a.sync_all().unwrap_err().is_no_space());
    assert_eq!(sim.pending_count(), 1);
    b.sync_all().unwrap();
    a.sync_all().unwrap();
    let image = sim.crash_image(&CrashModel::DropAll);
    assert_eq!(image.file_bytes(p("/a")).unwrap(), b"");
    assert_eq!(image.file_bytes(p("/b")).unwrap(), b"b");
}
