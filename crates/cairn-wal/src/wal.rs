//! [`Wal`]: the public handle — open with recovery, append at a durability level, read,
//! truncate at either end, close.

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use cairn_crc::{Crc32Hasher, Digest};
use cairn_io::{DirLock, Vfs};

use crate::commit::{Core, Limits};
use crate::dedup::Dedup;
use crate::error::{CorruptKind, Error, Result};
use crate::format::{self, FrameKind};
use crate::options::{Durability, Lsn, WalOptions};
use crate::reader::{self, Reader, TailReader};
use crate::recovery::{self, RecoveryReport};
use crate::segment::{self, Cursor};
use crate::stats::{Counters, WalStats};
use crate::sync::{AtomicU64, Mutex, Ordering, RwLock, lock};
use crate::writer::{Ctx, SegmentWriter};

/// State shared by the handle and its readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) core: Core<SegmentWriter>,
    front_lsn: AtomicU64,
    dedup: Option<Mutex<Dedup>>,
    /// Serializes truncations with each other.
    admin: Mutex<()>,
    _lock: DirLock,
}

impl Shared {
    pub(crate) fn first_lsn(&self) -> u64 {
        self.front_lsn.load(Ordering::Acquire)
    }

    pub(crate) fn visible_lsn(&self) -> u64 {
        self.core.visible_lsn()
    }

    fn purge_one(&self) -> Result<bool> {
        self.ctx.purge_one()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Records appended with Durability::None reach the OS, as a process exit would not
        // lose them either way once written; nothing is synced, nothing after a poisoning.
        self.core.with_writer(|writer, poisoned| {
            if !poisoned {
                let _ = crate::commit::LogWriter::flush(writer);
            }
        });
    }
}

/// Whether records appended at `durability` may stay in the in-process buffer when the call
/// writes them. `Buffered` must reach the OS before it returns. `None` stays buffered until the
/// buffer fills or someone flushes or syncs. `Fsync` stays buffered too: the group's leader
/// writes every buffered record in one `pwrite` right before its fsync, instead of one
/// `pwrite` per appender under the append mutex.
fn buffer_only(durability: Durability) -> bool {
    durability != Durability::Buffered
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
    assert_send_sync::<Reader>();
};

/// What [`Wal::verify`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: u64,
    /// Records whose frames were read and verified (in sealed segments, including any below
    /// the front watermark that are still on disk).
    pub records: u64,
    /// Payload bytes of those records.
    pub payload_bytes: u64,
}

/// A segmented write-ahead log.
///
/// Records are byte strings numbered by [`Lsn`] from 1, with no gaps. Appends name a
/// [`Durability`] level and return once it is reached; many threads may append at once and
/// share one fsync per group. `Wal` is `Send + Sync`: share it with an `Arc`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use cairn_io::StdVfs;
/// use cairn_wal::{Durability, Lsn, Wal, WalOptions};
///
/// # fn main() -> Result<(), cairn_wal::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let (wal, report) = Wal::open(dir.path(), WalOptions::default(), Arc::new(StdVfs::new()))?;
/// assert_eq!(report.records, 0);
///
/// let lsn = wal.append(b"hello", Durability::Fsync)?;
/// assert_eq!(lsn, Lsn::FIRST);
/// let batch = wal.append_batch(&[&b"a"[..], &b"b"[..]], Durability::Fsync)?;
/// assert_eq!(batch, Lsn::new(2)..=Lsn::new(3));
///
/// assert_eq!(wal.read(lsn)?.as_deref(), Some(&b"hello"[..]));
/// let all: Vec<_> = wal.reader(Lsn::FIRST)?.collect::<Result<_, _>>()?;
/// assert_eq!(all.len(), 3);
/// wal.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Wal {
    shared: Arc<Shared>,
}

impl Wal {
    /// Opens (or creates) the log in `dir`, taking the directory lock and running recovery.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cairn_io::StdVfs;
    /// use cairn_wal::{RecoveryMode, Wal, WalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = WalOptions { recovery_mode: RecoveryMode::TolerateTornTail, ..WalOptions::default() };
    /// let (wal, report) = Wal::open(dir.path(), options, Arc::new(StdVfs::new())).unwrap();
    /// assert!(!report.torn_tail);
    /// assert_eq!(report.last_lsn, None); // a new, empty log
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`]; [`Error::Io`] (including [`cairn_io::Error::Locked`] if
    /// another handle holds the directory); [`Error::Corrupt`] for damage the recovery mode
    /// does not repair; [`Error::UnsupportedVersion`].
    pub fn open(
        dir: impl AsRef<Path>,
        options: WalOptions,
        vfs: Arc<dyn Vfs>,
    ) -> Result<(Wal, RecoveryReport)> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        // The directory itself may be new: its entry is durable only once its parent is synced.
        if crate::ablate::skip("open_parent_dir_fsync") {
            vfs.create_dir_all(&dir)?;
        } else {
            cairn_io::create_dir_durable(&*vfs, &dir)?;
        }
        let dir_lock = vfs.lock_dir(&dir)?;
        let recovered = recovery::recover(&*vfs, &dir, &options)?;
        let counters = Arc::new(Counters::new());
        let active = recovered
            .segments
            .last()
            .expect("recovery leaves a segment")
            .clone();
        let next_lsn = active.last_lsn() + 1;
        let limits = Limits {
            max_records: u64::from(options.group_commit_max_records),
            max_bytes: options.group_commit_max_bytes,
            max_delay: options.group_commit_max_delay,
        };
        let dedup =
            (options.dedup_window > 0).then(|| Mutex::new(Dedup::new(options.dedup_window)));
        let ctx = Arc::new(Ctx {
            dir,
            vfs,
            options,
            segments: RwLock::new(recovered.segments),
            spare: Mutex::new(None),
            purge: Mutex::new(std::collections::VecDeque::new()),
            counters: counters.clone(),
        });
        let writer = SegmentWriter::new(
            ctx.clone(),
            active,
            recovered.offset,
            recovered.hasher,
            recovered.record_count,
            recovered.index,
            recovered.sealed,
        );
        let core = Core::new(writer, next_lsn, limits, counters);
        let shared = Arc::new(Shared {
            ctx,
            core,
            front_lsn: AtomicU64::new(recovered.front_lsn),
            dedup,
            admin: Mutex::new(()),
            _lock: dir_lock,
        });
        let wal = Wal { shared };
        wal.rebuild_dedup()?;
        Ok((wal, recovered.report))
    }

    /// Refills the de-duplication window from the last records of the log, so that a
    /// payload re-sent after a crash still finds its original LSN.
    fn rebuild_dedup(&self) -> Result<()> {
        let Some(dedup) = &self.shared.dedup else {
            return Ok(());
        };
        let window = u64::from(self.shared.ctx.options.dedup_window);
        let next = self.shared.core.positions().0;
        let from = next.saturating_sub(window).max(self.shared.first_lsn());
        let mut dedup = lock(dedup);
        // Bounded by the window: the reader stops at the end of the log.
        for item in Reader::new(self.shared.clone(), from) {
            let (lsn, payload) = item?;
            dedup.insert(Digest::of(&payload), lsn.get());
        }
        Ok(())
    }

    fn check_records(&self, records: &[&[u8]]) -> Result<()> {
        let options = &self.shared.ctx.options;
        if records.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let mut total = 0u64;
        for record in records {
            let size = record.len() as u64;
            if size > u64::from(options.record_size_max) {
                return Err(Error::RecordTooLarge {
                    size,
                    max: u64::from(options.record_size_max),
                });
            }
            total += format::frame_size(size);
        }
        let capacity = options.segment_capacity();
        if total > capacity || records.len() > u32::MAX as usize {
            return Err(Error::BatchTooLarge {
                size: total,
                max: capacity,
            });
        }
        Ok(())
    }

    fn append_records(&self, records: &[&[u8]], durability: Durability) -> Result<u64> {
        if durability == Durability::Remote {
            return Err(Error::Unsupported {
                feature: "Durability::Remote",
            });
        }
        self.check_records(records)?;
        let (first, overdue) = if let (Some(dedup), [payload]) = (&self.shared.dedup, records) {
            let digest = Digest::of(payload);
            let mut dedup = lock(dedup);
            match dedup.get(&digest) {
                Some(lsn) if lsn >= self.shared.first_lsn() => (lsn, false),
                _ => {
                    let written = self.shared.core.write(
                        records,
                        buffer_only(durability),
                        durability == Durability::Fsync,
                    )?;
                    dedup.insert(digest, written.first);
                    (written.first, written.overdue)
                }
            }
        } else if durability == Durability::Fsync {
            return self.shared.core.write_durable(records);
        } else {
            let written = self
                .shared
                .core
                .write(records, buffer_only(durability), false)?;
            (written.first, written.overdue)
        };
        let last = first + records.len() as u64 - 1;
        match durability {
            Durability::Fsync => self.shared.core.wait_durable(last)?,
            // A de-duplicated record may still sit in the buffer of an earlier `None` append.
            Durability::Buffered if last > self.shared.core.visible_lsn() => {
                self.shared.core.flush()?
            }
            _ if overdue => self.shared.core.sync_if_overdue()?,
            _ => {}
        }
        Ok(first)
    }

    /// Appends one record and returns its LSN once `durability` is reached.
    ///
    /// With [`WalOptions::dedup_window`] set, a payload identical to one appended within the
    /// window is not appended again: its original LSN is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// let lsn = wal.append(b"event", Durability::Buffered).unwrap();
    /// wal.wait_durable(lsn).unwrap(); // now it survives a power loss too
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::RecordTooLarge`] (nothing written); [`Error::Unsupported`] for
    /// [`Durability::Remote`]; [`Error::Closed`]; [`Error::Poisoned`] if an fsync failed,
    /// now or earlier; [`Error::Io`] for a failed write (which poisons the log).
    pub fn append(&self, payload: impl AsRef<[u8]>, durability: Durability) -> Result<Lsn> {
        self.append_records(&[payload.as_ref()], durability)
            .map(Lsn::new)
    }

    /// Appends records atomically: after a crash, recovery finds all of them or none.
    /// Returns their LSNs, which are consecutive.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// let lsns = wal.append_batch(&[&b"debit"[..], &b"credit"[..]], Durability::Fsync).unwrap();
    /// assert_eq!(lsns, Lsn::new(1)..=Lsn::new(2));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Wal::append`], plus [`Error::EmptyBatch`] and [`Error::BatchTooLarge`] (a batch
    /// must fit in one segment).
    pub fn append_batch<R: AsRef<[u8]>>(
        &self,
        records: &[R],
        durability: Durability,
    ) -> Result<RangeInclusive<Lsn>> {
        let slices: Vec<&[u8]> = records.iter().map(AsRef::as_ref).collect();
        let first = self.append_records(&slices, durability)?;
        Ok(Lsn::new(first)..=Lsn::new(first + slices.len() as u64 - 1))
    }

    /// Returns once `lsn` (and everything before it) is durable, fsyncing if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`]; [`Error::LsnOutOfRange`] if `lsn` was never appended.
    pub fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        self.shared.core.wait_durable(lsn.get())
    }

    /// Makes every record appended so far durable.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// wal.append(b"a", Durability::None).unwrap();
    /// wal.append(b"b", Durability::Buffered).unwrap();
    /// wal.sync().unwrap();
    /// assert_eq!(wal.durable_lsn(), Lsn::new(2));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if the fsync fails (now or earlier).
    pub fn sync(&self) -> Result<()> {
        let (next, _, _) = self.shared.core.positions();
        if next == 1 {
            return Ok(());
        }
        self.shared.core.wait_durable(next - 1)
    }

    /// Reads one record; `None` if the log does not hold `lsn` (truncated, or never appended).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// let lsn = wal.append(b"hello", Durability::Buffered).unwrap();
    /// assert_eq!(wal.read(lsn).unwrap().as_deref(), Some(&b"hello"[..]));
    /// assert_eq!(wal.read(lsn.next()).unwrap(), None);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ChecksumMismatch`] / [`Error::Corrupt`] if its frame is damaged;
    /// [`Error::Closed`]; [`Error::Io`].
    pub fn read(&self, lsn: Lsn) -> Result<Option<Bytes>> {
        let lsn = lsn.get();
        if self.shared.core.is_closed() {
            return Err(Error::Closed);
        }
        if lsn < self.shared.first_lsn() || lsn == 0 {
            return Ok(None);
        }
        if lsn > self.shared.visible_lsn() {
            let (next, _, _) = self.shared.core.positions();
            if lsn >= next {
                return Ok(None);
            }
            self.shared.core.flush()?;
        }
        let segment = self.shared.ctx.with_segments(|segments| {
            let at = segments.partition_point(|s| s.header.first_lsn <= lsn);
            at.checked_sub(1).and_then(|i| segments.get(i)).cloned()
        });
        let Some(segment) = segment else {
            return Ok(None);
        };
        if lsn > segment.last_lsn() {
            return Ok(None);
        }
        reader::read_in_segment(&segment, lsn, self.shared.ctx.options.record_size_max)
    }

    /// An iterator over the records from `from` on (from the first record held, if `from` is
    /// below it), verifying every checksum.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// for i in 0..5u8 {
    ///     wal.append([i], Durability::Buffered).unwrap();
    /// }
    /// let tail: Vec<u8> = wal.reader(Lsn::new(3)).unwrap().map(|r| r.unwrap().1[0]).collect();
    /// assert_eq!(tail, [2, 3, 4]);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; errors writing buffered records to the OS first.
    pub fn reader(&self, from: Lsn) -> Result<Reader> {
        if self.shared.core.is_closed() {
            return Err(Error::Closed);
        }
        self.shared.core.flush()?;
        Ok(Reader::new(
            self.shared.clone(),
            from.get().max(self.shared.first_lsn()),
        ))
    }

    /// A reader that follows new appends, from `from` on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// use std::time::Duration;
    ///
    /// let mut tail = wal.tail(Lsn::FIRST).unwrap();
    /// assert_eq!(tail.next_timeout(Duration::from_millis(1)).unwrap(), None); // nothing yet
    /// wal.append(b"event", Durability::Buffered).unwrap();
    /// let (lsn, payload) = tail.next_timeout(Duration::from_secs(1)).unwrap().unwrap();
    /// assert_eq!((lsn, &payload[..]), (Lsn::FIRST, &b"event"[..]));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Wal::reader`].
    pub fn tail(&self, from: Lsn) -> Result<TailReader> {
        Ok(TailReader::new(self.reader(from)?))
    }

    /// The first LSN the log holds.
    #[must_use]
    pub fn first_lsn(&self) -> Lsn {
        Lsn::new(self.shared.first_lsn())
    }

    /// The LSN the next appended record will get.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        Lsn::new(self.shared.core.positions().0)
    }

    /// The highest LSN known to be durable (0 if none).
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        Lsn::new(self.shared.core.positions().2)
    }

    /// The group-commit counters.
    #[must_use]
    pub fn stats(&self) -> WalStats {
        self.shared.ctx.counters.snapshot()
    }

    /// The log's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.ctx.dir
    }

    /// Drops every record below `lsn` (after a checkpoint covers them). Durable on return:
    /// the new first LSN is written to the `FRONT` file (temp + fsync + rename + directory
    /// fsync) before any segment file is removed; whole segments below it are then removed
    /// oldest first, one file per call here and one per group fsync, so a crash at any point
    /// leaves a log that starts at or before `lsn` and never has a hole.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// for i in 0..10u8 {
    ///     wal.append([i], Durability::Buffered).unwrap();
    /// }
    /// // A checkpoint now covers records 1..=6.
    /// wal.truncate_front(Lsn::new(7)).unwrap();
    /// assert_eq!(wal.first_lsn(), Lsn::new(7));
    /// assert_eq!(wal.read(Lsn::new(6)).unwrap(), None);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LsnOutOfRange`] if `lsn` is above the next LSN; [`Error::Closed`];
    /// [`Error::Io`].
    pub fn truncate_front(&self, lsn: Lsn) -> Result<()> {
        let lsn = lsn.get();
        let _admin = lock(&self.shared.admin);
        if self.shared.core.is_closed() {
            return Err(Error::Closed);
        }
        let (next, _, _) = self.shared.core.positions();
        let first = self.shared.first_lsn();
        if lsn > next {
            return Err(Error::LsnOutOfRange {
                lsn,
                first,
                next,
                reason: "truncate_front beyond the end of the log",
            });
        }
        if lsn <= first {
            return Ok(());
        }
        // Everything below the new front must be durable first: otherwise a power loss could
        // leave a log that ends below its own front.
        if !crate::ablate::skip("front_wait_durable") {
            self.shared.core.wait_durable(lsn - 1)?;
        }
        recovery::write_front(&*self.shared.ctx.vfs, &self.shared.ctx.dir, lsn)?;
        self.shared.front_lsn.store(lsn, Ordering::Release);
        {
            let mut segments = self.shared.ctx.segments_mut();
            let keep_from = segments[..segments.len() - 1]
                .iter()
                .take_while(|s| s.last_lsn() < lsn)
                .count();
            let mut purge = lock(&self.shared.ctx.purge);
            for s in segments.drain(..keep_from) {
                purge.push_back(s.path.clone());
            }
        }
        self.shared.purge_one()?;
        Ok(())
    }

    /// Drops every record at or above `lsn` (as Raft does on a log conflict); the next
    /// append gets `lsn`. Durable on return: later segments are removed newest first, the
    /// segment holding `lsn` is cut at its frame and fsynced, so after a crash the log never
    /// shows the dropped records again, alone or mixed with new ones.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// for i in 0..10u8 {
    ///     wal.append([i], Durability::Fsync).unwrap();
    /// }
    /// // A new leader's log conflicts from index 8 on.
    /// wal.truncate_back(Lsn::new(8)).unwrap();
    /// assert_eq!(wal.append(b"from the new leader", Durability::Fsync).unwrap(), Lsn::new(8));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LsnOutOfRange`] if `lsn` is below the first LSN held or inside a batch;
    /// [`Error::Closed`]; [`Error::Poisoned`]; [`Error::Io`] (which poisons the log).
    pub fn truncate_back(&self, lsn: Lsn) -> Result<()> {
        let lsn = lsn.get();
        let _admin = lock(&self.shared.admin);
        let first = self.shared.first_lsn();
        let (next, _, _) = self.shared.core.positions();
        if lsn >= next {
            return Ok(());
        }
        if lsn < first || lsn == 0 {
            return Err(Error::LsnOutOfRange {
                lsn,
                first,
                next,
                reason: "truncate_back below the first LSN held",
            });
        }
        let ctx = self.shared.ctx.clone();
        let refused = self.shared.core.exclusive(|writer, pos| {
            // Appends may have run since the check above; buffered records are in the OS now.
            if lsn >= pos.next_lsn {
                return Ok(None);
            }
            let segments = ctx.segments();
            let k = segments
                .partition_point(|s| s.header.first_lsn <= lsn)
                .saturating_sub(1);
            let segment = segments[k].clone();
            // The cut point: a frame boundary between batches.
            let Some((offset, hasher, count, index)) = find_cut(&segment, lsn, &ctx.options)?
            else {
                return Ok(Some(Error::LsnOutOfRange {
                    lsn,
                    first,
                    next: pos.next_lsn,
                    reason: "it is inside a batch; truncate at the batch's first LSN",
                }));
            };
            let later: Vec<_> = {
                let mut list = ctx.segments_mut();
                let at = list
                    .iter()
                    .position(|s| Arc::ptr_eq(s, &segment))
                    .expect("the segment is live");
                list.drain(at + 1..).collect()
            };
            drop(lock(&ctx.spare).take());
            // Newest first, each removal made durable before the next, so a crash midway
            // leaves a chain that is still a prefix: unsynced removals in one directory may
            // reach the disk in any order, and a kept newer segment after a removed older one
            // would read as a hole in the chain.
            for s in later.iter().rev() {
                ctx.vfs.remove_file(&s.path)?;
                ctx.vfs.sync_dir(&ctx.dir)?;
            }
            segment.file.set_len(offset)?;
            if ctx.options.preallocate {
                segment.file.allocate(0, ctx.options.segment_size_max)?;
            }
            if !crate::ablate::skip("truncate_back_fsync") {
                segment.file.sync_data()?;
                ctx.vfs.sync_dir(&ctx.dir)?;
            }
            segment.last_lsn.store(lsn - 1, Ordering::Release);
            segment.sealed.store(false, Ordering::Release);
            lock(&segment.index).retain(|&(l, _)| l < lsn);
            writer.reset_to(segment.clone(), offset, hasher, count, lsn - 1, index);
            pos.next_lsn = lsn;
            pos.written_lsn = lsn - 1;
            pos.durable_lsn = lsn - 1;
            Ok(None)
        })?;
        if let Some(error) = refused {
            return Err(error);
        }
        if let Some(dedup) = &self.shared.dedup {
            lock(dedup).forget_from(lsn);
        }
        Ok(())
    }

    /// Reads and checks the whole log: every sealed segment is scanned frame by frame against
    /// its footer (segment checksum, last LSN, seal), and the open segment is read through to
    /// the current end with every frame checksum verified. A clean [`Wal::open`] trusts the
    /// seals of older segments without reading them; this is the full check (for a `verify`
    /// command, or a periodic scrub). Appends may run meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// wal.append(b"x", Durability::Buffered).unwrap();
    /// let report = wal.verify().unwrap();
    /// assert_eq!(report.records, 1);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] or [`Error::ChecksumMismatch`] naming the first damaged segment and
    /// offset; [`Error::Closed`]; [`Error::Io`].
    pub fn verify(&self) -> Result<VerifyReport> {
        if self.shared.core.is_closed() {
            return Err(Error::Closed);
        }
        self.shared.core.flush()?;
        let options = &self.shared.ctx.options;
        let mut report = VerifyReport::default();
        let segments = self.shared.ctx.segments();
        for segment in &segments {
            report.segments += 1;
            if !segment.sealed.load(Ordering::Acquire) {
                continue;
            }
            let mut header_bytes = [0u8; format::SEGMENT_HEADER_SIZE];
            segment.file.read_exact_at(&mut header_bytes, 0)?;
            let scan = segment::scan(
                &segment.file,
                &segment.header,
                &header_bytes,
                options.record_size_max,
                options.segment_size_max,
                false,
            )?;
            let corrupt = |offset, kind| Error::Corrupt {
                segment: segment.path.clone(),
                offset,
                kind,
            };
            match scan.problem {
                Some(segment::ScanProblem::Corrupt { offset, kind }) => {
                    return Err(corrupt(offset, kind));
                }
                Some(segment::ScanProblem::Torn { offset, .. }) => {
                    return Err(corrupt(offset, CorruptKind::BadFrame));
                }
                None if !scan.sealed => return Err(corrupt(scan.end, CorruptKind::BadFooter)),
                None if scan.last_lsn != segment.last_lsn() => {
                    return Err(corrupt(scan.end, CorruptKind::BadFooter));
                }
                None => {}
            }
            report.records += scan.records;
            report.payload_bytes += scan.payload_bytes;
        }
        // The open segment (and anything sealed after the list was taken): read through.
        let from = segments
            .iter()
            .find(|s| !s.sealed.load(Ordering::Acquire))
            .map_or(u64::MAX, |s| {
                s.header.first_lsn.max(self.shared.first_lsn())
            });
        if from != u64::MAX {
            for item in Reader::new(self.shared.clone(), from) {
                let (_, payload) = item?;
                report.records += 1;
                report.payload_bytes += payload.len() as u64;
            }
        }
        Ok(report)
    }

    /// Makes everything appended durable, refuses further calls, and removes purged files.
    /// Closing twice is `Ok`. The directory lock is released when the last clone of the
    /// handle (and every reader) is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use cairn_wal::{Durability, Lsn, Wal, WalOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (wal, _) = Wal::open(dir.path(), WalOptions::default(), Arc::new(cairn_io::StdVfs::new())).unwrap();
    /// wal.append(b"last words", Durability::None).unwrap();
    /// wal.close().unwrap(); // durable now
    /// assert!(matches!(wal.append(b"too late", Durability::Fsync), Err(cairn_wal::Error::Closed)));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if the final fsync fails or an earlier one did.
    pub fn close(&self) -> Result<()> {
        self.shared.core.close()?;
        // Bounded by the queue length.
        while self.shared.purge_one()? {}
        Ok(())
    }
}

/// Scans `segment` up to the frame of `lsn`: its offset, the CRC state before it, the record
/// count before it and the index entries below it. `None` if `lsn` is inside a batch.
type Cut = Option<(u64, Crc32Hasher, u64, Vec<(u64, u64)>)>;

fn find_cut(segment: &segment::Segment, lsn: u64, options: &WalOptions) -> Result<Cut> {
    let mut header_bytes = [0u8; format::SEGMENT_HEADER_SIZE];
    segment.file.read_exact_at(&mut header_bytes, 0)?;
    let mut hasher = Crc32Hasher::new();
    hasher.update(&header_bytes);
    let mut cursor = Cursor::new(
        segment.file.clone(),
        segment.file.len()?,
        options.record_size_max,
    );
    let mut offset = format::SEGMENT_HEADER_SIZE as u64;
    let mut count = 0;
    let mut in_batch = false;
    let mut index = Vec::new();
    let stride = segment::index_stride(options.segment_size_max);
    let mut next_index_at = offset;
    // Bounded: every round moves past one frame.
    loop {
        let corrupt = |kind| Error::Corrupt {
            segment: segment.path.clone(),
            offset,
            kind,
        };
        let (frame_lsn, size, remaining) = match cursor.frame(offset, segment.header.salt)? {
            Ok(f) if f.kind == FrameKind::Record => (f.lsn, f.size, f.batch_remaining),
            Ok(_) => return Err(corrupt(CorruptKind::BadFrame)),
            Err(_) => return Err(corrupt(CorruptKind::BadFrame)),
        };
        if frame_lsn == lsn {
            return Ok((!in_batch).then_some((offset, hasher, count, index)));
        }
        if frame_lsn > lsn {
            return Err(corrupt(CorruptKind::LsnMismatch {
                expected: lsn,
                found: frame_lsn,
            }));
        }
        let bytes = cursor.bytes(offset, usize::try_from(size).unwrap_or(usize::MAX))?;
        hasher.update(bytes);
        if offset >= next_index_at && index.len() < format::INDEX_ENTRIES_MAX {
            index.push((frame_lsn, offset));
            next_index_at = offset + stride;
        }
        in_batch = remaining > 0;
        count += 1;
        offset += size;
    }
}
