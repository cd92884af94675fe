//! `cairn-bench`: the Cairn WAL against the logs a user would pick instead (raft-engine,
//! okaywal, fjall's journal, sled, redb, walrus-rust), beside the machine's own limits, all in
//! one run on one disk (issue 6).
//!
//! Usage: `cargo xtask bench --quick|--full [--json PATH] [--dir DIR] [--only a,b]
//! [--cells key,key]`. `--quick` prints the tables; `--full` runs longer, with more repeats and
//! cells, and regenerates docs/BENCHMARKS.md and docs/bench/*.svg. `--cells` runs only the named
//! throughput cells (`Cell::key`, e.g. `buffered_128b`) and the named sections (`latency`,
//! `recovery`, `honesty`); such a partial run never rewrites the docs. Two internal modes re-run
//! this binary as a child: `--writer` (writes a volume, then waits to be SIGKILLed) and `--probe`
//! (durable or buffered appends under strace, for the honesty columns).

mod honesty;
mod limits;
mod machine;
mod peers;
mod report;
mod stats;
mod subject;
mod svg;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::report::{Limits, Report, Row, Value};
use crate::stats::Spread;
use crate::subject::Peer;
use crate::workload::{Budget, Cell, Mode};

const SIZES: [usize; 4] = [64, 128, 1024, 64 * 1024];
const BATCH: usize = 100;

/// Everything that differs between `--quick` and `--full`.
struct Profile {
    name: &'static str,
    budget: Budget,
    cells: Vec<Cell>,
    limit_repeats: usize,
    limit_duration: Duration,
    bandwidth_bytes: u64,
    checksum_buffer: usize,
    latency_count: usize,
    latency_time_cap: Duration,
    rotation_segment: u64,
    recovery_count: u64,
    recovery_repeats: usize,
}

impl Profile {
    fn new(full: bool) -> Profile {
        let mut cells = Vec::new();
        for size in SIZES {
            cells.push(Cell {
                size,
                threads: 1,
                mode: Mode::Buffered,
            });
        }
        for size in SIZES {
            cells.push(Cell {
                size,
                threads: 1,
                mode: Mode::Durable,
            });
        }
        let scaled: &[usize] = if full { &SIZES } else { &[128] };
        for &size in scaled {
            for threads in [4, 16] {
                cells.push(Cell {
                    size,
                    threads,
                    mode: Mode::Durable,
                });
            }
        }
        for &size in scaled {
            cells.push(Cell {
                size,
                threads: 1,
                mode: Mode::Batch(BATCH),
            });
        }
        if full {
            cells.push(Cell {
                size: 128,
                threads: 4,
                mode: Mode::Batch(BATCH),
            });
        }
        if full {
            Profile {
                name: "full",
                budget: Budget {
                    warmup: Duration::from_millis(300),
                    duration: Duration::from_secs(1),
                    max_bytes: 256 << 20,
                    repeats: 5,
                },
                cells,
                limit_repeats: 5,
                limit_duration: Duration::from_secs(1),
                bandwidth_bytes: 256 << 20,
                checksum_buffer: 64 << 20,
                latency_count: 8192,
                latency_time_cap: Duration::from_secs(20),
                rotation_segment: 1 << 20,
                recovery_count: 65_536,
                recovery_repeats: 3,
            }
        } else {
            Profile {
                name: "quick",
                budget: Budget {
                    warmup: Duration::from_millis(100),
                    duration: Duration::from_millis(400),
                    max_bytes: 64 << 20,
                    repeats: 3,
                },
                cells,
                limit_repeats: 3,
                limit_duration: Duration::from_millis(400),
                bandwidth_bytes: 64 << 20,
                checksum_buffer: 16 << 20,
                latency_count: 4096,
                latency_time_cap: Duration::from_secs(10),
                rotation_segment: 512 << 10,
                recovery_count: 16_384,
                recovery_repeats: 2,
            }
        }
    }
}

/// The sections `--cells` can name besides throughput cells; each runs only when named.
const SECTIONS: [&str; 3] = ["latency", "recovery", "honesty"];

struct Args {
    full: bool,
    json: Option<PathBuf>,
    dir: PathBuf,
    only: Option<Vec<String>>,
    /// `--cells`: the throughput cells and sections to run; `None` runs everything.
    cells: Option<Vec<String>>,
}

impl Args {
    /// Whether the throughput cell or section `key` runs.
    fn wants(&self, key: &str) -> bool {
        self.cells
            .as_ref()
            .is_none_or(|c| c.iter().any(|k| k == key))
    }
}

fn usage() -> &'static str {
    concat!(
        "usage: cairn-bench --quick|--full [--json PATH] [--dir DIR] [--only name,name] [--cells key,key]\n",
        "  --quick | --full  profile; --full rewrites docs/BENCHMARKS.md and docs/bench/*.svg\n",
        "  --json PATH       also write every figure as one flat JSON object\n",
        "  --dir DIR         scratch directory (default bench/target/bench-data)\n",
        "  --only name,...   only these subjects (cairn, cairn-os, raft-engine, okaywal, fjall, sled, redb, walrus)\n",
        "  --cells key,...   only these throughput cells (keys as in the JSON: buffered_128b, durable_1t_128b,\n",
        "                    durable_16t_128b, batch100_1t_128b, ...) and these sections: latency, recovery,\n",
        "                    honesty (each skipped unless named); the machine limits always run. A partial\n",
        "                    run never rewrites docs/BENCHMARKS.md or the SVGs, even with --full.\n",
    )
}

fn main() -> Result<()> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    // Internal child modes first: they take positional arguments.
    if argv.first().map(String::as_str) == Some("--writer") {
        let [_, name, dir, size, count] = argv.as_slice() else {
            bail!("--writer NAME DIR SIZE COUNT")
        };
        let peer = find(name)?;
        return workload::write_volume(&peer, Path::new(dir), size.parse()?, count.parse()?, true);
    }
    if argv.first().map(String::as_str) == Some("--probe") {
        let [_, name, dir, count, threads, mode] = argv.as_slice() else {
            bail!("--probe NAME DIR COUNT THREADS durable|buffered")
        };
        let durable = match mode.as_str() {
            "durable" => true,
            "buffered" => false,
            _ => bail!("--probe mode must be durable or buffered, got {mode:?}"),
        };
        let peer = find(name)?;
        return honesty::probe_child(
            &peer,
            Path::new(dir),
            count.parse()?,
            threads.parse()?,
            durable,
        );
    }
    let command = format!("cargo xtask bench {}", argv.join(" "));
    let mut take = |flag: &str| -> Result<Option<String>> {
        match argv.iter().position(|a| a == flag) {
            Some(i) if i + 1 < argv.len() => {
                let value = argv.remove(i + 1);
                argv.remove(i);
                Ok(Some(value))
            }
            Some(_) => bail!("{flag} needs a value\n{}", usage()),
            None => Ok(None),
        }
    };
    let json = take("--json")?.map(PathBuf::from);
    let dir = take("--dir")?.map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("bench-data")
    });
    let only = take("--only")?.map(|s| s.split(',').map(str::to_string).collect());
    let cells: Option<Vec<String>> = take("--cells")?.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect()
    });
    let full = match argv.as_slice() {
        [m] if m == "--full" => true,
        [m] if m == "--quick" => false,
        _ => bail!(
            "expected exactly one of --quick or --full, got {argv:?}\n{}",
            usage()
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir)?;
    // walrus-rust finds its directory through this variable only. Set before any thread starts.
    // SAFETY: single-threaded here; nothing else reads or writes the environment concurrently.
    #[allow(
        unsafe_code,
        reason = "set_var is unsafe in edition 2024; no threads exist yet"
    )]
    unsafe {
        std::env::set_var("WALRUS_DATA_DIR", &dir);
        std::env::set_var("WALRUS_QUIET", "1");
    }
    let args = Args {
        full,
        json,
        dir,
        only,
        cells,
    };
    run(&args, command)
}

fn find(name: &str) -> Result<Peer> {
    subject::all()
        .into_iter()
        .find(|p| p.name == name)
        .with_context(|| format!("no subject {name:?} in this build"))
}

fn progress(start: Instant, message: &str) {
    eprintln!("[{:6.1}s] {message}", start.elapsed().as_secs_f64());
}

fn spread_of(values: &[f64]) -> Value {
    Spread::of(values).map_or(Value::Failed("no runs".into()), Value::Measured)
}

fn run(args: &Args, command: String) -> Result<()> {
    let start = Instant::now();
    let mut profile = Profile::new(args.full);
    if let Some(keys) = &args.cells {
        let known: Vec<String> = profile.cells.iter().map(Cell::key).collect();
        let unknown: Vec<&String> = keys
            .iter()
            .filter(|k| !known.contains(k) && !SECTIONS.contains(&k.as_str()))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "--cells: unknown {unknown:?}; the --{} profile has the cells {} and the sections {}\n{}",
                profile.name,
                known.join(","),
                SECTIONS.join(","),
                usage()
            );
        }
        profile.cells.retain(|c| args.wants(&c.key()));
    }
    let run_latency = args.wants("latency");
    let run_recovery = args.wants("recovery");
    let run_honesty = args.wants("honesty");
    let machine = machine::Machine::describe(&args.dir);
    eprintln!(
        "cairn-bench --{} in {}\n{machine}\n",
        profile.name,
        args.dir.display()
    );
    if let Some(keys) = &args.cells {
        eprintln!("partial run (--cells {})\n", keys.join(","));
    }

    let mut peers = subject::all();
    let mut absent: Vec<(String, String)> = Vec::new();
    for name in [
        "cairn",
        "cairn-os",
        "raft-engine",
        "okaywal",
        "fjall",
        "sled",
        "redb",
        "walrus",
    ] {
        if !peers.iter().any(|p| p.name == name) {
            absent.push((
                name.into(),
                "not compiled in (its cargo feature is off)".into(),
            ));
        }
    }
    if let Some(only) = &args.only {
        peers.retain(|p| only.iter().any(|o| o == p.name));
    }

    // Machine limits.
    progress(start, "machine limits");
    let limits_dir = workload::fresh_dir(&args.dir, "limits")?;
    let loop_sizes: Vec<usize> = SIZES.iter().copied().chain([BATCH * 128]).collect();
    let mut preallocated = BTreeMap::new();
    let mut growing = BTreeMap::new();
    for &size in &loop_sizes {
        for prealloc in [true, false] {
            if !prealloc && size == BATCH * 128 {
                continue;
            }
            let mut rates = Vec::new();
            let mut last = None;
            for _ in 0..profile.limit_repeats {
                let l = limits::fdatasync_loop(
                    &limits_dir,
                    size,
                    prealloc,
                    profile.budget.warmup,
                    profile.limit_duration,
                )?;
                rates.push(l.ops_per_s);
                last = Some(l);
            }
            let entry = (
                Spread::of(&rates).context("no loop runs")?,
                last.context("no loop runs")?,
            );
            if prealloc {
                preallocated.insert(size, entry)
            } else {
                growing.insert(size, entry)
            };
        }
    }
    let bandwidth = limits::bandwidth(&limits_dir, profile.bandwidth_bytes)?;
    let checksums = limits::checksums(profile.checksum_buffer, profile.limit_duration);
    std::fs::remove_dir_all(&limits_dir)?;
    let limits = Limits {
        preallocated,
        growing,
        bandwidth,
        checksums,
    };

    let mut rows: Vec<Row> = Vec::new();
    let mut honesty_verdicts = BTreeMap::new();
    let mut mappings = BTreeMap::new();
    let mut latency_runs = BTreeMap::new();
    let mut raw_latency = Vec::new();
    let strace = run_honesty && honesty::strace_available();
    if run_honesty && !strace {
        eprintln!("strace not found: the honesty columns will say \"not checked\"");
    }

    // Throughput rows, one per cell.
    for cell in &profile.cells {
        let key = cell.key();
        let size_text = workload::size_text(cell.size);
        let writers = if cell.threads > 1 {
            "writers"
        } else {
            "writer"
        };
        let (label, unit) = match cell.mode {
            Mode::Buffered => (format!("buffered append {size_text}"), "appends/s"),
            Mode::Durable => (
                format!("durable append {size_text}, {} {writers}", cell.threads),
                "appends/s",
            ),
            Mode::Batch(n) => (
                format!(
                    "batch of {n} × {size_text}, one durable commit, {} {writers}",
                    cell.threads
                ),
                "records/s",
            ),
        };
        // Filled in by the raw-file runs interleaved with the subjects below.
        let limit = None;
        rows.push(Row {
            key,
            label,
            unit,
            higher_better: true,
            values: BTreeMap::new(),
            limit,
        });
    }
    let mut sync_rows: Vec<Row> = Vec::new();

    for peer in &peers {
        mappings.insert(peer.name, peer.mapping);
    }
    if run_honesty {
        for peer in &peers {
            progress(start, &format!("{}: honesty check", peer.name));
            let verdict = if strace {
                honesty::check(peer, &args.dir)
            } else {
                honesty::Honesty::not_checked("strace not installed")
            };
            eprintln!("    durable: {}", verdict.durable.describe());
            eprintln!("    buffered: {}", verdict.buffered.describe());
            honesty_verdicts.insert(peer.name, verdict);
        }
    }

    // Why a subject takes no part in a cell of this mode, if it does not.
    let not_applicable = |peer: &Peer, mode: Mode| -> Option<&'static str> {
        if mode == Mode::Buffered && !peer.buffered {
            Some("every commit syncs")
        } else if mode != Mode::Buffered && !peer.durable {
            Some("buffered mode only")
        } else {
            None
        }
    };

    let raw_dir = workload::fresh_dir(&args.dir, "raw")?;
    let mut paired = BTreeMap::new();
    // Throughput: repeats outside, subjects inside, so that a burst of noise from other work on
    // the machine lands on every subject of a cell rather than on one.
    for (cell, row) in profile.cells.iter().zip(rows.iter_mut()) {
        let mut rates: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        let mut per_sync: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        let mut failures: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut raw = Vec::new();
        for _ in 0..profile.budget.repeats {
            raw.push(limits::raw_cell(&raw_dir, cell, &profile.budget)?);
            for peer in &peers {
                if not_applicable(peer, cell.mode).is_some() || failures.contains_key(peer.name) {
                    continue;
                }
                match workload::throughput(peer, &args.dir, cell, &profile.budget) {
                    Ok(r) => {
                        rates
                            .entry(peer.name)
                            .or_default()
                            .push(r.records as f64 / r.secs);
                        if let Some(s) = r.syncs.filter(|s| *s > 0) {
                            per_sync
                                .entry(peer.name)
                                .or_default()
                                .push(r.records as f64 / s as f64);
                        }
                    }
                    Err(e) => {
                        eprintln!("    {} {}: FAILED: {e:#}", peer.name, row.key);
                        failures.insert(peer.name, format!("{e:#}"));
                    }
                }
            }
        }
        // Only complete series pair up repeat by repeat (a failed subject has fewer runs).
        let complete: BTreeMap<&'static str, Vec<f64>> = rates
            .iter()
            .filter(|(_, v)| v.len() == raw.len())
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        paired.insert(row.key.clone(), (raw.clone(), complete));
        let raw = Spread::of(&raw).context("no raw runs")?;
        let runs = profile.budget.repeats;
        let what = match cell.mode {
            Mode::Buffered => format!(
                "raw file, one write(2) per record, one fdatasync at the end; median of {runs} runs interleaved with the subjects"
            ),
            Mode::Durable => format!(
                "raw preallocated file, one pwrite + fdatasync per record, one writer; median of {runs} interleaved runs"
            ),
            Mode::Batch(n) => format!(
                "raw preallocated file, one pwrite of {n} records + fdatasync, one writer; median of {runs} interleaved runs"
            ),
        };
        row.limit = Some((raw.median, what));
        let mut line = format!(" raw={}", stats::human(raw.median));
        for peer in &peers {
            let value = if let Some(why) = not_applicable(peer, cell.mode) {
                Value::NotApplicable(why)
            } else if let Some(e) = failures.remove(peer.name) {
                Value::Failed(e)
            } else {
                spread_of(rates.get(peer.name).map_or(&[][..], Vec::as_slice))
            };
            if let Value::Measured(s) = &value {
                line.push_str(&format!(" {}={}", peer.name, stats::human(s.median)));
            }
            row.values.insert(peer.name, value);
        }
        progress(start, &format!("{} ({}):{line}", row.key, row.unit));
        if cell.mode != Mode::Buffered && !per_sync.is_empty() {
            sync_rows.push(Row {
                key: format!("{}_records_per_sync", row.key),
                label: format!("{}: records per fsync (where visible)", row.label),
                unit: "records/fsync",
                higher_better: true,
                values: per_sync
                    .into_iter()
                    .map(|(name, values)| (name, spread_of(&values)))
                    .collect(),
                limit: None,
            });
        }
    }
    std::fs::remove_dir_all(&raw_dir)?;

    // Latency: one run in which every knobbed subject with small (rotating) segments, every
    // subject with steady-state segments and a raw fdatasync loop are interleaved in small
    // chunks, so that the rotating and the steady figures share the same moments of the disk.
    let mut latency_rows: Vec<Row> = Vec::new();
    if run_latency {
        let mut participants = Vec::new();
        for peer in peers.iter().filter(|p| p.durable) {
            if peer.rotation_knob {
                participants.push(workload::Participant {
                    peer: *peer,
                    segment_size: profile.rotation_segment,
                    kind: "rotation",
                });
            }
            participants.push(workload::Participant {
                peer: *peer,
                segment_size: workload::SEGMENT_SIZE,
                kind: "steady",
            });
        }
        progress(
            start,
            &format!(
                "latency, {} participants (rotating and steady) and a raw loop interleaved",
                participants.len()
            ),
        );
        let (raw, samples) = workload::latency_interleaved(
            &participants,
            &args.dir,
            1024,
            profile.latency_count,
            profile.latency_time_cap,
        )?;
        for (kind, text) in [
            ("rotation", "across segment rotations"),
            ("steady", "steady state"),
        ] {
            for (k, q) in [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)] {
                let mut row = Row {
                    key: format!("latency_{kind}_{k}"),
                    label: format!("durable append 1 KiB latency {k}, {text}"),
                    unit: "µs",
                    higher_better: false,
                    values: BTreeMap::new(),
                    limit: None,
                };
                if !raw.is_empty() {
                    row.limit = Some((
                        stats::quantile(&raw, q) as f64 / 1e3,
                        format!(
                            "raw pwrite + fdatasync of 1 KiB into a preallocated file, interleaved with the rotating and steady subjects in the same run ({} samples)",
                            raw.len()
                        ),
                    ));
                }
                for peer in &peers {
                    let found = participants
                        .iter()
                        .position(|p| p.peer.name == peer.name && p.kind == kind);
                    let value = match found {
                        None if !peer.durable => Value::NotApplicable("buffered mode only"),
                        None => Value::NotApplicable("no segment-size knob"),
                        Some(i) => match &samples[i] {
                            Ok(run) if !run.is_empty() => Value::Measured(Spread::single(
                                stats::quantile(run, q) as f64 / 1e3,
                            )),
                            Ok(_) => Value::Failed("no samples".into()),
                            Err(e) => Value::Failed(e.clone()),
                        },
                    };
                    row.values.insert(peer.name, value);
                }
                latency_rows.push(row);
            }
        }
        eprintln!("    raw fdatasync loop: {} samples", raw.len());
        raw_latency = raw;
        for (participant, result) in participants.iter().zip(samples) {
            let (name, kind) = (participant.peer.name, participant.kind);
            match result {
                Ok(run) => {
                    eprintln!("    {name} {kind}: {} samples", run.len());
                    let entry: &mut (Vec<u64>, Vec<u64>) = latency_runs.entry(name).or_default();
                    if kind == "rotation" {
                        entry.0 = run;
                    } else {
                        entry.1 = run;
                    }
                }
                Err(e) => eprintln!("    {name} latency ({kind}): FAILED: {e}"),
            }
        }
    }

    let volume_bytes = profile.recovery_count * 4096;
    let mut recovery_rows: Vec<Row> = Vec::new();
    // No subject runs when the recovery section is not selected (`--cells`).
    if run_recovery {
        // Per subject with a durable mode: MB/s of each clean and each SIGKILL recovery, and bytes
        // on disk per payload byte; or why it failed.
        type Measured = ([Vec<f64>; 2], f64);
        let mut measured: BTreeMap<&'static str, std::result::Result<Measured, String>> =
            BTreeMap::new();
        for peer in peers.iter().filter(|p| p.durable) {
            progress(
                start,
                &format!("{}: recovery of {} MiB", peer.name, volume_bytes >> 20),
            );
            let recovery = (|| -> Result<Measured> {
                let mut clean = Vec::new();
                let mut crash = Vec::new();
                let dir = workload::fresh_dir(&args.dir, &format!("{}-volume", peer.name))?;
                workload::write_volume(peer, &dir, 4096, profile.recovery_count, false)?;
                let disk = workload::disk_usage(&dir)? as f64 / volume_bytes as f64;
                for _ in 0..profile.recovery_repeats {
                    clean.push(workload::recover(peer, &dir, profile.recovery_count)?.mbps());
                }
                for _ in 0..profile.recovery_repeats {
                    let dir = workload::fresh_dir(&args.dir, &format!("{}-crash", peer.name))?;
                    workload::write_volume_and_kill(peer, &dir, 4096, profile.recovery_count)?;
                    crash.push(workload::recover(peer, &dir, profile.recovery_count)?.mbps());
                    std::fs::remove_dir_all(&dir)?;
                }
                std::fs::remove_dir_all(&dir)?;
                Ok(([clean, crash], disk))
            })();
            match &recovery {
                Ok(([clean, crash], disk)) => progress(
                    start,
                    &format!(
                        "{}: recovery {:.0} MB/s clean, {:.0} MB/s after SIGKILL, {disk:.2} bytes on disk per byte",
                        peer.name,
                        Spread::of(clean).map_or(0.0, |s| s.median),
                        Spread::of(crash).map_or(0.0, |s| s.median)
                    ),
                ),
                Err(e) => eprintln!("    {} recovery: FAILED: {e:#}", peer.name),
            }
            measured.insert(peer.name, recovery.map_err(|e| format!("{e:#}")));
        }
        // A row's values: `value` of each measured subject's measurements.
        let values = |value: &dyn Fn(&Measured) -> Value| -> BTreeMap<&'static str, Value> {
            peers
                .iter()
                .map(|peer| {
                    let v = match measured.get(peer.name) {
                        None => Value::NotApplicable("buffered mode only"),
                        Some(Ok(m)) => value(m),
                        Some(Err(e)) => Value::Failed(e.clone()),
                    };
                    (peer.name, v)
                })
                .collect()
        };
        let recoveries = [("clean", "clean close"), ("crash", "SIGKILL")];
        for (i, (kind, after)) in recoveries.into_iter().enumerate() {
            recovery_rows.push(Row {
                key: format!("recovery_{kind}_4k"),
                label: format!("recovery after {after}, 4 KiB records"),
                unit: "MB/s",
                higher_better: true,
                values: values(&|(mbps, _)| spread_of(&mbps[i])),
                limit: Some((
                    limits.bandwidth.read_cached_mbps,
                    "sequential read from the page cache".into(),
                )),
            });
        }
        recovery_rows.push(Row {
            key: "disk_bytes_per_payload_byte".into(),
            label: format!(
                "bytes on disk per payload byte ({} MiB of 4 KiB records)",
                volume_bytes >> 20
            ),
            unit: "ratio",
            higher_better: false,
            values: values(&|(_, disk)| Value::Measured(Spread::single(*disk))),
            limit: Some((1.0, "the payload itself".into())),
        });
        let secs = |mbps: &[f64]| -> Vec<f64> {
            mbps.iter()
                .map(|m| volume_bytes as f64 / (m * 1e6))
                .collect()
        };
        for (i, (kind, after)) in recoveries.into_iter().enumerate() {
            recovery_rows.push(Row {
                key: format!("recovery_{kind}_4k_secs"),
                label: format!("recovery time after {after}, 4 KiB records"),
                unit: "s",
                higher_better: false,
                values: values(&|(mbps, _)| spread_of(&secs(&mbps[i]))),
                limit: Some((
                    volume_bytes as f64 / (limits.bandwidth.read_cached_mbps * 1e6),
                    "the volume read sequentially from the page cache".into(),
                )),
            });
        }
    }

    rows.extend(sync_rows);
    rows.extend(latency_rows);
    rows.extend(recovery_rows);

    let report = Report {
        command,
        profile: profile.name,
        machine,
        subjects: peers.iter().map(|p| p.name).collect(),
        unranked: peers.iter().filter(|p| !p.ranked).copied().collect(),
        absent,
        cells: args.cells.clone(),
        limits,
        rows,
        honesty: honesty_verdicts,
        mappings,
        latency_runs,
        raw_latency,
        paired,
        latency_setup: format!(
            "Latency: up to {} durable 1 KiB appends by one writer per participant, in one run (at most {} s per participant): every subject with a segment-size knob opened with {} MiB segments (rotating), every subject with {} MiB segments (steady), and a raw pwrite + fdatasync loop, all interleaved in chunks of 64 appends, so that the rotating and the steady figures share the machine's noise; subjects without a segment-size knob have steady figures only",
            profile.latency_count,
            profile.latency_time_cap.as_secs(),
            profile.rotation_segment as f64 / f64::from(1u32 << 20),
            workload::SEGMENT_SIZE >> 20
        ),
        recovery_setup: format!(
            "Recovery: {} records of 4 KiB ({} MiB) written in batches of 100 and synced, then the log is opened and every record read back, from the page cache; after SIGKILL the writer is a child process killed once the volume is synced",
            profile.recovery_count,
            volume_bytes >> 20
        ),
        wall_secs: start.elapsed().as_secs_f64(),
    };
    println!("{}", report.text());
    if let Some(path) = &args.json {
        std::fs::write(path, report.json()).with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if args.full {
        if args.cells.is_some() {
            eprintln!(
                "partial run (--cells): docs/BENCHMARKS.md and docs/bench/*.svg NOT rewritten; only a full run without --cells publishes"
            );
        } else {
            let docs = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))?
                .join("docs");
            report.write_docs(&docs)?;
            eprintln!("wrote {}", docs.join("BENCHMARKS.md").display());
        }
    }
    Ok(())
}
