//! A deterministic, fault-injecting simulated file system for crash-testing storage code.
//!
//! [`SimVfs`] implements [`cairn_io::Vfs`]: hand it to code written against the seam and it
//! runs on an in-memory file system that keeps a *live* image (what reads see) and a
//! *durable* image (what survives power loss) of every file and directory entry. File data
//! and length become durable on `sync_data`/`sync_all`; a created, renamed or removed entry
//! on `sync_dir` of its parent. What lies between is the list of *pending operations*.
//!
//! From any point of a run, [`SimVfs::crash_image`] builds the machine as it reboots — a new,
//! independent simulator — under a [`CrashModel`]: a process crash (everything written
//! survives), or power loss that drops every pending operation, keeps a prefix or any subset
//! of them, or tears writes at 512 B / 4 KiB sectors into old, new, zero and garbage pieces,
//! with or without power-safe overwrite. [`FaultRule`]s inject `EIO`, `ENOSPC`, short writes,
//! bit flips and misdirected writes into chosen calls; a failed fsync drops its data as Linux
//! does. [`SimVfs::crash_after_call`] cuts a run at any mutating call and freezes the
//! simulator, so nothing after the cut — not even a `Drop` that syncs — changes it. The
//! [`TraceEvent`] log and [`SimVfs::mark`] tell a checker what was acknowledged before the
//! cut. One `u64` seed drives every random choice, so a failure replays exactly.
//!
//! See `docs/TESTING.md` in the repository for the fault model in full.
//!
//! # Examples
//!
//! Write, sync, write again, lose power: the unsynced write is gone.
//!
//! ```
//! use cairn_io::{OpenMode, Vfs, VfsFile};
//! use cairn_sim::{CrashModel, SimVfs};
//!
//! # fn main() -> Result<(), cairn_io::Error> {
//! let sim = SimVfs::new(42);
//! let file = sim.create_new("/data".as_ref())?;
//! sim.sync_dir("/".as_ref())?; // the new entry is durable
//! file.write_all_at(b"kept", 0)?;
//! file.sync_data()?; // so is its data
//! file.write_all_at(b" and lost", 4)?; // never synced
//!
//! sim.crash(); // the old machine is gone ...
//! assert!(file.sync_data().unwrap_err().is_eio()); // ... and cannot sync its way out
//!
//! let rebooted = sim.crash_image(&CrashModel::DropAll);
//! let file = rebooted.open("/data".as_ref(), OpenMode::Read)?;
//! let mut buf = vec![0; usize::try_from(file.len()?).unwrap()];
//! file.read_exact_at(&mut buf, 0)?;
//! assert_eq!(buf, b"kept");
//! # Ok(())
//! # }
//! ```

mod error;
mod fault;
mod image;
mod media;
mod rng;
mod trace;
mod vfs;

pub use fault::{FaultKind, FaultRule};
pub use image::{
    CrashModel, CrashPlan, OpFate, PendingKind, PendingOp, SECTOR_4K, SECTOR_512, SectorFate,
};
pub use media::{FILE_SIZE_MAX, Tree};
pub use trace::{CallRecord, Label, TraceEvent};
pub use vfs::{FileState, PENDING_OPS_MAX, SimStats, SimVfs};
