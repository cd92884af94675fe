//! [`checkpoint`]: the protocol that lets the log forget — make the log durable up to the
//! state, snapshot the state, publish the snapshot, and only then truncate the log's front.
//! `docs/DURABILITY.md` walks through a crash at every step.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_snapshot::{NewSnapshot, SnapshotId, SnapshotMeta, SnapshotStore};
use cairn_wal::{Lsn, Wal};

use crate::error::{Error, Result, StateOp};
use crate::state::StateMachine;

/// The term every snapshot of this crate is written with: recovery orders snapshots by LSN.
pub const SNAPSHOT_TERM: u64 = 0;

/// How far a checkpoint truncates the log's front.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WalRetention {
    /// Keep every record after the **oldest** retained snapshot, so that recovery can fall
    /// back to any retained snapshot when newer ones are damaged and still replay to the end.
    /// The log holds about `retain_count` checkpoints' worth of records. The default.
    #[default]
    OldestSnapshot,
    /// Keep only the records after the **newest** snapshot: the smallest log, but a damaged
    /// newest snapshot makes recovery fail with [`Error::WalGap`] instead of falling back.
    NewestSnapshot,
}

/// What [`checkpoint`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// The snapshot published; `None` if the newest snapshot already covered the state (the
    /// log's front was still truncated, finishing a checkpoint a crash interrupted).
    pub snapshot: Option<SnapshotMeta>,
    /// Older snapshots the store deleted under its retention.
    pub pruned: Vec<SnapshotId>,
    /// The log's first LSN after truncation.
    pub wal_first_lsn: Lsn,
    /// Time spent writing and publishing the snapshot.
    pub snapshot_duration: Duration,
    /// Total time.
    pub duration: Duration,
}

/// Checkpoints `state`, which reflects every record up to `applied_lsn`: the snapshot at
/// `applied_lsn` replaces those records, and the log's front is truncated per `retention`.
///
/// The steps, each crash-safe (see `docs/DURABILITY.md`):
///
/// 1. `wal.wait_durable(applied_lsn)`: the log holds every record the snapshot covers, so a
///    snapshot is never ahead of the log.
/// 2. Write the snapshot to a temporary file of the store and publish it (fsync, rename,
///    directory fsync; the store then prunes snapshots beyond its `retain_count`).
/// 3. `wal.truncate_front(oldest or newest retained snapshot's LSN + 1)`.
///
/// When the newest published snapshot already covers `applied_lsn`, step 2 is skipped and
/// step 3 still runs, so calling `checkpoint` again completes one a crash cut short.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::sync::Arc;
/// use cairn_io::StdVfs;
/// use cairn_recovery::{checkpoint, recover, Layout, RecoverOptions, StateMachine, WalRetention};
/// use cairn_wal::{Durability, Lsn};
///
/// #[derive(Default)]
/// struct Count(u64);
/// impl StateMachine for Count {
///     type Error = std::io::Error;
///     fn apply(&mut self, _: Lsn, _: &[u8]) -> std::io::Result<()> { self.0 += 1; Ok(()) }
///     fn snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> { w.write_all(&self.0.to_le_bytes()) }
///     fn restore(&mut self, r: &mut dyn Read) -> std::io::Result<()> {
///         let mut b = [0; 8];
///         r.read_exact(&mut b)?;
///         self.0 = u64::from_le_bytes(b);
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<(), cairn_recovery::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let mut count = Count::default();
/// let (wal, store, _) = recover(&Layout::in_dir(dir.path()), &RecoverOptions::default(),
///     Arc::new(StdVfs::new()), &mut count, &mut |_| {})?;
/// let mut applied = Lsn::new(0);
/// for _ in 0..3 {
///     applied = wal.append(b"tick", Durability::Buffered)?;
///     count.apply(applied, b"tick").unwrap();
/// }
/// let report = checkpoint(&wal, &store, &count, applied, WalRetention::NewestSnapshot)?;
/// assert_eq!(report.snapshot.map(|m| m.lsn), Some(3));
/// assert_eq!(wal.first_lsn(), Lsn::new(4));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::NoSpace`] if the snapshot did not fit (older snapshots and the log are intact);
/// [`Error::StateMachine`] from [`StateMachine::snapshot`]; [`Error::Snapshot`] from the
/// store (a failed directory fsync poisons it: reopen); [`Error::Wal`] from the log's sync
/// or truncation (a failed fsync poisons it: reopen).
///
/// # Panics
///
/// If `applied_lsn` is at or past the log's next LSN: the state cannot be ahead of its log.
pub fn checkpoint<S: StateMachine + ?Sized>(
    wal: &Wal,
    store: &SnapshotStore,
    state: &S,
    applied_lsn: Lsn,
    retention: WalRetention,
) -> Result<CheckpointReport> {
    let started = Instant::now();
    let lsn = applied_lsn.get();
    assert!(
        lsn < wal.next_lsn().get(),
        "the state (at LSN {lsn}) cannot be ahead of its log (next LSN {})",
        wal.next_lsn()
    );
    let newest = store.ids()?.first().copied();
    let mut snapshot = None;
    let mut pruned = Vec::new();
    let snapshot_started = Instant::now();
    if lsn > 0 && newest.is_none_or(|id| id.lsn < lsn) {
        // 1. The log covers the snapshot before the snapshot exists.
        wal.wait_durable(applied_lsn)?;
        // 2. Snapshot and publish.
        let published = write_snapshot(store, state, lsn)?;
        assert_eq!(published.meta.lsn, lsn);
        pruned = published.pruned;
        snapshot = Some(published.meta);
    }
    let snapshot_duration = snapshot_started.elapsed();
    // 3. Truncate the log's front below what the retained snapshots cover.
    let ids = store.ids()?;
    let keep_after = match retention {
        WalRetention::OldestSnapshot => ids.last(),
        WalRetention::NewestSnapshot => ids.first(),
    };
    if let Some(id) = keep_after {
        // A snapshot ahead of the state (one published by another writer, or a checkpoint
        // of a state since lost) must not move the front past the state.
        let front = id.lsn.min(lsn) + 1;
        if front > wal.first_lsn().get() {
            wal.truncate_front(Lsn::new(front))?;
        }
    }
    Ok(CheckpointReport {
        snapshot,
        pruned,
        wal_first_lsn: wal.first_lsn(),
        snapshot_duration,
        duration: started.elapsed(),
    })
}

/// Writes `state` as the snapshot at `lsn` and publishes it, mapping a full disk to
/// [`Error::NoSpace`].
fn write_snapshot<S: StateMachine + ?Sized>(
    store: &SnapshotStore,
    state: &S,
    lsn: u64,
) -> Result<cairn_snapshot::Published> {
    let no_space = |source: cairn_snapshot::Error| {
        if source.is_no_space() {
            Error::NoSpace { lsn, source }
        } else {
            Error::Snapshot { source }
        }
    };
    let mut pending = store
        .create(NewSnapshot::new(lsn, SNAPSHOT_TERM))
        .map_err(no_space)?;
    let temp_path = pending.temp_path().to_path_buf();
    let mut recording = RecordingWriter {
        inner: &mut pending,
        path: &temp_path,
        error: None,
    };
    let written = state.snapshot(&mut recording);
    if let Some(error) = recording.error.take() {
        // The store's error (ENOSPC, EIO) explains the failure better than the state
        // machine's view of it. Dropping `pending` removes the temporary file.
        return Err(no_space(error));
    }
    written.map_err(|e| Error::state(StateOp::Snapshot, None, e))?;
    pending.publish().map_err(no_space)
}

/// A writer that keeps the first snapshot error it passes on.
struct RecordingWriter<'a, W> {
    inner: &'a mut W,
    path: &'a Path,
    error: Option<cairn_snapshot::Error>,
}

impl<W: Write> Write for RecordingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.record(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.record(e))
    }
}

impl<W> RecordingWriter<'_, W> {
    fn record(&mut self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::Interrupted {
            return e;
        }
        let kind = e.kind();
        let error = cairn_snapshot::Error::from_io(e, self.path);
        let message = error.to_string();
        self.error.get_or_insert(error);
        io::Error::new(kind, message)
    }
}
