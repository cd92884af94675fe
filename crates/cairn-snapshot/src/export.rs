//! Export of published snapshots to, and import from, any [`object_store::ObjectStore`]
//! (S3, GCS, Azure, the local file system, memory), behind the `object-store` feature.
//!
//! The object is the snapshot file byte for byte, so it verifies exactly as the file does.
//! [`export`] reads the file through the store's Vfs and the verifying [`SnapshotReader`]
//! while it uploads parts as they fill, and completes the upload (which is what makes the
//! object appear) only after every chunk CRC, the digest and the footer matched; otherwise it
//! aborts the upload, so a damaged local snapshot is never exported. [`import`] fetches the object in ranges pinned to one version (its
//! ETag), streams it through the verifying reader into a new snapshot of the
//! [`SnapshotStore`], and publishes it (temporary file, fsync, rename, directory fsync) only
//! after the whole object verified: a corrupted object never becomes a published snapshot.
//!
//! Both are `async fn`s that run on the caller's runtime and spawn nothing. The store is
//! synchronous: they do blocking file I/O of at most one part (default 8 MiB) at a time
//! between awaits. Callers on a busy multi-threaded runtime should run them inside
//! `tokio::task::spawn_blocking` + `Handle::block_on`, or on a runtime of their own.
//!
//! Memory is bounded by the part size and the chunk sizes, whatever the snapshot's size:
//! export holds one part, a 64 KiB read-ahead and one chunk of the file; import holds at most
//! one part plus one chunk of the object fetched ahead, the chunk being verified, and one
//! chunk of the store's writer. (A snapshot's chunks are at most 16 MiB, bounded by its
//! header before anything is allocated; the default is 256 KiB.)

use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use cairn_crc::Digest;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, GetRange, MultipartUpload, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::error::{CorruptKind, Error, Result};
use crate::format::{CHUNK_HEADER_SIZE, CHUNK_SIZE_MAX, FOOTER_SIZE, HEADER_FIXED_SIZE};
use crate::format::{HEADER_CRC_SIZE, USER_META_SIZE_MAX};
use crate::meta::{NewSnapshot, SnapshotId, SnapshotMeta};
use crate::reader::{self, SnapshotReader, VfsFileReader};
use crate::store;
use crate::store::{Published, SnapshotStore};

/// The part size [`export`] and [`import`] use unless told otherwise: 8 MiB.
pub const PART_SIZE_DEFAULT: u32 = 8 * 1024 * 1024;
/// The smallest part size: 1 MiB. (S3 and GCS need at least 5 MiB for every part but the
/// last; the local file system and memory stores take any size.)
pub const PART_SIZE_MIN: u32 = 1024 * 1024;
/// The largest part size: 1 GiB (it bounds the memory an export or import holds).
pub const PART_SIZE_MAX: u32 = 1024 * 1024 * 1024;

/// Object metadata key holding the payload's BLAKE3 digest (64 hex digits). On S3 it is the
/// `x-amz-meta-cairn-snapshot-digest` header.
pub const METADATA_DIGEST: &str = "cairn-snapshot-digest";
/// Object metadata key holding the snapshot's lsn (decimal).
pub const METADATA_LSN: &str = "cairn-snapshot-lsn";
/// Object metadata key holding the snapshot's term (decimal).
pub const METADATA_TERM: &str = "cairn-snapshot-term";

/// Read buffer between the snapshot file and the export's part buffer.
const FILE_BUFFER_SIZE: usize = 64 * 1024;
/// Scratch buffer for payload bytes moved through the verifying reader.
const SCRATCH_SIZE: usize = 64 * 1024;
/// The largest header a snapshot may have: fixed part, user metadata, CRC.
const HEADER_SIZE_MAX: usize = HEADER_FIXED_SIZE + USER_META_SIZE_MAX as usize + HEADER_CRC_SIZE;
/// Offset of `chunk_size_max` in the header (docs/FORMAT.md, snapshot "Header").
const HEADER_CHUNK_SIZE_MAX_OFFSET: usize = 12;

const _: () = assert!(PART_SIZE_MIN <= PART_SIZE_DEFAULT && PART_SIZE_DEFAULT <= PART_SIZE_MAX);
// The first part of an import always holds a whole header.
const _: () = assert!(HEADER_SIZE_MAX < PART_SIZE_MIN as usize);
const _: () = assert!(HEADER_CHUNK_SIZE_MAX_OFFSET + 4 <= HEADER_FIXED_SIZE);

/// Options of [`export_with`].
///
/// # Examples
///
/// ```
/// use cairn_snapshot::ExportOptions;
///
/// let options = ExportOptions::default().part_size(16 * 1024 * 1024).metadata(false);
/// assert!(options.validate().is_ok());
/// assert!(options.part_size(1000).validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// Bytes per uploaded part. A snapshot file no larger than this goes up in one `put`;
    /// a larger one as a multipart upload of parts of exactly this size (the last smaller).
    /// Default: 8 MiB ([`PART_SIZE_DEFAULT`]). Bounds: 1 MiB..=1 GiB. S3 and GCS need at
    /// least 5 MiB.
    pub part_size: u32,
    /// Attach the snapshot's digest, lsn and term as object metadata ([`METADATA_DIGEST`],
    /// [`METADATA_LSN`], [`METADATA_TERM`]), which [`import`] checks. A store that cannot
    /// keep metadata (the local file system) gets the object without it; the report says
    /// so. Default: true.
    pub metadata: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            part_size: PART_SIZE_DEFAULT,
            metadata: true,
        }
    }
}

impl ExportOptions {
    /// Sets [`ExportOptions::part_size`].
    #[must_use]
    pub fn part_size(mut self, bytes: u32) -> Self {
        self.part_size = bytes;
        self
    }

    /// Sets [`ExportOptions::metadata`].
    #[must_use]
    pub fn metadata(mut self, attach: bool) -> Self {
        self.metadata = attach;
        self
    }

    /// Checks every option against its documented bounds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming the first bad option.
    pub fn validate(&self) -> Result<()> {
        check_part_size(self.part_size)
    }
}

/// Options of [`import_with`].
///
/// # Examples
///
/// ```
/// use cairn_snapshot::ImportOptions;
///
/// let options = ImportOptions::default().part_size(4 * 1024 * 1024);
/// assert!(options.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Bytes fetched per ranged `GET`. Default: 8 MiB ([`PART_SIZE_DEFAULT`]). Bounds:
    /// 1 MiB..=1 GiB.
    pub part_size: u32,
    /// The payload digest the imported snapshot must have (e.g. [`ExportReport::meta`]'s
    /// digest, kept by the caller). A snapshot that verifies but has another digest fails
    /// with [`Error::UnexpectedDigest`]. Default: none (the digest in the snapshot's footer
    /// and, if present, in the object's metadata is still checked).
    pub expected_digest: Option<Digest>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            part_size: PART_SIZE_DEFAULT,
            expected_digest: None,
        }
    }
}

impl ImportOptions {
    /// Sets [`ImportOptions::part_size`].
    #[must_use]
    pub fn part_size(mut self, bytes: u32) -> Self {
        self.part_size = bytes;
        self
    }

    /// Sets [`ImportOptions::expected_digest`].
    #[must_use]
    pub fn expected_digest(mut self, digest: Digest) -> Self {
        self.expected_digest = Some(digest);
        self
    }

    /// Checks every option against its documented bounds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming the first bad option.
    pub fn validate(&self) -> Result<()> {
        check_part_size(self.part_size)
    }
}

/// What [`export`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportReport {
    /// The exported snapshot's metadata, as verified while it was uploaded.
    pub meta: SnapshotMeta,
    /// The object's size in bytes: the snapshot file's size.
    pub object_size: u64,
    /// How many parts were uploaded; 0 when the object went up in a single `put`.
    pub part_count: u64,
    /// Whether the digest, lsn and term were attached as object metadata.
    pub metadata_written: bool,
    /// The object's ETag, if the store returned one.
    pub e_tag: Option<String>,
    /// The object's version, if the store keeps versions.
    pub version: Option<String>,
}

/// What [`import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The new local snapshot, as published.
    pub published: Published,
    /// The object's size in bytes.
    pub object_size: u64,
    /// How many ranged `GET` requests fetched it.
    pub get_count: u64,
    /// Whether the object carried a digest in its metadata (it was checked).
    pub metadata_checked: bool,
}

/// Exports the published snapshot `id` of `store` to `path` in `object_store`, with the
/// default [`ExportOptions`]. See [`export_with`].
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::sync::Arc;
/// use cairn_io::StdVfs;
/// use cairn_snapshot::{NewSnapshot, SnapshotStore, StoreOptions, export, import};
/// use object_store::memory::InMemory;
/// use object_store::path::Path;
///
/// # fn main() -> Result<(), cairn_snapshot::Error> {
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let vfs = Arc::new(StdVfs::new());
/// let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
/// let here = SnapshotStore::open(dir_a.path(), StoreOptions::default(), vfs.clone())?;
/// let mut pending = here.create(NewSnapshot::new(42, 1))?;
/// pending.write_all(b"the state")?;
/// let id = pending.publish()?.meta.id();
///
/// let bucket = InMemory::new();
/// let path = Path::from("backups/node-1/latest.snap");
/// let exported = runtime.block_on(export(&here, id, &bucket, &path))?;
///
/// // Disaster recovery: a fresh store on another machine.
/// let there = SnapshotStore::open(dir_b.path(), StoreOptions::default(), vfs)?;
/// let imported = runtime.block_on(import(&there, &bucket, &path))?;
/// assert_eq!(imported.published.meta, exported.meta);
/// assert_eq!(there.latest_valid()?.snapshot, Some(exported.meta));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`export_with`].
pub async fn export(
    store: &SnapshotStore,
    id: SnapshotId,
    object_store: &dyn ObjectStore,
    path: &ObjectPath,
) -> Result<ExportReport> {
    export_with(store, id, object_store, path, &ExportOptions::default()).await
}

/// Exports the published snapshot `id` of `store` to `path` in `object_store`: the object
/// is the snapshot file byte for byte.
///
/// The file is read in order through the verifying [`SnapshotReader`]; parts of exactly
/// [`ExportOptions::part_size`] bytes are uploaded as they fill (a file no larger than one
/// part goes up in a single `put`), and the upload is completed only after the digest and
/// footer matched. If anything fails, the multipart upload is aborted (best effort; S3
/// buckets should also have a lifecycle rule for incomplete uploads) and no object is
/// created — an existing object at `path` is replaced only by a complete, verified one.
///
/// Blocking file reads of at most one part happen between awaits (see the module docs).
///
/// # Errors
///
/// [`Error::InvalidOptions`]; [`Error::NotFound`] if the snapshot is not published; the
/// verification errors of [`SnapshotStore::verify`] ([`Error::ChecksumMismatch`],
/// [`Error::DigestMismatch`], [`Error::Corrupt`], ...) if the local file is damaged;
/// [`Error::Io`]; [`Error::ObjectStore`] if a request fails.
pub async fn export_with(
    store: &SnapshotStore,
    id: SnapshotId,
    object_store: &dyn ObjectStore,
    path: &ObjectPath,
    options: &ExportOptions,
) -> Result<ExportReport> {
    options.validate()?;
    let part_size = options.part_size as usize;
    let file_path = store.path_of(id);
    let open = || store.open_published(id);
    // Header and footer first (two small reads): the digest goes into the object's
    // metadata before the payload is read. The full read below checks it.
    let footer_meta = reader::peek_meta(open()?, &file_path)?;
    let out = Arc::new(Mutex::new(Vec::with_capacity(part_size + FILE_BUFFER_SIZE)));
    let tee = TeeReader {
        inner: VfsFileReader::new(open()?),
        out: Arc::clone(&out),
    };
    let mut reader =
        SnapshotReader::new(BufReader::with_capacity(FILE_BUFFER_SIZE, tee), &file_path)?;
    // The footer's metadata comes from the same header (checked against it), read by a
    // second open: both must carry the name's id.
    store::check_name(&file_path, id, reader.id())?;
    store::check_name(&file_path, id, footer_meta.id())?;
    let target = Target {
        object_store,
        path,
        attributes: if options.metadata {
            metadata_attributes(&footer_meta)
        } else {
            Attributes::new()
        },
    };
    let mut upload: Option<Upload> = None;
    let mut scratch = vec![0_u8; SCRATCH_SIZE];
    let mut object_size: u64 = 0;
    // Each turn reads at least one payload byte or reaches the verified end, and the file
    // holds at most payload_size bytes of payload.
    loop {
        let read = reader.read(&mut scratch);
        let read = match read {
            Ok(n) => n,
            Err(e) => {
                abort(upload).await;
                return Err(Error::from_io(e, &file_path));
            }
        };
        while let Some(part) = take_part(&out, part_size) {
            object_size += part.len() as u64;
            let up = match upload.as_mut() {
                Some(up) => up,
                None => upload.insert(target.start_multipart().await?),
            };
            if let Err(e) = up.put_part(&target, part).await {
                abort(upload).await;
                return Err(e);
            }
        }
        if read == 0 {
            break;
        }
    }
    let meta = reader
        .verified_meta()
        .cloned()
        .ok_or(Error::PreviousError)?;
    // The reader checked the payload against the footer that footer_meta came from.
    assert_eq!(meta, footer_meta, "the verified snapshot is the one peeked");
    let rest = std::mem::take(&mut *out.lock().unwrap_or_else(PoisonError::into_inner));
    assert!(rest.len() <= part_size + FILE_BUFFER_SIZE);
    object_size += rest.len() as u64;
    let (result, part_count, metadata_written) = match upload {
        None => {
            let (result, metadata_written) = target.put(rest).await?;
            (result, 0, metadata_written)
        }
        Some(mut up) => {
            if !rest.is_empty()
                && let Err(e) = up.put_part(&target, rest).await
            {
                abort(Some(up)).await;
                return Err(e);
            }
            match up.upload.complete().await {
                Ok(result) => (result, up.part_count, up.metadata_written),
                Err(e) => {
                    let err = target.error("complete", e);
                    abort(Some(up)).await;
                    return Err(err);
                }
            }
        }
    };
    assert!(part_count == 0 || object_size > part_size as u64);
    Ok(ExportReport {
        meta,
        object_size,
        part_count,
        metadata_written,
        e_tag: result.e_tag,
        version: result.version,
    })
}

/// Imports the snapshot at `path` in `object_store` into `store`, with the default
/// [`ImportOptions`]. See [`import_with`].
///
/// # Errors
///
/// As [`import_with`].
pub async fn import(
    store: &SnapshotStore,
    object_store: &dyn ObjectStore,
    path: &ObjectPath,
) -> Result<ImportReport> {
    import_with(store, object_store, path, &ImportOptions::default()).await
}

/// Imports the snapshot at `path` in `object_store` into `store` as a new published snapshot
/// with the same id, creation time, user metadata and payload (hence digest).
///
/// The object is fetched in ranged `GET`s of [`ImportOptions::part_size`] bytes, each pinned
/// to the ETag (or version) the first request saw, so an object replaced mid-import fails
/// rather than mixing two versions. The bytes stream through the verifying
/// [`SnapshotReader`] into [`SnapshotStore::create`]; the snapshot is published
/// ([`crate::PendingSnapshot::publish`]: fsync, rename, directory fsync, retention) only after
/// every chunk CRC, the footer and the BLAKE3 digest matched, and the digest equals
/// [`ImportOptions::expected_digest`] and the object's metadata digest, where given. On any
/// error the temporary file is removed and nothing is published.
///
/// The store re-encodes the payload with its own chunk size and a fresh salt, so the local
/// file is not byte-identical to the object; its payload and digest are.
///
/// Blocking file writes of at most one part happen between awaits (see the module docs).
///
/// # Errors
///
/// [`Error::InvalidOptions`]; [`Error::ObjectStore`] if a request fails (a missing object is
/// `object_store::Error::NotFound` inside it); [`Error::ChecksumMismatch`],
/// [`Error::DigestMismatch`], [`Error::Corrupt`] or [`Error::UnsupportedVersion`] if the
/// object is damaged; [`Error::UnexpectedDigest`]; the errors of [`SnapshotStore::create`]
/// and [`crate::PendingSnapshot::publish`] ([`Error::NotNewer`] if the store already holds
/// this snapshot or a newer one, [`Error::NoSpace`], [`Error::Io`], ...).
pub async fn import_with(
    store: &SnapshotStore,
    object_store: &dyn ObjectStore,
    path: &ObjectPath,
    options: &ImportOptions,
) -> Result<ImportReport> {
    options.validate()?;
    let label = PathBuf::from(format!("{object_store}/{path}"));
    let source = Source::new(object_store, path, options.part_size).await?;
    let object_size = source.size;
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let mut source = source;
    source.fill(&inbox, HEADER_SIZE_MAX).await?;
    let chunk_size_max = first_chunk_size_max(&inbox);
    let mut reader = SnapshotReader::new(InboxReader(Arc::clone(&inbox)), &label)?;
    // What one step of the reader may take from its source: a chunk header and a chunk, or
    // the end marker, the footer and the one-byte probe for trailing bytes.
    let step_size_max = CHUNK_HEADER_SIZE + chunk_size_max.max(FOOTER_SIZE + 1);
    let new = NewSnapshot::new(reader.id().lsn, reader.id().term)
        .created_unix_nanos(reader.created_unix_nanos())
        .user_meta(reader.user_meta().to_vec());
    let mut pending = store.create(new)?;
    let mut scratch = vec![0_u8; SCRATCH_SIZE];
    // Each turn moves at least one payload byte or reaches the verified end.
    loop {
        source.fill(&inbox, step_size_max).await?;
        let n = reader
            .read(&mut scratch)
            .map_err(|e| Error::from_io(e, &label))?;
        if n == 0 {
            break;
        }
        pending.write_all(&scratch[..n])?;
    }
    let meta = reader
        .verified_meta()
        .cloned()
        .ok_or(Error::PreviousError)?;
    assert_eq!(
        source.offset, object_size,
        "the reader saw the end of the object"
    );
    assert_eq!(pending.payload_size(), meta.payload_size);
    let expectations = [
        (options.expected_digest, "the import options"),
        (source.metadata_digest, "the object's metadata"),
    ];
    for (expected, expected_from) in expectations {
        if let Some(expected) = expected
            && expected != meta.digest
        {
            return Err(Error::UnexpectedDigest {
                snapshot: label,
                expected,
                actual: meta.digest,
                expected_from,
            });
        }
    }
    let published = pending.publish()?;
    // The writer hashed exactly the bytes the reader verified.
    assert_eq!(
        published.meta, meta,
        "the published snapshot is the verified one"
    );
    Ok(ImportReport {
        published,
        object_size,
        get_count: source.get_count,
        metadata_checked: source.metadata_digest.is_some(),
    })
}

fn check_part_size(part_size: u32) -> Result<()> {
    if (PART_SIZE_MIN..=PART_SIZE_MAX).contains(&part_size) {
        Ok(())
    } else {
        Err(Error::InvalidOptions {
            field: "part_size",
            reason: format!("{part_size} is outside {PART_SIZE_MIN}..={PART_SIZE_MAX} bytes"),
        })
    }
}

fn metadata_attributes(meta: &SnapshotMeta) -> Attributes {
    let mut attributes = Attributes::new();
    let entries = [
        (METADATA_DIGEST, meta.digest.to_hex()),
        (METADATA_LSN, meta.lsn.to_string()),
        (METADATA_TERM, meta.term.to_string()),
    ];
    for (key, value) in entries {
        attributes.insert(Attribute::Metadata(key.into()), AttributeValue::from(value));
    }
    attributes
}

/// Takes one part of exactly `part_size` bytes from the front of `out`, if it holds one.
fn take_part(out: &Mutex<Vec<u8>>, part_size: usize) -> Option<Vec<u8>> {
    let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
    if out.len() < part_size {
        return None;
    }
    // The buffer keeps its capacity for the next part (no regrowth, no copy of the part):
    // the part leaves with the old allocation, the few bytes past it move to a new one.
    let capacity = out.capacity();
    let mut part = std::mem::replace(&mut *out, Vec::with_capacity(capacity));
    out.extend_from_slice(&part[part_size..]);
    part.truncate(part_size);
    Some(part)
}

async fn abort(upload: Option<Upload>) {
    if let Some(mut up) = upload {
        // Best effort: the error being returned matters more than a failed clean-up, which
        // the store's lifecycle rules (or its own expiry) finish.
        let _ignored = up.upload.abort().await;
    }
}

/// Where an export goes.
struct Target<'a> {
    object_store: &'a dyn ObjectStore,
    path: &'a ObjectPath,
    attributes: Attributes,
}

impl Target<'_> {
    fn error(&self, op: &'static str, source: object_store::Error) -> Error {
        object_error(self.object_store, self.path, op, source)
    }

    /// Single `put` of a whole small object; falls back to no metadata if the store has none.
    async fn put(&self, bytes: Vec<u8>) -> Result<(PutResult, bool)> {
        let payload = PutPayload::from(bytes);
        let with_metadata = !self.attributes.is_empty();
        let options = PutOptions::from(self.attributes.clone());
        match self
            .object_store
            .put_opts(self.path, payload.clone(), options)
            .await
        {
            Ok(result) => Ok((result, with_metadata)),
            Err(object_store::Error::NotImplemented { .. }) if with_metadata => self
                .object_store
                .put(self.path, payload)
                .await
                .map(|result| (result, false))
                .map_err(|e| self.error("put", e)),
            Err(e) => Err(self.error("put", e)),
        }
    }

    async fn start_multipart(&self) -> Result<Upload> {
        let with_metadata = !self.attributes.is_empty();
        let options = PutMultipartOptions::from(self.attributes.clone());
        let (upload, metadata_written) = match self
            .object_store
            .put_multipart_opts(self.path, options)
            .await
        {
            Ok(upload) => (upload, with_metadata),
            Err(object_store::Error::NotImplemented { .. }) if with_metadata => {
                let upload = self
                    .object_store
                    .put_multipart(self.path)
                    .await
                    .map_err(|e| self.error("put_multipart", e))?;
                (upload, false)
            }
            Err(e) => return Err(self.error("put_multipart", e)),
        };
        Ok(Upload {
            upload,
            part_count: 0,
            metadata_written,
        })
    }
}

/// A multipart upload in progress.
struct Upload {
    upload: Box<dyn MultipartUpload>,
    part_count: u64,
    metadata_written: bool,
}

impl Upload {
    /// Uploads one part and waits for it: one part in flight keeps memory at one part.
    async fn put_part(&mut self, target: &Target<'_>, part: Vec<u8>) -> Result<()> {
        self.upload
            .put_part(PutPayload::from(part))
            .await
            .map_err(|e| target.error("put_part", e))?;
        self.part_count += 1;
        Ok(())
    }
}

fn object_error(
    object_store: &dyn ObjectStore,
    path: &ObjectPath,
    op: &'static str,
    source: object_store::Error,
) -> Error {
    Error::ObjectStore {
        op,
        store: object_store.to_string(),
        path: path.to_string(),
        source: Box::new(source),
    }
}

/// Copies every byte read from `inner` into `out`, in order.
struct TeeReader {
    inner: VfsFileReader,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Fetched object bytes not yet read by the import's verifying reader.
#[derive(Default)]
struct Inbox {
    parts: VecDeque<Bytes>,
    buffered: usize,
    /// Every byte of the object was fetched.
    complete: bool,
}

/// The verifying reader's source during an import. The import fetches ahead so that the
/// inbox holds the reader's largest step (or the rest of the object) before every read.
struct InboxReader(Arc<Mutex<Inbox>>);

impl Read for InboxReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut inbox = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(front) = inbox.parts.front_mut() else {
            if inbox.complete {
                return Ok(0);
            }
            debug_assert!(false, "import fetched too little ahead");
            return Err(io::Error::other(
                "cairn-snapshot bug: the import did not fetch far enough ahead",
            ));
        };
        let n = buf.len().min(front.len());
        buf[..n].copy_from_slice(&front.split_to(n));
        if front.is_empty() {
            inbox.parts.pop_front();
        }
        inbox.buffered -= n;
        Ok(n)
    }
}

/// Reads `chunk_size_max` from the header at the front of the inbox (bounded to
/// [`CHUNK_SIZE_MAX`]; the reader checks the range itself).
fn first_chunk_size_max(inbox: &Mutex<Inbox>) -> usize {
    let inbox = inbox.lock().unwrap_or_else(PoisonError::into_inner);
    let field = HEADER_CHUNK_SIZE_MAX_OFFSET..HEADER_CHUNK_SIZE_MAX_OFFSET + 4;
    let value = inbox
        .parts
        .front()
        .and_then(|first| first.get(field))
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(CHUNK_SIZE_MAX, u32::from_le_bytes);
    value.min(CHUNK_SIZE_MAX) as usize
}

/// The object an import reads, fetched one range at a time.
struct Source<'a> {
    object_store: &'a dyn ObjectStore,
    path: &'a ObjectPath,
    part_size: u64,
    size: u64,
    /// The next offset to fetch.
    offset: u64,
    /// Every range is read from this version of the object.
    pin: GetOptions,
    get_count: u64,
    metadata_digest: Option<Digest>,
}

impl<'a> Source<'a> {
    async fn new(
        object_store: &'a dyn ObjectStore,
        path: &'a ObjectPath,
        part_size: u32,
    ) -> Result<Self> {
        let head = object_store
            .head(path)
            .await
            .map_err(|e| object_error(object_store, path, "head", e))?;
        let pin = GetOptions::new()
            .with_if_match(head.e_tag.clone())
            .with_version(head.version.clone());
        Ok(Self {
            object_store,
            path,
            part_size: u64::from(part_size),
            size: head.size,
            offset: 0,
            pin,
            get_count: 0,
            metadata_digest: None,
        })
    }

    /// Fetches ranges until the inbox holds `want` bytes or the whole object was fetched.
    async fn fill(&mut self, inbox: &Mutex<Inbox>, want: usize) -> Result<()> {
        // Each turn fetches one more range of a finite object.
        loop {
            {
                let mut inbox = inbox.lock().unwrap_or_else(PoisonError::into_inner);
                if self.offset == self.size {
                    inbox.complete = true;
                }
                if inbox.complete || inbox.buffered >= want {
                    return Ok(());
                }
            }
            let bytes = self.fetch().await?;
            let mut inbox = inbox.lock().unwrap_or_else(PoisonError::into_inner);
            inbox.buffered += bytes.len();
            inbox.parts.push_back(bytes);
        }
    }

    async fn fetch(&mut self) -> Result<Bytes> {
        assert!(self.offset < self.size);
        let end = self.size.min(self.offset + self.part_size);
        let range = self.offset..end;
        let options = self
            .pin
            .clone()
            .with_range(Some(GetRange::Bounded(range.clone())));
        let error = |e| object_error(self.object_store, self.path, "get", e);
        let result = self
            .object_store
            .get_opts(self.path, options)
            .await
            .map_err(error)?;
        if self.get_count == 0
            && let Some(value) = result
                .attributes
                .get(&Attribute::Metadata(METADATA_DIGEST.into()))
        {
            // A digest that does not parse cannot match: hold it to the all-zero digest so
            // the check fails rather than being skipped.
            self.metadata_digest =
                Some(Digest::from_hex(value.as_ref()).unwrap_or(Digest::from_bytes([0; 32])));
        }
        let returned = result.range.clone();
        let bytes = result.bytes().await.map_err(error)?;
        self.get_count += 1;
        if returned != range || bytes.len() as u64 != end - self.offset {
            // The store answered with other bytes than asked for: the object shrank under
            // us or the store is broken. Either way the snapshot is not all here.
            return Err(Error::Corrupt {
                path: PathBuf::from(format!("{}/{}", self.object_store, self.path)),
                offset: self.offset + bytes.len() as u64,
                kind: CorruptKind::Truncated,
            });
        }
        self.offset = end;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_bounds() {
        assert!(ExportOptions::default().validate().is_ok());
        assert!(ImportOptions::default().validate().is_ok());
        for bad in [0, PART_SIZE_MIN - 1, PART_SIZE_MAX + 1] {
            assert!(matches!(
                ExportOptions::default().part_size(bad).validate(),
                Err(Error::InvalidOptions {
                    field: "part_size",
                    ..
                })
            ));
            assert!(ImportOptions::default().part_size(bad).validate().is_err());
        }
    }

    #[test]
    fn take_part_cuts_exact_parts() {
        let out = Mutex::new(vec![7_u8; 10]);
        assert_eq!(take_part(&out, 4).map(|p| p.len()), Some(4));
        assert_eq!(take_part(&out, 4).map(|p| p.len()), Some(4));
        assert_eq!(take_part(&out, 4), None);
        assert_eq!(out.lock().unwrap().len(), 2);
    }
}
