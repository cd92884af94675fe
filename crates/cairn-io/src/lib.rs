//! The I/O seam of Cairn.
//!
//! Every byte Cairn stores passes through two small traits: [`Vfs`] (the directory
//! operations: create, open, rename, remove, list, directory fsync, lock) and [`VfsFile`]
//! (positional reads and writes, length, preallocation, fdatasync/fsync). [`StdVfs`] is the
//! real implementation on `std::fs`; `cairn-sim` provides a simulated one that can lose power,
//! tear writes and fail calls, so that crash safety can be tested exhaustively.
//!
//! The traits are deliberately narrow — a handful of methods, no buffering, no caching — so a
//! fault-injecting implementation is easy to write and easy to trust. Beside them, [`clock`]
//! offers a monotonic clock cheap enough to read on every append.
//!
//! # Durability rules the traits encode
//!
//! - Data written with [`VfsFile::write_at`] is durable only after [`VfsFile::sync_data`] (or
//!   [`VfsFile::sync_all`]) on that file returns `Ok`.
//! - A created, renamed or removed directory entry is durable only after [`Vfs::sync_dir`] on
//!   its parent directory returns `Ok`.
//! - After a sync returns an error, the data it covered may be gone even though reads still
//!   return it (Linux marks the pages clean). Callers must not retry; see `cairn-wal`'s
//!   poisoning.
//!
//! # Examples
//!
//! ```
//! use cairn_io::{OpenMode, StdVfs, Vfs};
//!
//! # fn main() -> Result<(), cairn_io::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let vfs = StdVfs::new();
//! let path = dir.path().join("data");
//! let file = vfs.create_new(&path)?;
//! file.write_all_at(b"hello", 0)?;
//! file.sync_data()?;
//! vfs.sync_dir(dir.path())?;
//!
//! let file = vfs.open(&path, OpenMode::Read)?;
//! let mut buf = [0u8; 5];
//! file.read_exact_at(&mut buf, 0)?;
//! assert_eq!(&buf, b"hello");
//! # Ok(())
//! # }
//! ```

pub mod clock;
mod error;
mod std_vfs;
mod vfs;

pub use error::{Error, Op, Result};
pub use std_vfs::StdVfs;
pub use vfs::{DirLock, OpenMode, Vfs, VfsFile, create_dir_durable};
