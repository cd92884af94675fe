//! Snapshot files for Cairn: streaming, chunk-checksummed, BLAKE3-verified, published
//! atomically, with retention and fallback.
//!
//! A snapshot is the serialised state of an application at a log position (`lsn`) and
//! `term`. This crate stores it so that a crash, a full disk or a flipped bit never costs
//! the application its last good snapshot:
//!
//! - [`SnapshotWriter`] encodes a snapshot onto any [`std::io::Write`] in chunks, each with a
//!   CRC-32, and a BLAKE3 digest of the whole payload in the footer. It never buffers more
//!   than one chunk.
//! - [`SnapshotReader`] decodes from any [`std::io::Read`], refusing a chunk the moment its
//!   CRC fails and reporting a clean end only after the digest, sizes and footer match.
//! - [`SnapshotStore`] manages a directory through a [`cairn_io::Vfs`]: it publishes with
//!   temporary file → fsync → rename → directory fsync, keeps the newest
//!   [`StoreOptions::retain_count`] snapshots, removes stray temporary files on open, and
//!   [`SnapshotStore::latest_valid`] falls back to an older snapshot when the newest is
//!   damaged, saying which were skipped and why.
//!
//! With the `object-store` feature, `export` and `import` (async) copy a snapshot to and
//! from any `object_store::ObjectStore` (S3, GCS, Azure, local, memory), streaming, in
//! bounded memory, verified on both sides.
//!
//! The byte layout is in the snapshot section of `docs/FORMAT.md`; the publish protocol and its crash
//! analysis in the snapshot section of `docs/DURABILITY.md`.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use cairn_io::StdVfs;
//! use cairn_snapshot::{NewSnapshot, SnapshotStore, StoreOptions};
//!
//! # fn main() -> Result<(), cairn_snapshot::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let vfs = Arc::new(StdVfs::new());
//! let store = SnapshotStore::open(dir.path(), StoreOptions::default(), vfs)?;
//!
//! for lsn in [10, 20, 30] {
//!     let mut pending = store.create(NewSnapshot::new(lsn, 1))?;
//!     pending.write_all(format!("state at {lsn}").as_bytes())?;
//!     pending.publish()?;
//! }
//! // Retention keeps the newest two.
//! let ids: Vec<u64> = store.ids()?.iter().map(|id| id.lsn).collect();
//! assert_eq!(ids, [30, 20]);
//!
//! let latest = store.latest_valid()?;
//! assert!(!latest.fell_back());
//! let meta = latest.snapshot.unwrap();
//! let mut state = String::new();
//! store.read(meta.id())?.read_to_string(&mut state)?;
//! assert_eq!(state, "state at 30");
//! # Ok(())
//! # }
//! ```

mod error;
#[cfg(feature = "object-store")]
mod export;
mod format;
mod meta;
mod reader;
mod store;
mod writer;

pub use error::{CorruptKind, Error, Result};
#[cfg(feature = "object-store")]
pub use export::{
    ExportOptions, ExportReport, ImportOptions, ImportReport, METADATA_DIGEST, METADATA_LSN,
    METADATA_TERM, PART_SIZE_DEFAULT, PART_SIZE_MAX, PART_SIZE_MIN, export, export_with, import,
    import_with,
};
pub use format::{
    CHUNK_SIZE_DEFAULT, CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, FORMAT_VERSION, USER_META_SIZE_MAX,
};
pub use meta::{NewSnapshot, SnapshotId, SnapshotMeta};
pub use reader::{SnapshotReader, VfsFileReader};
pub use store::{
    FileSnapshotReader, LatestValid, PendingSnapshot, Published, Skipped, SnapshotEntry,
    SnapshotStore, StoreOptions,
};
pub use writer::SnapshotWriter;

/// The `object_store` crate this crate's export and import are built on, re-exported so
/// that callers name the same version.
#[cfg(feature = "object-store")]
pub use object_store;
