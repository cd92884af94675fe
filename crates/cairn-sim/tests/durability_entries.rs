//! Unit tests of what becomes durable when: file data and length on `sync_data`/`sync_all`,
//! directory entries (files and directories, created, renamed, removed) on `sync_dir` of
//! their parent.

use std::path::Path;

use cairn_io::Vfs;
use cairn_sim::{CrashModel, SimVfs};

fn p(path: &str) -> &Path {
    Path::new(path)
}

fn reboot(sim: &SimVfs) -> SimVfs {
    sim.crash_image(&CrashModel::DropAll)
}

#[test]
fn a_new_file_needs_its_directory_synced() {
    let sim = SimVfs::new(1);
    let file = sim.create_new(p("/f")).unwrap();
    file.write_all_at(b"data", 0).unwrap();
    file.sync_all().unwrap();
    assert!(
        !reboot(&sim).exists(p("/f")).unwrap(),
        "data synced, entry not"
    );
    assert_eq!(sim.file_state(p("/f")).unwrap().durable, b"data");
    assert_eq!(sim.durable_file_bytes(p("/f")), None);
    sim.sync_dir(p("/")).unwrap();
    assert_eq!(reboot(&sim).file_bytes(p("/f")).unwrap(), b"data");
    assert_eq!(sim.durable_file_bytes(p("/f")).unwrap(), b"data");
}

#[test]
fn directories_need_their_parent_synced_too() {
    let sim = SimVfs::new(2);
    sim.create_dir_all(p("/a/b")).unwrap();
    sim.create_new(p("/a/b/f")).unwrap();
    sim.sync_dir(p("/a/b")).unwrap();
    sim.sync_dir(p("/a")).unwrap();
    // `/a` itself is not durable in `/`, so nothing below it survives.
    assert!(reboot(&sim).list(p("/")).unwrap().is_empty());
    sim.sync_dir(p("/")).unwrap();
    let image = reboot(&sim);
    assert!(image.exists(p("/a/b/f")).unwrap());
    assert_eq!(image.durable_tree(), sim.live_tree());
}

#[test]
fn removal_and_rename_revert_without_a_directory_sync() {
    let sim = SimVfs::new(3);
    let file = sim.create_new(p("/f")).unwrap();
    file.write_all_at(b"v1", 0).unwrap();
    file.sync_data().unwrap();
    sim.sync_dir(p("/")).unwrap();
    sim.rename(p("/f"), p("/g")).unwrap();
    assert_eq!(reboot(&sim).list(p("/")).unwrap(), vec!["f"]);
    sim.remove_file(p("/g")).unwrap();
    assert_eq!(reboot(&sim).file_bytes(p("/f")).unwrap(), b"v1");
    sim.sync_dir(p("/")).unwrap();
    assert!(reboot(&sim).list(p("/")).unwrap().is_empty());
}

#[test]
fn length_changes_are_durable_only_after_a_file_sync() {
    let sim = SimVfs::new(4);
    let file = sim.create_new(p("/f")).unwrap();
    sim.sync_dir(p("/")).unwrap();
    file.write_all_at(b"0123456789", 0).unwrap();
    file.sync_data().unwrap();
    file.set_len(4).unwrap();
    assert_eq!(reboot(&sim).file_bytes(p("/f")).unwrap().len(), 10);
    file.allocate(0, 32).unwrap();
    assert_eq!(reboot(&sim).file_bytes(p("/f")).unwrap().len(), 10);
    assert_eq!(sim.pending_count(), 2);
    file.sync_data().unwrap();
    assert_eq!(
        reboot(&sim).file_bytes(p("/f")).unwrap(),
        [b"0123".as_slice(), &[0; 28]].concat()
    );
    let state = sim.file_state(p("/f")).unwrap();
    assert_eq!(
        (state.live.len(), state.durable.len(), state.pending_count),
        (32, 32, 0)
    );
}

#[test]
fn a_sync_covers_only_its_own_file_or_directory() {
    let sim = SimVfs::new(5);
    sim.create_dir_all(p("/x")).unwrap();
    sim.create_dir_all(p("/y")).unwrap();
    let a = sim.create_new(p("/x/a")).unwrap();
    let b = sim.create_new(p("/y/b")).unwrap();
    a.write_all_at(b"a", 0).unwrap();
    b.write_all_at(b"b", 0).unwrap();
    a.sync_data().unwrap();
    sim.sync_dir(p("/x")).unwrap();
    sim.sync_dir(p("/")).unwrap();
    let image = reboot(&sim);
    assert_eq!(image.file_bytes(p("/x/a")).unwrap(), b"a");
    assert!(image.list(p("/y")).unwrap().is_empty());
    assert_eq!(sim.file_state(p("/y/b")).unwrap().pending_count, 1);
    // A cross-directory rename is two entries: each directory's sync persists its half.
    sim.rename(p("/x/a"), p("/y/a")).unwrap();
    sim.sync_dir(p("/y")).unwrap();
    let image = reboot(&sim);
    assert_eq!(image.file_bytes(p("/x/a")).unwrap(), b"a");
    assert_eq!(image.file_bytes(p("/y/a")).unwrap(), b"a");
}
