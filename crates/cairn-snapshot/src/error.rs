//! The error type of `cairn-snapshot`: what went wrong, on which snapshot, and what to do.

use std::fmt;
use std::io;
use std::path::PathBuf;

use cairn_crc::{Crc32, Digest};

use crate::SnapshotId;

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from writing, reading, verifying or managing snapshots.
///
/// Variants a caller can act on carry structured fields. [`Error::is_corruption`] tells damage
/// to a snapshot's bytes (fall back to an older snapshot) from an environmental failure
/// (retry later, free space, fix permissions).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A chunk's CRC-32 does not match its bytes.
    #[error(
        "snapshot {} is corrupt: chunk {chunk} at offset {offset} has checksum {actual}, \
         expected {expected}; use an older snapshot (see SnapshotStore::latest_valid) \
         and delete or quarantine this one",
        snapshot.display()
    )]
    ChecksumMismatch {
        /// The snapshot file (or stream name).
        snapshot: PathBuf,
        /// The chunk's index, from 0.
        chunk: u64,
        /// The byte offset of the chunk's header in the file.
        offset: u64,
        /// The CRC stored in the chunk header.
        expected: Crc32,
        /// The CRC computed over the chunk as read.
        actual: Crc32,
    },
    /// Every chunk passed its CRC, but the BLAKE3 digest of the payload differs from the one
    /// in the footer.
    #[error(
        "snapshot {} is corrupt: its payload digest is {actual}, the footer says {expected}; \
         use an older snapshot and delete or quarantine this one",
        snapshot.display()
    )]
    DigestMismatch {
        /// The snapshot file (or stream name).
        snapshot: PathBuf,
        /// The digest stored in the footer.
        expected: Digest,
        /// The digest computed over the payload as read.
        actual: Digest,
    },
    /// The snapshot's structure is damaged: bad magic, a header or footer that fails its
    /// check, a truncated file, fields that disagree.
    #[error(
        "snapshot {} is corrupt at offset {offset}: {kind}; use an older snapshot and \
         delete or quarantine this one",
        path.display()
    )]
    Corrupt {
        /// The snapshot file (or stream name).
        path: PathBuf,
        /// The byte offset where the damage was found.
        offset: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// The snapshot was written in a format version this build cannot read.
    #[error(
        "snapshot {} has format version {found}, this build reads versions 1 to {max}; \
         upgrade cairn-snapshot to read it",
        path.display()
    )]
    UnsupportedVersion {
        /// The snapshot file (or stream name).
        path: PathBuf,
        /// The version found.
        found: u16,
        /// The newest version this build reads.
        max: u16,
    },
    /// The device ran out of space while a snapshot was being written.
    #[error(
        "no space left while writing snapshot {id} to {} ({written_bytes} bytes written); \
         the temporary file was removed and older snapshots are intact; free disk space \
         (or keep fewer snapshots) and take the snapshot again",
        path.display()
    )]
    NoSpace {
        /// The snapshot that was being written.
        id: SnapshotId,
        /// The temporary file that was being written (now removed).
        path: PathBuf,
        /// How many bytes had reached the file.
        written_bytes: u64,
        /// The underlying `ENOSPC`/`EDQUOT` error.
        #[source]
        source: cairn_io::Error,
    },
    /// A snapshot with this id is already published or being written.
    #[error(
        "snapshot {id} already exists at {}; snapshots are immutable, pick a new lsn/term \
         or delete the old one first",
        path.display()
    )]
    AlreadyExists {
        /// The id asked for.
        id: SnapshotId,
        /// The existing file.
        path: PathBuf,
    },
    /// A new snapshot must be newer than every published one.
    #[error(
        "snapshot {id} is not newer than the newest published snapshot {newest}; \
         a new snapshot must have a greater (lsn, term)"
    )]
    NotNewer {
        /// The id asked for.
        id: SnapshotId,
        /// The newest published snapshot.
        newest: SnapshotId,
    },
    /// No snapshot with this id is published.
    #[error("snapshot {id} does not exist in {}; list the store to see what it holds", dir.display())]
    NotFound {
        /// The id asked for.
        id: SnapshotId,
        /// The store's directory.
        dir: PathBuf,
    },
    /// The user metadata is larger than the format allows.
    #[error(
        "user metadata of {size} bytes is too large (the limit is {max} bytes); \
         keep large data in the payload"
    )]
    UserMetaTooLarge {
        /// The size given.
        size: u64,
        /// The limit, [`crate::USER_META_SIZE_MAX`].
        max: u32,
    },
    /// An option is out of its documented range.
    #[error("invalid option {field}: {reason}")]
    InvalidOptions {
        /// The option's name.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// An earlier fsync of a file or the directory failed, so what is durable is unknown.
    #[error(
        "the snapshot store in {} is poisoned: an earlier fsync failed, so what is on disk \
         is unknown; drop the store and open it again",
        dir.display()
    )]
    Poisoned {
        /// The store's directory.
        dir: PathBuf,
    },
    /// A writer or reader is used after it returned an error; its snapshot is abandoned.
    #[error(
        "this snapshot writer or reader already returned an error and was abandoned; \
         see that first error, and start a new one"
    )]
    PreviousError,
    /// A snapshot verified completely but is not the one expected: its payload digest differs
    /// from the digest the caller pinned ([`crate::ImportOptions::expected_digest`]) or the
    /// one recorded in the object's metadata at export.
    #[cfg(feature = "object-store")]
    #[error(
        "snapshot {} verifies but is not the snapshot expected: its payload digest is \
         {actual}, expected {expected} (from {expected_from}); the object was replaced or \
         is stale; nothing was imported",
        snapshot.display()
    )]
    UnexpectedDigest {
        /// The snapshot file or object.
        snapshot: PathBuf,
        /// The digest expected.
        expected: Digest,
        /// The digest of the payload as read (and checked against its footer).
        actual: Digest,
        /// Where the expected digest came from, e.g. `"the import options"`.
        expected_from: &'static str,
    },
    /// An object-store request failed (network, credentials, missing bucket or object, an
    /// object replaced while it was being read).
    #[cfg(feature = "object-store")]
    #[error(
        "object store {store}: {op} of {path} failed: {source}; the local snapshots are \
         unchanged (an import published nothing); check the object, bucket, credentials \
         and network, then retry"
    )]
    ObjectStore {
        /// What was being done: `"head"`, `"get"`, `"put"`, `"put_multipart"`, `"put_part"`,
        /// `"complete"`.
        op: &'static str,
        /// The object store, as it displays itself (e.g. `AmazonS3(bucket)`).
        store: String,
        /// The object's path in the store.
        path: String,
        /// The object store's error (boxed: it is large).
        #[source]
        source: Box<object_store::Error>,
    },
    /// An I/O operation through the Vfs failed.
    #[error(transparent)]
    Io(#[from] cairn_io::Error),
    /// The underlying stream (a plain `std::io::Read`/`Write`, not a Vfs file) failed.
    #[error("snapshot stream {}failed: {source}", display_name(name))]
    Stream {
        /// The stream's name as given to the reader or writer.
        name: PathBuf,
        /// The error the stream returned.
        #[source]
        source: io::Error,
    },
}

/// What [`Error::Corrupt`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// The file does not start with the snapshot magic.
    BadMagic,
    /// The header's CRC does not match.
    HeaderChecksum {
        /// Stored CRC.
        expected: Crc32,
        /// Computed CRC.
        actual: Crc32,
    },
    /// A reserved field or flag is not zero.
    NonZeroReserved,
    /// The header's `chunk_size_max` is outside 4 KiB..=16 MiB.
    ChunkSizeOutOfRange {
        /// The value found.
        found: u32,
    },
    /// The header claims more user metadata than the format allows.
    UserMetaTooLarge {
        /// The size found.
        found: u32,
    },
    /// A chunk claims more bytes than the header's `chunk_size_max`.
    ChunkTooLarge {
        /// The size found.
        size: u32,
        /// The header's limit.
        max: u32,
    },
    /// The data ends before the structure does.
    Truncated,
    /// The footer does not start with the footer magic.
    BadFooterMagic,
    /// The footer's CRC does not match.
    FooterChecksum {
        /// Stored CRC.
        expected: Crc32,
        /// Computed CRC.
        actual: Crc32,
    },
    /// A footer field disagrees with the header or with what was read.
    FooterMismatch {
        /// The field's name.
        field: &'static str,
        /// The footer's value.
        footer: u64,
        /// The value from the header or counted while reading.
        actual: u64,
    },
    /// Bytes follow the footer.
    TrailingBytes,
    /// The file's name says one id, its header another (a misplaced or renamed file).
    NameMismatch {
        /// The id in the file name.
        name: SnapshotId,
        /// The id in the header.
        header: SnapshotId,
    },
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptKind::BadMagic => f.write_str("it does not start with the snapshot magic"),
            CorruptKind::HeaderChecksum { expected, actual } => {
                write!(f, "the header checksum is {actual}, expected {expected}")
            }
            CorruptKind::NonZeroReserved => f.write_str("a reserved field is not zero"),
            CorruptKind::ChunkSizeOutOfRange { found } => {
                write!(
                    f,
                    "the header's chunk size {found} is outside 4 KiB..=16 MiB"
                )
            }
            CorruptKind::UserMetaTooLarge { found } => {
                write!(
                    f,
                    "the header claims {found} bytes of user metadata (limit 64 KiB)"
                )
            }
            CorruptKind::ChunkTooLarge { size, max } => {
                write!(
                    f,
                    "a chunk claims {size} bytes, more than the limit of {max}"
                )
            }
            CorruptKind::Truncated => f.write_str("the file ends early (truncated)"),
            CorruptKind::BadFooterMagic => f.write_str("the footer magic is missing"),
            CorruptKind::FooterChecksum { expected, actual } => {
                write!(f, "the footer checksum is {actual}, expected {expected}")
            }
            CorruptKind::FooterMismatch {
                field,
                footer,
                actual,
            } => {
                write!(f, "the footer's {field} is {footer} but {actual} was found")
            }
            CorruptKind::TrailingBytes => f.write_str("bytes follow the footer"),
            CorruptKind::NameMismatch { name, header } => {
                write!(
                    f,
                    "the file is named for {name} but its header says {header}"
                )
            }
        }
    }
}

impl Error {
    /// Whether this error means a snapshot's bytes are damaged (or unreadable by this build),
    /// as opposed to an environmental failure.
    ///
    /// `EIO` from the device counts as damage: the file cannot be read back.
    #[must_use]
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::ChecksumMismatch { .. }
            | Error::DigestMismatch { .. }
            | Error::Corrupt { .. }
            | Error::UnsupportedVersion { .. } => true,
            #[cfg(feature = "object-store")]
            Error::UnexpectedDigest { .. } => true,
            Error::Io(e) => e.is_eio(),
            _ => false,
        }
    }

    /// Whether the device ran out of space.
    #[must_use]
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::NoSpace { .. } => true,
            Error::Io(e) => e.is_no_space(),
            _ => false,
        }
    }

    /// Recovers the [`Error`] from an [`io::Error`] returned by this crate's `Read`/`Write`
    /// implementations; any other `io::Error` becomes [`Error::Stream`] named `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cairn_snapshot::Error;
    ///
    /// let io = std::io::Error::from(Error::PreviousError);
    /// assert!(matches!(Error::from_io(io, "stream"), Error::PreviousError));
    /// ```
    #[must_use]
    pub fn from_io(err: io::Error, name: impl Into<PathBuf>) -> Error {
        let is_ours = err.get_ref().is_some_and(|inner| inner.is::<Error>());
        let is_vfs = err
            .get_ref()
            .is_some_and(|inner| inner.is::<cairn_io::Error>());
        if is_ours || is_vfs {
            let kind = err.kind();
            if let Some(inner) = err.into_inner() {
                let inner = match inner.downcast::<Error>() {
                    Ok(ours) => return *ours,
                    Err(other) => other,
                };
                return match inner.downcast::<cairn_io::Error>() {
                    Ok(vfs) => Error::Io(*vfs),
                    Err(other) => Error::Stream {
                        name: name.into(),
                        source: io::Error::new(kind, other),
                    },
                };
            }
            // `get_ref` was `Some`, so `into_inner` is too; fall through defensively.
            return Error::Stream {
                name: name.into(),
                source: io::Error::from(kind),
            };
        }
        Error::Stream {
            name: name.into(),
            source: err,
        }
    }

    fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::Io(e) => e.kind(),
            Error::Stream { source, .. } => source.kind(),
            Error::NoSpace { .. } => io::ErrorKind::StorageFull,
            Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::UserMetaTooLarge { .. }
            | Error::InvalidOptions { .. }
            | Error::NotNewer { .. } => io::ErrorKind::InvalidInput,
            Error::Corrupt {
                kind: CorruptKind::Truncated,
                ..
            } => io::ErrorKind::UnexpectedEof,
            Error::ChecksumMismatch { .. }
            | Error::DigestMismatch { .. }
            | Error::Corrupt { .. }
            | Error::UnsupportedVersion { .. } => io::ErrorKind::InvalidData,
            #[cfg(feature = "object-store")]
            Error::UnexpectedDigest { .. } => io::ErrorKind::InvalidData,
            #[cfg(feature = "object-store")]
            Error::ObjectStore { source, .. } => match **source {
                object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
                object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
                _ => io::ErrorKind::Other,
            },
            Error::Poisoned { .. } | Error::PreviousError => io::ErrorKind::Other,
        }
    }
}

impl From<io::Error> for Error {
    /// Unwraps an [`Error`] carried by an `io::Error` (as this crate's `Read`/`Write`
    /// implementations return), so `?` works on them in functions returning [`Error`]; any
    /// other `io::Error` becomes [`Error::Stream`] without a name. Prefer
    /// [`Error::from_io`] when a name is at hand.
    fn from(err: io::Error) -> Error {
        Error::from_io(err, "")
    }
}

impl From<Error> for io::Error {
    /// Wraps the error for `Read`/`Write` callers; [`Error::from_io`] unwraps it again.
    fn from(err: Error) -> io::Error {
        io::Error::new(err.io_kind(), err)
    }
}

fn display_name(name: &std::path::Path) -> String {
    if name.as_os_str().is_empty() {
        String::new()
    } else {
        format!("{} ", name.display())
    }
}
