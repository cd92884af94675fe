//! The small public value types: [`Lsn`], [`Durability`], [`RecoveryMode`] and
//! [`WalOptions`] with its bounds and `validate()`.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format;

/// A log sequence number: the position of a record in the log. The first record is `Lsn(1)`;
/// each record gets the next number, with no gaps.
///
/// # Examples
///
/// ```
/// use cairn_wal::Lsn;
///
/// assert_eq!(Lsn::FIRST.get(), 1);
/// assert_eq!(Lsn::new(5).next(), Lsn::new(6));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(u64);

impl Lsn {
    /// The LSN of the first record of a new log.
    pub const FIRST: Lsn = Lsn(1);

    /// Wraps a raw value.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The raw value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The LSN after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How far an append must get before the call returns.
///
/// Each level includes the ones before it. Whatever level a call asks for, [`crate::Wal::wait_durable`]
/// or [`crate::Wal::sync`] can raise it to `Fsync` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// In this process's memory: lost if the process crashes. Written to the OS by the next
    /// append at a higher level, by a read of that LSN, by [`crate::Wal::sync`], or when the
    /// buffer fills.
    None,
    /// Handed to the OS (`pwrite` returned): survives a process crash, not a power loss.
    Buffered,
    /// On stable storage (`fdatasync` returned): survives a power loss.
    Fsync,
    /// Acknowledged by a remote tier. Not provided by this crate: returns
    /// [`Error::Unsupported`].
    Remote,
}

/// What recovery does when the log on disk is not clean. See `docs/DURABILITY.md` for the
/// decision table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Cut an invalid tail of the last segment (a torn write), keeping a quarantine copy;
    /// refuse damage anywhere else with [`Error::Corrupt`].
    #[default]
    TolerateTornTail,
    /// Refuse any damage, even a torn tail.
    AbsoluteConsistency,
    /// Keep the log up to the first damage and cut everything after it (quarantined).
    PointInTime,
    /// Skip damaged frames and segments, keep every valid record, and report what was skipped.
    SkipCorrupted,
}

/// Options of a [`crate::Wal`].
///
/// # Examples
///
/// ```
/// use cairn_wal::WalOptions;
///
/// let options = WalOptions { segment_size_max: 1 << 20, record_size_max: 64 << 10, ..WalOptions::default() };
/// assert!(options.validate().is_ok());
/// // A record must fit in a segment:
/// let options = WalOptions { segment_size_max: 1 << 20, ..WalOptions::default() };
/// assert!(options.validate().is_err());
/// ```
// Not `#[non_exhaustive]`: callers build it with `..WalOptions::default()`, and a new field
// always comes with a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Largest segment file, in bytes; a segment is sealed and the next one started when the
    /// next frame would not fit. Default: 64 MiB. Minimum: 4 KiB. Maximum: 4 GiB.
    pub segment_size_max: u64,
    /// Largest record payload, in bytes, refused on append and on decode before allocating.
    /// Default: 16 MiB. Minimum: 1. Maximum: 1 GiB, and a record frame must fit in a segment.
    pub record_size_max: u32,
    /// Most records an fsync group collects before new appenders wait for the group's fsync.
    /// Default: 100. Minimum: 1.
    pub group_commit_max_records: u32,
    /// Most payload bytes an fsync group collects before new appenders wait for its fsync.
    /// Default: 4 MiB. Minimum: 1.
    pub group_commit_max_bytes: u64,
    /// Longest a record appended below `Fsync` stays unsynced when appends keep coming: an
    /// append that finds older unsynced records and no fsync running starts one. No timer
    /// runs, so an idle log never waits on it. Measured on a coarse clock (one scheduler
    /// tick, 1 to 10 ms on Linux), so a record may stay unsynced up to a tick longer.
    /// Default: 10 ms. Maximum: 10 s.
    pub group_commit_max_delay: Duration,
    /// What recovery does with damage. Default: [`RecoveryMode::TolerateTornTail`].
    pub recovery_mode: RecoveryMode,
    /// Number of recent payload hashes kept to de-duplicate re-sent appends (0 = off): an
    /// append whose payload matches one of the last `dedup_window / 2` to `dedup_window`
    /// single-record appends returns that record's LSN instead. Refilled from the log's last
    /// records on open. Batches are never de-duplicated. Default: 0. Maximum: 16 Mi.
    pub dedup_window: u32,
    /// Whether segment files are preallocated to `segment_size_max` ahead of use.
    /// Default: true.
    pub preallocate: bool,
    /// Bytes buffered in memory for [`Durability::None`] and [`Durability::Fsync`] appends
    /// before they are written to the OS anyway (a group-commit leader writes the buffer
    /// before its fsync in any case). Default: 1 MiB. Minimum: 0 (write through).
    pub buffer_size_max: u32,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_size_max: 64 << 20,
            record_size_max: 16 << 20,
            group_commit_max_records: 100,
            group_commit_max_bytes: 4 << 20,
            group_commit_max_delay: Duration::from_millis(10),
            recovery_mode: RecoveryMode::TolerateTornTail,
            dedup_window: 0,
            preallocate: true,
            buffer_size_max: 1 << 20,
        }
    }
}

impl WalOptions {
    /// Bytes of a segment available to record frames.
    pub(crate) fn segment_capacity(&self) -> u64 {
        self.segment_size_max - (format::SEGMENT_HEADER_SIZE + format::SEAL_RESERVE) as u64
    }

    /// Checks every field against its bounds and the fields against each other.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming the first field out of bounds.
    pub fn validate(&self) -> Result<()> {
        let fail = |field, reason| Err(Error::InvalidOptions { field, reason });
        if self.segment_size_max < format::SEGMENT_SIZE_MIN {
            return fail("segment_size_max", "must be at least 4 KiB");
        }
        if self.segment_size_max > u64::from(u32::MAX) + 1 {
            return fail("segment_size_max", "must be at most 4 GiB");
        }
        if !self
            .segment_size_max
            .is_multiple_of(format::FRAME_ALIGN as u64)
        {
            return fail("segment_size_max", "must be a multiple of 8");
        }
        if self.record_size_max == 0 || self.record_size_max > format::RECORD_SIZE_LIMIT {
            return fail("record_size_max", "must be between 1 byte and 1 GiB");
        }
        if format::frame_size(u64::from(self.record_size_max)) > self.segment_capacity() {
            return fail(
                "record_size_max",
                "a record of this size does not fit in a segment; raise segment_size_max",
            );
        }
        if self.group_commit_max_records == 0 {
            return fail("group_commit_max_records", "must be at least 1");
        }
        if self.group_commit_max_bytes == 0 {
            return fail("group_commit_max_bytes", "must be at least 1");
        }
        if self.group_commit_max_delay > Duration::from_secs(10) {
            return fail("group_commit_max_delay", "must be at most 10 s");
        }
        if self.dedup_window > 16 << 20 {
            return fail("dedup_window", "must be at most 16 Mi entries");
        }
        Ok(())
    }
}
