//! [`recover`]: load the newest valid snapshot into a [`StateMachine`], open the log, and
//! replay every record after the snapshot — refusing, never skipping, a hole in the history.

use std::io::{self, Read};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_io::Vfs;
use cairn_snapshot::{SnapshotId, SnapshotMeta, SnapshotStore, StoreOptions};
use cairn_wal::{Durability, Lsn, RecoveryMode, Wal, WalOptions};

use crate::error::{Error, Result, StateOp};
use crate::format;
use crate::state::StateMachine;

/// The directory snapshots found damaged by recovery are moved to, inside the snapshot
/// directory.
pub const SNAPSHOT_QUARANTINE_DIR: &str = "quarantine";

/// Where the log and the snapshots live.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use cairn_recovery::Layout;
///
/// let layout = Layout::in_dir("/var/lib/app");
/// assert_eq!(layout.wal_dir, Path::new("/var/lib/app/wal"));
/// assert_eq!(layout.snapshot_dir, Path::new("/var/lib/app/snapshots"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// The log's directory (owned by [`cairn_wal::Wal`]).
    pub wal_dir: PathBuf,
    /// The snapshots' directory (owned by [`cairn_snapshot::SnapshotStore`]).
    pub snapshot_dir: PathBuf,
}

impl Layout {
    /// The two directories given separately (they may be on different devices).
    #[must_use]
    pub fn new(wal_dir: impl Into<PathBuf>, snapshot_dir: impl Into<PathBuf>) -> Self {
        Self {
            wal_dir: wal_dir.into(),
            snapshot_dir: snapshot_dir.into(),
        }
    }

    /// `<dir>/wal` and `<dir>/snapshots`: the layout [`crate::Durable`] uses.
    #[must_use]
    pub fn in_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self::new(dir.join("wal"), dir.join("snapshots"))
    }
}

/// Options of [`recover`].
///
/// # Examples
///
/// ```
/// use cairn_recovery::RecoverOptions;
/// use cairn_wal::RecoveryMode;
///
/// let mut options = RecoverOptions::default();
/// options.wal.recovery_mode = RecoveryMode::AbsoluteConsistency;
/// assert!(options.validate().is_ok());
/// options.progress_interval_records = 0;
/// assert!(options.validate().is_err());
/// ```
// Not `#[non_exhaustive]`: callers build it with `..RecoverOptions::default()`, and a new
// field always comes with a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoverOptions {
    /// The log's options, including its [`RecoveryMode`] (default
    /// [`RecoveryMode::TolerateTornTail`]). Default: [`WalOptions::default`].
    pub wal: WalOptions,
    /// The snapshot store's options, including how many snapshots it retains.
    /// Default: [`StoreOptions::default`] (2 snapshots).
    pub store: StoreOptions,
    /// Most LSNs recovery fills with gap markers when the snapshot is ahead of the log (see
    /// [`Error::SnapshotAheadOfLog`]). Default: 1 Mi. Maximum: 64 Mi.
    pub gap_fill_records_max: u64,
    /// How many replayed records between two calls of the progress callback.
    /// Default: 4096. Minimum: 1.
    pub progress_interval_records: u64,
}

impl Default for RecoverOptions {
    fn default() -> Self {
        Self {
            wal: WalOptions::default(),
            store: StoreOptions::default(),
            gap_fill_records_max: 1 << 20,
            progress_interval_records: 4096,
        }
    }
}

impl RecoverOptions {
    /// Checks every field against its bounds, and the log's and store's options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`]; [`Error::Wal`] / [`Error::Snapshot`] for their options.
    pub fn validate(&self) -> Result<()> {
        self.wal.validate()?;
        self.store.validate()?;
        if self.gap_fill_records_max > 64 << 20 {
            return Err(Error::InvalidOptions {
                field: "gap_fill_records_max",
                reason: "must be at most 64 Mi",
            });
        }
        if self.progress_interval_records == 0 {
            return Err(Error::InvalidOptions {
                field: "progress_interval_records",
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}

/// How far replay has got, passed to the progress callback of [`recover`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Records applied so far.
    pub records_replayed: u64,
    /// Payload bytes applied so far.
    pub bytes_replayed: u64,
    /// The LSN the state is at now.
    pub applied_lsn: Lsn,
    /// The last LSN the log holds: where replay will end (`None` for an empty log).
    pub wal_last_lsn: Option<Lsn>,
}

/// Which snapshot recovery loaded, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotChoice {
    /// The newest snapshot verified.
    Newest,
    /// Newer snapshots failed verification (see [`RecoveryReport::skipped_snapshots`]); an
    /// older one was loaded.
    FellBack,
    /// No snapshot verified (or there was none): replay starts from the initial state.
    None,
}

/// A snapshot [`recover`] passed over because it failed verification.
#[derive(Debug)]
#[non_exhaustive]
pub struct SkippedSnapshot {
    /// Its id.
    pub id: SnapshotId,
    /// Where it was.
    pub path: PathBuf,
    /// Where it was moved to, under [`SNAPSHOT_QUARANTINE_DIR`]: kept for inspection, and out
    /// of the way of the next checkpoint (which must be newer than every published snapshot).
    pub quarantined_to: PathBuf,
    /// Why it failed.
    pub reason: cairn_snapshot::Error,
}

/// What [`recover`] found and did.
#[derive(Debug)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The snapshot loaded, if any.
    pub snapshot: Option<SnapshotMeta>,
    /// Why that snapshot (or none).
    pub snapshot_choice: SnapshotChoice,
    /// Newer snapshots that failed verification, newest first.
    pub skipped_snapshots: Vec<SkippedSnapshot>,
    /// Temporary snapshot files left by an interrupted checkpoint, removed.
    pub removed_temp_files: Vec<PathBuf>,
    /// Records replayed from the log into the state machine.
    pub records_replayed: u64,
    /// Payload bytes replayed.
    pub bytes_replayed: u64,
    /// The LSN the state is at: the last record applied, or the snapshot's (0 for the
    /// initial state).
    pub applied_lsn: Lsn,
    /// LSNs filled with gap markers because the snapshot was ahead of the log.
    pub gap_filled: Option<RangeInclusive<Lsn>>,
    /// Records missing from the log that [`RecoveryMode::SkipCorrupted`] skipped (always 0
    /// in the other modes, which refuse such holes).
    pub records_missing: u64,
    /// Bytes the log cut from its end (a torn tail, or everything after damage in
    /// [`RecoveryMode::PointInTime`]); copies are in the quarantine files.
    pub bytes_truncated: u64,
    /// Quarantine copies made by this recovery: the log's cut bytes and damaged snapshots.
    pub quarantined_files: Vec<PathBuf>,
    /// Time spent loading the snapshot into the state machine.
    pub restore_duration: Duration,
    /// Time spent replaying the log.
    pub replay_duration: Duration,
    /// Total time of [`recover`].
    pub duration: Duration,
    /// The log's own recovery report.
    pub wal: cairn_wal::RecoveryReport,
}

/// Rebuilds `state` from the newest valid snapshot and the log, and returns the open log
/// and snapshot store ready for new records.
///
/// In order: opens the snapshot store (removing temporary files of an interrupted
/// checkpoint); finds the newest snapshot that verifies completely, moving newer damaged ones
/// into `quarantine/`; opens the log with `options.wal.recovery_mode` (cutting a torn tail);
/// checks that the log continues the snapshot without a hole; restores the snapshot into
/// `state`; replays every record with an LSN above the snapshot's, calling `progress` every
/// [`RecoverOptions::progress_interval_records`] records and once at the end.
///
/// Missing parent directories of the two directories are created and made durable.
///
/// `state` must be the application's initial (empty) state: a snapshot replaces it through
/// [`StateMachine::restore`], but without one the records are applied to it as it is.
///
/// When the snapshot covers more than the log holds (the log lost its tail after the
/// snapshot was published), the state is the snapshot's and the log must continue after it:
/// recovery appends [gap markers](crate::format) up to the snapshot's LSN and truncates the
/// log's front past them, so the next record gets `snapshot_lsn + 1`.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::sync::Arc;
/// use cairn_io::StdVfs;
/// use cairn_recovery::{recover, Layout, RecoverOptions, StateMachine};
/// use cairn_wal::{Durability, Lsn};
///
/// #[derive(Default)]
/// struct Log(Vec<Vec<u8>>);
/// impl StateMachine for Log {
///     type Error = std::io::Error;
///     fn apply(&mut self, _: Lsn, payload: &[u8]) -> std::io::Result<()> {
///         self.0.push(payload.to_vec());
///         Ok(())
///     }
///     fn snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
///         for p in &self.0 { w.write_all(&[p.len() as u8])?; w.write_all(p)?; }
///         Ok(())
///     }
///     fn restore(&mut self, r: &mut dyn Read) -> std::io::Result<()> {
///         let mut bytes = Vec::new();
///         r.read_to_end(&mut bytes)?;
///         self.0.clear();
///         let mut rest = &bytes[..];
///         while let [len, tail @ ..] = rest {
///             let (p, tail) = tail.split_at(usize::from(*len));
///             self.0.push(p.to_vec());
///             rest = tail;
///         }
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<(), cairn_recovery::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let layout = Layout::in_dir(dir.path());
/// let vfs = Arc::new(StdVfs::new());
/// let options = RecoverOptions::default();
///
/// let (wal, _store, report) = recover(&layout, &options, vfs.clone(), &mut Log::default(), &mut |_| {})?;
/// assert_eq!(report.records_replayed, 0);
/// wal.append(b"one", Durability::Fsync)?;
/// wal.append(b"two", Durability::Fsync)?;
/// wal.close()?;
/// drop(wal);
/// drop(_store);
///
/// let mut state = Log::default();
/// let (_wal, _store, report) = recover(&layout, &options, vfs, &mut state, &mut |p| {
///     println!("{} records replayed", p.records_replayed);
/// })?;
/// assert_eq!(report.records_replayed, 2);
/// assert_eq!(report.applied_lsn, Lsn::new(2));
/// assert_eq!(state.0, [b"one".to_vec(), b"two".to_vec()]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// - [`Error::Wal`]: the log is damaged beyond what its recovery mode repairs, is locked by
///   another handle, or a read failed; [`Error::Snapshot`]: the store could not be opened or
///   listed, or a snapshot failed while being restored after it had verified.
/// - [`Error::WalGap`]: the log starts after the record the snapshot needs next (it was
///   truncated past the snapshot that had to be used). [`Error::GapMarker`]: likewise, for
///   a gap an earlier recovery filled. [`Error::LogHole`]: the log skips an LSN.
/// - [`Error::SnapshotAheadOfLog`]: the snapshot is ahead of the log by more than
///   [`RecoverOptions::gap_fill_records_max`].
/// - [`Error::StateMachine`]: `restore` or `apply` failed.
/// - [`Error::Io`]: moving a damaged snapshot into quarantine failed.
/// - [`Error::InvalidOptions`].
pub fn recover<S: StateMachine + ?Sized>(
    layout: &Layout,
    options: &RecoverOptions,
    vfs: Arc<dyn Vfs>,
    state: &mut S,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Wal, SnapshotStore, RecoveryReport)> {
    let started = Instant::now();
    options.validate()?;
    make_parents_durable(&*vfs, layout)?;

    let store = SnapshotStore::open(&layout.snapshot_dir, options.store.clone(), vfs.clone())?;
    let latest = store.latest_valid()?;
    let snapshot_choice = match (&latest.snapshot, latest.fell_back()) {
        (Some(_), false) => SnapshotChoice::Newest,
        (Some(_), true) => SnapshotChoice::FellBack,
        (None, _) => SnapshotChoice::None,
    };
    let mut quarantined_files = Vec::new();
    let mut skipped_snapshots = Vec::new();
    for skipped in latest.skipped {
        let quarantined_to = quarantine_snapshot(&*vfs, store.dir(), &skipped.path)?;
        quarantined_files.push(quarantined_to.clone());
        skipped_snapshots.push(SkippedSnapshot {
            id: skipped.id,
            path: skipped.path,
            quarantined_to,
            reason: skipped.reason,
        });
    }
    let snapshot = latest.snapshot;
    let snapshot_lsn = snapshot.as_ref().map_or(0, |meta| meta.lsn);

    let (wal, wal_report) = Wal::open(&layout.wal_dir, options.wal.clone(), vfs)?;
    let wal_first = wal.first_lsn().get();
    let wal_next = wal.next_lsn().get();
    assert!(
        wal_first >= 1 && wal_first <= wal_next,
        "the log's range is ordered"
    );
    // The first record replay needs is snapshot_lsn + 1; the log must hold it (or end before
    // it). Anything else would silently skip records.
    if wal_first > snapshot_lsn + 1 {
        return Err(Error::WalGap {
            snapshot_lsn,
            wal_first_lsn: wal_first,
        });
    }
    let gap = wal_next.saturating_sub(1).max(snapshot_lsn) - wal_next.saturating_sub(1);
    if gap > options.gap_fill_records_max {
        return Err(Error::SnapshotAheadOfLog {
            snapshot_lsn,
            wal_last_lsn: wal_next - 1,
            gap_max: options.gap_fill_records_max,
        });
    }

    let restore_started = Instant::now();
    if let Some(meta) = &snapshot {
        restore(&store, meta, state)?;
    }
    let restore_duration = restore_started.elapsed();

    let replay_started = Instant::now();
    let wal_last_lsn = (wal_next > wal_first).then(|| Lsn::new(wal_next - 1));
    let mut applied = snapshot_lsn;
    let mut records_replayed = 0u64;
    let mut bytes_replayed = 0u64;
    let mut records_missing = 0u64;
    let report_progress = |applied: u64, records: u64, bytes: u64| Progress {
        records_replayed: records,
        bytes_replayed: bytes,
        applied_lsn: Lsn::new(applied),
        wal_last_lsn,
    };
    if wal_next > snapshot_lsn + 1 {
        // Bounded by the records the log holds.
        for item in wal.reader(Lsn::new(snapshot_lsn + 1))? {
            let (lsn, payload) = item?;
            let lsn = lsn.get();
            assert!(lsn > applied, "the reader yields increasing LSNs");
            if lsn != applied + 1 {
                if options.wal.recovery_mode != RecoveryMode::SkipCorrupted {
                    return Err(Error::LogHole {
                        expected_lsn: applied + 1,
                        found_lsn: lsn,
                    });
                }
                records_missing += lsn - applied - 1;
            }
            if format::is_gap_marker(&payload, lsn) {
                return Err(Error::GapMarker { lsn, snapshot_lsn });
            }
            state
                .apply(Lsn::new(lsn), &payload)
                .map_err(|e| Error::state(StateOp::Apply, Some(lsn), e))?;
            applied = lsn;
            records_replayed += 1;
            bytes_replayed += payload.len() as u64;
            if records_replayed.is_multiple_of(options.progress_interval_records) {
                progress(report_progress(applied, records_replayed, bytes_replayed));
            }
        }
        if applied + 1 != wal_next {
            // Only a salvage mode may lose the last records (a skipped damaged frame).
            if options.wal.recovery_mode != RecoveryMode::SkipCorrupted {
                return Err(Error::LogHole {
                    expected_lsn: applied + 1,
                    found_lsn: wal_next,
                });
            }
            records_missing += wal_next - applied - 1;
            applied = wal_next - 1;
        }
    }

    let gap_filled = if gap > 0 {
        Some(fill_gap(&wal, wal_next, snapshot_lsn)?)
    } else {
        None
    };
    assert_eq!(
        wal.next_lsn().get(),
        applied + 1,
        "the log continues right after the state"
    );
    progress(report_progress(applied, records_replayed, bytes_replayed));

    quarantined_files.extend(wal_report.quarantine_files.iter().cloned());
    let report = RecoveryReport {
        snapshot,
        snapshot_choice,
        skipped_snapshots,
        removed_temp_files: store.removed_temp_files().to_vec(),
        records_replayed,
        bytes_replayed,
        applied_lsn: Lsn::new(applied),
        gap_filled,
        records_missing,
        bytes_truncated: wal_report.bytes_truncated,
        quarantined_files,
        restore_duration,
        replay_duration: replay_started.elapsed(),
        duration: started.elapsed(),
        wal: wal_report,
    };
    Ok((wal, store, report))
}

/// Creates the parents of the log's and store's directories and makes their entries durable.
///
/// The log and the store make their own directory entries durable in their parents; a
/// parent they share (`<dir>` of [`Layout::in_dir`]) may be new too, as may directories
/// above it, and every entry on the path must be durable before anything inside is
/// acknowledged. Directories that already existed above the shared parent are assumed
/// durable (they are not this crate's to fsync).
fn make_parents_durable(vfs: &dyn Vfs, layout: &Layout) -> Result<()> {
    for dir in [&layout.wal_dir, &layout.snapshot_dir] {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            cairn_io::create_dir_durable(vfs, parent)?;
        }
    }
    Ok(())
}

/// Loads snapshot `meta` into `state`, then reads whatever the state machine left unread so
/// that the whole file is verified before the state is trusted.
fn restore<S: StateMachine + ?Sized>(
    store: &SnapshotStore,
    meta: &SnapshotMeta,
    state: &mut S,
) -> Result<()> {
    let mut reader = store.read(meta.id())?;
    let path = store.path_of(meta.id());
    let mut recording = RecordingReader {
        inner: &mut reader,
        path: &path,
        error: None,
    };
    let restored = state.restore(&mut recording);
    if let Some(error) = recording.error.take() {
        // The snapshot failed under the state machine (it verified moments ago): report the
        // snapshot's error, not whatever the state machine made of it.
        return Err(error.into());
    }
    restored.map_err(|e| Error::state(StateOp::Restore, None, e))?;
    let verified = reader.finish()?;
    assert_eq!(
        verified.id(),
        meta.id(),
        "the store opened the snapshot asked for"
    );
    if verified.digest != meta.digest {
        return Err(cairn_snapshot::Error::DigestMismatch {
            snapshot: path,
            expected: meta.digest,
            actual: verified.digest,
        }
        .into());
    }
    Ok(())
}

/// A reader that keeps the first snapshot error it passes on, so it can be reported as such
/// after the state machine returns.
struct RecordingReader<'a, R> {
    inner: &'a mut R,
    path: &'a Path,
    error: Option<cairn_snapshot::Error>,
}

impl<R: Read> Read for RecordingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                let error = cairn_snapshot::Error::from_io(e, self.path);
                let message = error.to_string();
                self.error.get_or_insert(error);
                Err(io::Error::new(kind, message))
            }
        }
    }
}

/// Fills LSNs `from..=to` with gap markers and moves the log's front past them, so the log
/// continues at `to + 1`. Crash-safe: until the front moves, the markers sit at or below the
/// snapshot's LSN, where replay reads nothing.
fn fill_gap(wal: &Wal, from: u64, to: u64) -> Result<RangeInclusive<Lsn>> {
    assert!(from <= to, "a gap has at least one LSN");
    // Bounded by gap_fill_records_max, checked by the caller.
    for lsn in from..=to {
        let got = wal.append(format::gap_marker(lsn), Durability::None)?;
        assert_eq!(got.get(), lsn, "the log assigns consecutive LSNs");
    }
    // Durable on return: the markers are synced first, then the FRONT watermark.
    wal.truncate_front(Lsn::new(to + 1))?;
    assert_eq!(wal.next_lsn().get(), to + 1);
    Ok(Lsn::new(from)..=Lsn::new(to))
}

/// Moves a damaged snapshot to `<dir>/quarantine/`, durably; returns its new path.
fn quarantine_snapshot(vfs: &dyn Vfs, dir: &Path, path: &Path) -> Result<PathBuf> {
    let quarantine = dir.join(SNAPSHOT_QUARANTINE_DIR);
    if !vfs.exists(&quarantine)? {
        vfs.create_dir_all(&quarantine)?;
        vfs.sync_dir(dir)?;
    }
    let name = path.file_name().unwrap_or(path.as_os_str());
    let to = quarantine.join(name);
    vfs.rename(path, &to)?;
    // The destination first: a crash between the two leaves the file in at least one place.
    vfs.sync_dir(&quarantine)?;
    vfs.sync_dir(dir)?;
    Ok(to)
}
