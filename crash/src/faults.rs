//! `cairn-crash faults`: one suite per fault class, each with its pass rule.
//!
//! | Class | Pass rule |
//! |---|---|
//! | `fsync_eio` | the failing append (or checkpoint) is not acknowledged; the log is poisoned: nothing is acknowledged afterwards; recovery (process crash and power loss) keeps every earlier acknowledgment |
//! | `write_eio` | as `fsync_eio`, for failed writes |
//! | `short_write` | short writes are completed by the writer: everything acknowledged, everything recovered |
//! | `enospc` | no acknowledgment for the append that hit the full device; once space is freed, a reopen recovers every acknowledgment, a valid frame never follows a partial one, and appends work again |
//! | `bit_flip` | every byte of a small log and of a snapshot, one bit at a time: detected (recovery or a read fails) or harmless; never served as data; only the last record — which no later frame vouches for — may be cut as a torn tail, and then it is reported |
//! | `truncation` | every length of every log segment and of a snapshot: a sealed segment cut short is refused; the last one yields a correct prefix; a snapshot cut short is never restored |
//! | `misdirect` | a write landing elsewhere never yields wrong records; losses are counted |
//! | `dir_entry_loss` | each file's directory entry lost: never wrong records; losses are counted |
//!
//! Loss that no checksum can reveal (the last segment or the last frame gone entirely) is
//! reported as `*_undetectable_loss` and does not fail the run; see `docs/TESTING.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use cairn_io::{Op, OpenMode, Vfs};
use cairn_sim::{CrashModel, FaultKind, FaultRule, SimVfs};
use cairn_wal::Durability;

use crate::check::{self, Expect, Kind, Verdict, watch};
use crate::explore::base_dir;
use crate::figures::Figures;
use crate::rng::derive;
use crate::system::{Layout, Sys, recover};
use crate::workload::{History, payload};

/// Segment size of the fault workloads.
const SEGMENT: u64 = 4096;
/// Records per fault workload.
const RECORDS: u64 = 24;

/// Per-class tallies.
#[derive(Default, Debug)]
struct Class {
    cases: u64,
    detected: u64,
    harmless: u64,
    undetectable_loss: u64,
    violations: u64,
    first: Vec<String>,
}

const FIRST_KEPT: usize = 6;

impl Class {
    fn violation(&mut self, what: String) {
        self.violations += 1;
        if self.first.len() < FIRST_KEPT {
            self.first.push(what);
        }
    }

    fn verdict(&mut self, v: &Verdict, name: &str, case: &str) {
        if let Some((kind, what)) = &v.first {
            self.violations += v.counts.total().max(1);
            if self.first.len() < FIRST_KEPT {
                self.first.push(format!("{name} {case}: {kind:?}: {what}"));
            }
        }
    }
}

/// The workload's outcome: the history of what reached the log's LSNs and what was acked.
struct Driven {
    sim: SimVfs,
    history: History,
    acked: u64,
    failed: bool,
    acked_after_failure: u64,
}

/// Runs `RECORDS` fsync'd appends with a checkpoint every eighth, with `rule` installed after
/// the system opened.
fn drive(seed: u64, rule: Option<FaultRule>, capacity: Option<u64>) -> Driven {
    let layout = Layout::sim(SEGMENT);
    let sim = SimVfs::new(seed);
    let mut d = Driven {
        sim: sim.clone(),
        history: History::new(),
        acked: 0,
        failed: false,
        acked_after_failure: 0,
    };
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    base_dir(&*vfs, &layout).expect("no faults yet");
    let mut sys = recover(vfs, &layout).expect("no faults yet").sys;
    if let Some(rule) = rule {
        sim.add_fault(rule);
    }
    sim.set_capacity(capacity);
    let mut written: Vec<Vec<u8>> = Vec::new();
    for i in 0..RECORDS {
        if i % 8 == 7 {
            // A failed checkpoint poisons the store, not necessarily the log: appends may go on.
            let _ = sys.checkpoint();
            continue;
        }
        let p = payload(derive(seed, i), 40 + (derive(seed, i) % 400) as usize);
        let lsn_before = sys.wal.next_lsn().get();
        match sys.append(&p, Durability::Fsync) {
            Ok(lsn) => {
                written.push(p);
                assert_eq!(lsn, written.len() as u64, "dense LSNs");
                if d.failed {
                    d.acked_after_failure += 1;
                } else {
                    d.acked = lsn;
                }
            }
            Err(_) => {
                // The record may have reached the log (its LSN was assigned) or not.
                if sys.wal.next_lsn().get() > lsn_before {
                    written.push(p);
                }
                d.failed = true;
            }
        }
    }
    d.history = History::of(&written);
    drop(sys);
    d
}

fn expect(d: &Driven) -> Expect {
    Expect {
        cands: vec![Arc::new(d.history.clone())],
        required: d.acked,
        retention_applies: false,
    }
}

/// fsync EIO / write EIO / short writes: the rule's class.
fn run_rule_class(name: &str, rules: Vec<FaultRule>, expect_failure: bool, class: &mut Class) {
    let layout = Layout::sim(SEGMENT);
    for (i, rule) in rules.into_iter().enumerate() {
        let seed = derive(0xFA17, i as u64);
        let _w = watch(|| format!("cairn-crash faults ({name} case {i})"));
        let d = drive(seed, Some(rule.clone()), None);
        class.cases += 1;
        if d.acked_after_failure > 0 {
            class.violation(format!(
                "{name} {rule:?}: {} append(s) acknowledged after the failure",
                d.acked_after_failure
            ));
        }
        if d.failed {
            class.detected += 1;
        } else if expect_failure && d.sim.stats().faults_injected > 0 && rule_is_wal_data(&rule) {
            class.violation(format!(
                "{name} {rule:?}: the fault fired but no append failed"
            ));
        } else {
            class.harmless += 1;
        }
        for model in [CrashModel::Process, CrashModel::DropAll] {
            let image = d.sim.crash_image(&model);
            let v = check::check_image(&image, &layout, &expect(&d), true);
            class.verdict(&v, name, &format!("{rule:?} then {model:?}"));
        }
    }
}

/// Whether the rule hits a write or fdatasync of a segment: calls only appends make, so an
/// append must fail. (Creates and directory syncs also come from best-effort preparation of
/// the next segment, whose failure is reported to a later append only if it matters.)
fn rule_is_wal_data(rule: &FaultRule) -> bool {
    let text = format!("{rule:?}");
    text.contains(".wal") && (text.contains("SyncData") || text.contains("Write"))
}

fn eio_rules(op: Op, needle: &str, count: u64) -> Vec<FaultRule> {
    (1..=count)
        .map(|n| {
            FaultRule::new(FaultKind::Eio)
                .on(op)
                .path_contains(needle)
                .nth(n)
        })
        .collect()
}

/// ENOSPC at many capacities, then space freed.
fn enospc(class: &mut Class) {
    let layout = Layout::sim(SEGMENT);
    for (i, cap) in (4_000..20_000u64).step_by(400).enumerate() {
        let _w = watch(|| format!("cairn-crash faults (enospc capacity {cap})"));
        let seed = derive(0x0E05, i as u64);
        let d = drive(seed, None, Some(cap));
        class.cases += 1;
        if d.acked_after_failure > 0 {
            class.violation(format!("enospc {cap}: acknowledged after the failure"));
        }
        if d.failed {
            class.detected += 1;
        } else {
            class.harmless += 1;
        }
        // Space freed; the process restarts on the same machine.
        d.sim.set_capacity(None);
        let v = check::check_image(&d.sim, &layout, &expect(&d), false);
        class.verdict(
            &v,
            "enospc",
            &format!("capacity {cap}, reopen after space freed"),
        );
        match check::recover_guarded(&d.sim, &layout) {
            Ok(Ok(mut r)) => {
                let last = r.last_lsn();
                match r.sys.append(b"after space freed", Durability::Fsync) {
                    Ok(lsn) if lsn == last + 1 => {}
                    other => class.violation(format!(
                        "enospc {cap}: append after space freed: {:?}",
                        other.map_err(|e| e.to_string())
                    )),
                }
            }
            other => class.violation(format!(
                "enospc {cap}: reopen after space freed failed: {}",
                other.map_or_else(
                    |p| p,
                    |r| r.err().map(|e| format!("{e:#}")).unwrap_or_default()
                )
            )),
        }
        let image = d.sim.crash_image(&CrashModel::DropAll);
        let mut e = expect(&d);
        let mut after = d.history.clone();
        after.push(b"after space freed", true);
        e.cands.push(Arc::new(after));
        let v = check::check_image(&image, &layout, &e, false);
        class.verdict(&v, "enospc", &format!("capacity {cap}, then power loss"));
    }
}

/// A clean small log (and, with `checkpoint`, a snapshot), closed: the media to damage.
fn small_log(seed: u64, records: u64, checkpoint_at: Option<u64>) -> (SimVfs, History) {
    let layout = Layout::sim(SEGMENT);
    let sim = SimVfs::new(seed);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    base_dir(&*vfs, &layout).expect("no faults");
    let mut sys: Sys = recover(vfs, &layout).expect("no faults").sys;
    let mut payloads = Vec::new();
    for i in 0..records {
        let p = payload(derive(seed, i), 60 + (derive(seed, i) % 200) as usize);
        sys.append(&p, Durability::Fsync).expect("no faults");
        payloads.push(p);
        if checkpoint_at == Some(i + 1) {
            sys.checkpoint().expect("no faults");
        }
    }
    sys.wal.close().expect("no faults");
    drop(sys);
    (
        sim.crash_image(&CrashModel::DropAll),
        History::of(&payloads),
    )
}

fn files_under(sim: &SimVfs, dir: &Path) -> Vec<PathBuf> {
    sim.durable_tree()
        .files
        .keys()
        .filter(|p| p.parent() == Some(dir))
        .cloned()
        .collect()
}

/// The highest-numbered segment file whose header was written (a preallocated spare is all
/// zeros).
fn last_used_segment(image: &SimVfs, files: &[PathBuf]) -> Option<PathBuf> {
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .filter(|p| {
            image
                .durable_file_bytes(p)
                .is_some_and(|b| b.iter().take(64).any(|&x| x != 0))
        })
        .max()
        .cloned()
}

/// How a damaged image recovered.
enum Outcome {
    Detected,
    Full,
    TailCut { reported: bool, lost: u64 },
    Wrong(String),
}

fn classify(image: &SimVfs, history: &History) -> Outcome {
    let layout = Layout::sim(SEGMENT);
    let exp = Expect {
        cands: vec![Arc::new(history.clone())],
        required: 0,
        retention_applies: false,
    };
    match check::recover_guarded(image, &layout) {
        Err(p) => Outcome::Wrong(format!("recovery panicked: {p}")),
        Ok(Err(_)) => Outcome::Detected,
        Ok(Ok(r)) => {
            let mut v = Verdict::default();
            check::judge(&r, &exp, &mut v);
            if let Some((kind, what)) = v.first
                && kind != Kind::AckedLost
            {
                return Outcome::Wrong(format!("{kind:?}: {what}"));
            }
            let last = r.last_lsn();
            if last >= history.len() {
                Outcome::Full
            } else {
                Outcome::TailCut {
                    reported: !r.quarantine_files.is_empty(),
                    lost: history.len() - last,
                }
            }
        }
    }
}

/// Damages `image` at `path`/`offset` by xor and rebuilds it as after a reboot.
fn flipped(image: &SimVfs, path: &Path, offset: u64, xor: u8) -> SimVfs {
    let copy = image.crash_image(&CrashModel::DropAll);
    copy.corrupt_durable(path, offset, xor);
    copy.crash_image(&CrashModel::DropAll)
}

fn bit_flips(class: &mut Class) {
    // The log: every byte of every segment file.
    let (image, history) = small_log(0xB17, 16, None);
    let layout = Layout::sim(SEGMENT);
    for path in files_under(&image, &layout.wal) {
        let len = image
            .durable_file_bytes(&path)
            .map_or(0, |b| b.len() as u64);
        for offset in 0..len {
            let _w = watch(|| {
                format!(
                    "cairn-crash faults (bit flip {} @ {offset})",
                    path.display()
                )
            });
            let xor = 1u8 << (offset % 8);
            class.cases += 1;
            match classify(&flipped(&image, &path, offset, xor), &history) {
                Outcome::Detected => class.detected += 1,
                Outcome::Full => class.harmless += 1,
                Outcome::TailCut { reported: true, lost: 1 } => class.detected += 1,
                Outcome::TailCut { reported, lost } => class.violation(format!(
                    "bit flip at {} offset {offset}: {lost} acknowledged record(s) dropped (reported: {reported})",
                    path.display()
                )),
                Outcome::Wrong(what) => {
                    class.violation(format!("bit flip at {} offset {offset}: {what}", path.display()))
                }
            }
        }
    }
    // A snapshot: every byte.
    let (image, history) = small_log(0xB18, 10, Some(10));
    for path in files_under(&image, &layout.snap) {
        let len = image
            .durable_file_bytes(&path)
            .map_or(0, |b| b.len() as u64);
        for offset in 0..len {
            let _w = watch(|| format!("cairn-crash faults (snapshot bit flip @ {offset})"));
            class.cases += 1;
            match classify(
                &flipped(&image, &path, offset, 1u8 << (offset % 8)),
                &history,
            ) {
                Outcome::Detected => class.detected += 1,
                Outcome::Full => class.harmless += 1,
                Outcome::TailCut { lost, .. } => class.violation(format!(
                    "snapshot bit flip at offset {offset}: {lost} record(s) lost silently"
                )),
                Outcome::Wrong(what) => {
                    class.violation(format!("snapshot bit flip at offset {offset}: {what}"))
                }
            }
        }
    }
}

fn truncations(class: &mut Class) {
    let layout = Layout::sim(SEGMENT);
    let (image, history) = small_log(0x7C, 16, None);
    let mut segments = files_under(&image, &layout.wal);
    segments.retain(|p| p.extension().is_some_and(|e| e == "wal"));
    segments.sort();
    let last_segment = last_used_segment(&image, &segments);
    let (snap_image, snap_history) = small_log(0x7D, 10, Some(10));
    let mut targets: Vec<(SimVfs, PathBuf, bool, &History)> = segments
        .iter()
        .map(|p| {
            (
                image.clone(),
                p.clone(),
                Some(p) == last_segment.as_ref(),
                &history,
            )
        })
        .collect();
    for p in files_under(&snap_image, &layout.snap) {
        targets.push((snap_image.clone(), p, false, &snap_history));
    }
    for (base, path, is_last, history) in targets {
        let len = base.durable_file_bytes(&path).map_or(0, |b| b.len() as u64);
        for cut in 0..len {
            let _w = watch(|| format!("cairn-crash faults (truncate {} to {cut})", path.display()));
            let copy = base.crash_image(&CrashModel::DropAll);
            let Ok(file) = copy.open(&path, OpenMode::ReadWrite) else {
                continue;
            };
            if file.set_len(cut).and_then(|()| file.sync_data()).is_err() {
                continue;
            }
            drop(file);
            class.cases += 1;
            match classify(&copy.crash_image(&CrashModel::DropAll), history) {
                Outcome::Detected => class.detected += 1,
                Outcome::Full => class.harmless += 1,
                Outcome::TailCut { .. } if is_last => class.undetectable_loss += 1,
                Outcome::TailCut { lost, .. } => class.violation(format!(
                    "{} truncated to {cut}: {lost} record(s) lost silently",
                    path.display()
                )),
                Outcome::Wrong(what) => {
                    class.violation(format!("{} truncated to {cut}: {what}", path.display()))
                }
            }
        }
    }
}

fn misdirects(class: &mut Class) {
    for n in 1..=20u64 {
        for delta in [-4096i64, -512, -8, 8, 512, 4096] {
            let _w = watch(|| format!("cairn-crash faults (misdirect write {n} by {delta})"));
            let rule = FaultRule::new(FaultKind::Misdirect { delta })
                .on(Op::Write)
                .path_contains(".wal")
                .nth(n);
            let d = drive(derive(0x3D, n), Some(rule), None);
            class.cases += 1;
            let image = d.sim.crash_image(&CrashModel::DropAll);
            match classify(&image, &d.history) {
                Outcome::Detected => class.detected += 1,
                Outcome::Full => class.harmless += 1,
                Outcome::TailCut { .. } => class.undetectable_loss += 1,
                Outcome::Wrong(what) => {
                    class.violation(format!("misdirect write {n} by {delta}: {what}"))
                }
            }
        }
    }
}

fn dir_entry_loss(class: &mut Class) {
    let layout = Layout::sim(SEGMENT);
    let (image, history) = small_log(0xD1, 30, Some(20));
    let mut files = files_under(&image, &layout.wal);
    files.extend(files_under(&image, &layout.snap));
    let last_segment = last_used_segment(&image, &files);
    for path in files {
        let _w = watch(|| format!("cairn-crash faults (entry loss {})", path.display()));
        let copy = image.crash_image(&CrashModel::DropAll);
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if copy
            .remove_file(&path)
            .and_then(|()| copy.sync_dir(&parent))
            .is_err()
        {
            continue;
        }
        class.cases += 1;
        match classify(&copy.crash_image(&CrashModel::DropAll), &history) {
            Outcome::Detected => class.detected += 1,
            Outcome::Full => class.harmless += 1,
            Outcome::TailCut { .. } if Some(&path) == last_segment.as_ref() => {
                class.undetectable_loss += 1;
            }
            Outcome::TailCut { lost, .. } => class.violation(format!(
                "entry of {} lost: {lost} record(s) lost silently",
                path.display()
            )),
            Outcome::Wrong(what) => {
                class.violation(format!("entry of {} lost: {what}", path.display()))
            }
        }
    }
}

/// `cairn-crash faults`.
pub fn main(json: Option<PathBuf>) -> Result<bool> {
    let start = Instant::now();
    let mut classes: Vec<(&str, Class)> = Vec::new();

    let mut c = Class::default();
    let mut rules = eio_rules(Op::SyncData, ".wal", 20);
    rules.extend(eio_rules(Op::SyncDir, "/db/wal", 6));
    rules.extend(eio_rules(Op::SyncAll, ".tmp", 3));
    rules.extend(eio_rules(Op::SyncDir, "/db/snap", 4));
    rules.extend(eio_rules(Op::SyncData, "FRONT", 3));
    run_rule_class("fsync_eio", rules, true, &mut c);
    classes.push(("fsync_eio", c));

    let mut c = Class::default();
    let mut rules = eio_rules(Op::Write, ".wal", 30);
    rules.extend(eio_rules(Op::Write, ".tmp", 3));
    rules.extend(eio_rules(Op::Create, "/db/", 6));
    rules.extend(eio_rules(Op::Rename, "/db/", 4));
    run_rule_class("write_eio", rules, true, &mut c);
    classes.push(("write_eio", c));

    let mut c = Class::default();
    let rules = (0..10)
        .map(|_| {
            FaultRule::new(FaultKind::ShortWrite)
                .on(Op::Write)
                .per_million(400_000)
        })
        .collect();
    run_rule_class("short_write", rules, false, &mut c);
    classes.push(("short_write", c));

    let mut c = Class::default();
    enospc(&mut c);
    classes.push(("enospc", c));

    let mut c = Class::default();
    bit_flips(&mut c);
    classes.push(("bit_flip", c));

    let mut c = Class::default();
    truncations(&mut c);
    classes.push(("truncation", c));

    let mut c = Class::default();
    misdirects(&mut c);
    classes.push(("misdirect", c));

    let mut c = Class::default();
    dir_entry_loss(&mut c);
    classes.push(("dir_entry_loss", c));

    let mut figures = Figures::new();
    let mut violations = 0;
    for (name, c) in &classes {
        figures.push(&format!("{name}_cases"), c.cases);
        figures.push(&format!("{name}_detected"), c.detected);
        figures.push(&format!("{name}_harmless"), c.harmless);
        if c.undetectable_loss > 0 || matches!(*name, "truncation" | "misdirect" | "dir_entry_loss")
        {
            figures.push(&format!("{name}_undetectable_loss"), c.undetectable_loss);
        }
        figures.push(&format!("{name}_violations"), c.violations);
        violations += c.violations;
    }
    figures.push("violations", violations);
    figures.push("duration_s", start.elapsed().as_secs_f64());
    figures.print("crash faults");
    if let Some(path) = json {
        figures.write(&path)?;
    }
    for (name, c) in &classes {
        if !c.first.is_empty() {
            eprintln!("{name}: {} violation(s); first ones:", c.violations);
            for f in &c.first {
                eprintln!("  {f}");
            }
        }
    }
    Ok(violations == 0)
}
