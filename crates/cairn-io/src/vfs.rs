//! The two traits of the seam, [`Vfs`] and [`VfsFile`], and the [`DirLock`] guard.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// How [`Vfs::open`] opens an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// Reads only; writes, `set_len` and `allocate` fail.
    Read,
    /// Reads and writes.
    ReadWrite,
}

/// A file system: the directory-level half of the I/O seam.
///
/// Paths are ordinary [`Path`]s; implementations other than [`crate::StdVfs`] may interpret
/// them as keys in a simulated tree. All methods take `&self`: a `Vfs` is shared between
/// threads behind an `Arc`.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates a new, empty file opened for reading and writing (`O_CREAT | O_EXCL`).
    ///
    /// The new directory entry is durable only after [`Vfs::sync_dir`] on the parent.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] whose [`Error::is_already_exists`] is true if `path` exists; any other
    /// OS error.
    fn create_new(&self, path: &Path) -> Result<Box<dyn VfsFile>>;

    /// Opens an existing file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] whose [`Error::is_not_found`] is true if `path` does not exist.
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Box<dyn VfsFile>>;

    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    ///
    /// Durable only after [`Vfs::sync_dir`] on the parent directory (or both parents).
    ///
    /// # Errors
    ///
    /// Any OS error; `from` not existing is [`Error::is_not_found`].
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;

    /// Removes a file. Durable only after [`Vfs::sync_dir`] on the parent.
    ///
    /// # Errors
    ///
    /// Any OS error; a missing file is [`Error::is_not_found`].
    fn remove_file(&self, path: &Path) -> Result<()>;

    /// Lists the names of the entries of `dir` (files and directories), sorted.
    ///
    /// # Errors
    ///
    /// Any OS error; a missing directory is [`Error::is_not_found`].
    fn list(&self, dir: &Path) -> Result<Vec<String>>;

    /// Creates `dir` and any missing parents, with owner-only permissions. Succeeds if it
    /// already exists. New entries are durable only after [`Vfs::sync_dir`] on each parent.
    ///
    /// # Errors
    ///
    /// Any OS error.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;

    /// Makes the entries of `dir` (creations, renames, removals) durable: `fsync` on the
    /// directory.
    ///
    /// # Errors
    ///
    /// Any OS error. After an error, earlier entry changes may or may not be durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;

    /// Whether `path` exists.
    ///
    /// # Errors
    ///
    /// OS errors other than "not found".
    fn exists(&self, path: &Path) -> Result<bool>;

    /// Takes an exclusive, advisory lock on `dir`, held until the returned guard is dropped.
    ///
    /// This is how two processes are stopped from opening one store at once.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if someone else holds it; any OS error.
    fn lock_dir(&self, dir: &Path) -> Result<DirLock>;

    /// Returns 64 bits of entropy, for salts that tell one file generation from another.
    ///
    /// [`crate::StdVfs`] draws from the OS; a simulated Vfs returns values from its seed so
    /// that runs are reproducible.
    fn entropy(&self) -> u64;
}

/// An open file: the data half of the I/O seam.
///
/// Reads and writes are positional (`pread`/`pwrite`) and take `&self`, so one handle can be
/// shared by a writer and many readers.
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    ///
    /// # Errors
    ///
    /// Any OS error (a simulated Vfs may inject `EIO`).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize>;

    /// Writes up to `buf.len()` bytes at `offset`; returns how many were written, which may
    /// be fewer. The data is durable only after [`VfsFile::sync_data`].
    ///
    /// # Errors
    ///
    /// Any OS error: `EIO`, `ENOSPC` ([`Error::is_no_space`]), ...
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize>;

    /// Sets the file's length, truncating or extending with zeros.
    ///
    /// # Errors
    ///
    /// Any OS error.
    fn set_len(&self, len: u64) -> Result<()>;

    /// Reserves space for `[offset, offset + len)` so later writes there do not fail for lack
    /// of space, extending the file length if needed (`fallocate` mode 0).
    ///
    /// # Errors
    ///
    /// `ENOSPC` ([`Error::is_no_space`]); any OS error.
    fn allocate(&self, offset: u64, len: u64) -> Result<()>;

    /// Makes the file's data, and its length if it changed, durable (`fdatasync`).
    ///
    /// # Errors
    ///
    /// Any OS error. After an error the unsynced data may be lost even though reads still
    /// return it: never retry and trust the retry.
    fn sync_data(&self) -> Result<()>;

    /// Makes the file's data and all its metadata durable (`fsync`).
    ///
    /// # Errors
    ///
    /// As [`VfsFile::sync_data`].
    fn sync_all(&self) -> Result<()>;

    /// The file's current length.
    ///
    /// # Errors
    ///
    /// Any OS error.
    fn len(&self) -> Result<u64>;

    /// The path this file was opened with, for error messages.
    fn path(&self) -> &Path;

    /// Whether the file is empty.
    ///
    /// # Errors
    ///
    /// As [`VfsFile::len`].
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Fills `buf` from `offset`, looping over short reads.
    ///
    /// # Errors
    ///
    /// [`Error::UnexpectedEof`] if the file ends first; any error of [`VfsFile::read_at`].
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let n = self.read_at(&mut buf[done..], at)?;
            if n == 0 {
                return Err(Error::UnexpectedEof {
                    path: self.path().to_path_buf(),
                    offset,
                    wanted: buf.len() as u64,
                    len: self.len().unwrap_or(at),
                });
            }
            assert!(n <= buf.len() - done, "read_at returned more than asked");
            done += n;
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset`, looping over short writes.
    ///
    /// # Errors
    ///
    /// [`Error::WriteZero`] if a write makes no progress; any error of [`VfsFile::write_at`]
    /// (after which a prefix of `buf` may have been written).
    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let n = self.write_at(&buf[done..], at)?;
            if n == 0 {
                return Err(Error::WriteZero {
                    path: self.path().to_path_buf(),
                    offset: at,
                });
            }
            assert!(n <= buf.len() - done, "write_at returned more than given");
            done += n;
        }
        Ok(())
    }
}

/// An exclusive lock on a directory, released when dropped.
///
/// Built by [`Vfs::lock_dir`]; implementations put whatever keeps the lock alive (an open
/// file with `flock`, a registry entry) inside.
pub struct DirLock {
    _guard: Box<dyn Send + Sync>,
    dir: std::path::PathBuf,
}

impl DirLock {
    /// Wraps the value that holds the lock; dropping it must release the lock.
    pub fn new(dir: impl Into<std::path::PathBuf>, guard: Box<dyn Send + Sync>) -> Self {
        Self {
            _guard: guard,
            dir: dir.into(),
        }
    }

    /// The locked directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl fmt::Debug for DirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirLock")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Creates `dir` and any missing ancestors, and makes every entry on the way durable.
///
/// A new directory's entry survives power loss only once its parent is synced, so this
/// fsyncs the parent of each directory it created, and the parent of `dir` even when `dir`
/// already existed (a crash may have cut the call that created it before its sync).
/// Ancestors that already existed above that are assumed durable.
///
/// # Examples
///
/// ```
/// use cairn_io::{StdVfs, Vfs, create_dir_durable};
///
/// let root = tempfile::tempdir().unwrap();
/// let dir = root.path().join("a/b/c");
/// create_dir_durable(&StdVfs::new(), &dir).unwrap();
/// assert!(StdVfs::new().exists(&dir).unwrap());
/// ```
///
/// # Errors
///
/// Any error of [`Vfs::exists`], [`Vfs::create_dir_all`] or [`Vfs::sync_dir`].
pub fn create_dir_durable(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let parent_of = |p: &Path| {
        p.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
    };
    // The ancestors that do not exist yet, `dir` first; bounded by the path's depth.
    let mut missing = Vec::new();
    for ancestor in dir.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        if vfs.exists(ancestor)? {
            break;
        }
        missing.push(ancestor);
    }
    vfs.create_dir_all(dir)?;
    // `dir`'s own parent is synced whether or not `dir` was new; then the parents of the
    // newly created ancestors above it.
    let mut to_sync: Vec<_> = parent_of(dir).into_iter().collect();
    to_sync.extend(
        missing
            .iter()
            .skip(1)
            .filter_map(|created| parent_of(created)),
    );
    for above in to_sync {
        vfs.sync_dir(&above)?;
    }
    Ok(())
}
