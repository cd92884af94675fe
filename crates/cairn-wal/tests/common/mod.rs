//! Helpers shared by the integration tests: opening a log in a temp dir, seeds, and a
//! fault-injecting Vfs wrapper.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cairn_io::{DirLock, OpenMode, StdVfs, Vfs, VfsFile};
use cairn_wal::{Wal, WalOptions};

/// Small segments so that tests cross many rotations.
pub fn small_options() -> WalOptions {
    WalOptions {
        segment_size_max: 8192,
        record_size_max: 2048,
        ..WalOptions::default()
    }
}

pub fn std_vfs() -> Arc<dyn Vfs> {
    Arc::new(StdVfs::new())
}

pub fn open(dir: &Path, options: WalOptions) -> (Wal, cairn_wal::RecoveryReport) {
    Wal::open(dir, options, std_vfs()).expect("open")
}

/// The seed from `CAIRN_SEED`, or from the clock; printed with a replay line.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("CAIRN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("seed: {seed} (replay: CAIRN_SEED={seed} cargo test -p cairn-wal --test {test})");
    seed
}

/// A tiny deterministic PRNG (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The segment files of a log directory, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std_vfs()
        .list(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .map(|n| dir.join(n))
        .collect();
    v.sort();
    v
}

/// Overwrites bytes of a file through the Vfs.
pub fn poke(path: &Path, offset: u64, bytes: &[u8]) {
    let f = std_vfs().open(path, OpenMode::ReadWrite).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

pub fn read_all(path: &Path) -> Vec<u8> {
    let f = std_vfs().open(path, OpenMode::Read).unwrap();
    let mut buf = vec![0u8; f.len().unwrap() as usize];
    f.read_exact_at(&mut buf, 0).unwrap();
    buf
}

/// A Vfs that fails `sync_data` once `fail_sync` is set, counting the calls.
#[derive(Debug, Default)]
pub struct FailingVfs {
    pub inner: StdVfs,
    pub fail_sync: Arc<AtomicBool>,
    pub syncs_after_failure: Arc<AtomicU64>,
}

#[derive(Debug)]
struct FailingFile {
    inner: Box<dyn VfsFile>,
    fail_sync: Arc<AtomicBool>,
    syncs_after_failure: Arc<AtomicU64>,
}

impl Vfs for FailingVfs {
    fn create_new(&self, path: &Path) -> cairn_io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(FailingFile {
            inner: self.inner.create_new(path)?,
            fail_sync: self.fail_sync.clone(),
            syncs_after_failure: self.syncs_after_failure.clone(),
        }))
    }
    fn open(&self, path: &Path, mode: OpenMode) -> cairn_io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(FailingFile {
            inner: self.inner.open(path, mode)?,
            fail_sync: self.fail_sync.clone(),
            syncs_after_failure: self.syncs_after_failure.clone(),
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

impl VfsFile for FailingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> cairn_io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> cairn_io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn set_len(&self, len: u64) -> cairn_io::Result<()> {
        self.inner.set_len(len)
    }
    fn allocate(&self, offset: u64, len: u64) -> cairn_io::Result<()> {
        self.inner.allocate(offset, len)
    }
    fn sync_data(&self) -> cairn_io::Result<()> {
        if self.fail_sync.load(Ordering::SeqCst) {
            self.syncs_after_failure.fetch_add(1, Ordering::SeqCst);
            return Err(cairn_io::Error::io(
                cairn_io::Op::SyncData,
                self.inner.path(),
                std::io::Error::from_raw_os_error(5),
            ));
        }
        self.inner.sync_data()
    }
    fn sync_all(&self) -> cairn_io::Result<()> {
        self.sync_data()
    }
    fn len(&self) -> cairn_io::Result<u64> {
        self.inner.len()
    }
    fn path(&self) -> &Path {
        self.inner.path()
    }
}
