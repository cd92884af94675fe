//! [`StdVfs`]: the real file system, through `std::fs` and a few `libc` calls.
//!
//! This is the one module in Cairn allowed to touch `std::fs` (see `clippy.toml`).
#![allow(
    clippy::disallowed_methods,
    reason = "this module is the one place that implements the Vfs seam on std::fs"
)]

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Op, Result};
use crate::vfs::{DirLock, OpenMode, Vfs, VfsFile};

/// Permissions of files Cairn creates: read and write for the owner only.
const FILE_MODE: u32 = 0o600;
/// Permissions of directories Cairn creates: owner only.
const DIR_MODE: u32 = 0o700;
/// The name of the lock file [`StdVfs::lock_dir`] holds inside a locked directory.
pub(crate) const LOCK_FILE_NAME: &str = "LOCK";

/// The real file system.
///
/// - [`VfsFile::sync_data`] is `fdatasync(2)`, [`VfsFile::sync_all`] is `fsync(2)`.
/// - [`Vfs::sync_dir`] opens the directory and `fsync`s it.
/// - [`VfsFile::allocate`] is `fallocate(2)` with mode 0 on Linux.
/// - [`Vfs::lock_dir`] takes an exclusive `flock(2)` on `<dir>/LOCK`, so a second process —
///   or a second open in this one — gets [`Error::Locked`].
/// - Files are created `0600`, directories `0700`.
///
/// # Examples
///
/// ```
/// use cairn_io::{StdVfs, Vfs};
///
/// let dir = tempfile::tempdir().unwrap();
/// let vfs = StdVfs::new();
/// let lock = vfs.lock_dir(dir.path()).unwrap();
/// assert!(vfs.lock_dir(dir.path()).is_err()); // held
/// drop(lock);
/// assert!(vfs.lock_dir(dir.path()).is_ok());
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs {
    _private: (),
}

impl StdVfs {
    /// Returns the real file system.
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

/// A file opened through [`StdVfs`].
#[derive(Debug)]
struct StdFile {
    file: File,
    path: PathBuf,
}

impl Vfs for StdVfs {
    fn create_new(&self, path: &Path) -> Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)
            .map_err(|e| Error::io(Op::Create, path, e))?;
        Ok(Box::new(StdFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn open(&self, path: &Path, mode: OpenMode) -> Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(mode == OpenMode::ReadWrite)
            .open(path)
            .map_err(|e| Error::io(Op::Open, path, e))?;
        Ok(Box::new(StdFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io(Op::Rename, from, e))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io(Op::Remove, path, e))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(Op::List, dir, e))? {
            let entry = entry.map_err(|e| Error::io(Op::List, dir, e))?;
            // Names that are not UTF-8 were not made by Cairn; skip rather than fail.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| Error::io(Op::CreateDir, dir, e))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let handle = File::open(dir).map_err(|e| Error::io(Op::SyncDir, dir, e))?;
        handle
            .sync_all()
            .map_err(|e| Error::io(Op::SyncDir, dir, e))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists().map_err(|e| Error::io(Op::Open, path, e))
    }

    fn lock_dir(&self, dir: &Path) -> Result<DirLock> {
        let lock_file = dir.join(LOCK_FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&lock_file)
            .map_err(|e| Error::io(Op::Lock, &lock_file, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock::new(dir, Box::new(file))),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
                dir: dir.to_path_buf(),
                lock_file,
            }),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(Op::Lock, lock_file, e)),
        }
    }

    fn entropy(&self) -> u64 {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // RandomState is keyed from the OS's random source once per thread and stepped on
        // every construction, so hashing a counter through a fresh one gives distinct,
        // unpredictable values without a dependency on `rand`.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        hasher.finish()
    }
}

impl VfsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => return other.map_err(|e| Error::io(Op::Read, &self.path, e)),
            }
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        loop {
            match self.file.write_at(buf, offset) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => return other.map_err(|e| Error::io(Op::Write, &self.path, e)),
            }
        }
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io(Op::SetLen, &self.path, e))
    }

    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        fallocate(&self.file, offset, len).map_err(|e| Error::io(Op::Allocate, &self.path, e))
    }

    fn sync_data(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(Op::SyncData, &self.path, e))
    }

    fn sync_all(&self) -> Result<()> {
        self.file
            .sync_all()
            .map_err(|e| Error::io(Op::SyncAll, &self.path, e))
    }

    fn len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| Error::io(Op::Len, &self.path, e))?
            .len())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(target_os = "linux")]
fn fallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let to_off = |v: u64| {
        libc::off_t::try_from(v).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (offset, len) = (to_off(offset)?, to_off(len)?);
    loop {
        #[allow(unsafe_code, reason = "fallocate(2) has no safe wrapper in std")]
        // SAFETY: the descriptor is owned by `file`, which outlives the call; fallocate takes
        // no pointers.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            // The file system cannot preallocate (e.g. some FUSE or tmpfs setups): extend
            // the length instead, which is what callers rely on.
            Some(libc::EOPNOTSUPP) => {
                let end = offset.saturating_add(len) as u64;
                if file.metadata()?.len() < end {
                    file.set_len(end)?;
                }
                return Ok(());
            }
            _ => return Err(err),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn fallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let end = offset.saturating_add(len);
    if file.metadata()?.len() < end {
        file.set_len(end)?;
    }
    Ok(())
}
