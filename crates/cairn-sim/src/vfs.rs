//! [`SimVfs`]: the simulated file system, its open files, and the state they share.
//!
//! All state sits behind one mutex, so every call is atomic and the simulator is `Send +
//! Sync`; a run is deterministic as long as the workload issues its calls in a deterministic
//! order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cairn_io::{DirLock, Error, Op, OpenMode, Result, Vfs, VfsFile};

use crate::error::{EBADF, EEXIST, EFBIG, EINVAL, EIO, EISDIR, ENOENT, ENOSPC, ENOTDIR, os_error};
use crate::fault::{FaultKind, FaultRule, Faults};
use crate::image::{CrashModel, Pending, PendingOp, build};
use crate::media::{Action, Entry, FILE_SIZE_MAX, Ino, Media, ROOT, Tree, join, split, to_usize};
use crate::rng::{SimRng, derive};
use crate::trace::{CallRecord, Label, TRACE_EVENTS_MAX_DEFAULT, Trace, TraceEvent};

/// The most pending (unsynced) operations a simulator holds before it panics: a workload
/// that never syncs would otherwise grow without bound. 4 Mi operations.
pub const PENDING_OPS_MAX: usize = 1 << 22;

/// Counters of what a simulator has been asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Mutating calls (create, write, `set_len`, allocate, syncs, rename, remove, mkdir),
    /// including failed ones; the cut points of [`SimVfs::crash_after_call`].
    pub mutating_calls: u64,
    /// `write_at` calls.
    pub writes: u64,
    /// Bytes accepted by `write_at`.
    pub bytes_written: u64,
    /// `read_at` calls.
    pub reads: u64,
    /// `sync_data` and `sync_all` calls.
    pub syncs: u64,
    /// `sync_dir` calls.
    pub dir_syncs: u64,
    /// Calls hit by an injected fault.
    pub faults_injected: u64,
}

/// A file's live and durable contents, from [`SimVfs::file_state`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// What reads return.
    pub live: Vec<u8>,
    /// What survives power loss if the file's directory entry does.
    pub durable: Vec<u8>,
    /// How many of its writes and length changes are pending.
    pub pending_count: usize,
}

/// Everything one simulated machine holds.
#[derive(Debug)]
struct State {
    seed: u64,
    entropy_rng: SimRng,
    fault_rng: SimRng,
    frozen: bool,
    live: Media,
    durable: Media,
    pending: Vec<Pending>,
    next_ino: Ino,
    open_counts: BTreeMap<Ino, u64>,
    unlinked: BTreeSet<Ino>,
    faults: Faults,
    trace: Trace,
    stats: SimStats,
    crash_after: Option<u64>,
    locks: BTreeSet<Ino>,
    capacity: Option<u64>,
    images_built: u64,
}

/// What a call is, for tracing and fault matching.
#[derive(Clone, Copy)]
struct Call<'a> {
    op: Op,
    path: &'a Path,
    to: Option<&'a Path>,
    offset: u64,
    len: u64,
}

impl<'a> Call<'a> {
    fn new(op: Op, path: &'a Path) -> Self {
        Self {
            op,
            path,
            to: None,
            offset: 0,
            len: 0,
        }
    }
}

/// What a call body returns: the value, and the count the trace records.
type Outcome<T> = std::result::Result<(T, u64), i32>;

fn is_sync(op: Op) -> bool {
    matches!(op, Op::SyncData | Op::SyncAll | Op::SyncDir)
}

impl State {
    fn new(seed: u64, live: Media, durable: Media, pending: Vec<Pending>, next_ino: Ino) -> Self {
        Self {
            seed,
            entropy_rng: SimRng::new(derive(seed, 0)),
            fault_rng: SimRng::new(derive(seed, 1)),
            frozen: false,
            live,
            durable,
            pending,
            next_ino,
            open_counts: BTreeMap::new(),
            unlinked: BTreeSet::new(),
            faults: Faults::default(),
            trace: Trace::new(TRACE_EVENTS_MAX_DEFAULT),
            stats: SimStats::default(),
            crash_after: None,
            locks: BTreeSet::new(),
            capacity: None,
            images_built: 0,
        }
    }

    fn freeze(&mut self) {
        if !self.frozen {
            self.frozen = true;
            self.trace.push(TraceEvent::Crash {
                after_call: self.stats.mutating_calls,
            });
        }
    }

    fn check_fault(&mut self, call: Call<'_>) -> Option<FaultKind> {
        let from = call.path.to_string_lossy();
        let to = call.to.map(|to| to.to_string_lossy());
        let mut paths = vec![from.as_ref()];
        if let Some(to) = &to {
            paths.push(to.as_ref());
        }
        let fault = self.faults.check(call.op, &paths, &mut self.fault_rng);
        if fault.is_some() {
            self.stats.faults_injected += 1;
        }
        fault
    }

    /// Runs a mutating call: refuses it when frozen, consults the fault rules, traces it and
    /// honours the crash cut. Plain `EIO`/`ENOSPC` faults fail non-sync calls before `body`
    /// runs; syncs see the fault in `body`, which applies the Linux drop semantics.
    fn mutating<T>(
        &mut self,
        call: Call<'_>,
        body: impl FnOnce(&mut Self, Option<FaultKind>) -> Outcome<T>,
    ) -> Result<T> {
        if self.frozen {
            return Err(os_error(call.op, call.path, EIO));
        }
        self.stats.mutating_calls += 1;
        let number = self.stats.mutating_calls;
        let fault = self.check_fault(call);
        let outcome = match fault {
            Some(FaultKind::Crash) => Err(EIO),
            Some(FaultKind::Eio) if !is_sync(call.op) => Err(EIO),
            Some(FaultKind::NoSpace) if !is_sync(call.op) => Err(ENOSPC),
            _ => body(self, fault),
        };
        self.trace.push(TraceEvent::Call(CallRecord {
            call: number,
            op: call.op,
            path: call.path.to_path_buf(),
            to: call.to.map(Path::to_path_buf),
            offset: call.offset,
            len: call.len,
            result: outcome
                .as_ref()
                .map(|(_, count)| *count)
                .map_err(|errno| *errno),
            fault,
        }));
        if fault == Some(FaultKind::Crash) || self.crash_after.is_some_and(|cut| number >= cut) {
            self.freeze();
        }
        outcome
            .map(|(value, _)| value)
            .map_err(|errno| os_error(call.op, call.path, errno))
    }

    /// Runs a call that changes nothing on the media (read, open, list, length, lock).
    fn query<T>(
        &mut self,
        call: Call<'_>,
        body: impl FnOnce(&mut Self, Option<FaultKind>) -> std::result::Result<T, i32>,
    ) -> Result<T> {
        if self.frozen {
            return Err(os_error(call.op, call.path, EIO));
        }
        let fault = self.check_fault(call);
        let outcome = match fault {
            Some(FaultKind::Crash) => {
                self.freeze();
                Err(EIO)
            }
            Some(FaultKind::Eio) => Err(EIO),
            Some(FaultKind::NoSpace) => Err(ENOSPC),
            _ => body(self, fault),
        };
        outcome.map_err(|errno| os_error(call.op, call.path, errno))
    }

    fn alloc_ino(&mut self) -> Ino {
        self.next_ino += 1;
        assert!(self.next_ino > ROOT);
        self.next_ino
    }

    /// Applies `action` to the live media and queues `persisted` (the same action, unless a
    /// fault bends what reaches the media) until a sync.
    fn perform(&mut self, path: PathBuf, action: &Action, persisted: Action) {
        assert_eq!(
            action.file(),
            persisted.file(),
            "a fault never changes the target inode"
        );
        self.live.apply(action);
        assert!(
            self.pending.len() < PENDING_OPS_MAX,
            "more than {PENDING_OPS_MAX} pending operations: sync more often in the simulation"
        );
        self.pending.push(Pending {
            call: self.stats.mutating_calls,
            path,
            action: persisted,
        });
    }

    /// Makes the pending actions `selected` picks durable, in order, and unqueues them.
    fn flush(&mut self, selected: impl Fn(&Action) -> bool) {
        let before = self.pending.len();
        let mut kept = Vec::with_capacity(before);
        for op in std::mem::take(&mut self.pending) {
            if selected(&op.action) {
                self.durable.apply(&op.action);
            } else {
                kept.push(op);
            }
        }
        assert!(kept.len() <= before);
        self.pending = kept;
    }

    /// Unqueues the pending actions `selected` picks without making them durable: what a
    /// failed fsync does on Linux.
    fn drop_pending(&mut self, selected: impl Fn(&Action) -> bool) {
        self.pending.retain(|op| !selected(&op.action));
    }

    /// Refuses growth past the capacity: `ENOSPC`.
    fn check_growth(&self, ino: Ino, new_len: u64) -> std::result::Result<(), i32> {
        let Some(capacity) = self.capacity else {
            return Ok(());
        };
        let current = self.live.files.get(&ino).map_or(0, Vec::len) as u64;
        let used: u64 = self.live.files.values().map(|file| file.len() as u64).sum();
        if new_len > current && used + (new_len - current) > capacity {
            return Err(ENOSPC);
        }
        Ok(())
    }

    /// Frees the durable bytes of files nothing can bring back: unreachable in the durable
    /// tree, gone from the live one (no entry, no open handle), and named by no pending
    /// operation. Keeps a long run that rotates and deletes files from growing without bound.
    fn collect_durable_garbage(&mut self) {
        let candidates: Vec<Ino> = (self.durable.files.keys())
            .filter(|ino| !self.live.files.contains_key(ino))
            .copied()
            .collect();
        if candidates.is_empty() {
            return;
        }
        let (reachable, _) = self.durable.reachable();
        let mut referenced: BTreeSet<Ino> = BTreeSet::new();
        for op in &self.pending {
            match &op.action {
                Action::Write { ino, .. } | Action::SetLen { ino, .. } => {
                    referenced.insert(*ino);
                }
                Action::Entries { changes, .. } => {
                    referenced.extend(changes.iter().filter_map(|(_, entry)| match entry {
                        Some(Entry::File(ino)) => Some(*ino),
                        _ => None,
                    }));
                }
            }
        }
        for ino in candidates {
            if !reachable.contains(&ino) && !referenced.contains(&ino) {
                self.durable.files.remove(&ino);
            }
        }
    }

    /// Counts a new handle on `ino`, which keeps its live data after an unlink.
    fn opened(&mut self, ino: Ino) {
        assert!(
            self.live.files.contains_key(&ino),
            "only live files are opened"
        );
        *self.open_counts.entry(ino).or_insert(0) += 1;
    }

    /// Called when a directory entry naming `entry` goes away from the live tree.
    fn unlink(&mut self, entry: Entry) {
        if let Entry::File(ino) = entry {
            if self.open_counts.get(&ino).copied().unwrap_or(0) == 0 {
                self.live.files.remove(&ino);
            } else {
                self.unlinked.insert(ino);
            }
        }
    }

    fn lookup_dir(&self, names: &[String]) -> std::result::Result<Ino, i32> {
        match self.live.resolve(names)? {
            Some(Entry::Dir(ino)) => Ok(ino),
            Some(Entry::File(_)) => Err(ENOTDIR),
            None => Err(ENOENT),
        }
    }

    fn file_len(&self, ino: Ino) -> u64 {
        self.live
            .files
            .get(&ino)
            .expect("an open file's inode stays live")
            .len() as u64
    }
}

/// A deterministic, fault-injecting simulated file system.
///
/// It implements [`Vfs`] over an in-memory tree keyed by normalised paths (`a/b`, `/a/b` and
/// `/a/./b` are one path; the root always exists). It keeps two images: the *live* one,
/// which calls see, and the *durable* one, which survives power loss. File data and length
/// become durable on `sync_data`/`sync_all`; directory entries (created, renamed, removed
/// files and directories) on `sync_dir` of their parent. Between the two sit the *pending
/// operations*, which [`SimVfs::crash_image`] keeps, drops or tears by a [`CrashModel`].
///
/// Everything random — [`Vfs::entropy`], fault probabilities, short-write lengths, flipped
/// bits, garbage — comes from the one seed, so a run replays exactly. Cloning gives another
/// handle to the same simulator.
///
/// Differences from [`cairn_io::StdVfs`] a user may notice: `lock_dir` keeps its lock in a
/// registry and creates no `LOCK` file; `sync_all` makes no more durable than `sync_data`
/// (the simulator has no metadata besides length); a rename never replaces a directory.
///
/// Open files fail `write_at`, `set_len` and `allocate` with `EBADF` through a read-only
/// handle, with `EFBIG` past [`crate::FILE_SIZE_MAX`] and with `ENOSPC` past the capacity set
/// by [`SimVfs::set_capacity`]; once the simulator has crashed, every call on it and on its
/// files fails with `EIO`.
///
/// # Examples
///
/// ```
/// use cairn_io::{OpenMode, Vfs, VfsFile};
/// use cairn_sim::{CrashModel, SimVfs};
///
/// let sim = SimVfs::new(1);
/// sim.create_dir_all("/db".as_ref()).unwrap();
/// sim.sync_dir("/".as_ref()).unwrap();
/// let file = sim.create_new("/db/log".as_ref()).unwrap();
/// sim.sync_dir("/db".as_ref()).unwrap();
/// file.write_all_at(b"synced", 0).unwrap();
/// file.sync_data().unwrap();
/// file.write_all_at(b"+lost", 6).unwrap();
///
/// let rebooted = sim.crash_image(&CrashModel::DropAll);
/// let file = rebooted.open("/db/log".as_ref(), OpenMode::Read).unwrap();
/// assert_eq!(file.len().unwrap(), 6);
/// assert_eq!(rebooted.file_bytes("/db/log".as_ref()).unwrap(), b"synced");
/// ```
#[derive(Clone)]
pub struct SimVfs {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("SimVfs")
            .field("seed", &state.seed)
            .field("crashed", &state.frozen)
            .field("pending_count", &state.pending.len())
            .field("stats", &state.stats)
            .finish_non_exhaustive()
    }
}

impl SimVfs {
    /// An empty simulated file system (just the root directory) driven by `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cairn_io::Vfs;
    /// use cairn_sim::SimVfs;
    ///
    /// let a = SimVfs::new(9);
    /// let b = SimVfs::new(9);
    /// assert_eq!(a.entropy(), b.entropy());
    /// assert!(a.list("/".as_ref()).unwrap().is_empty());
    /// ```
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self::from_state(State::new(
            seed,
            Media::empty(),
            Media::empty(),
            Vec::new(),
            ROOT,
        ))
    }

    fn from_state(state: State) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a test thread must not hide the simulator from the checker.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle on `ino`, whose open count the call that resolved it has already raised
    /// (under the same lock, so no unlink can slip in between).
    fn file(&self, ino: Ino, path: &Path, writable: bool) -> Box<dyn VfsFile> {
        Box::new(SimFile {
            state: Arc::clone(&self.state),
            ino,
            path: path.to_path_buf(),
            writable,
        })
    }

    /// The seed this simulator was built from.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.lock().seed
    }

    /// Installs a fault rule; rules are checked in the order they were added.
    ///
    /// # Panics
    ///
    /// If more than 1024 rules are installed.
    pub fn add_fault(&self, rule: FaultRule) {
        self.lock().faults.add(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Limits the bytes all live files may hold together; growth past it fails with `ENOSPC`.
    /// `None` (the default) means unlimited.
    pub fn set_capacity(&self, capacity_bytes: Option<u64>) {
        self.lock().capacity = capacity_bytes;
    }

    /// Bounds the stored trace (default 1 Mi events); later events are only counted.
    pub fn set_trace_events_max(&self, events_max: usize) {
        self.lock().trace.events_max = events_max;
    }

    /// Crashes the simulator now: it freezes, and every later call on it and on its open
    /// files fails with `EIO` and changes nothing. Its state stays readable for
    /// [`SimVfs::crash_image`] and the inspection methods.
    pub fn crash(&self) {
        self.lock().freeze();
    }

    /// Arranges a crash right after the `call`-th mutating call (counted from 1 since the
    /// simulator was built, whatever its result): the cut point of a crash explorer. If that
    /// many calls were already made, the simulator crashes now.
    pub fn crash_after_call(&self, call: u64) {
        let mut state = self.lock();
        state.crash_after = Some(call);
        if state.stats.mutating_calls >= call {
            state.freeze();
        }
    }

    /// Whether the simulator has crashed (frozen).
    #[must_use]
    pub fn is_crashed(&self) -> bool {
        self.lock().frozen
    }

    /// Records a marker in the trace — typically when the workload acknowledges a write —
    /// so a checker knows what was acknowledged before each cut. Markers are recorded even
    /// after a crash (an acknowledgment of a call that completed before the cut stands).
    pub fn mark(&self, label: impl Into<Label>) {
        let mut state = self.lock();
        let after_call = state.stats.mutating_calls;
        state.trace.push(TraceEvent::Mark {
            after_call,
            label: label.into(),
        });
    }

    /// The trace so far: mutating calls, markers and the crash, in order.
    #[must_use]
    pub fn trace(&self) -> Vec<TraceEvent> {
        self.lock().trace.events.clone()
    }

    /// How many trace events were not stored because the trace was full.
    #[must_use]
    pub fn trace_dropped_count(&self) -> u64 {
        self.lock().trace.dropped_count
    }

    /// The labels of the markers set after at most `call` mutating calls: what had been
    /// acknowledged when a crash cut the run after call `call`.
    #[must_use]
    pub fn marks_through(&self, call: u64) -> Vec<Label> {
        self.lock()
            .trace
            .events
            .iter()
            .filter_map(|event| match event {
                TraceEvent::Mark { after_call, label } if *after_call <= call => {
                    Some(label.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// How many operations are pending: written or changed but not yet durable.
    #[must_use]
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// The pending operations, oldest first: what a power loss may keep, drop or tear.
    #[must_use]
    pub fn pending_ops(&self) -> Vec<PendingOp> {
        let state = self.lock();
        state
            .pending
            .iter()
            .enumerate()
            .map(|(index, op)| op.describe(index))
            .collect()
    }

    /// Builds the machine as it boots after a crash: a new, independent simulator (not
    /// crashed, no faults, no locks, an empty trace; same capacity) whose seed derives from
    /// this one's. This simulator is unchanged — call [`SimVfs::crash`] first if old handles
    /// must stop working — so an explorer can build many images from one cut.
    ///
    /// # Examples
    ///
    /// ```
    /// use cairn_io::{Vfs, VfsFile};
    /// use cairn_sim::{CrashModel, SimVfs};
    ///
    /// let sim = SimVfs::new(3);
    /// let file = sim.create_new("/f".as_ref()).unwrap();
    /// file.write_all_at(b"ab", 0).unwrap();
    /// file.write_all_at(b"cd", 2).unwrap();
    /// assert_eq!(sim.pending_count(), 3); // the entry and two writes
    /// // Keep the entry and the second write only.
    /// let image = sim.crash_image(&CrashModel::Subset(0b101));
    /// assert_eq!(image.file_bytes("/f".as_ref()).unwrap(), b"\0\0cd");
    /// ```
    ///
    /// # Panics
    ///
    /// If a [`CrashModel::Plan`] tears an operation that is not a write, or gives a tear the
    /// wrong number of pieces; if a sector size is not a power of two.
    #[must_use]
    pub fn crash_image(&self, model: &CrashModel) -> SimVfs {
        let mut state = self.lock();
        state.images_built += 1;
        let seed = derive(state.seed, 1 << 32 | state.images_built);
        let pending: Vec<PendingOp> = state
            .pending
            .iter()
            .enumerate()
            .map(|(index, op)| op.describe(index))
            .collect();
        let mut image = match model.plan_for(&pending) {
            None => {
                let mut live = state.live.clone();
                live.collect_garbage();
                State::new(
                    seed,
                    live,
                    state.durable.clone(),
                    state.pending.clone(),
                    state.next_ino,
                )
            }
            Some(plan) => {
                let media = build(&state.durable, &state.pending, &plan, derive(state.seed, 2));
                State::new(seed, media.clone(), media, Vec::new(), state.next_ino)
            }
        };
        image.capacity = state.capacity;
        image.trace.events_max = state.trace.events_max;
        SimVfs::from_state(image)
    }

    /// The live files and directories (what reads see), by path.
    #[must_use]
    pub fn live_tree(&self) -> Tree {
        self.lock().live.tree()
    }

    /// The durable files and directories: exactly what [`CrashModel::DropAll`] would keep.
    #[must_use]
    pub fn durable_tree(&self) -> Tree {
        let mut durable = self.lock().durable.clone();
        durable.collect_garbage();
        durable.tree()
    }

    /// The live contents of the file at `path`, or `None` if there is no such file.
    #[must_use]
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock();
        let names = split(path).ok()?;
        match state.live.resolve(&names) {
            Ok(Some(Entry::File(ino))) => state.live.files.get(&ino).cloned(),
            _ => None,
        }
    }

    /// The durable contents of the file at `path` in the durable tree (both the entry and
    /// the data as they would survive power loss), or `None` if no such file would survive.
    #[must_use]
    pub fn durable_file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock();
        let names = split(path).ok()?;
        match state.durable.resolve(&names) {
            Ok(Some(Entry::File(ino))) => state.durable.files.get(&ino).cloned(),
            _ => None,
        }
    }

    /// The live and durable contents of the file the live entry `path` names, whether or not
    /// that entry is itself durable, or `None` if there is no such file.
    #[must_use]
    pub fn file_state(&self, path: &Path) -> Option<FileState> {
        let state = self.lock();
        let names = split(path).ok()?;
        let Ok(Some(Entry::File(ino))) = state.live.resolve(&names) else {
            return None;
        };
        Some(FileState {
            live: state.live.files.get(&ino).cloned().unwrap_or_default(),
            durable: state.durable.files.get(&ino).cloned().unwrap_or_default(),
            pending_count: state
                .pending
                .iter()
                .filter(|op| op.action.file() == Some(ino))
                .count(),
        })
    }

    /// Corrupts durable data of the file at `path` (in the live tree): XORs `xor` into the
    /// byte at `offset`, as media decay would. Reads keep returning the cached live bytes;
    /// crash images show the damage. Returns whether there was such a byte to corrupt.
    pub fn corrupt_durable(&self, path: &Path, offset: u64, xor: u8) -> bool {
        let mut state = self.lock();
        let Ok(names) = split(path) else { return false };
        let Ok(Some(Entry::File(ino))) = state.live.resolve(&names) else {
            return false;
        };
        let Some(file) = state.durable.files.get_mut(&ino) else {
            return false;
        };
        match usize::try_from(offset).ok().and_then(|at| file.get_mut(at)) {
            Some(byte) => {
                *byte ^= xor;
                true
            }
            None => false,
        }
    }
}

impl Vfs for SimVfs {
    /// Creates an empty file; its entry is pending until `sync_dir` of the parent.
    ///
    /// # Errors
    ///
    /// `EEXIST` if the name exists; `ENOENT`/`ENOTDIR` if the parent is missing or a file;
    /// `EIO` once crashed; any injected fault.
    fn create_new(&self, path: &Path) -> Result<Box<dyn VfsFile>> {
        let ino = self
            .lock()
            .mutating(Call::new(Op::Create, path), |state, _| {
                let names = split(path)?;
                let dir = state.live.parent_dir(&names)?;
                let name = names.last().expect("parent_dir refuses the root").clone();
                if state
                    .live
                    .dirs
                    .get(&dir)
                    .is_some_and(|contents| contents.contains_key(&name))
                {
                    return Err(EEXIST);
                }
                let ino = state.alloc_ino();
                let action = Action::Entries {
                    dir,
                    changes: vec![(name, Some(Entry::File(ino)))],
                };
                state.perform(join(&names[..names.len() - 1]), &action, action.clone());
                state.opened(ino);
                Ok((ino, 0))
            })?;
        Ok(self.file(ino, path, true))
    }

    /// Opens an existing file. Through an [`OpenMode::Read`] handle, writes, `set_len` and
    /// `allocate` fail with `EBADF`; syncs are allowed.
    ///
    /// # Errors
    ///
    /// `ENOENT` if missing, `EISDIR` for a directory, `EIO` once crashed, injected faults.
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Box<dyn VfsFile>> {
        let ino = self.lock().query(Call::new(Op::Open, path), |state, _| {
            match state.live.resolve(&split(path)?)? {
                Some(Entry::File(ino)) => {
                    state.opened(ino);
                    Ok(ino)
                }
                Some(Entry::Dir(_)) => Err(EISDIR),
                None => Err(ENOENT),
            }
        })?;
        Ok(self.file(ino, path, mode == OpenMode::ReadWrite))
    }

    /// Renames a file or directory, replacing a file at `to`. Within one directory it is one
    /// atomic pending change; across two it is two (the new entry first), each durable with
    /// its own directory's `sync_dir`.
    ///
    /// # Errors
    ///
    /// `ENOENT` if `from` is missing; `EISDIR` if `to` is a directory; `ENOTDIR` for a
    /// directory onto a file; `EINVAL` for a directory into itself; `EIO` once crashed;
    /// injected faults.
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let call = Call {
            to: Some(to),
            ..Call::new(Op::Rename, from)
        };
        self.lock().mutating(call, |state, _| {
            let (from_names, to_names) = (split(from)?, split(to)?);
            let from_dir = state.live.parent_dir(&from_names)?;
            let to_dir = state.live.parent_dir(&to_names)?;
            let from_name = from_names
                .last()
                .expect("parent_dir refuses the root")
                .clone();
            let to_name = to_names
                .last()
                .expect("parent_dir refuses the root")
                .clone();
            let entry = *state.live.dirs[&from_dir].get(&from_name).ok_or(ENOENT)?;
            if from_names == to_names {
                return Ok(((), 0));
            }
            let replaced = state.live.dirs[&to_dir].get(&to_name).copied();
            match (entry, replaced) {
                (_, Some(Entry::Dir(_))) => return Err(EISDIR),
                (Entry::Dir(_), Some(Entry::File(_))) => return Err(ENOTDIR),
                (Entry::Dir(_), _) if to_names.starts_with(&from_names) => return Err(EINVAL),
                _ => {}
            }
            let from_parent = join(&from_names[..from_names.len() - 1]);
            if from_dir == to_dir {
                let changes = vec![(to_name, Some(entry)), (from_name, None)];
                let action = Action::Entries {
                    dir: from_dir,
                    changes,
                };
                state.perform(from_parent, &action, action.clone());
            } else {
                // Two directories, two entries, each durable with its own directory's sync;
                // the new name is queued first so no prefix of the queue loses both.
                let link = Action::Entries {
                    dir: to_dir,
                    changes: vec![(to_name, Some(entry))],
                };
                state.perform(join(&to_names[..to_names.len() - 1]), &link, link.clone());
                let unlink = Action::Entries {
                    dir: from_dir,
                    changes: vec![(from_name, None)],
                };
                state.perform(from_parent, &unlink, unlink.clone());
            }
            if let Some(old) = replaced {
                state.unlink(old);
            }
            Ok(((), 0))
        })
    }

    /// Removes a file's entry (pending until `sync_dir` of the parent). Open handles keep
    /// reading and writing the file, as on Unix.
    ///
    /// # Errors
    ///
    /// `ENOENT` if missing, `EISDIR` for a directory, `EIO` once crashed, injected faults.
    fn remove_file(&self, path: &Path) -> Result<()> {
        self.lock()
            .mutating(Call::new(Op::Remove, path), |state, _| {
                let names = split(path)?;
                let dir = state.live.parent_dir(&names)?;
                let name = names.last().expect("parent_dir refuses the root").clone();
                let entry = *state.live.dirs[&dir].get(&name).ok_or(ENOENT)?;
                if matches!(entry, Entry::Dir(_)) {
                    return Err(EISDIR);
                }
                let action = Action::Entries {
                    dir,
                    changes: vec![(name, None)],
                };
                state.perform(join(&names[..names.len() - 1]), &action, action.clone());
                state.unlink(entry);
                Ok(((), 0))
            })
    }

    /// The live entries of `dir`, sorted.
    ///
    /// # Errors
    ///
    /// `ENOENT` if missing, `ENOTDIR` for a file, `EIO` once crashed, injected faults.
    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        self.lock().query(Call::new(Op::List, dir), |state, _| {
            let ino = state.lookup_dir(&split(dir)?)?;
            Ok(state.live.dirs[&ino].keys().cloned().collect())
        })
    }

    /// Creates `dir` and missing parents; each new entry is pending until its parent's
    /// `sync_dir`. One mutating call however many directories it creates.
    ///
    /// # Errors
    ///
    /// `EEXIST` if a component is a file, `EIO` once crashed, injected faults.
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        self.lock()
            .mutating(Call::new(Op::CreateDir, dir), |state, _| {
                let names = split(dir)?;
                let mut current = ROOT;
                for (depth, name) in names.iter().enumerate() {
                    match state.live.dirs[&current].get(name) {
                        Some(Entry::Dir(ino)) => current = *ino,
                        Some(Entry::File(_)) => return Err(EEXIST),
                        None => {
                            let ino = state.alloc_ino();
                            let changes = vec![(name.clone(), Some(Entry::Dir(ino)))];
                            let action = Action::Entries {
                                dir: current,
                                changes,
                            };
                            state.perform(join(&names[..depth]), &action, action.clone());
                            current = ino;
                        }
                    }
                }
                assert!(state.live.dirs.contains_key(&current));
                Ok(((), 0))
            })
    }

    /// Makes the pending entry changes of `dir` durable. Hit by an `Eio` or `NoSpace` fault,
    /// it drops them instead (Linux semantics) and the next `sync_dir` succeeds.
    ///
    /// # Errors
    ///
    /// `ENOENT` if missing, `ENOTDIR` for a file, `EIO` once crashed, injected faults.
    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.lock()
            .mutating(Call::new(Op::SyncDir, dir), |state, fault| {
                let ino = state.lookup_dir(&split(dir)?)?;
                state.stats.dir_syncs += 1;
                let covered = |action: &Action| action.dir() == Some(ino);
                match fault {
                    Some(FaultKind::Eio) => {
                        state.drop_pending(covered);
                        Err(EIO)
                    }
                    Some(FaultKind::NoSpace) => {
                        state.drop_pending(covered);
                        Err(ENOSPC)
                    }
                    _ => {
                        state.flush(covered);
                        state.collect_durable_garbage();
                        assert!(!state.pending.iter().any(|op| covered(&op.action)));
                        Ok(((), 0))
                    }
                }
            })
    }

    /// Whether `path` names a live file or directory. Fault rules on [`Op::Open`] hit it.
    ///
    /// # Errors
    ///
    /// `EIO` once crashed, injected faults.
    fn exists(&self, path: &Path) -> Result<bool> {
        self.lock().query(Call::new(Op::Open, path), |state, _| {
            Ok(matches!(state.live.resolve(&split(path)?), Ok(Some(_))))
        })
    }

    /// Takes the exclusive lock on `dir` in the simulator's registry (no `LOCK` file is
    /// created); dropping the guard releases it.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if held; `ENOENT`/`ENOTDIR` if `dir` is not a directory; `EIO` once
    /// crashed; injected faults.
    fn lock_dir(&self, dir: &Path) -> Result<DirLock> {
        let taken = self.lock().query(Call::new(Op::Lock, dir), |state, _| {
            let ino = state.lookup_dir(&split(dir)?)?;
            Ok(state.locks.insert(ino).then_some(ino))
        })?;
        match taken {
            Some(ino) => {
                let guard = LockGuard {
                    state: Arc::clone(&self.state),
                    ino,
                };
                Ok(DirLock::new(dir, Box::new(guard)))
            }
            None => Err(Error::Locked {
                dir: dir.to_path_buf(),
                lock_file: dir.join("LOCK"),
            }),
        }
    }

    /// The next value of the seeded generator: the same seed gives the same sequence.
    fn entropy(&self) -> u64 {
        self.lock().entropy_rng.next_u64()
    }
}

/// Holds a directory lock in the registry; dropping it releases the lock.
struct LockGuard {
    state: Arc<Mutex<State>>,
    ino: Ino,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let released = state.locks.remove(&self.ino);
        assert!(released, "a held lock is in the registry");
    }
}

/// A file opened on a [`SimVfs`].
struct SimFile {
    state: Arc<Mutex<State>>,
    ino: Ino,
    path: PathBuf,
    writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("ino", &self.ino)
            .field("writable", &self.writable)
            .finish()
    }
}

impl SimFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sync(&self, op: Op) -> Result<()> {
        let ino = self.ino;
        self.lock()
            .mutating(Call::new(op, &self.path), |state, fault| {
                state.stats.syncs += 1;
                let covered = |action: &Action| action.file() == Some(ino);
                match fault {
                    Some(FaultKind::Eio) => {
                        state.drop_pending(covered);
                        Err(EIO)
                    }
                    Some(FaultKind::NoSpace) => {
                        state.drop_pending(covered);
                        Err(ENOSPC)
                    }
                    _ => {
                        state.flush(covered);
                        assert!(!state.pending.iter().any(|op| covered(&op.action)));
                        Ok(((), 0))
                    }
                }
            })
    }

    /// Queues a length change to `len` (growth is checked against the capacity).
    fn resize(state: &mut State, ino: Ino, path: &Path, len: u64) -> Outcome<()> {
        if len > FILE_SIZE_MAX {
            return Err(EFBIG);
        }
        state.check_growth(ino, len)?;
        let action = Action::SetLen { ino, len };
        state.perform(path.to_path_buf(), &action, action.clone());
        assert_eq!(state.file_len(ino), len);
        Ok(((), 0))
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let ino = self.ino;
        let mut state = self.lock();
        let count = state
            .open_counts
            .get_mut(&ino)
            .expect("an open file is counted");
        assert!(*count > 0);
        *count -= 1;
        if *count == 0 {
            state.open_counts.remove(&ino);
            if state.unlinked.remove(&ino) {
                state.live.files.remove(&ino);
                state.collect_durable_garbage();
            }
        }
    }
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let ino = self.ino;
        let call = Call {
            offset,
            len: buf.len() as u64,
            ..Call::new(Op::Read, &self.path)
        };
        self.lock().query(call, |state, fault| {
            state.stats.reads += 1;
            let data = state
                .live
                .files
                .get(&ino)
                .expect("an open file's inode stays live");
            let Some(available) = usize::try_from(offset).ok().and_then(|at| data.get(at..)) else {
                return Ok(0);
            };
            let count = available.len().min(buf.len());
            buf[..count].copy_from_slice(&available[..count]);
            if fault == Some(FaultKind::BitFlipOnRead) && count > 0 {
                let bit = state.fault_rng.below(count as u64 * 8);
                buf[to_usize(bit / 8)] ^= 1 << (bit % 8);
            }
            Ok(count)
        })
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        let (ino, writable) = (self.ino, self.writable);
        let call = Call {
            offset,
            len: buf.len() as u64,
            ..Call::new(Op::Write, &self.path)
        };
        self.lock().mutating(call, |state, fault| {
            state.stats.writes += 1;
            if !writable {
                return Err(EBADF);
            }
            if buf.is_empty() {
                return Ok((0, 0));
            }
            if offset
                .checked_add(buf.len() as u64)
                .is_none_or(|end| end > FILE_SIZE_MAX)
            {
                return Err(EFBIG);
            }
            let count = match fault {
                Some(FaultKind::ShortWrite) if buf.len() >= 2 => {
                    1 + to_usize(state.fault_rng.below(buf.len() as u64 - 1))
                }
                _ => buf.len(),
            };
            assert!(count >= 1 && count <= buf.len());
            let end = offset + count as u64;
            state.check_growth(ino, end.max(state.file_len(ino)))?;
            let data = buf[..count].to_vec();
            let mut persisted = Action::Write {
                ino,
                offset,
                data: data.clone(),
            };
            match (fault, &mut persisted) {
                (Some(FaultKind::BitFlipOnPersist), Action::Write { data, .. }) => {
                    let bit = state.fault_rng.below(count as u64 * 8);
                    data[to_usize(bit / 8)] ^= 1 << (bit % 8);
                }
                (Some(FaultKind::Misdirect { delta }), Action::Write { offset: at, .. }) => {
                    let limit = FILE_SIZE_MAX - count as u64;
                    *at = at.saturating_add_signed(delta).min(limit);
                }
                _ => {}
            }
            state.perform(
                self.path.clone(),
                &Action::Write { ino, offset, data },
                persisted,
            );
            state.stats.bytes_written += count as u64;
            Ok((count, count as u64))
        })
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let (ino, writable) = (self.ino, self.writable);
        let call = Call {
            len,
            ..Call::new(Op::SetLen, &self.path)
        };
        self.lock().mutating(call, |state, _| {
            if !writable {
                return Err(EBADF);
            }
            Self::resize(state, ino, &self.path, len)
        })
    }

    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        let (ino, writable) = (self.ino, self.writable);
        let call = Call {
            offset,
            len,
            ..Call::new(Op::Allocate, &self.path)
        };
        self.lock().mutating(call, |state, _| {
            if !writable {
                return Err(EBADF);
            }
            let end = offset.checked_add(len).ok_or(EFBIG)?;
            if end <= state.file_len(ino) {
                return Ok(((), 0));
            }
            Self::resize(state, ino, &self.path, end)
        })
    }

    fn sync_data(&self) -> Result<()> {
        self.sync(Op::SyncData)
    }

    fn sync_all(&self) -> Result<()> {
        self.sync(Op::SyncAll)
    }

    fn len(&self) -> Result<u64> {
        let ino = self.ino;
        self.lock()
            .query(Call::new(Op::Len, &self.path), |state, _| {
                Ok(state.file_len(ino))
            })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

// The simulator is shared between threads like any other `Vfs`.
const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<SimVfs>();
};
