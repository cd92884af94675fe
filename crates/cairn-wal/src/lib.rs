//! A segmented write-ahead log with checksummed frames, group commit, explicit durability
//! levels and crash recovery modes.
//!
//! Records are byte strings numbered by [`Lsn`] from 1. They go into segment files of at
//! most [`WalOptions::segment_size_max`] bytes, each a header (with a random salt and a link
//! to the previous segment) followed by 8-byte-aligned frames whose CRC32 covers the salt,
//! the frame header and the payload; a full segment is sealed with a footer (record count,
//! last LSN, whole-segment checksum, sparse index). `docs/FORMAT.md` describes every byte
//! and `docs/DURABILITY.md` the protocol, the crash analysis and the recovery decision table.
//!
//! - **Durability levels** ([`Durability`]): `None` (in memory), `Buffered` (in the OS),
//!   `Fsync` (on stable storage); [`Wal::wait_durable`] raises a level later.
//! - **Group commit**: concurrent `Fsync` appenders share one `pwrite` and one `fdatasync`,
//!   run by a leader that first lets the writers the previous fsync released join its group
//!   (no timer), and syncs outside the append lock while the next group is encoded.
//! - **Poisoning**: after a failed fsync or write every call returns [`Error::Poisoned`];
//!   reopen to recover.
//! - **Recovery** ([`RecoveryMode`]): a torn tail is cut (with a quarantine copy) and
//!   reported in the [`RecoveryReport`]; damage inside the log is an [`Error::Corrupt`]
//!   naming file and offset unless a salvage mode is chosen.
//! - **Batches** ([`Wal::append_batch`]) are all-or-nothing across crashes.
//! - **Truncation** at the front (after a checkpoint) and at the back (Raft conflicts),
//!   both crash-safe.
//!
//! All I/O goes through [`cairn_io::Vfs`], so `cairn-sim` can cut the power at any point.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use cairn_io::StdVfs;
//! use cairn_wal::{Durability, Lsn, Wal, WalOptions};
//!
//! # fn main() -> Result<(), cairn_wal::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let vfs = Arc::new(StdVfs::new());
//! let (wal, _report) = Wal::open(dir.path(), WalOptions::default(), vfs.clone())?;
//! wal.append(b"first", Durability::Fsync)?;
//! wal.append(b"second", Durability::Buffered)?;
//! wal.close()?;
//! drop(wal);
//!
//! let (wal, report) = Wal::open(dir.path(), WalOptions::default(), vfs)?;
//! assert_eq!(report.last_lsn, Some(Lsn::new(2)));
//! let records: Vec<_> = wal.reader(Lsn::FIRST)?.map(|r| r.map(|(_, p)| p)).collect::<Result<_, _>>()?;
//! assert_eq!(records, [&b"first"[..], &b"second"[..]]);
//! # Ok(())
//! # }
//! ```

mod ablate;
mod commit;
mod dedup;
mod error;
pub mod format;
mod options;
mod reader;
mod recovery;
mod segment;
mod stats;
mod sync;
mod wal;
mod writer;

pub use error::{CorruptKind, Error, Result};
pub use options::{Durability, Lsn, RecoveryMode, WalOptions};
pub use reader::{Reader, TailReader};
pub use recovery::{DamageNote, RecoveryReport};
pub use stats::{LATENCY_BUCKETS, WalStats};
pub use wal::{VerifyReport, Wal};
