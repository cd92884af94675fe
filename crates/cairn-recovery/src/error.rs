//! The error type of `cairn-recovery`: one enum whose variants a caller can act on — the
//! layer that failed (log, snapshot store, state machine), the LSNs of a hole in the history,
//! a full disk — each with a message that says what happened and what to do next.

use std::fmt;

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which [`crate::StateMachine`] method failed, in an [`Error::StateMachine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateOp {
    /// [`crate::StateMachine::apply`].
    Apply,
    /// [`crate::StateMachine::snapshot`].
    Snapshot,
    /// [`crate::StateMachine::restore`].
    Restore,
}

impl fmt::Display for StateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateOp::Apply => "apply",
            StateOp::Snapshot => "snapshot",
            StateOp::Restore => "restore",
        })
    }
}

/// An error from recovery, checkpointing or a [`crate::Durable`] state machine.
///
/// [`Error::is_no_space`] tells a full disk (free space and retry) from everything else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The write-ahead log failed (see the inner error: corruption, poisoning, I/O).
    #[error("write-ahead log: {source}")]
    Wal {
        /// The log's error.
        #[from]
        source: cairn_wal::Error,
    },
    /// The snapshot store failed (see the inner error).
    #[error("snapshot store: {source}")]
    Snapshot {
        /// The store's error.
        #[from]
        source: cairn_snapshot::Error,
    },
    /// A file-system call of this crate's own (creating directories, moving a damaged
    /// snapshot into quarantine) failed.
    #[error("recovery I/O: {source}")]
    Io {
        /// The I/O seam's error.
        #[from]
        source: cairn_io::Error,
    },
    /// The application's state machine returned an error.
    #[error(
        "the state machine failed in {op}{}: {source}",
        lsn.map(|l| format!(" of record {l}")).unwrap_or_default()
    )]
    StateMachine {
        /// The method that failed.
        op: StateOp,
        /// The record being applied, for [`StateOp::Apply`].
        lsn: Option<u64>,
        /// The state machine's error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// Records between the snapshot and the log are missing: replaying would skip them.
    #[error(
        "records are missing between the snapshot and the log: the state is at LSN {snapshot_lsn} \
         but the log starts at LSN {wal_first_lsn}, so records {} to {} are lost; restore the \
         snapshot directory or the log from a backup (the log may have been truncated past the \
         snapshot that was used, e.g. after the newest snapshot turned out to be damaged)",
        snapshot_lsn + 1,
        wal_first_lsn.saturating_sub(1)
    )]
    WalGap {
        /// The LSN the loaded snapshot covers (0 without a snapshot).
        snapshot_lsn: u64,
        /// The first LSN the log holds.
        wal_first_lsn: u64,
    },
    /// The log skips an LSN: a record in the middle of the history is missing.
    #[error(
        "the log skips from LSN {} to LSN {found_lsn}: records are missing in the middle of the \
         history; restore the log from a backup, or recover with RecoveryMode::SkipCorrupted to \
         salvage what is left",
        expected_lsn - 1
    )]
    LogHole {
        /// The LSN replay needed next.
        expected_lsn: u64,
        /// The LSN the log had instead.
        found_lsn: u64,
    },
    /// The log holds a gap marker above the snapshot being used: the records it stands for
    /// exist only in a newer snapshot that is no longer usable.
    #[error(
        "record {lsn} is a gap marker: when the log was opened before, a snapshot covered records \
         the log had lost and recovery filled their LSNs with markers; that snapshot is no longer \
         usable (recovery is using the snapshot at LSN {snapshot_lsn}), so those records are gone; \
         restore the newer snapshot from a backup"
    )]
    GapMarker {
        /// The marker's LSN.
        lsn: u64,
        /// The LSN of the snapshot recovery loaded (0 without a snapshot).
        snapshot_lsn: u64,
    },
    /// The snapshot covers more records than the log holds, by more than recovery will fill.
    #[error(
        "the snapshot at LSN {snapshot_lsn} is ahead of the log, which ends at LSN {wal_last_lsn}: \
         the log lost its tail; the gap of {} records is above the {gap_max} recovery fills with \
         markers; raise RecoverOptions::gap_fill_records_max to let recovery fill it",
        snapshot_lsn - wal_last_lsn,
    )]
    SnapshotAheadOfLog {
        /// The LSN the snapshot covers.
        snapshot_lsn: u64,
        /// The last LSN in the log (0 if it is empty).
        wal_last_lsn: u64,
        /// The largest gap recovery fills.
        gap_max: u64,
    },
    /// The device ran out of space while a checkpoint wrote its snapshot.
    #[error(
        "no space left on the device for the checkpoint snapshot at LSN {lsn}: the previous \
         snapshots and the log are intact and the state is unchanged; free disk space (or \
         retain fewer snapshots) and checkpoint again — until then the log keeps growing"
    )]
    NoSpace {
        /// The LSN the snapshot was to cover.
        lsn: u64,
        /// The store's error.
        #[source]
        source: cairn_snapshot::Error,
    },
    /// The state machine failed to apply a record that is already in the log: its in-memory
    /// state is no longer trusted.
    #[error(
        "the state is poisoned: applying record {lsn} failed after it was logged, so memory and \
         log disagree; close and reopen to recover (if applying that record fails again, the \
         state machine cannot replay its own log: fix it, or restore from a snapshot)"
    )]
    Poisoned {
        /// The record whose apply failed.
        lsn: u64,
    },
    /// The [`crate::Durable`] was closed.
    #[error("the durable state machine is closed; open it again")]
    Closed,
    /// A payload has the reserved shape of a gap marker.
    #[error(
        "the payload is {size} bytes starting with the reserved gap-marker magic; change its \
         encoding (for example, prefix a version byte)"
    )]
    ReservedPayload {
        /// The payload's size.
        size: u64,
    },
    /// An option is out of its bounds.
    #[error("invalid recovery option {field}: {reason}")]
    InvalidOptions {
        /// The field.
        field: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
}

impl Error {
    /// Whether the device ran out of space (anywhere: snapshot, log, quarantine).
    ///
    /// # Examples
    ///
    /// ```
    /// use cairn_recovery::Error;
    ///
    /// assert!(!Error::Closed.is_no_space());
    /// ```
    #[must_use]
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::NoSpace { .. } => true,
            Error::Snapshot { source } => source.is_no_space(),
            Error::Wal {
                source: cairn_wal::Error::Io(e),
            } => e.is_no_space(),
            Error::Io { source } => source.is_no_space(),
            _ => false,
        }
    }

    pub(crate) fn state(
        op: StateOp,
        lsn: Option<u64>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::StateMachine {
            op,
            lsn,
            source: Box::new(source),
        }
    }
}
