//! The error type of the WAL: one enum whose variants a caller can act on, each carrying the
//! segment file and offset involved, with messages that say what happened and what to do.

use std::fmt;
use std::path::PathBuf;

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What exactly is wrong, in an [`Error::Corrupt`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// The segment header is damaged (bad magic, checksum or field).
    BadHeader,
    /// A frame did not decode and a valid frame follows it: damage in the middle of the log.
    BadFrameBeforeValid,
    /// A frame's checksum failed where no torn write is possible.
    BadFrame,
    /// A frame carries an LSN other than the one its position requires (a stale or misplaced
    /// frame).
    LsnMismatch {
        /// The LSN the position requires.
        expected: u64,
        /// The LSN in the frame.
        found: u64,
    },
    /// A segment of the chain is missing.
    MissingSegment {
        /// The segment id that should exist.
        segment_id: u64,
    },
    /// A segment's link to its predecessor does not match the predecessor.
    BrokenLink,
    /// A segment that is not the last one has no valid footer.
    Unsealed,
    /// A sealed segment's footer disagrees with its content.
    BadFooter,
    /// A batch is incomplete where no torn write is possible.
    PartialBatch,
    /// An invalid tail in a mode that does not tolerate torn tails ([`crate::RecoveryMode::AbsoluteConsistency`]).
    TornTail,
    /// The `FRONT` watermark file is damaged.
    BadFront,
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptKind::BadHeader => f.write_str("the segment header is damaged"),
            CorruptKind::BadFrameBeforeValid => {
                f.write_str("a damaged frame is followed by valid frames (damage inside the log, not a torn write)")
            }
            CorruptKind::BadFrame => f.write_str("a frame failed its checksum"),
            CorruptKind::LsnMismatch { expected, found } => {
                write!(f, "a frame has LSN {found} where LSN {expected} belongs (stale or misplaced data)")
            }
            CorruptKind::MissingSegment { segment_id } => write!(f, "segment {segment_id} of the chain is missing"),
            CorruptKind::BrokenLink => f.write_str("the segment does not link to the segment before it"),
            CorruptKind::Unsealed => f.write_str("a segment that is not the last one has no valid footer"),
            CorruptKind::BadFooter => f.write_str("the sealed segment's footer disagrees with its content"),
            CorruptKind::PartialBatch => f.write_str("a batch is incomplete inside a sealed segment"),
            CorruptKind::TornTail => f.write_str("the log ends in a torn (partially written) frame"),
            CorruptKind::BadFront => f.write_str("the FRONT watermark file is damaged"),
        }
    }
}

/// An error from the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame read back from disk failed its checksum.
    #[error(
        "checksum mismatch in {} at offset {offset}: stored {expected:#010x}, computed {actual:#010x}; \
         the file is damaged — reopen the log to run recovery, or restore from a replica or snapshot",
        segment.display()
    )]
    ChecksumMismatch {
        /// The segment file.
        segment: PathBuf,
        /// The frame's offset in it.
        offset: u64,
        /// The stored checksum.
        expected: u32,
        /// The checksum computed from the bytes.
        actual: u32,
    },
    /// The log on disk is damaged in a way recovery does not repair in the chosen mode.
    #[error(
        "the log is corrupt in {} at offset {offset}: {kind}; \
         restore from a replica or snapshot, or reopen with RecoveryMode::PointInTime (keep the log up to the damage) \
         or RecoveryMode::SkipCorrupted (salvage what is readable)",
        segment.display()
    )]
    Corrupt {
        /// The segment file (or the directory, for a missing segment).
        segment: PathBuf,
        /// The offset of the damage.
        offset: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// An fsync (or a write) failed earlier; the log accepts nothing more.
    #[error(
        "the log is poisoned: an earlier fsync or write failed, so data may be lost without the OS reporting it again; \
         close it and reopen the directory to run recovery"
    )]
    Poisoned,
    /// The log was closed.
    #[error("the log is closed; open it again to append or read")]
    Closed,
    /// A record is larger than `record_size_max`.
    #[error(
        "the record is {size} bytes, above the limit of {max} bytes (WalOptions::record_size_max); split it or raise the limit"
    )]
    RecordTooLarge {
        /// The record's size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A batch does not fit in one segment.
    #[error(
        "the batch needs {size} bytes on disk, above the {max} bytes a segment can hold; split it or raise WalOptions::segment_size_max"
    )]
    BatchTooLarge {
        /// The bytes the batch needs.
        size: u64,
        /// What one segment holds.
        max: u64,
    },
    /// A segment was written by a newer version of this crate.
    #[error(
        "segment format version {found} is newer than the newest this build reads ({max}); upgrade cairn-wal"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u16,
        /// The newest version supported.
        max: u16,
    },
    /// A feature this crate does not provide (e.g. [`crate::Durability::Remote`]).
    #[error("{feature} is not supported by cairn-wal; use a layer that provides it")]
    Unsupported {
        /// What was asked for.
        feature: &'static str,
    },
    /// An option is out of its bounds.
    #[error("invalid WAL option {field}: {reason}")]
    InvalidOptions {
        /// The field.
        field: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An LSN argument is outside the range the call accepts.
    #[error("LSN {lsn} is out of range: {reason} (the log holds {first}..{next})")]
    LsnOutOfRange {
        /// The LSN given.
        lsn: u64,
        /// The first LSN held.
        first: u64,
        /// The next LSN to be assigned.
        next: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An empty batch was given.
    #[error("an empty batch cannot be appended; give at least one record")]
    EmptyBatch,
    /// The I/O seam failed.
    #[error(transparent)]
    Io(#[from] cairn_io::Error),
}
