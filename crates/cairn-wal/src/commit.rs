//! The group-commit core: LSN assignment, the leader/follower fsync protocol, poisoning and
//! close, generic over a small [`LogWriter`]/[`Syncer`] pair so that loom can check it against
//! a mock disk.
//!
//! # Protocol
//!
//! One mutex guards the writer and the LSN counters. An appender takes it, gets the next LSNs,
//! and encodes its frames: into the in-process buffer for [`crate::Durability::None`] and
//! [`crate::Durability::Fsync`], straight to the OS for [`crate::Durability::Buffered`].
//! An appender that needs durability then loops: if the durable LSN has passed its LSN it
//! returns; if the log is poisoned it fails; if no fsync is running it becomes the *leader*:
//! it marks "syncing", lets ready appenders join the group (it releases the mutex and yields
//! while the group keeps growing, see [`Core::gather`]), writes the buffer to the OS in one
//! call, notes the highest written LSN, takes a [`Syncer`] handle, releases the mutex, and
//! calls `sync` outside it, so later appenders keep encoding the next group meanwhile.
//! Otherwise it waits on a condition variable that the leader notifies when its fsync
//! returns. No timer is involved: when the disk is idle the first durable appender syncs
//! after one yield.
//!
//! A failed sync sets `poisoned`: every waiter and every later call gets
//! [`Error::Poisoned`], and nobody calls `sync` again.
//!
//! The mutex is also where a group is closed: when the records written since the running
//! fsync started reach `group_commit_max_records` or `group_commit_max_bytes`, new appenders
//! wait for that fsync before writing (back-pressure), which bounds the next group.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::stats::Counters;
use crate::sync::{AtomicU64, Condvar, Mutex, MutexGuard, Ordering, lock};

/// How many times a leader yields while that lets appenders join its group (see
/// [`Core::gather`]); one under loom, to keep the model small while still covering the
/// released-mutex window.
#[cfg(not(cairn_loom))]
const GATHER_YIELDS: usize = 8;
#[cfg(cairn_loom)]
const GATHER_YIELDS: usize = 1;

/// The part of the log that lives under the append mutex.
pub(crate) trait LogWriter: Send {
    /// The handle that makes written bytes durable, used outside the mutex.
    type Syncer: Syncer;

    /// Encodes `records` with LSNs `first_lsn..`, as one batch if there are several, and
    /// writes them to the OS unless `buffer_only` (then they may stay in memory).
    /// `durable_lsn` is the highest LSN known durable now (recorded in the frames). Returns
    /// whether everything encoded so far is now in the OS.
    ///
    /// # Errors
    ///
    /// I/O errors; the core poisons the log on any.
    fn write(
        &mut self,
        first_lsn: u64,
        records: &[&[u8]],
        buffer_only: bool,
        durable_lsn: u64,
    ) -> Result<bool>;

    /// Writes any buffered bytes to the OS.
    ///
    /// # Errors
    ///
    /// I/O errors; the core poisons the log on any.
    fn flush(&mut self) -> Result<()>;

    /// Work the leader does under the mutex right before it takes the [`Syncer`], after
    /// writing the buffer (preparing the file ahead of the next groups).
    ///
    /// # Errors
    ///
    /// I/O errors; the core poisons the log on any.
    fn before_sync(&mut self) -> Result<()> {
        Ok(())
    }

    /// A handle whose `sync` makes everything written so far durable.
    fn syncer(&mut self) -> Self::Syncer;
}

/// Makes the bytes written before it was taken durable.
pub(crate) trait Syncer: Send {
    /// `fdatasync` (or the mock's equivalent).
    ///
    /// # Errors
    ///
    /// The sync failed; the core poisons the log.
    fn sync(&self) -> Result<()>;

    /// Work done by the leader after its group is acknowledged, outside the mutex
    /// (preparing the next segment).
    fn maintain(&self) {}
}

/// Group limits, from [`crate::WalOptions`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_records: u64,
    pub(crate) max_bytes: u64,
    pub(crate) max_delay: Duration,
}

/// The LSN counters, exposed to [`Core::exclusive`].
#[derive(Debug)]
pub(crate) struct Positions {
    /// The LSN the next record gets.
    pub(crate) next_lsn: u64,
    /// The highest LSN handed to the OS.
    pub(crate) written_lsn: u64,
    /// The highest LSN known durable.
    pub(crate) durable_lsn: u64,
}

/// What [`Core::write`] did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Written {
    /// The LSN of the first record written.
    pub(crate) first: u64,
    /// Records older than `group_commit_max_delay` are unsynced and no fsync is running.
    pub(crate) overdue: bool,
}

struct Inner<W> {
    writer: W,
    pos: Positions,
    syncing: bool,
    /// The leader is in [`Core::gather`], waiting on `gather_cv`.
    gathering: bool,
    poisoned: bool,
    closed: bool,
    pending_records: u64,
    pending_bytes: u64,
    /// Threads waiting on `durable_cv`.
    waiting: u32,
    /// Of those, how many the last notification woke and have not yet re-taken the mutex.
    woken: u32,
    /// When the oldest unsynced record was written, on [`cairn_io::clock::coarse_now`].
    oldest_unsynced: Option<Duration>,
}

/// The group-commit core.
pub(crate) struct Core<W: LogWriter> {
    inner: Mutex<Inner<W>>,
    durable_cv: Condvar,
    written_cv: Condvar,
    /// Notified, while a leader gathers, when the last thread it waits for takes the mutex.
    gather_cv: Condvar,
    visible_lsn: AtomicU64,
    /// Durable appenders that have called [`Core::write`] and not yet taken the mutex.
    arriving: AtomicU64,
    limits: Limits,
    counters: std::sync::Arc<Counters>,
}

impl<W: LogWriter> std::fmt::Debug for Core<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("visible_lsn", &self.visible_lsn.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<W: LogWriter> Core<W> {
    /// A core whose next LSN is `next_lsn`, with everything below it durable.
    pub(crate) fn new(
        writer: W,
        next_lsn: u64,
        limits: Limits,
        counters: std::sync::Arc<Counters>,
    ) -> Self {
        assert!(next_lsn >= 1, "LSNs start at 1");
        Self {
            inner: Mutex::new(Inner {
                writer,
                pos: Positions {
                    next_lsn,
                    written_lsn: next_lsn - 1,
                    durable_lsn: next_lsn - 1,
                },
                syncing: false,
                gathering: false,
                poisoned: false,
                closed: false,
                pending_records: 0,
                pending_bytes: 0,
                waiting: 0,
                woken: 0,
                oldest_unsynced: None,
            }),
            durable_cv: Condvar::new(),
            written_cv: Condvar::new(),
            gather_cv: Condvar::new(),
            visible_lsn: AtomicU64::new(next_lsn - 1),
            arriving: AtomicU64::new(0),
            limits,
            counters,
        }
    }

    /// The highest LSN in the OS (readable through the file system).
    pub(crate) fn visible_lsn(&self) -> u64 {
        self.visible_lsn.load(Ordering::Acquire)
    }

    /// The LSN the next record gets, the highest written and the highest durable.
    pub(crate) fn positions(&self) -> (u64, u64, u64) {
        let g = lock(&self.inner);
        (g.pos.next_lsn, g.pos.written_lsn, g.pos.durable_lsn)
    }

    fn check_open(g: &Inner<W>) -> Result<()> {
        if g.poisoned {
            return Err(Error::Poisoned);
        }
        if g.closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn poison(&self, g: &mut Inner<W>) {
        g.poisoned = true;
        self.notify_durable(g);
        self.written_cv.notify_all();
    }

    /// Wakes every thread waiting on `durable_cv`, and counts them as woken.
    fn notify_durable(&self, g: &mut Inner<W>) {
        g.woken = g.waiting;
        self.durable_cv.notify_all();
    }

    /// Waits on `durable_cv`, keeping the counts [`Core::gather`] reads.
    fn wait_durable_cv<'a>(&'a self, mut g: MutexGuard<'a, Inner<W>>) -> MutexGuard<'a, Inner<W>> {
        g.waiting += 1;
        let mut g = self
            .durable_cv
            .wait(g)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.waiting -= 1;
        g.woken = g.woken.saturating_sub(1);
        self.wake_gatherer(&g);
        g
    }

    /// Wakes a gathering leader once nobody it waits for is left ([`Core::gather`]). Called
    /// by every thread that stops counting as woken or arriving, under the mutex: the last one
    /// wakes the leader, the others do not disturb it. The leader gets the mutex back only
    /// after the caller has written its records.
    fn wake_gatherer(&self, g: &Inner<W>) {
        if g.gathering && g.woken == 0 && self.arriving.load(Ordering::Acquire) == 0 {
            self.gather_cv.notify_one();
        }
    }

    fn mark_written(&self, g: &mut Inner<W>) {
        let written = g.pos.next_lsn - 1;
        if written != g.pos.written_lsn {
            g.pos.written_lsn = written;
            self.visible_lsn.store(written, Ordering::Release);
            self.written_cv.notify_all();
        }
    }

    /// Assigns LSNs to `records` and writes them. Returns the first LSN, and whether records
    /// older than `group_commit_max_delay` are unsynced with no fsync running (the caller
    /// then calls [`Core::sync_if_overdue`] once it holds no other lock). `durable_next`: the
    /// caller waits for durability next, so a gathering leader counts it as arriving.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::Poisoned`], or the writer's I/O error (which poisons).
    pub(crate) fn write(
        &self,
        records: &[&[u8]],
        buffer_only: bool,
        durable_next: bool,
    ) -> Result<Written> {
        let g = if durable_next {
            self.lock_arriving()
        } else {
            lock(&self.inner)
        };
        self.write_locked(g, records, buffer_only).1
    }

    /// Takes the mutex as a durable appender: a gathering leader waits for appenders on their
    /// way to the mutex.
    fn lock_arriving(&self) -> MutexGuard<'_, Inner<W>> {
        self.arriving.fetch_add(1, Ordering::AcqRel);
        let g = lock(&self.inner);
        self.arriving.fetch_sub(1, Ordering::AcqRel);
        self.wake_gatherer(&g);
        g
    }

    /// Writes `records` and returns once they are durable: [`Core::write`] and
    /// [`Core::wait_durable`] under one acquisition of the mutex, which matters when many
    /// writers hand it to each other after every fsync.
    ///
    /// # Errors
    ///
    /// As [`Core::write`] and [`Core::wait_durable`].
    pub(crate) fn write_durable(&self, records: &[&[u8]]) -> Result<u64> {
        let g = self.lock_arriving();
        let (g, written) = self.write_locked(g, records, true);
        let first = written?.first;
        let last = first + records.len() as u64 - 1;
        self.wait_durable_locked(g, last).1?;
        Ok(first)
    }

    fn write_locked<'a>(
        &'a self,
        mut g: MutexGuard<'a, Inner<W>>,
        records: &[&[u8]],
        buffer_only: bool,
    ) -> (MutexGuard<'a, Inner<W>>, Result<Written>) {
        assert!(!records.is_empty(), "the caller refuses empty batches");
        let bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
        loop {
            if let Err(e) = Self::check_open(&g) {
                return (g, Err(e));
            }
            if g.syncing && self.group_full(&g) {
                g = self.wait_durable_cv(g);
                continue;
            }
            break;
        }
        let first = g.pos.next_lsn;
        let n = records.len() as u64;
        let durable = g.pos.durable_lsn;
        match g.writer.write(first, records, buffer_only, durable) {
            Ok(in_os) => {
                g.pos.next_lsn = first + n;
                g.pending_records += n;
                g.pending_bytes += bytes;
                // One read of the coarse clock per append: a few nanoseconds, where
                // `Instant::now()` cost a tenth of a small buffered append here.
                let now = cairn_io::clock::coarse_now();
                let oldest = *g.oldest_unsynced.get_or_insert(now);
                let overdue = !g.syncing && now.saturating_sub(oldest) >= self.limits.max_delay;
                if in_os {
                    self.mark_written(&mut g);
                }
                (g, Ok(Written { first, overdue }))
            }
            Err(e) => {
                self.poison(&mut g);
                (g, Err(e))
            }
        }
    }

    /// Writes buffered records to the OS.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`], or the I/O error (which poisons).
    pub(crate) fn flush(&self) -> Result<()> {
        let mut g = lock(&self.inner);
        if g.poisoned {
            return Err(Error::Poisoned);
        }
        if g.pos.written_lsn + 1 == g.pos.next_lsn {
            return Ok(());
        }
        if let Err(e) = g.writer.flush() {
            self.poison(&mut g);
            return Err(e);
        }
        self.mark_written(&mut g);
        Ok(())
    }

    /// Starts an fsync if records older than `group_commit_max_delay` are unsynced and none
    /// is running; returns at once otherwise.
    ///
    /// # Errors
    ///
    /// As [`Core::wait_durable`].
    pub(crate) fn sync_if_overdue(&self) -> Result<()> {
        let g = lock(&self.inner);
        let now = cairn_io::clock::coarse_now();
        let overdue = g
            .oldest_unsynced
            .is_some_and(|t| now.saturating_sub(t) >= self.limits.max_delay);
        if !overdue || g.syncing || g.poisoned {
            return Ok(());
        }
        let (g, result) = self.lead(g);
        drop(g);
        result
    }

    /// Whether the group being gathered has reached its record or byte limit.
    fn group_full(&self, g: &Inner<W>) -> bool {
        g.pending_records >= self.limits.max_records || g.pending_bytes >= self.limits.max_bytes
    }

    /// Runs one fsync as the leader. Takes the guard with `syncing == false`; returns it.
    fn lead<'a>(
        &'a self,
        mut g: MutexGuard<'a, Inner<W>>,
    ) -> (MutexGuard<'a, Inner<W>>, Result<()>) {
        assert!(!g.syncing, "one leader at a time");
        assert!(!g.poisoned, "a poisoned log never syncs again");
        // From here on this thread is the leader: others wait for its fsync.
        g.syncing = true;
        let gather_started = Instant::now();
        g = self.gather(g);
        let gathered = gather_started.elapsed();
        if let Err(e) = self.prepare_sync(&mut g) {
            g.syncing = false;
            self.poison(&mut g);
            return (g, Err(e));
        }
        let target = g.pos.written_lsn;
        let (records, bytes) = (g.pending_records, g.pending_bytes);
        g.pending_records = 0;
        g.pending_bytes = 0;
        g.oldest_unsynced = None;
        let syncer = g.writer.syncer();
        drop(g);

        let started = Instant::now();
        let result = syncer.sync();
        let took = started.elapsed();

        let mut g = lock(&self.inner);
        assert!(g.syncing, "only the leader clears the syncing flag");
        g.syncing = false;
        let result = match result {
            Ok(()) => {
                assert!(target <= g.pos.written_lsn, "durable never passes written");
                g.pos.durable_lsn = g.pos.durable_lsn.max(target);
                self.counters.record_fsync(records, bytes, gathered, took);
                Ok(())
            }
            Err(_) => {
                self.poison(&mut g);
                Err(Error::Poisoned)
            }
        };
        self.notify_durable(&mut g);
        if result.is_ok() {
            drop(g);
            syncer.maintain();
            g = lock(&self.inner);
        }
        (g, result)
    }

    /// The leader's steps between gathering and taking the syncer: write the buffer to the
    /// OS and let the writer prepare. Fails if the log was poisoned meanwhile.
    fn prepare_sync(&self, g: &mut Inner<W>) -> Result<()> {
        if g.poisoned {
            return Err(Error::Poisoned);
        }
        if g.pos.written_lsn + 1 != g.pos.next_lsn {
            g.writer.flush()?;
            self.mark_written(g);
        }
        g.writer.before_sync()
    }

    /// Lets appenders that are about to join the group do so before the leader syncs it.
    ///
    /// When an fsync returns, it wakes every appender it covered; each of them typically
    /// appends again at once, but needs the CPU and the mutex to do it. Without this step the
    /// first appender to take the mutex afterwards leads at once, with only the records
    /// written while the previous fsync ran, and the writers settle into two cohorts that
    /// alternate, each fsync carrying about half of them. So the leader, already marked as
    /// syncing:
    ///
    /// 1. sleeps on `gather_cv` while a thread woken by the last fsync has not yet taken the
    ///    mutex, or a durable appender is on its way to it (the last of them to get there
    ///    wakes the leader, so this ends without a timer once they all have);
    /// 2. then yields the CPU while that adds records (a writer that just returned from its
    ///    last append may be about to start the next), at most [`GATHER_YIELDS`] times.
    ///
    /// Both stop when the group reaches its limits. A lone writer yields once and syncs.
    fn gather<'a>(&'a self, mut g: MutexGuard<'a, Inner<W>>) -> MutexGuard<'a, Inner<W>> {
        g.gathering = true;
        while !g.poisoned
            && !self.group_full(&g)
            && (g.woken > 0 || self.arriving.load(Ordering::Acquire) > 0)
        {
            g = self
                .gather_cv
                .wait(g)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        g.gathering = false;
        for _ in 0..GATHER_YIELDS {
            if g.poisoned || self.group_full(&g) {
                break;
            }
            let seen = g.pos.next_lsn;
            drop(g);
            crate::sync::yield_now();
            g = lock(&self.inner);
            if g.pos.next_lsn == seen {
                break;
            }
        }
        g
    }

    /// Returns once `lsn` is durable, leading an fsync if none is running.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if an fsync failed (now or earlier); [`Error::LsnOutOfRange`] if
    /// `lsn` was never assigned.
    pub(crate) fn wait_durable(&self, lsn: u64) -> Result<()> {
        self.wait_durable_locked(lock(&self.inner), lsn).1
    }

    fn wait_durable_locked<'a>(
        &'a self,
        mut g: MutexGuard<'a, Inner<W>>,
        lsn: u64,
    ) -> (MutexGuard<'a, Inner<W>>, Result<()>) {
        // Each iteration either returns, waits for a running fsync to finish, or runs one; the
        // durable LSN only grows, so the loop ends after at most two fsyncs of our own.
        loop {
            if g.pos.durable_lsn >= lsn {
                return (g, Ok(()));
            }
            if g.poisoned {
                return (g, Err(Error::Poisoned));
            }
            if lsn >= g.pos.next_lsn {
                let next = g.pos.next_lsn;
                return (
                    g,
                    Err(Error::LsnOutOfRange {
                        lsn,
                        first: 1,
                        next,
                        reason: "it has not been appended yet",
                    }),
                );
            }
            if g.syncing {
                g = self.wait_durable_cv(g);
            } else {
                let (guard, result) = self.lead(g);
                g = guard;
                if let Err(e) = result {
                    return (g, Err(e));
                }
            }
        }
    }

    /// Waits until `lsn` is visible in the OS, or `timeout` passes. Returns whether it is.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`], [`Error::Closed`].
    pub(crate) fn wait_visible(&self, lsn: u64, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.inner);
        loop {
            if g.pos.written_lsn >= lsn {
                return Ok(true);
            }
            Self::check_open(&g)?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            g = match self.written_cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Refuses new appends, makes everything appended durable, and marks the core closed.
    /// Closing twice is `Ok`.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if the final fsync failed or the log was already poisoned.
    pub(crate) fn close(&self) -> Result<()> {
        let last = {
            let mut g = lock(&self.inner);
            if g.poisoned {
                g.closed = true;
                self.written_cv.notify_all();
                return Err(Error::Poisoned);
            }
            if g.closed {
                return Ok(());
            }
            g.closed = true;
            self.written_cv.notify_all();
            g.pos.next_lsn - 1
        };
        self.wait_durable(last)
    }

    /// Whether [`Core::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.inner).closed
    }

    /// Runs `f` with the writer and the counters once no fsync is running, with appends held
    /// off. Any error poisons the log (the state on disk is then unknown).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::Poisoned`], or `f`'s error.
    pub(crate) fn exclusive<R>(
        &self,
        f: impl FnOnce(&mut W, &mut Positions) -> Result<R>,
    ) -> Result<R> {
        let mut g = lock(&self.inner);
        loop {
            Self::check_open(&g)?;
            if !g.syncing {
                break;
            }
            g = self.wait_durable_cv(g);
        }
        if let Err(e) = g.writer.flush() {
            self.poison(&mut g);
            return Err(e);
        }
        self.mark_written(&mut g);
        let inner = &mut *g;
        let result = f(&mut inner.writer, &mut inner.pos);
        match result {
            Ok(r) => {
                assert!(
                    g.pos.durable_lsn <= g.pos.written_lsn,
                    "durable never passes written"
                );
                assert!(
                    g.pos.written_lsn < g.pos.next_lsn,
                    "written never passes assigned"
                );
                g.pending_records = 0;
                g.pending_bytes = 0;
                g.oldest_unsynced = None;
                let written = g.pos.written_lsn;
                self.visible_lsn.store(written, Ordering::Release);
                self.written_cv.notify_all();
                Ok(r)
            }
            Err(e) => {
                self.poison(&mut g);
                Err(e)
            }
        }
    }

    /// Runs `f` on the writer under the mutex without waiting for fsyncs (for flushing
    /// buffered bytes when the log is dropped).
    pub(crate) fn with_writer<R>(&self, f: impl FnOnce(&mut W, bool) -> R) -> R {
        let mut g = lock(&self.inner);
        let poisoned = g.poisoned;
        f(&mut g.writer, poisoned)
    }
}

#[cfg(all(test, cairn_loom))]
mod loom_models {
    //! Loom models of the commit protocol against a mock disk.
    use std::sync::Arc as StdArc;

    use super::*;
    use crate::sync::AtomicBool;

    /// The mock disk: which LSNs are in the OS, which are durable, and bookkeeping.
    #[derive(Debug)]
    struct Disk {
        os: Mutex<Vec<(u64, u64)>>,
        durable: Mutex<Vec<(u64, u64)>>,
        syncs: AtomicU64,
        fail: bool,
        segment: AtomicU64,
        dir_synced_segment: AtomicU64,
    }

    struct MockWriter {
        disk: StdArc<Disk>,
        per_segment: u64,
        in_segment: u64,
        /// Records encoded but not yet handed to the OS (`buffer_only` writes).
        buffered: Vec<(u64, u64)>,
    }

    impl MockWriter {
        fn flush_buffered(&mut self) {
            lock(&self.disk.os).append(&mut self.buffered);
        }
    }

    struct MockSyncer {
        disk: StdArc<Disk>,
        upto: usize,
    }

    impl Syncer for MockSyncer {
        fn sync(&self) -> Result<()> {
            let calls = self.disk.syncs.fetch_add(1, Ordering::SeqCst);
            if self.disk.fail {
                assert_eq!(calls, 0, "a failed sync is never retried");
                return Err(Error::Unsupported {
                    feature: "mock fsync failure",
                });
            }
            let os = lock(&self.disk.os)[..self.upto].to_vec();
            let mut durable = lock(&self.disk.durable);
            for e in os {
                if !durable.contains(&e) {
                    durable.push(e);
                }
            }
            Ok(())
        }
    }

    impl LogWriter for MockWriter {
        type Syncer = MockSyncer;
        fn write(
            &mut self,
            first_lsn: u64,
            records: &[&[u8]],
            buffer_only: bool,
            _durable_lsn: u64,
        ) -> Result<bool> {
            if self.in_segment + records.len() as u64 > self.per_segment {
                // Rotation: seal (flush and sync) the old segment, create the next and fsync
                // its directory entry before anything is written into it.
                self.flush_buffered();
                let durable_all = lock(&self.disk.os).clone();
                *lock(&self.disk.durable) = durable_all;
                let next = self.disk.segment.load(Ordering::SeqCst) + 1;
                self.disk.dir_synced_segment.store(next, Ordering::SeqCst);
                self.disk.segment.store(next, Ordering::SeqCst);
                self.in_segment = 0;
            }
            let segment = self.disk.segment.load(Ordering::SeqCst);
            for i in 0..records.len() as u64 {
                self.buffered.push((first_lsn + i, segment));
            }
            self.in_segment += records.len() as u64;
            if !buffer_only {
                self.flush_buffered();
            }
            Ok(!buffer_only)
        }
        fn flush(&mut self) -> Result<()> {
            self.flush_buffered();
            Ok(())
        }
        fn syncer(&mut self) -> MockSyncer {
            MockSyncer {
                disk: self.disk.clone(),
                upto: lock(&self.disk.os).len(),
            }
        }
    }

    fn core(fail: bool, per_segment: u64) -> (StdArc<Core<MockWriter>>, StdArc<Disk>) {
        let disk = StdArc::new(Disk {
            os: Mutex::new(Vec::new()),
            durable: Mutex::new(Vec::new()),
            syncs: AtomicU64::new(0),
            fail,
            segment: AtomicU64::new(0),
            dir_synced_segment: AtomicU64::new(0),
        });
        let limits = Limits {
            max_records: 100,
            max_bytes: 1 << 20,
            max_delay: Duration::from_secs(1),
        };
        let writer = MockWriter {
            disk: disk.clone(),
            per_segment,
            in_segment: 0,
            buffered: Vec::new(),
        };
        (
            StdArc::new(Core::new(writer, 1, limits, StdArc::new(Counters::new()))),
            disk,
        )
    }

    /// A durable append as `Wal` does it: buffered in process, written by the leader.
    fn append_durable(core: &Core<MockWriter>) -> Result<u64> {
        append_durable_via(core, true)
    }

    fn append_durable_via(core: &Core<MockWriter>, buffer_only: bool) -> Result<u64> {
        if buffer_only {
            // As `Wal` does for `Durability::Fsync`: write and wait under one lock.
            return core.write_durable(&[b"x"]);
        }
        let lsn = core.write(&[b"x"], false, true)?.first;
        core.wait_durable(lsn)?;
        Ok(lsn)
    }

    fn is_durable(disk: &Disk, lsn: u64) -> bool {
        lock(&disk.durable).iter().any(|&(l, _)| l == lsn)
    }

    #[test]
    fn loom_ack_implies_durable_and_lsns_dense() {
        loom::model(|| {
            let (core, disk) = core(false, 100);
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    let (core, disk) = (core.clone(), disk.clone());
                    loom::thread::spawn(move || {
                        // One appender writes to the OS itself, as `Durability::Buffered`
                        // followed by a sync would.
                        let lsn = append_durable_via(&core, i != 0).expect("no faults injected");
                        assert!(
                            is_durable(&disk, lsn),
                            "acknowledged LSN {lsn} is not durable"
                        );
                        lsn
                    })
                })
                .collect();
            let mut lsns: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            lsns.sort_unstable();
            assert_eq!(lsns, vec![1, 2, 3], "LSNs unique and gap-free");
        });
    }

    #[test]
    fn loom_failed_fsync_poisons() {
        loom::model(|| {
            let (core, disk) = core(true, 100);
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    let core = core.clone();
                    loom::thread::spawn(move || append_durable(&core))
                })
                .collect();
            for h in handles {
                assert!(h.join().unwrap().is_err(), "no Ok after a failed fsync");
            }
            assert!(matches!(
                core.write(&[b"y"], false, false),
                Err(Error::Poisoned)
            ));
            assert!(matches!(core.wait_durable(1), Err(Error::Poisoned)));
            assert!(
                disk.syncs.load(Ordering::SeqCst) <= 1,
                "fsync never retried"
            );
        });
    }

    #[test]
    fn loom_close_racing_append() {
        loom::model(|| {
            let (core, disk) = core(false, 100);
            let appenders: Vec<_> = (0..2)
                .map(|_| {
                    let core = core.clone();
                    loom::thread::spawn(move || append_durable(&core))
                })
                .collect();
            let closer = {
                let core = core.clone();
                loom::thread::spawn(move || core.close())
            };
            closer.join().unwrap().expect("close succeeds");
            for appender in appenders {
                match appender.join().unwrap() {
                    Ok(lsn) => assert!(
                        is_durable(&disk, lsn),
                        "acknowledged before close, so durable"
                    ),
                    Err(Error::Closed) => {}
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
            // Everything written before the close is durable once close returns.
            let written = lock(&disk.os).len();
            assert_eq!(lock(&disk.durable).len(), written);
            let flag = AtomicBool::new(core.is_closed());
            assert!(flag.load(Ordering::SeqCst));
        });
    }

    #[test]
    fn loom_rotation_racing_append() {
        loom::model(|| {
            let (core, disk) = core(false, 1);
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    let (core, disk) = (core.clone(), disk.clone());
                    loom::thread::spawn(move || {
                        let lsn = append_durable(&core).expect("no faults injected");
                        let segment = lock(&disk.durable)
                            .iter()
                            .find(|&&(l, _)| l == lsn)
                            .map(|&(_, s)| s)
                            .expect("acknowledged implies durable");
                        assert!(
                            disk.dir_synced_segment.load(Ordering::SeqCst) >= segment,
                            "ack in segment {segment} before its directory entry was synced"
                        );
                        lsn
                    })
                })
                .collect();
            let mut lsns: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            lsns.sort_unstable();
            assert_eq!(lsns, vec![1, 2, 3]);
            assert_eq!(lock(&disk.os).len(), 3, "nothing lost across rotation");
        });
    }
}
