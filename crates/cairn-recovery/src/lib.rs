//! Crash recovery for Cairn: rebuild an application's state from the newest valid snapshot
//! plus the write-ahead log, and checkpoint it so the log can be truncated — in an order that
//! is safe at every crash point.
//!
//! - [`StateMachine`]: what the application implements — `apply` a record, write a
//!   `snapshot`, `restore` one.
//! - [`recover`]: loads the newest snapshot that verifies ([`cairn_snapshot`] falls back to
//!   older ones and this crate quarantines the damaged), opens the [`cairn_wal::Wal`] with
//!   the caller's [`cairn_wal::RecoveryMode`], and replays every record after the snapshot;
//!   a hole between snapshot and log is an error naming both LSNs, never a silent skip.
//!   Returns the open log and store and a [`RecoveryReport`].
//! - [`checkpoint`]: log durable up to the state → snapshot published (temp, fsync, rename,
//!   directory fsync) → log front truncated, per [`WalRetention`].
//! - [`Durable`]: all of it around one state machine in one directory, with automatic
//!   checkpoints by log size and time.
//!
//! `docs/DURABILITY.md` holds the checkpoint protocol and its crash analysis.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use cairn_io::StdVfs;
//! use cairn_recovery::{Durable, DurableOptions, StateMachine};
//! use cairn_wal::{Durability, Lsn};
//!
//! /// Counts records.
//! #[derive(Default)]
//! struct Counter(u64);
//! impl StateMachine for Counter {
//!     type Error = std::io::Error;
//!     fn apply(&mut self, _: Lsn, _: &[u8]) -> std::io::Result<()> { self.0 += 1; Ok(()) }
//!     fn snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> { w.write_all(&self.0.to_le_bytes()) }
//!     fn restore(&mut self, r: &mut dyn Read) -> std::io::Result<()> {
//!         let mut b = [0; 8];
//!         r.read_exact(&mut b)?;
//!         self.0 = u64::from_le_bytes(b);
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), cairn_recovery::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let vfs = Arc::new(StdVfs::new());
//! let (mut counter, _) = Durable::open(dir.path(), DurableOptions::default(), vfs.clone(), Counter::default())?;
//! for _ in 0..10 {
//!     counter.apply(b"+1", Durability::Fsync)?;
//! }
//! counter.checkpoint()?;
//! counter.close()?;
//!
//! let (counter, report) = Durable::open(dir.path(), DurableOptions::default(), vfs, Counter::default())?;
//! assert_eq!(counter.state().0, 10);
//! assert_eq!(report.records_replayed, 0); // all in the snapshot
//! # Ok(())
//! # }
//! ```

mod checkpoint;
mod durable;
mod error;
pub mod format;
mod recover;
mod state;

pub use checkpoint::{CheckpointReport, SNAPSHOT_TERM, WalRetention, checkpoint};
pub use durable::{Durable, DurableOptions};
pub use error::{Error, Result, StateOp};
pub use recover::{
    Layout, Progress, RecoverOptions, RecoveryReport, SNAPSHOT_QUARANTINE_DIR, SkippedSnapshot,
    SnapshotChoice, recover,
};
pub use state::StateMachine;
