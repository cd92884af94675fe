//! The checker: recover a crash image and compare it with what was acknowledged.
//!
//! Rules (each a figure, each must be 0):
//!
//! - `acked_lost` — every acknowledged record is present: the recovered log reaches at least
//!   the last LSN acknowledged at a level the crash model must preserve;
//! - `phantom_records` — nothing that was never submitted (no LSN beyond the issued history);
//! - `not_prefix` — the recovered LSNs are gap-free, the log starts at or before the
//!   snapshot's next LSN, and a post-recovery append gets the next LSN;
//! - `torn_batches` — the recovered log never ends inside a batch;
//! - `model_divergence` — the state machine rebuilt from snapshot + log equals the model's
//!   state at that prefix, and the snapshot's state equals the model's at its LSN;
//! - `corruptions_silently_accepted` — every record (and snapshot) served is byte-identical
//!   to what was written at that LSN;
//! - `recovery_panics` — recovery never panics (`catch_unwind`);
//! - `recovery_errors` — recovery of a crash image the model allows always succeeds;
//! - `not_idempotent` — recovering the same image twice gives the same result;
//! - `stale_files` — quarantine copies survive power loss, temporary files stay removed,
//!   retention holds.
//!
//! Hangs are caught by the [`watchdog`], which ends the process with the replay command.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use cairn_sim::{CrashModel, SimVfs};
use cairn_wal::Durability;

use crate::system::{Layout, Recovered, SmState, recover};
use crate::workload::{History, payload};

/// The kinds of violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An acknowledged record is missing.
    AckedLost,
    /// A record that was never submitted.
    Phantom,
    /// A gap, a reordering, a duplicate or a wrong next LSN.
    NotPrefix,
    /// The log ends inside a batch.
    TornBatch,
    /// The state machine differs from the model.
    Divergence,
    /// Recovery panicked.
    Panic,
    /// Bytes never written at that LSN were served.
    SilentCorruption,
    /// Recovery failed on an image it must accept.
    RecoveryError,
    /// Recovering twice gave different results.
    NotIdempotent,
    /// A quarantine copy lost, a temporary file back, or retention exceeded after a crash.
    StaleFiles,
}

/// Every kind with its figure name.
pub const KINDS: [(Kind, &str); 10] = [
    (Kind::AckedLost, "acked_lost"),
    (Kind::Phantom, "phantom_records"),
    (Kind::NotPrefix, "not_prefix"),
    (Kind::TornBatch, "torn_batches"),
    (Kind::Divergence, "model_divergence"),
    (Kind::Panic, "recovery_panics"),
    (Kind::SilentCorruption, "corruptions_silently_accepted"),
    (Kind::RecoveryError, "recovery_errors"),
    (Kind::NotIdempotent, "not_idempotent"),
    (Kind::StaleFiles, "stale_files"),
];

fn slot(kind: Kind) -> usize {
    KINDS
        .iter()
        .position(|(k, _)| *k == kind)
        .expect("every kind is listed")
}

/// Counters: states checked and violations by kind.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Crash states (recovered images) checked.
    pub states: u64,
    /// Violations, indexed like [`KINDS`].
    pub violations: [u64; KINDS.len()],
}

impl Counts {
    /// Adds `other`.
    pub fn add(&mut self, other: &Counts) {
        self.states += other.states;
        for (a, b) in self.violations.iter_mut().zip(other.violations) {
            *a += b;
        }
    }

    /// All violations.
    pub fn total(&self) -> u64 {
        self.violations.iter().sum()
    }

    /// Violations of one kind.
    pub fn get(&self, kind: Kind) -> u64 {
        self.violations[slot(kind)]
    }
}

/// The outcome of checking one state.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// What was counted.
    pub counts: Counts,
    /// The first problem, in words.
    pub first: Option<(Kind, String)>,
}

impl Verdict {
    fn state() -> Self {
        Self {
            counts: Counts {
                states: 1,
                ..Counts::default()
            },
            first: None,
        }
    }

    /// Records a violation.
    pub fn add(&mut self, kind: Kind, amount: u64, what: impl FnOnce() -> String) {
        self.counts.violations[slot(kind)] += amount.max(1);
        if self.first.is_none() {
            self.first = Some((kind, what()));
        }
    }

    /// Whether nothing was violated.
    pub fn ok(&self) -> bool {
        self.counts.total() == 0
    }
}

/// What a crash image must recover to.
#[derive(Clone, Debug)]
pub struct Expect {
    /// The histories the recovered log may be a prefix of: before and after the operation
    /// the crash interrupted.
    pub cands: Vec<Arc<History>>,
    /// The LSN the recovered system must reach.
    pub required: u64,
    /// Whether at most `retain_count` snapshots may exist (no publish in flight).
    pub retention_applies: bool,
}

thread_local! {
    static IN_CHECK: Cell<bool> = const { Cell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs a panic hook that keeps panics caught by [`guarded`] quiet (their message is
/// recorded instead) and leaves every other panic to the default hook.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_CHECK.with(Cell::get) {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{message}{location}")));
        } else {
            default(info);
        }
    }));
}

/// Runs `f`, turning a panic into `Err(message)`.
pub fn guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    let was = IN_CHECK.with(|c| c.replace(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    IN_CHECK.with(|c| c.set(was));
    out.map_err(|_| {
        PANIC_MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "panic".into())
    })
}

/// The watchdog: every check runs under [`watch`]; a check that takes longer than the limit
/// ends the process with exit code 3 and its replay command.
struct Watch {
    started_ms: AtomicU64,
    label: Mutex<String>,
}

fn registry() -> &'static Mutex<Vec<Arc<Watch>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Arc<Watch>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Vec::new()))
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

thread_local! {
    static MY_WATCH: Arc<Watch> = {
        let w = Arc::new(Watch { started_ms: AtomicU64::new(0), label: Mutex::new(String::new()) });
        registry().lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(w.clone());
        w
    };
}

/// Clears the thread's watch when dropped.
pub struct WatchGuard(());

impl Drop for WatchGuard {
    fn drop(&mut self) {
        MY_WATCH.with(|w| w.started_ms.store(0, Ordering::Release));
    }
}

/// Starts watching the current thread's work, described by `label` (a replay command).
pub fn watch(label: impl FnOnce() -> String) -> WatchGuard {
    MY_WATCH.with(|w| {
        *w.label
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = label();
        w.started_ms.store(now_ms(), Ordering::Release);
    });
    WatchGuard(())
}

/// Starts the watchdog thread.
pub fn start_watchdog(limit: Duration) {
    let _ = epoch();
    let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = now_ms();
            for w in registry()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
            {
                let started = w.started_ms.load(Ordering::Acquire);
                if started != 0 && now.saturating_sub(started) > limit_ms {
                    let label = w
                        .label
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    eprintln!(
                        "watchdog: a check made no progress for {} s (recovery or workload hang)\n  replay: {label}",
                        limit.as_secs()
                    );
                    std::process::exit(3);
                }
            }
        }
    });
}

/// What recovery produced, for comparing two recoveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The records.
    pub records: Vec<(u64, Bytes)>,
    /// The snapshot.
    pub snapshot: Option<(u64, SmState)>,
    /// The state machine.
    pub state: SmState,
    /// The last LSN.
    pub last: u64,
}

impl Summary {
    /// The summary of a recovery.
    pub fn of(r: &Recovered) -> Self {
        Self {
            records: r.records.clone(),
            snapshot: r.snapshot,
            state: r.sys.state,
            last: r.last_lsn(),
        }
    }
}

/// Recovers `image`, catching panics.
pub fn recover_guarded(
    image: &SimVfs,
    layout: &Layout,
) -> std::result::Result<Result<Recovered>, String> {
    let vfs = wrap(image);
    guarded(|| recover(vfs, layout))
}

/// Builds the `Vfs` a workload or a recovery runs on from a simulator.
pub type Wrapper = Arc<dyn Fn(SimVfs) -> Arc<dyn cairn_io::Vfs> + Send + Sync>;

thread_local! {
    static WRAPPER: RefCell<Option<Wrapper>> = const { RefCell::new(None) };
}

/// Runs everything on this thread through `wrapper` (the sync ablation's Vfs) until reset
/// with `None`.
pub fn set_wrapper(wrapper: Option<Wrapper>) {
    WRAPPER.with(|w| *w.borrow_mut() = wrapper);
}

/// The `Vfs` to run on for `sim`: `sim` itself, or what the thread's wrapper makes of it.
pub fn wrap(sim: &SimVfs) -> Arc<dyn cairn_io::Vfs> {
    let wrapper = WRAPPER.with(|w| w.borrow().clone());
    match wrapper {
        Some(f) => f(sim.clone()),
        None => Arc::new(sim.clone()),
    }
}

fn snapshot_files(image: &SimVfs, layout: &Layout, suffix: &str) -> usize {
    image
        .live_tree()
        .files
        .keys()
        .filter(|p| p.parent() == Some(Path::new(&layout.snap)))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .count()
}

/// Checks the records and state a recovery produced against `exp`.
pub fn judge(r: &Recovered, exp: &Expect, v: &mut Verdict) {
    for w in r.records.windows(2) {
        if w[1].0 != w[0].0 + 1 {
            v.add(Kind::NotPrefix, 1, || {
                format!("gap in the log: {} then {}", w[0].0, w[1].0)
            });
            return;
        }
    }
    let snap_lsn = r.snapshot.map_or(0, |s| s.0);
    if let Some(first) = r.records.first()
        && first.0 > snap_lsn + 1
    {
        v.add(Kind::NotPrefix, 1, || {
            format!(
                "gap between the snapshot at {snap_lsn} and the log's first LSN {}",
                first.0
            )
        });
        return;
    }
    let last = r.last_lsn();
    let mut first_error = None;
    let mut matched = None;
    for h in &exp.cands {
        match matches(h, r) {
            Ok(()) => {
                matched = Some(h);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let Some(h) = matched else {
        let (kind, what) = first_error.expect("at least one candidate");
        v.add(kind, 1, || what);
        return;
    };
    if last < exp.required {
        v.add(Kind::AckedLost, exp.required - last, || {
            format!(
                "recovered up to LSN {last}, acknowledged up to {} ({} record(s) lost)",
                exp.required,
                exp.required - last
            )
        });
    }
    let at = |lsn: u64| usize::try_from(lsn).expect("small histories");
    if last > 0 && !h.recs[at(last - 1)].batch_end {
        v.add(Kind::TornBatch, 1, || {
            format!("the recovered log ends inside a batch at LSN {last}")
        });
    }
    if r.sys.state != h.states[at(last)] {
        v.add(Kind::Divergence, 1, || {
            format!(
                "state machine after recovery is {:?}, the model at LSN {last} is {:?}",
                r.sys.state,
                h.states[at(last)]
            )
        });
    }
}

fn matches(h: &History, r: &Recovered) -> std::result::Result<(), (Kind, String)> {
    let at = |lsn: u64| usize::try_from(lsn).expect("small histories");
    if let Some((s, state)) = r.snapshot {
        if s > h.len() {
            return Err((
                Kind::Phantom,
                format!("snapshot at LSN {s}, beyond the {} records issued", h.len()),
            ));
        }
        if state != h.states[at(s)] {
            return Err((
                Kind::Divergence,
                format!("the snapshot at LSN {s} holds another state than the model"),
            ));
        }
    }
    for (lsn, p) in &r.records {
        if *lsn == 0 || *lsn > h.len() {
            return Err((
                Kind::Phantom,
                format!("record at LSN {lsn}, beyond the {} records issued", h.len()),
            ));
        }
        if *h.recs[at(lsn - 1)].payload != p[..] {
            return Err((
                Kind::SilentCorruption,
                format!(
                    "record {lsn} has {} bytes never written at that LSN",
                    p.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Recovers `image` and checks it against `exp`; with `deep`, also recovers it a second
/// time (idempotence), appends and syncs one record, cuts the power and recovers again (the
/// recovered state and the new record must survive).
pub fn check_image(image: &SimVfs, layout: &Layout, exp: &Expect, deep: bool) -> Verdict {
    let mut v = Verdict::state();
    if exp.retention_applies {
        let n = snapshot_files(image, layout, ".snap");
        if n > 2 {
            v.add(Kind::StaleFiles, 1, || {
                format!("{n} snapshots after a crash with retention 2")
            });
        }
    }
    let r1 = match recover_guarded(image, layout) {
        Err(panic) => {
            v.add(Kind::Panic, 1, || format!("recovery panicked: {panic}"));
            return v;
        }
        Ok(Err(e)) => {
            v.add(Kind::RecoveryError, 1, || format!("recovery failed: {e:#}"));
            return v;
        }
        Ok(Ok(r)) => r,
    };
    judge(&r1, exp, &mut v);
    if deep && v.ok() {
        let first = Summary::of(&r1);
        let quarantine = r1.quarantine_files.clone();
        drop(r1);
        after_recovery(image, layout, &first, &quarantine, &mut v);
    }
    v
}

/// The checks after a successful recovery `first` of `image`: idempotence, then append +
/// sync + power loss loses nothing (neither the new record nor anything recovery reported).
pub fn after_recovery(
    image: &SimVfs,
    layout: &Layout,
    first: &Summary,
    quarantine: &[std::path::PathBuf],
    v: &mut Verdict,
) {
    let mut r2 = match recover_guarded(image, layout) {
        Err(panic) => {
            v.add(Kind::Panic, 1, || {
                format!("second recovery panicked: {panic}")
            });
            return;
        }
        Ok(Err(e)) => {
            v.add(Kind::NotIdempotent, 1, || {
                format!("second recovery failed: {e:#}")
            });
            return;
        }
        Ok(Ok(r)) => r,
    };
    let second = Summary::of(&r2);
    if &second != first {
        v.add(Kind::NotIdempotent, 1, || {
            format!(
                "second recovery differs: last LSN {} then {}",
                first.last, second.last
            )
        });
        return;
    }
    // Recovery makes what it reports durable: a power cut right after it changes nothing,
    // and the quarantine copies it made survive byte for byte.
    let early = image.crash_image(&CrashModel::DropAll);
    for q in quarantine {
        if early.file_bytes(q) != image.file_bytes(q) {
            v.add(Kind::StaleFiles, 1, || {
                format!(
                    "quarantine copy {} lost or cut short in a power cut after recovery",
                    q.display()
                )
            });
        }
    }
    match recover_guarded(&early, layout) {
        Err(panic) => v.add(Kind::Panic, 1, || {
            format!("recovery after a power cut panicked: {panic}")
        }),
        Ok(Err(e)) => v.add(Kind::RecoveryError, 1, || {
            format!("recovery, then a power cut, then recovery failed: {e:#}")
        }),
        Ok(Ok(r)) => {
            let again = Summary::of(&r);
            if again.last < first.last {
                v.add(Kind::AckedLost, first.last - again.last, || {
                    format!(
                        "recovery reported LSN {} but a power cut right after leaves {}",
                        first.last, again.last
                    )
                });
            } else if again.last != first.last
                || again.state != first.state
                || again.records != first.records
            {
                // The snapshot chosen may differ (a snapshot whose rename was not yet
                // durable when recovery loaded it): the same state from an older snapshot
                // and more log is the same result.
                v.add(Kind::NotIdempotent, 1, || {
                    format!(
                        "recovery, a power cut, and recovery again give another result: \
                         last LSN {} then {}, snapshot {:?} then {:?}, log {:?}..{:?} then {:?}..{:?}",
                        first.last,
                        again.last,
                        first.snapshot.map(|s| s.0),
                        again.snapshot.map(|s| s.0),
                        first.records.first().map(|r| r.0),
                        first.records.last().map(|r| r.0),
                        again.records.first().map(|r| r.0),
                        again.records.last().map(|r| r.0)
                    )
                });
            }
        }
    }
    let extra = payload(0x00A1_1CE0 ^ first.last, 77);
    let appended = guarded(|| r2.sys.append(&extra, Durability::Fsync));
    match appended {
        Err(panic) => {
            v.add(Kind::Panic, 1, || {
                format!("append after recovery panicked: {panic}")
            });
            return;
        }
        Ok(Err(e)) => {
            v.add(Kind::RecoveryError, 1, || {
                format!("append after recovery failed: {e:#}")
            });
            return;
        }
        Ok(Ok(lsn)) if lsn != first.last + 1 => {
            v.add(Kind::NotPrefix, 1, || {
                format!(
                    "append after recovery got LSN {lsn}, expected {}",
                    first.last + 1
                )
            });
            return;
        }
        Ok(Ok(_)) => {}
    }
    let mut want_state = first.state;
    want_state.apply(first.last + 1, &extra);
    drop(r2);
    let img = image.crash_image(&CrashModel::DropAll);
    let tmp = snapshot_files(&img, layout, ".tmp");
    if tmp > 0 {
        v.add(Kind::StaleFiles, 1, || {
            format!("{tmp} temporary snapshot file(s) back after a power cut")
        });
    }
    match recover_guarded(&img, layout) {
        Err(panic) => v.add(Kind::Panic, 1, || {
            format!("recovery after append panicked: {panic}")
        }),
        Ok(Err(e)) => v.add(Kind::RecoveryError, 1, || {
            format!("recovery after append failed: {e:#}")
        }),
        Ok(Ok(r3)) => {
            let last = r3.last_lsn();
            if last < first.last + 1 {
                v.add(Kind::AckedLost, first.last + 1 - last, || {
                    format!(
                        "after recovery (last LSN {}), an fsync'd append and a power cut: only {last} left",
                        first.last
                    )
                });
            } else if last > first.last + 1 {
                v.add(Kind::Phantom, 1, || {
                    format!(
                        "after recovery + one append: last LSN {last}, expected {}",
                        first.last + 1
                    )
                });
            } else if r3.sys.state != want_state {
                v.add(Kind::Divergence, 1, || {
                    "after recovery + one append + power cut: state differs".into()
                });
            }
        }
    }
}
