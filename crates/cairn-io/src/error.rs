//! The error type of the I/O seam: what failed, on which path, and the OS error.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The operation that failed, named in [`Error::Io`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Creating a new file.
    Create,
    /// Opening an existing file.
    Open,
    /// Reading at an offset.
    Read,
    /// Writing at an offset.
    Write,
    /// Changing a file's length.
    SetLen,
    /// Preallocating space.
    Allocate,
    /// `fdatasync`.
    SyncData,
    /// `fsync`.
    SyncAll,
    /// Reading a file's length.
    Len,
    /// Renaming a directory entry.
    Rename,
    /// Removing a file.
    Remove,
    /// Listing a directory.
    List,
    /// Creating a directory.
    CreateDir,
    /// `fsync` of a directory.
    SyncDir,
    /// Taking the directory lock.
    Lock,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::Open => "open",
            Op::Read => "read",
            Op::Write => "write",
            Op::SetLen => "set length of",
            Op::Allocate => "preallocate",
            Op::SyncData => "fdatasync",
            Op::SyncAll => "fsync",
            Op::Len => "read length of",
            Op::Rename => "rename",
            Op::Remove => "remove",
            Op::List => "list",
            Op::CreateDir => "create directory",
            Op::SyncDir => "fsync directory",
            Op::Lock => "lock",
        })
    }
}

/// An error from the I/O seam.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: Op,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The OS error (`ErrorKind::NotFound`, `StorageFull`, raw `EIO`, ...).
        #[source]
        source: io::Error,
    },
    /// Another process (or another handle in this one) holds the directory lock.
    #[error(
        "{} is in use by another process (its lock file {} is held); \
         close that process, or open a different directory",
        dir.display(),
        lock_file.display()
    )]
    Locked {
        /// The directory that is locked.
        dir: PathBuf,
        /// The lock file inside it.
        lock_file: PathBuf,
    },
    /// A read hit the end of the file before filling the buffer.
    #[error(
        "unexpected end of {}: wanted {wanted} bytes at offset {offset}, the file ends at {len}",
        path.display()
    )]
    UnexpectedEof {
        /// The file.
        path: PathBuf,
        /// Where the read started.
        offset: u64,
        /// How many bytes were wanted.
        wanted: u64,
        /// The file's length at the time.
        len: u64,
    },
    /// A write made no progress (the OS accepted zero bytes).
    #[error("could not write to {} at offset {offset}: the OS accepted no bytes", path.display())]
    WriteZero {
        /// The file.
        path: PathBuf,
        /// Where the write was aimed.
        offset: u64,
    },
}

/// The raw OS error number for "I/O error".
const EIO: i32 = 5;

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: Op, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The [`io::ErrorKind`] behind this error ([`io::ErrorKind::Other`] for the non-OS variants).
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Io { source, .. } => source.kind(),
            Error::Locked { .. } => io::ErrorKind::WouldBlock,
            Error::UnexpectedEof { .. } => io::ErrorKind::UnexpectedEof,
            Error::WriteZero { .. } => io::ErrorKind::WriteZero,
        }
    }

    /// Whether the file or directory did not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.kind() == io::ErrorKind::NotFound
    }

    /// Whether the file already existed (from [`crate::Vfs::create_new`]).
    #[must_use]
    pub fn is_already_exists(&self) -> bool {
        self.kind() == io::ErrorKind::AlreadyExists
    }

    /// Whether the device is out of space (`ENOSPC`) or quota (`EDQUOT`).
    #[must_use]
    pub fn is_no_space(&self) -> bool {
        matches!(
            self.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        )
    }

    /// Whether this is a plain `EIO`: the device reported a failure.
    #[must_use]
    pub fn is_eio(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(EIO))
    }

    /// The operation that failed, if this is an [`Error::Io`].
    #[must_use]
    pub fn op(&self) -> Option<Op> {
        match self {
            Error::Io { op, .. } => Some(*op),
            _ => None,
        }
    }
}
