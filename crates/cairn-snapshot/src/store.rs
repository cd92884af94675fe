//! [`SnapshotStore`]: a directory of snapshot files — atomic publishing (temporary file,
//! fsync, rename, directory fsync), listing, verification, fallback to an older snapshot,
//! retention, and clean-up of temporary files left by a crash.

use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cairn_io::{DirLock, OpenMode, Vfs, VfsFile};

use crate::error::{CorruptKind, Error, Result};
use crate::format::{CHUNK_SIZE_DEFAULT, CHUNK_SIZE_MAX, CHUNK_SIZE_MIN};
use crate::meta::{NewSnapshot, SnapshotId, SnapshotMeta};
use crate::reader::{self, SnapshotReader, VfsFileReader};
use crate::writer::{self, SnapshotWriter, VfsFileWriter};

/// Prefix of every file name the store owns.
const NAME_PREFIX: &str = "snap-";
/// Suffix of a published snapshot.
const FINAL_SUFFIX: &str = ".snap";
/// Suffix of a snapshot being written; removed on the next open if a crash left it.
const TEMP_SUFFIX: &str = ".tmp";
/// Read buffer for snapshot files.
const READ_BUFFER_SIZE: usize = 64 * 1024;
/// Most snapshot files a directory listing is trusted to hold; a bound on every loop over it.
const FILE_COUNT_MAX: usize = 1 << 20;

/// A snapshot file reader as returned by [`SnapshotStore::read`].
pub type FileSnapshotReader = SnapshotReader<BufReader<VfsFileReader>>;

/// Options of a [`SnapshotStore`].
///
/// # Examples
///
/// ```
/// use cairn_snapshot::StoreOptions;
///
/// let options = StoreOptions::default().retain_count(3).chunk_size(64 * 1024);
/// assert!(options.validate().is_ok());
/// assert!(options.retain_count(0).validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How many published snapshots to keep; older ones are deleted after a newer one is
    /// durable. Default: 2. Minimum: 1.
    pub retain_count: u32,
    /// Payload bytes per checksummed chunk. Default: 256 KiB. Bounds: 4 KiB..=16 MiB.
    pub chunk_size: u32,
    /// Read a newly published snapshot back and verify it before deleting older ones, so a
    /// write the device garbled never costs the previous snapshot. Default: true.
    pub verify_before_prune: bool,
    /// Take the Vfs's exclusive directory lock for as long as the store is open, so that a
    /// second process cannot manage the same directory. Default: true.
    pub lock_dir: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            retain_count: 2,
            chunk_size: CHUNK_SIZE_DEFAULT,
            verify_before_prune: true,
            lock_dir: true,
        }
    }
}

impl StoreOptions {
    /// Sets [`StoreOptions::retain_count`].
    #[must_use]
    pub fn retain_count(mut self, count: u32) -> Self {
        self.retain_count = count;
        self
    }

    /// Sets [`StoreOptions::chunk_size`].
    #[must_use]
    pub fn chunk_size(mut self, bytes: u32) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Sets [`StoreOptions::verify_before_prune`].
    #[must_use]
    pub fn verify_before_prune(mut self, verify: bool) -> Self {
        self.verify_before_prune = verify;
        self
    }

    /// Sets [`StoreOptions::lock_dir`].
    #[must_use]
    pub fn lock_dir(mut self, lock: bool) -> Self {
        self.lock_dir = lock;
        self
    }

    /// Checks every option against its documented bounds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming the first bad option.
    pub fn validate(&self) -> Result<()> {
        if self.retain_count == 0 {
            return Err(Error::InvalidOptions {
                field: "retain_count",
                reason: "must be at least 1: the store always keeps the newest snapshot".into(),
            });
        }
        if !(CHUNK_SIZE_MIN..=CHUNK_SIZE_MAX).contains(&self.chunk_size) {
            writer::check_chunk_size(self.chunk_size)?;
        }
        Ok(())
    }
}

/// A published snapshot as listed by [`SnapshotStore::list`].
#[derive(Debug)]
#[non_exhaustive]
pub struct SnapshotEntry {
    /// The id, from the file name.
    pub id: SnapshotId,
    /// The file.
    pub path: PathBuf,
    /// The file's size in bytes.
    pub file_size: u64,
    /// The metadata from the header and footer (both checked by their CRCs; the payload is
    /// not read — use [`SnapshotStore::verify`] for that), or why it could not be read.
    pub meta: Result<SnapshotMeta>,
}

/// The outcome of [`PendingSnapshot::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The new snapshot's metadata.
    pub meta: SnapshotMeta,
    /// Its file.
    pub path: PathBuf,
    /// Older snapshots deleted by retention, newest first.
    pub pruned: Vec<SnapshotId>,
}

/// A snapshot [`SnapshotStore::latest_valid`] passed over, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct Skipped {
    /// The snapshot's id.
    pub id: SnapshotId,
    /// Its file.
    pub path: PathBuf,
    /// Why it failed verification.
    pub reason: Error,
}

/// The outcome of [`SnapshotStore::latest_valid`]: the newest snapshot that verified, and
/// every newer one that did not.
#[derive(Debug)]
#[non_exhaustive]
pub struct LatestValid {
    /// The newest snapshot that verified completely, if any.
    pub snapshot: Option<SnapshotMeta>,
    /// Newer snapshots that failed verification, newest first.
    pub skipped: Vec<Skipped>,
}

impl LatestValid {
    /// Whether an older snapshot was chosen because newer ones failed.
    #[must_use]
    pub fn fell_back(&self) -> bool {
        !self.skipped.is_empty()
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    options: StoreOptions,
    /// Set when a directory fsync failed: what is durable is unknown.
    poisoned: AtomicBool,
    /// Serialises the publish → prune sequence.
    publish_lock: Mutex<()>,
    _lock: Option<DirLock>,
}

impl Shared {
    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            Err(Error::Poisoned {
                dir: self.dir.clone(),
            })
        } else {
            Ok(())
        }
    }

    fn sync_dir_or_poison(&self) -> Result<()> {
        self.vfs.sync_dir(&self.dir).map_err(|e| {
            self.poisoned.store(true, Ordering::Release);
            Error::Io(e)
        })
    }

    fn final_path(&self, id: SnapshotId) -> PathBuf {
        self.dir.join(file_name(id, FINAL_SUFFIX))
    }

    fn temp_path(&self, id: SnapshotId) -> PathBuf {
        self.dir.join(file_name(id, TEMP_SUFFIX))
    }

    /// Published ids, newest first.
    fn ids(&self) -> Result<Vec<SnapshotId>> {
        let names = self.vfs.list(&self.dir)?;
        let mut ids: Vec<SnapshotId> = names
            .iter()
            .take(FILE_COUNT_MAX)
            .filter_map(|name| parse_name(name, FINAL_SUFFIX))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }

    /// Opens published snapshot `id` for reading; `NotFound` if there is none.
    fn open_published(&self, id: SnapshotId) -> Result<Box<dyn VfsFile>> {
        self.vfs
            .open(&self.final_path(id), OpenMode::Read)
            .map_err(|e| {
                if e.is_not_found() {
                    Error::NotFound {
                        id,
                        dir: self.dir.clone(),
                    }
                } else {
                    Error::Io(e)
                }
            })
    }

    fn read(&self, id: SnapshotId) -> Result<FileSnapshotReader> {
        let path = self.final_path(id);
        let file = self.open_published(id)?;
        let source = BufReader::with_capacity(READ_BUFFER_SIZE, VfsFileReader::new(file));
        let reader = SnapshotReader::new(source, &path)?;
        check_name(&path, id, reader.id())?;
        Ok(reader)
    }

    fn verify(&self, id: SnapshotId) -> Result<SnapshotMeta> {
        let meta = self.read(id)?.finish()?;
        assert_eq!(meta.id(), id, "read() checked the header against the name");
        Ok(meta)
    }
}

/// A directory of snapshots.
///
/// Snapshots are files named `snap-<lsn>-<term>.snap` (20-digit zero-padded decimals, so
/// names sort like ids). A snapshot is written to `snap-<lsn>-<term>.tmp`, fsynced, renamed
/// to its final name and the directory fsynced; only then are older snapshots beyond
/// [`StoreOptions::retain_count`] deleted. A crash at any step leaves the previous snapshots
/// or the new one, never neither; [`SnapshotStore::open`] removes temporary files a crash
/// left behind. See the snapshot section of `docs/DURABILITY.md`.
///
/// The store is `Send + Sync`; its methods take `&self`.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::sync::Arc;
/// use cairn_io::StdVfs;
/// use cairn_snapshot::{NewSnapshot, SnapshotStore, StoreOptions};
///
/// # fn main() -> Result<(), cairn_snapshot::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let store = SnapshotStore::open(dir.path(), StoreOptions::default(), Arc::new(StdVfs::new()))?;
///
/// let mut pending = store.create(NewSnapshot::new(100, 2).user_meta(b"v1".to_vec()))?;
/// pending.write_all(b"the state machine, serialised")?;
/// let published = pending.publish()?;
/// assert_eq!(published.meta.lsn, 100);
///
/// let latest = store.latest_valid()?;
/// let meta = latest.snapshot.expect("one snapshot");
/// let mut payload = Vec::new();
/// store.read(meta.id())?.read_to_end(&mut payload)?;
/// assert_eq!(payload, b"the state machine, serialised");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    shared: Arc<Shared>,
    removed_temp_files: Arc<[PathBuf]>,
}

impl SnapshotStore {
    /// Opens (creating if needed) the snapshot directory `dir` through `vfs`, takes its lock
    /// (unless [`StoreOptions::lock_dir`] is false) and removes temporary files left by an
    /// interrupted snapshot, fsyncing the directory if it removed any.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`]; [`Error::Io`] (including [`cairn_io::Error::Locked`] when
    /// another process holds the directory).
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions, vfs: Arc<dyn Vfs>) -> Result<Self> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        cairn_io::create_dir_durable(&*vfs, &dir)?;
        let lock = if options.lock_dir {
            Some(vfs.lock_dir(&dir)?)
        } else {
            None
        };
        let mut removed = Vec::new();
        for name in vfs.list(&dir)?.iter().take(FILE_COUNT_MAX) {
            if parse_name(name, TEMP_SUFFIX).is_some() {
                let path = dir.join(name);
                match vfs.remove_file(&path) {
                    Ok(()) => removed.push(path),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !removed.is_empty() {
            vfs.sync_dir(&dir)?;
        }
        let shared = Arc::new(Shared {
            dir,
            vfs,
            options,
            poisoned: AtomicBool::new(false),
            publish_lock: Mutex::new(()),
            _lock: lock,
        });
        Ok(Self {
            shared,
            removed_temp_files: removed.into(),
        })
    }

    /// The store's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options the store was opened with.
    #[must_use]
    pub fn options(&self) -> &StoreOptions {
        &self.shared.options
    }

    /// Temporary files [`SnapshotStore::open`] removed (left by a crash mid-snapshot).
    #[must_use]
    pub fn removed_temp_files(&self) -> &[PathBuf] {
        &self.removed_temp_files
    }

    /// The path a published snapshot with this id has.
    #[must_use]
    pub fn path_of(&self, id: SnapshotId) -> PathBuf {
        self.shared.final_path(id)
    }

    /// Opens published snapshot `id` for reading through the store's Vfs (the object-store
    /// export reads published files byte for byte); `NotFound` if there is none.
    #[cfg(feature = "object-store")]
    pub(crate) fn open_published(&self, id: SnapshotId) -> Result<Box<dyn VfsFile>> {
        self.shared.open_published(id)
    }

    /// The ids of the published snapshots, newest first, from the directory listing alone.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the directory cannot be listed.
    pub fn ids(&self) -> Result<Vec<SnapshotId>> {
        self.shared.ids()
    }

    /// The published snapshots, newest first, each with the metadata of its header and
    /// footer (the payload is not read).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the directory cannot be listed. A snapshot whose metadata cannot be
    /// read is listed with the error in [`SnapshotEntry::meta`].
    pub fn list(&self) -> Result<Vec<SnapshotEntry>> {
        let mut entries = Vec::new();
        for id in self.shared.ids()? {
            let path = self.shared.final_path(id);
            let (file_size, meta) = match self.shared.vfs.open(&path, OpenMode::Read) {
                Ok(file) => {
                    let size = file.len().unwrap_or(0);
                    let meta = reader::peek_meta(file, &path).and_then(|meta| {
                        if meta.id() == id {
                            Ok(meta)
                        } else {
                            Err(Error::Corrupt {
                                path: path.clone(),
                                offset: 0,
                                kind: CorruptKind::NameMismatch {
                                    name: id,
                                    header: meta.id(),
                                },
                            })
                        }
                    });
                    (size, meta)
                }
                Err(e) if e.is_not_found() => continue, // deleted since the listing
                Err(e) => (0, Err(Error::Io(e))),
            };
            entries.push(SnapshotEntry {
                id,
                path,
                file_size,
                meta,
            });
        }
        Ok(entries)
    }

    /// Starts writing a new snapshot to a temporary file. Write the payload to the returned
    /// [`PendingSnapshot`], then [`PendingSnapshot::publish`] it.
    ///
    /// # Errors
    ///
    /// [`Error::NotNewer`] unless the id is greater than every published one;
    /// [`Error::AlreadyExists`] if the same id is being written; [`Error::UserMetaTooLarge`];
    /// [`Error::NoSpace`]; [`Error::Poisoned`]; [`Error::Io`].
    pub fn create(&self, new: NewSnapshot) -> Result<PendingSnapshot> {
        let shared = &self.shared;
        shared.check_poisoned()?;
        let id = new.id;
        if let Some(&newest) = shared.ids()?.first()
            && id <= newest
        {
            return Err(Error::NotNewer { id, newest });
        }
        let temp_path = shared.temp_path(id);
        let file = shared.vfs.create_new(&temp_path).map_err(|e| {
            if e.is_already_exists() {
                Error::AlreadyExists {
                    id,
                    path: temp_path.clone(),
                }
            } else if e.is_no_space() {
                Error::NoSpace {
                    id,
                    path: temp_path.clone(),
                    written_bytes: 0,
                    source: e,
                }
            } else {
                Error::Io(e)
            }
        })?;
        let new = if new.salt.is_none() {
            new.salt(shared.vfs.entropy())
        } else {
            new
        };
        let sink = VfsFileWriter { file, offset: 0 };
        let mut pending = PendingSnapshot {
            shared: Arc::clone(shared),
            id,
            temp_path: temp_path.clone(),
            writer: None,
            temp_exists: true,
        };
        match SnapshotWriter::with_chunk_size(sink, new, temp_path, shared.options.chunk_size) {
            Ok(w) => {
                pending.writer = Some(w);
                Ok(pending)
            }
            Err(e) => Err(pending.abandon(e, 0)),
        }
    }

    /// Opens a published snapshot for streaming, verifying as it is read (see
    /// [`SnapshotReader`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::Corrupt`] if the header is damaged or names another id;
    /// [`Error::UnsupportedVersion`]; [`Error::Io`].
    pub fn read(&self, id: SnapshotId) -> Result<FileSnapshotReader> {
        self.shared.read(id)
    }

    /// Reads a published snapshot completely and checks every chunk CRC, the digest, the
    /// sizes and the footer.
    ///
    /// # Errors
    ///
    /// As [`SnapshotStore::read`], plus [`Error::ChecksumMismatch`] and
    /// [`Error::DigestMismatch`].
    pub fn verify(&self, id: SnapshotId) -> Result<SnapshotMeta> {
        self.shared.verify(id)
    }

    /// Finds the newest snapshot that verifies completely, trying older ones when newer ones
    /// are damaged, and reports which were skipped and why.
    ///
    /// A snapshot is skipped when its verification fails with corruption
    /// ([`Error::is_corruption`]: checksum, digest, structure, unsupported version, `EIO`) or
    /// when it vanished since the listing. Any other error (permissions, too many open files)
    /// is returned, because falling back on a transient failure could load older state than
    /// the caller's log still covers.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::sync::Arc;
    /// use cairn_io::{OpenMode, StdVfs, Vfs};
    /// use cairn_snapshot::{Error, NewSnapshot, SnapshotStore, StoreOptions};
    ///
    /// # fn main() -> Result<(), Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let vfs = Arc::new(StdVfs::new());
    /// let store = SnapshotStore::open(dir.path(), StoreOptions::default(), vfs.clone())?;
    /// for lsn in [1, 2] {
    ///     let mut pending = store.create(NewSnapshot::new(lsn, 1))?;
    ///     pending.write_all(&[lsn as u8; 1000])?;
    ///     pending.publish()?;
    /// }
    /// // Bit rot in the newest snapshot's payload.
    /// let newest = store.path_of(store.ids()?[0]);
    /// vfs.open(&newest, OpenMode::ReadWrite)?.write_all_at(&[0xff], 500)?;
    ///
    /// let latest = store.latest_valid()?;
    /// assert_eq!(latest.snapshot.as_ref().map(|m| m.lsn), Some(1));
    /// assert!(latest.fell_back());
    /// assert!(matches!(latest.skipped[0].reason, Error::ChecksumMismatch { .. }));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from listing, or a non-corruption error verifying a snapshot.
    pub fn latest_valid(&self) -> Result<LatestValid> {
        let mut skipped = Vec::new();
        for id in self.shared.ids()? {
            match self.shared.verify(id) {
                Ok(meta) => {
                    return Ok(LatestValid {
                        snapshot: Some(meta),
                        skipped,
                    });
                }
                Err(Error::NotFound { .. }) => {}
                Err(reason) if reason.is_corruption() => {
                    skipped.push(Skipped {
                        id,
                        path: self.shared.final_path(id),
                        reason,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(LatestValid {
            snapshot: None,
            skipped,
        })
    }

    /// Deletes a published snapshot and fsyncs the directory.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::Poisoned`]; [`Error::Io`] (a failed directory fsync
    /// poisons the store).
    pub fn delete(&self, id: SnapshotId) -> Result<()> {
        let shared = &self.shared;
        shared.check_poisoned()?;
        let _guard = shared
            .publish_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shared
            .vfs
            .remove_file(&shared.final_path(id))
            .map_err(|e| {
                if e.is_not_found() {
                    Error::NotFound {
                        id,
                        dir: shared.dir.clone(),
                    }
                } else {
                    Error::Io(e)
                }
            })?;
        shared.sync_dir_or_poison()
    }
}

/// A snapshot being written to its temporary file.
///
/// Write the payload through [`Write`]; then [`PendingSnapshot::publish`] makes it durable
/// and visible. Dropping it (or [`PendingSnapshot::abort`]) removes the temporary file. After
/// a write error the temporary file is removed at once and the snapshot is abandoned; an
/// `ENOSPC` surfaces as [`Error::NoSpace`] (inside the `io::Error`; see [`Error::from_io`]).
#[derive(Debug)]
pub struct PendingSnapshot {
    shared: Arc<Shared>,
    id: SnapshotId,
    temp_path: PathBuf,
    writer: Option<SnapshotWriter<VfsFileWriter>>,
    temp_exists: bool,
}

impl PendingSnapshot {
    /// The id the snapshot will have.
    #[must_use]
    pub fn id(&self) -> SnapshotId {
        self.id
    }

    /// The temporary file being written.
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Payload bytes written so far.
    #[must_use]
    pub fn payload_size(&self) -> u64 {
        self.writer.as_ref().map_or(0, SnapshotWriter::payload_size)
    }

    /// Finishes the snapshot and publishes it: footer, fsync of the file, rename to the final
    /// name, fsync of the directory; then, if [`StoreOptions::verify_before_prune`], reads it
    /// back; then deletes snapshots beyond [`StoreOptions::retain_count`] and fsyncs the
    /// directory again.
    ///
    /// # Errors
    ///
    /// Before the rename (the temporary file is removed, older snapshots untouched):
    /// [`Error::NoSpace`], [`Error::NotNewer`], [`Error::PreviousError`], [`Error::Io`].
    /// After the rename: [`Error::Io`] from the directory fsync (the store is poisoned; the
    /// new snapshot may or may not survive a crash, older ones are kept), or the read-back
    /// verification's error (older snapshots are kept).
    pub fn publish(mut self) -> Result<Published> {
        let Some(writer) = self.writer.take() else {
            return Err(self.abandon(Error::PreviousError, 0));
        };
        let written = writer.written_bytes();
        let (sink, meta) = match writer.finish() {
            Ok(done) => done,
            Err(e) => return Err(self.abandon(e, written)),
        };
        let written = sink.offset;
        if let Err(e) = sink.file.sync_all() {
            return Err(self.abandon(e.into(), written));
        }
        drop(sink);
        let shared = Arc::clone(&self.shared);
        let _guard = shared
            .publish_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = shared.check_poisoned() {
            return Err(self.abandon(e, written));
        }
        let ids = match shared.ids() {
            Ok(ids) => ids,
            Err(e) => return Err(self.abandon(e, written)),
        };
        if let Some(&newest) = ids.first()
            && self.id <= newest
        {
            let err = Error::NotNewer {
                id: self.id,
                newest,
            };
            return Err(self.abandon(err, written));
        }
        let final_path = shared.final_path(self.id);
        if let Err(e) = shared.vfs.rename(&self.temp_path, &final_path) {
            return Err(self.abandon(e.into(), written));
        }
        self.temp_exists = false;
        shared.sync_dir_or_poison()?;
        // The new snapshot is durable. Only now may older ones go.
        if shared.options.verify_before_prune {
            let verified = shared.verify(self.id)?;
            if verified.digest != meta.digest {
                return Err(Error::DigestMismatch {
                    snapshot: final_path,
                    expected: meta.digest,
                    actual: verified.digest,
                });
            }
        }
        let retain = shared.options.retain_count as usize;
        let mut pruned = Vec::new();
        // Only older ones: a newer file that appeared behind the lock's back is not ours to
        // judge.
        for old in shared
            .ids()?
            .into_iter()
            .skip(retain)
            .filter(|&old| old < self.id)
        {
            match shared.vfs.remove_file(&shared.final_path(old)) {
                Ok(()) => pruned.push(old),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !pruned.is_empty() {
            shared.sync_dir_or_poison()?;
        }
        Ok(Published {
            meta,
            path: final_path,
            pruned,
        })
    }

    /// Abandons the snapshot and removes its temporary file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the temporary file cannot be removed (the next
    /// [`SnapshotStore::open`] removes it).
    pub fn abort(mut self) -> Result<()> {
        self.writer = None;
        self.remove_temp()
    }

    fn remove_temp(&mut self) -> Result<()> {
        if !self.temp_exists {
            return Ok(());
        }
        self.temp_exists = false;
        match self.shared.vfs.remove_file(&self.temp_path) {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives up after `err`: drops the writer, removes the temporary file (best effort: the
    /// next open removes it otherwise) and turns `ENOSPC` into [`Error::NoSpace`].
    fn abandon(&mut self, err: Error, written_bytes: u64) -> Error {
        self.writer = None;
        let _ignored = self.remove_temp();
        match err {
            Error::Io(source) if source.is_no_space() => Error::NoSpace {
                id: self.id,
                path: self.temp_path.clone(),
                written_bytes,
                source,
            },
            other => other,
        }
    }
}

impl Write for PendingSnapshot {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(Error::PreviousError.into());
        };
        match writer.write(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let written = writer.written_bytes();
                let err = Error::from_io(e, &self.temp_path);
                Err(self.abandon(err, written).into())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PendingSnapshot {
    fn drop(&mut self) {
        self.writer = None;
        let _ignored = self.remove_temp();
    }
}

fn file_name(id: SnapshotId, suffix: &str) -> String {
    format!("{NAME_PREFIX}{:020}-{:020}{suffix}", id.lsn, id.term)
}

/// Parses `snap-<20 digits>-<20 digits><suffix>`; anything else is not the store's.
fn parse_name(name: &str, suffix: &str) -> Option<SnapshotId> {
    let middle = name.strip_prefix(NAME_PREFIX)?.strip_suffix(suffix)?;
    let (lsn, term) = middle.split_once('-')?;
    let digits = |s: &str| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(lsn) || !digits(term) {
        return None;
    }
    Some(SnapshotId::new(lsn.parse().ok()?, term.parse().ok()?))
}

/// `NameMismatch` unless the header of the file named for `id` carries `id`.
pub(crate) fn check_name(path: &Path, id: SnapshotId, header: SnapshotId) -> Result<()> {
    if header == id {
        return Ok(());
    }
    Err(Error::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        kind: CorruptKind::NameMismatch { name: id, header },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store and its handles cross threads: a snapshot is often written off the hot path.
    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SnapshotStore>();
        check::<PendingSnapshot>();
        check::<FileSnapshotReader>();
        check::<Error>();
    }

    #[test]
    fn names_round_trip_and_sort_like_ids() {
        let ids = [
            SnapshotId::new(9, 1),
            SnapshotId::new(10, 0),
            SnapshotId::new(u64::MAX, u64::MAX),
        ];
        let mut names: Vec<String> = ids.iter().map(|&id| file_name(id, FINAL_SUFFIX)).collect();
        names.sort();
        let parsed: Vec<SnapshotId> = names
            .iter()
            .map(|n| parse_name(n, FINAL_SUFFIX).unwrap())
            .collect();
        assert_eq!(parsed, ids);
        assert_eq!(
            parse_name(&file_name(ids[0], TEMP_SUFFIX), TEMP_SUFFIX),
            Some(ids[0])
        );
        assert_eq!(
            parse_name(&file_name(ids[0], TEMP_SUFFIX), FINAL_SUFFIX),
            None
        );
        assert_eq!(parse_name("snap-1-2.snap", FINAL_SUFFIX), None);
        assert_eq!(parse_name("LOCK", FINAL_SUFFIX), None);
    }
}
