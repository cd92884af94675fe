//! `cairn-crash kill`: the SIGKILL harness on the real file system.
//!
//! The binary re-executes itself as a child (`kill-child`) that recovers the store in a
//! temporary directory kept across cycles, then appends (singles and batches at every
//! level), syncs and checkpoints, streaming `S` (submit) and `A` (acknowledge) lines over
//! its stdout. The parent kills it with SIGKILL after a seeded delay, or the child aborts
//! itself at a kill point (`CAIRN_CRASH_KILL=kind:n`, see [`crate::journal::KillVfs`]).
//! After every kill the parent:
//!
//! 1. replays the child's journal into `cairn-sim` and checks that the simulated machine
//!    holds exactly the files of the real one;
//! 2. cuts the power there (drop-all and seeded subsets of the unsynced calls) and checks
//!    every `Fsync` acknowledgment survives — power loss on the *real* interleaving;
//! 3. recovers the real directory and checks every acknowledged record (any level: the OS
//!    survived) is present and byte-identical and nothing unsubmitted appears.
//!
//! Lines: `R <last>` after recovery, `READY`, `S <first> <count> <seed>` before an append
//! (payloads derive from the seed), `A <first> <count> <level>` after it returns, `K <point>
//! <n>` at a kill point.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_io::{StdVfs, Vfs};
use cairn_sim::CrashModel;
use cairn_wal::Durability;

use crate::check::{self, Counts, Expect, KINDS, Kind, Verdict};
use crate::figures::Figures;
use crate::journal::{Journal, JournalVfs, KILL_POINTS, KillVfs, Replayer};
use crate::rng::{Rng, clock_seed, derive};
use crate::system::{Layout, recover};
use crate::workload::{History, payload};

/// The child's subcommand.
pub const CHILD_COMMAND: &str = "kill-child";
/// Segment size on disk: 16 KiB, so rotations are frequent.
const SEGMENT: u64 = 16 << 10;
/// Operations a child makes at most before it exits by itself.
const CHILD_OPS_MAX: u64 = 100_000;

fn layout(base: &Path) -> Layout {
    Layout::under(&base.join("db"), SEGMENT)
}

fn record_payload(seed: u64, k: u64) -> Vec<u8> {
    let s = derive(seed, k);
    payload(s, (s % 1200) as usize)
}

fn level_name(level: Durability) -> &'static str {
    match level {
        Durability::Fsync => "fsync",
        Durability::Buffered => "buffered",
        _ => "none",
    }
}

/// The child: recover, then append until killed.
pub fn child_main(args: &[String]) -> Result<bool> {
    let mut dir = None;
    let mut seed = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = it.next().map(PathBuf::from),
            "--seed" => seed = it.next().context("--seed value")?.parse()?,
            other => bail!("kill-child: unexpected {other:?}"),
        }
    }
    let base = dir.context("kill-child needs --dir")?;
    let journal = Journal::open(&base.join("journal.bin"))?;
    let mut vfs: Arc<dyn Vfs> = Arc::new(JournalVfs::new(Arc::new(StdVfs::new()), journal));
    if let Some((point, n)) = std::env::var("CAIRN_CRASH_KILL")
        .ok()
        .as_deref()
        .and_then(KillVfs::parse)
    {
        vfs = Arc::new(KillVfs::new(vfs, point, n));
    }
    let layout = layout(&base);
    let r = recover(vfs, &layout)?;
    println!("R {}", r.last_lsn());
    println!("READY");
    let mut sys = r.sys;
    let mut rng = Rng::new(seed);
    let mut k = 0u64;
    for _ in 0..CHILD_OPS_MAX {
        let level = match rng.below(10) {
            0..=4 => Durability::Fsync,
            5..=8 => Durability::Buffered,
            _ => Durability::None,
        };
        match rng.below(20) {
            0 => {
                sys.checkpoint()?;
            }
            1 => {
                sys.wal.sync()?;
            }
            2..=4 => {
                let n = 2 + rng.below(3);
                let first = sys.wal.next_lsn().get();
                println!("S {first} {n} {seed}:{k}");
                let batch: Vec<Vec<u8>> = (0..n).map(|j| record_payload(seed, k + j)).collect();
                k += n;
                let got = sys.append_batch(&batch, level)?;
                println!("A {got} {n} {}", level_name(level));
            }
            _ => {
                let first = sys.wal.next_lsn().get();
                println!("S {first} 1 {seed}:{k}");
                let p = record_payload(seed, k);
                k += 1;
                let got = sys.append(&p, level)?;
                println!("A {got} 1 {}", level_name(level));
            }
        }
    }
    sys.wal.close()?;
    Ok(true)
}

/// The parent's record of the store: the history by LSN and what was acknowledged.
struct Ledger {
    /// Payloads by LSN.
    payloads: Vec<Vec<u8>>,
    /// Highest LSN acknowledged at `Buffered` or above (must survive a process kill).
    acked: u64,
    /// Highest LSN acknowledged at `Fsync` (must survive power loss).
    acked_fsync: u64,
    /// Acknowledged appends in all.
    acks: u64,
}

impl Ledger {
    fn history(&self) -> Arc<History> {
        Arc::new(History::of(&self.payloads))
    }

    fn line(&mut self, line: &str, kill_points: &mut u64) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["S", first, n, seed_k] => {
                let (Ok(first), Ok(n)) = (first.parse::<u64>(), n.parse::<u64>()) else {
                    return;
                };
                let Some((seed, k)) = seed_k.split_once(':') else {
                    return;
                };
                let (Ok(seed), Ok(k)) = (seed.parse::<u64>(), k.parse::<u64>()) else {
                    return;
                };
                // A submission replaces whatever the log held from `first` on (only an
                // unacknowledged tail, cut by the recovery before it).
                self.payloads
                    .truncate(usize::try_from(first - 1).unwrap_or(0));
                for j in 0..n {
                    self.payloads.push(record_payload(seed, k + j));
                }
            }
            ["A", first, n, level] => {
                let (Ok(first), Ok(n)) = (first.parse::<u64>(), n.parse::<u64>()) else {
                    return;
                };
                let end = first + n - 1;
                self.acks += 1;
                if *level != "none" {
                    self.acked = self.acked.max(end);
                }
                if *level == "fsync" {
                    self.acked_fsync = self.acked_fsync.max(end);
                }
            }
            ["K", ..] => *kill_points += 1,
            _ => {}
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "compares the real directory with its simulated replay"
)]
fn real_files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            real_files(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
}

/// `cairn-crash kill`.
pub fn main(cycles: u64, seed: Option<u64>, json: Option<PathBuf>) -> Result<bool> {
    let seed = seed.unwrap_or_else(clock_seed);
    println!("cairn-crash kill --cycles {cycles} --seed {seed}");
    let start = Instant::now();
    let tmp = tempfile::tempdir().context("creating the harness directory")?;
    let base = tmp.path().to_path_buf();
    let journal_path = base.join("journal.bin");
    let journal = Journal::open(&journal_path)?;
    let layout = layout(&base);
    let exe = std::env::current_exe()?;
    let mut rng = Rng::new(seed);
    let mut replayer = Replayer::new(seed);
    // The harness directory exists and is durable before the first child starts, as a
    // data directory would be; the simulated machine starts the same way.
    replayer.sim.create_dir_all(&base)?;
    for dir in base.ancestors().skip(1) {
        replayer.sim.sync_dir(dir)?;
    }
    let mut ledger = Ledger {
        payloads: Vec::new(),
        acked: 0,
        acked_fsync: 0,
        acks: 0,
    };
    let mut counts = Counts::default();
    let mut first_problem: Option<String> = None;
    let mut kill_points = 0u64;
    let mut killed = 0u64;
    let mut powerloss = 0u64;
    let mut journal_mismatches = 0u64;
    let mut suspect_replays = 0u64;
    let mut inflight_calls = 0u64;
    let mut partial_records = 0u64;
    let mut record = |v: &Verdict, what: &str, counts: &mut Counts| {
        counts.add(&v.counts);
        if let (Some((kind, msg)), None) = (&v.first, &first_problem) {
            first_problem = Some(format!("{what}: {kind:?}: {msg}"));
        }
    };
    let mut cycles_run = 0u64;
    for cycle in 0..cycles {
        cycles_run += 1;
        let child_seed = derive(seed, cycle);
        let mut command = Command::new(&exe);
        command
            .args([CHILD_COMMAND, "--dir"])
            .arg(&base)
            .args(["--seed", &child_seed.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let point = (rng.below(2) == 0).then(|| {
            let (p, name) = KILL_POINTS[rng.below(KILL_POINTS.len() as u64) as usize];
            let n = 1 + rng.below(if p == crate::journal::KillPoint::Recovery {
                12
            } else {
                25
            });
            (p, format!("{name}:{n}"))
        });
        match &point {
            Some((_, spec)) => {
                command.env("CAIRN_CRASH_KILL", spec);
            }
            None => {
                command.env_remove("CAIRN_CRASH_KILL");
            }
        }
        let mut child = command.spawn().context("starting the child")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let delay = Duration::from_millis(1 + rng.below(30));
        let deadline = if point.is_some() {
            Duration::from_millis(400)
        } else {
            delay
        };
        let mut ready_at: Option<Instant> = None;
        let began = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(line) => {
                    if line == "READY" {
                        ready_at = Some(Instant::now());
                    }
                    ledger.line(&line, &mut kill_points);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let due = ready_at.map_or(began.elapsed() > Duration::from_secs(10), |t| {
                t.elapsed() >= deadline
            });
            if due {
                let _ = child.kill();
                killed += 1;
                break;
            }
        }
        let _ = child.wait();
        let _ = reader.join();
        for line in rx.try_iter() {
            ledger.line(&line, &mut kill_points);
        }

        // 1. The journal replayed into cairn-sim matches the real directory.
        replayer.catch_up(&journal_path)?;
        let partial_journal = replayer.drop_partial_tail(&journal_path)? > 0;
        if partial_journal {
            partial_records += 1;
        }
        let mut real = Vec::new();
        real_files(&base.join("db"), &mut real);
        // StdVfs's lock files are not part of the store (SimVfs keeps locks in a registry).
        real.retain(|(p, _)| p.file_name().is_none_or(|n| n != "LOCK"));
        let sim_tree = replayer.sim.live_tree();
        let inflight = std::mem::take(&mut replayer.inflight);
        let db = base.join("db");
        let mut sim_files: Vec<&PathBuf> = sim_tree
            .files
            .keys()
            .filter(|p| p.starts_with(&db) && !inflight.contains(p))
            .collect();
        sim_files.sort();
        let mut real_paths: Vec<&PathBuf> = real
            .iter()
            .map(|(p, _)| p)
            .filter(|p| !inflight.contains(p))
            .collect();
        real_paths.sort();
        let mut mismatch = sim_files != real_paths;
        for (path, bytes) in &real {
            if !inflight.contains(path) && sim_tree.files.get(path) != Some(bytes) {
                mismatch = true;
            }
        }
        if !inflight.is_empty() {
            inflight_calls += 1;
        }
        // A child killed inside a journal write leaves a journal the harness cannot fully
        // trust (an open harness defect, see docs/TESTING.md): if the replay then differs from
        // the real directory, the replay is not the real interleaving, so its power-loss
        // images are skipped and counted rather than judged. Any other mismatch fails the run.
        let replay_suspect = mismatch && partial_journal;
        if replay_suspect {
            suspect_replays += 1;
            eprintln!(
                "cycle {cycle}: killed inside a journal write and the replay differs from the \
                 real file system; its power-loss images are skipped"
            );
        } else if mismatch {
            journal_mismatches += 1;
            eprintln!("cycle {cycle}: the journal replay differs from the real file system");
        }

        // 2. Power loss on the real interleaving.
        let history = ledger.history();
        let power = Expect {
            cands: vec![history.clone()],
            required: ledger.acked_fsync,
            retention_applies: false,
        };
        let mut models = vec![CrashModel::DropAll];
        for _ in 0..3 {
            models.push(CrashModel::RandomSubset {
                seed: rng.next_u64(),
            });
        }
        for model in models.into_iter().filter(|_| !replay_suspect) {
            let image = replayer.sim.crash_image(&model);
            let v = check::check_image(&image, &layout, &power, false);
            powerloss += 1;
            record(
                &v,
                &format!("cycle {cycle}, power loss {model:?}"),
                &mut counts,
            );
        }

        // 3. The real directory after the kill (the OS survived: every ack counts).
        let process = Expect {
            cands: vec![history],
            required: ledger.acked,
            retention_applies: false,
        };
        let vfs: Arc<dyn Vfs> = Arc::new(JournalVfs::new(Arc::new(StdVfs::new()), journal.clone()));
        let mut v = Verdict::default();
        v.counts.states = 1;
        match check::guarded(|| recover(vfs, &layout)) {
            Err(p) => v.add(Kind::Panic, 1, || format!("recovery panicked: {p}")),
            Ok(Err(e)) => v.add(Kind::RecoveryError, 1, || format!("recovery failed: {e:#}")),
            Ok(Ok(r)) => {
                check::judge(&r, &process, &mut v);
                let last = r.last_lsn();
                ledger.payloads.truncate(usize::try_from(last).unwrap_or(0));
                ledger.acked = ledger.acked.min(last);
                ledger.acked_fsync = ledger.acked_fsync.min(last);
                drop(r);
            }
        }
        record(
            &v,
            &format!(
                "cycle {cycle} ({})",
                point.as_ref().map_or("random delay", |p| p.1.as_str())
            ),
            &mut counts,
        );
        replayer.catch_up(&journal_path)?;
        if !v.ok() {
            // The real directory no longer recovers: later cycles could only repeat it.
            break;
        }
    }
    let mut figures = Figures::new();
    figures.push("cycles", cycles_run);
    figures.push("acked", ledger.acks);
    figures.push("acked_lost", counts.get(Kind::AckedLost));
    figures.push("kill_points_hit", kill_points);
    figures.push("killed_by_parent", killed);
    figures.push("powerloss_images_checked", powerloss);
    figures.push("journal_mismatches", journal_mismatches);
    figures.push("suspect_replays_skipped", suspect_replays);
    figures.push("kills_during_a_call", inflight_calls);
    figures.push("kills_during_a_journal_write", partial_records);
    for (kind, name) in KINDS {
        if kind != Kind::AckedLost {
            figures.push(name, counts.get(kind));
        }
    }
    figures.push("duration_s", start.elapsed().as_secs_f64());
    figures.push("seed", seed.to_string().as_str());
    figures.print("crash kill");
    if let Some(path) = json {
        figures.write(&path)?;
    }
    if let Some(p) = &first_problem {
        eprintln!(
            "first violation: {p}\n  replay: cargo xtask crash kill --cycles {cycles} --seed {seed}"
        );
    }
    Ok(counts.total() == 0 && journal_mismatches == 0 && cycles_run == cycles)
}
