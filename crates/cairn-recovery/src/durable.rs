//! [`Durable`]: a state machine made durable — every change logged before it is applied,
//! checkpoints by log size or elapsed time, recovery on open — in one directory.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_io::Vfs;
use cairn_snapshot::{SnapshotStore, StoreOptions};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

use crate::checkpoint::{CheckpointReport, WalRetention, checkpoint};
use crate::error::{Error, Result, StateOp};
use crate::format;
use crate::recover::{Layout, Progress, RecoverOptions, RecoveryReport, recover};
use crate::state::StateMachine;

/// Options of a [`Durable`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use cairn_recovery::DurableOptions;
///
/// let options = DurableOptions {
///     checkpoint_wal_bytes: 16 << 20,
///     checkpoint_interval: Some(Duration::from_secs(60)),
///     ..DurableOptions::default()
/// };
/// assert!(options.validate().is_ok());
/// ```
// Not `#[non_exhaustive]`: callers build it with `..DurableOptions::default()`, and a new
// field always comes with a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableOptions {
    /// Options of recovery, the log (including its recovery mode) and the snapshot store
    /// (including how many snapshots it retains). Default: [`RecoverOptions::default`].
    /// The log's `dedup_window` must be 0: every change gets its own LSN.
    pub recover: RecoverOptions,
    /// Checkpoint automatically once this many bytes of log frames were appended since the
    /// last checkpoint; 0 turns it off. Default: 64 MiB.
    pub checkpoint_wal_bytes: u64,
    /// Checkpoint automatically when a change is applied this long after the last
    /// checkpoint (no timer runs: an idle state machine is not checkpointed); `None` turns
    /// it off. Default: 10 minutes. Minimum: 1 ms.
    pub checkpoint_interval: Option<Duration>,
    /// How far a checkpoint truncates the log. Default: [`WalRetention::OldestSnapshot`].
    pub wal_retention: WalRetention,
}

impl Default for DurableOptions {
    fn default() -> Self {
        Self {
            recover: RecoverOptions::default(),
            checkpoint_wal_bytes: 64 << 20,
            checkpoint_interval: Some(Duration::from_secs(600)),
            wal_retention: WalRetention::OldestSnapshot,
        }
    }
}

impl DurableOptions {
    /// Sets the log's options.
    #[must_use]
    pub fn wal(mut self, wal: WalOptions) -> Self {
        self.recover.wal = wal;
        self
    }

    /// Sets the snapshot store's options.
    #[must_use]
    pub fn store(mut self, store: StoreOptions) -> Self {
        self.recover.store = store;
        self
    }

    /// Checks every field against its bounds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`], or the log's or store's option errors.
    pub fn validate(&self) -> Result<()> {
        self.recover.validate()?;
        if self.recover.wal.dedup_window != 0 {
            return Err(Error::InvalidOptions {
                field: "recover.wal.dedup_window",
                reason: "must be 0: a re-sent change would get an old LSN and not be applied",
            });
        }
        if self
            .checkpoint_interval
            .is_some_and(|i| i < Duration::from_millis(1))
        {
            return Err(Error::InvalidOptions {
                field: "checkpoint_interval",
                reason: "must be at least 1 ms (or None to turn it off)",
            });
        }
        Ok(())
    }
}

/// A state machine whose every change is logged before it is applied, checkpointed into
/// snapshots, and recovered on open, in one directory (`<dir>/wal`, `<dir>/snapshots`).
///
/// The API is single-threaded (`&mut self`): one owner applies changes in order. Wrap it in
/// a `Mutex` to share it; for concurrent appenders sharing fsyncs, use [`cairn_wal::Wal`]
/// and [`crate::recover`] directly.
///
/// - [`Durable::apply`] appends the change to the log at the requested [`Durability`], and
///   applies it to the state only once the append returned. If the state machine then
///   fails, the `Durable` is poisoned ([`Error::Poisoned`]): reopen to recover.
/// - [`Durable::checkpoint`] (also run automatically by log size and elapsed time, see
///   [`DurableOptions`]) snapshots the state and truncates the log. A failed checkpoint
///   (for example a full disk) leaves the previous snapshots and the log intact and the
///   `Durable` working; an automatic one's error is kept in
///   [`Durable::take_checkpoint_error`].
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use std::io::{Read, Write};
/// use std::sync::Arc;
/// use cairn_io::StdVfs;
/// use cairn_recovery::{Durable, DurableOptions, StateMachine};
/// use cairn_wal::{Durability, Lsn};
///
/// /// A map of `key=value` strings.
/// #[derive(Default)]
/// struct Kv(BTreeMap<String, String>);
/// impl StateMachine for Kv {
///     type Error = std::io::Error;
///     fn apply(&mut self, _: Lsn, op: &[u8]) -> std::io::Result<()> {
///         let op = std::str::from_utf8(op).map_err(|_| std::io::ErrorKind::InvalidData)?;
///         let (k, v) = op.split_once('=').ok_or(std::io::ErrorKind::InvalidData)?;
///         self.0.insert(k.into(), v.into());
///         Ok(())
///     }
///     fn snapshot(&self, w: &mut dyn Write) -> std::io::Result<()> {
///         for (k, v) in &self.0 { writeln!(w, "{k}={v}")?; }
///         Ok(())
///     }
///     fn restore(&mut self, r: &mut dyn Read) -> std::io::Result<()> {
///         let mut text = String::new();
///         r.read_to_string(&mut text)?;
///         self.0 = text.lines().filter_map(|l| l.split_once('='))
///             .map(|(k, v)| (k.into(), v.into())).collect();
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<(), cairn_recovery::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let vfs = Arc::new(StdVfs::new());
/// let (mut kv, _report) = Durable::open(dir.path(), DurableOptions::default(), vfs.clone(), Kv::default())?;
/// kv.apply(b"goal=ship", Durability::Fsync)?;
/// kv.checkpoint()?;
/// kv.apply(b"step=test", Durability::Fsync)?;
/// kv.close()?;
///
/// let (kv, report) = Durable::open(dir.path(), DurableOptions::default(), vfs, Kv::default())?;
/// assert_eq!(report.records_replayed, 1); // the snapshot holds the first change
/// assert_eq!(kv.state().0["goal"], "ship");
/// assert_eq!(kv.state().0["step"], "test");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Durable<S: StateMachine> {
    state: S,
    wal: Wal,
    store: SnapshotStore,
    options: DurableOptions,
    applied_lsn: Lsn,
    poisoned_at: Option<u64>,
    closed: bool,
    wal_bytes_since_checkpoint: u64,
    last_checkpoint_at: Instant,
    checkpoint_error: Option<Error>,
}

impl<S: StateMachine> Durable<S> {
    /// Opens (or creates) the state machine in `dir`: runs [`crate::recover`] on
    /// `<dir>/snapshots` and `<dir>/wal` into `initial_state`, the application's empty
    /// state.
    ///
    /// # Errors
    ///
    /// As [`crate::recover`], plus [`Error::InvalidOptions`].
    pub fn open(
        dir: impl AsRef<Path>,
        options: DurableOptions,
        vfs: Arc<dyn Vfs>,
        initial_state: S,
    ) -> Result<(Self, RecoveryReport)> {
        Self::open_with_progress(dir, options, vfs, initial_state, &mut |_| {})
    }

    /// As [`Durable::open`], calling `progress` during replay.
    ///
    /// # Errors
    ///
    /// As [`Durable::open`].
    pub fn open_with_progress(
        dir: impl AsRef<Path>,
        options: DurableOptions,
        vfs: Arc<dyn Vfs>,
        initial_state: S,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Self, RecoveryReport)> {
        options.validate()?;
        let dir = dir.as_ref();
        let mut state = initial_state;
        let (wal, store, report) = recover(
            &Layout::in_dir(dir),
            &options.recover,
            vfs,
            &mut state,
            progress,
        )?;
        let durable = Self {
            state,
            wal,
            store,
            options,
            applied_lsn: report.applied_lsn,
            poisoned_at: None,
            closed: false,
            wal_bytes_since_checkpoint: 0,
            last_checkpoint_at: Instant::now(),
            checkpoint_error: None,
        };
        Ok((durable, report))
    }

    fn check_usable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        if let Some(lsn) = self.poisoned_at {
            return Err(Error::Poisoned { lsn });
        }
        Ok(())
    }

    /// Logs `op` at `durability`, then applies it to the state; returns its LSN. May then
    /// run an automatic checkpoint (see [`DurableOptions`]), whose failure does not fail
    /// the change: it is kept for [`Durable::take_checkpoint_error`].
    ///
    /// The change is applied only after the log append reached `durability`; the state
    /// therefore never shows a change the log could not return after a crash at that level.
    ///
    /// # Errors
    ///
    /// - [`Error::Wal`]: the append failed, nothing was applied (a failed write or fsync
    ///   poisons the log: reopen).
    /// - [`Error::StateMachine`]: the change is logged but applying it failed; the
    ///   `Durable` is poisoned and later calls return [`Error::Poisoned`]: reopen, which
    ///   replays the change.
    /// - [`Error::ReservedPayload`] (nothing logged); [`Error::Closed`]; [`Error::Poisoned`].
    pub fn apply(&mut self, op: &[u8], durability: Durability) -> Result<Lsn> {
        self.check_usable()?;
        if format::looks_like_gap_marker(op) {
            return Err(Error::ReservedPayload {
                size: op.len() as u64,
            });
        }
        let lsn = self.wal.append(op, durability)?;
        assert_eq!(
            lsn.get(),
            self.applied_lsn.get() + 1,
            "one writer: the log continues right after the state"
        );
        if let Err(e) = self.state.apply(lsn, op) {
            self.poisoned_at = Some(lsn.get());
            return Err(Error::state(StateOp::Apply, Some(lsn.get()), e));
        }
        self.applied_lsn = lsn;
        self.wal_bytes_since_checkpoint += cairn_wal::format::frame_size(op.len() as u64);
        if self.checkpoint_due() {
            self.auto_checkpoint();
        }
        Ok(lsn)
    }

    fn checkpoint_due(&self) -> bool {
        let by_size = self.options.checkpoint_wal_bytes > 0
            && self.wal_bytes_since_checkpoint >= self.options.checkpoint_wal_bytes;
        let by_time = self
            .options
            .checkpoint_interval
            .is_some_and(|i| self.last_checkpoint_at.elapsed() >= i);
        by_size || by_time
    }

    fn auto_checkpoint(&mut self) {
        if let Err(e) = self.checkpoint() {
            // Try again only after another full interval, not on every change.
            self.wal_bytes_since_checkpoint = 0;
            self.last_checkpoint_at = Instant::now();
            self.checkpoint_error = Some(e);
        }
    }

    /// Snapshots the state now and truncates the log (see [`crate::checkpoint`]).
    ///
    /// # Errors
    ///
    /// As [`crate::checkpoint`]: [`Error::NoSpace`] leaves everything as it was and the
    /// `Durable` usable; plus [`Error::Closed`] and [`Error::Poisoned`].
    pub fn checkpoint(&mut self) -> Result<CheckpointReport> {
        self.check_usable()?;
        let report = checkpoint(
            &self.wal,
            &self.store,
            &self.state,
            self.applied_lsn,
            self.options.wal_retention,
        )?;
        self.wal_bytes_since_checkpoint = 0;
        self.last_checkpoint_at = Instant::now();
        Ok(report)
    }

    /// The error of the last automatic checkpoint that failed, if not taken yet.
    pub fn take_checkpoint_error(&mut self) -> Option<Error> {
        self.checkpoint_error.take()
    }

    /// The state, reflecting every change applied so far.
    #[must_use]
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The LSN of the last change applied (0 for the initial state).
    #[must_use]
    pub fn applied_lsn(&self) -> Lsn {
        self.applied_lsn
    }

    /// The log, to raise a change's durability later ([`Wal::wait_durable`], [`Wal::sync`])
    /// or read it. Appending to it directly would desynchronise the state: don't.
    #[must_use]
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// The snapshot store.
    #[must_use]
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    /// Log bytes appended since the last checkpoint.
    #[must_use]
    pub fn wal_bytes_since_checkpoint(&self) -> u64 {
        self.wal_bytes_since_checkpoint
    }

    /// Makes every change durable and closes the log; returns the state. The directory
    /// locks are released when this returns.
    ///
    /// # Errors
    ///
    /// [`Error::Wal`] if the final fsync fails (changes above the last durable one may be
    /// lost: the next open recovers what is on disk); [`Error::Closed`].
    pub fn close(mut self) -> Result<S> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.closed = true;
        self.wal.close()?;
        Ok(self.state)
    }
}
