//! A snapshot write that runs out of space (`ENOSPC` at any byte) fails with
//! `Error::NoSpace`, removes its temporary file and leaves the previous snapshot intact.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_io::{DirLock, Op, OpenMode, StdVfs, Vfs, VfsFile};
use cairn_snapshot::{Error, NewSnapshot, SnapshotId, SnapshotStore, StoreOptions};
use common::Rng;

/// A Vfs whose files accept only `budget` more bytes in total, then fail with `ENOSPC`.
#[derive(Debug)]
struct FullDisk {
    inner: StdVfs,
    budget: Arc<AtomicU64>,
}

#[derive(Debug)]
struct FullFile {
    inner: Box<dyn VfsFile>,
    budget: Arc<AtomicU64>,
}

impl Vfs for FullDisk {
    fn create_new(&self, path: &Path) -> cairn_io::Result<Box<dyn VfsFile>> {
        let inner = self.inner.create_new(path)?;
        Ok(Box::new(FullFile {
            inner,
            budget: Arc::clone(&self.budget),
        }))
    }
    fn open(&self, path: &Path, mode: OpenMode) -> cairn_io::Result<Box<dyn VfsFile>> {
        let inner = self.inner.open(path, mode)?;
        Ok(Box::new(FullFile {
            inner,
            budget: Arc::clone(&self.budget),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> cairn_io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> cairn_io::Result<()> {
        self.inner.remove_file(path)
    }
    fn list(&self, dir: &Path) -> cairn_io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> cairn_io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> cairn_io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> cairn_io::Result<bool> {
        self.inner.exists(path)
    }
    fn lock_dir(&self, dir: &Path) -> cairn_io::Result<DirLock> {
        self.inner.lock_dir(dir)
    }
    fn entropy(&self) -> u64 {
        self.inner.entropy()
    }
}

impl VfsFile for FullFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> cairn_io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> cairn_io::Result<usize> {
        let left = self.budget.load(Ordering::SeqCst);
        if left == 0 {
            return Err(cairn_io::Error::io(
                Op::Write,
                self.inner.path(),
                std::io::Error::from_raw_os_error(28),
            ));
        }
        let n = (buf.len() as u64).min(left) as usize;
        let n = self.inner.write_at(&buf[..n], offset)?;
        self.budget.fetch_sub(n as u64, Ordering::SeqCst);
        Ok(n)
    }
    fn set_len(&self, len: u64) -> cairn_io::Result<()> {
        self.inner.set_len(len)
    }
    fn allocate(&self, offset: u64, len: u64) -> cairn_io::Result<()> {
        self.inner.allocate(offset, len)
    }
    fn sync_data(&self) -> cairn_io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&self) -> cairn_io::Result<()> {
        self.inner.sync_all()
    }
    fn len(&self) -> cairn_io::Result<u64> {
        self.inner.len()
    }
    fn path(&self) -> &Path {
        self.inner.path()
    }
}

fn try_snapshot(store: &SnapshotStore, id: SnapshotId, payload: &[u8]) -> Result<(), Error> {
    let mut pending = store.create(NewSnapshot::new(id.lsn, id.term))?;
    pending.write_all(payload)?;
    pending.publish()?;
    Ok(())
}

#[test]
fn store_enospc_keeps_old_snapshot_and_removes_temp() {
    let seed = common::seed("store_enospc");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let budget = Arc::new(AtomicU64::new(u64::MAX));
    let vfs = Arc::new(FullDisk {
        inner: StdVfs::new(),
        budget: Arc::clone(&budget),
    });
    let options = StoreOptions::default().chunk_size(16 * 1024);
    let store = SnapshotStore::open(dir.path(), options, vfs).unwrap();
    let old_payload = rng.bytes(50_000);
    try_snapshot(&store, SnapshotId::new(1, 1), &old_payload).unwrap();
    let old = store.verify(SnapshotId::new(1, 1)).unwrap();

    let payload = rng.bytes(100_000);
    // The encoded snapshot is about 100_000 + 7 chunk headers + header + footer.
    let mut budgets: Vec<u64> = vec![
        0, 1, 10, 59, 60, 64, 16_000, 16_451, 50_000, 99_999, 100_100, 100_150,
    ];
    budgets.extend((0..20).map(|_| rng.below(100_200)));
    let mut failures = 0;
    for &limit in &budgets {
        budget.store(limit, Ordering::SeqCst);
        let err = try_snapshot(&store, SnapshotId::new(2, 1), &payload)
            .err()
            .unwrap_or_else(|| panic!("a budget of {limit} bytes cannot hold the snapshot"));
        let Error::NoSpace {
            id,
            path,
            written_bytes,
            ..
        } = &err
        else {
            panic!("budget {limit}: expected NoSpace, got {err}");
        };
        assert_eq!(*id, SnapshotId::new(2, 1));
        assert!(
            *written_bytes <= limit,
            "budget {limit}: {written_bytes} bytes written"
        );
        assert!(
            !path.exists(),
            "budget {limit}: temporary file {} left behind",
            path.display()
        );
        let message = err.to_string();
        assert!(
            message.contains("free disk space") && message.contains("intact"),
            "{message}"
        );
        assert_eq!(store.ids().unwrap(), [SnapshotId::new(1, 1)]);
        assert_eq!(store.verify(SnapshotId::new(1, 1)).unwrap(), old);
        failures += 1;
    }
    println!("ENOSPC points checked: {failures}; old snapshot intact after each");

    budget.store(u64::MAX, Ordering::SeqCst);
    try_snapshot(&store, SnapshotId::new(2, 1), &payload).unwrap();
    assert_eq!(
        store.ids().unwrap(),
        [SnapshotId::new(2, 1), SnapshotId::new(1, 1)]
    );
    let names = common::std_vfs().list(dir.path()).unwrap();
    assert_eq!(names.len(), 3, "LOCK and two snapshots: {names:?}");
}
