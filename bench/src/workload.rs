//! The loop every subject is driven through: open a fresh directory, warm up, run writer
//! threads against a shared deadline and volume cap, sync, close. Also the latency run (subjects
//! with small, rotating segments and with steady-state segments, interleaved with a raw loop in
//! one run) and the recovery runs (clean close, and SIGKILL of a child writer).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::subject::{OpenOptions, Peer, Recovered, Subject};

/// Default segment size for throughput runs, Cairn's default.
pub const SEGMENT_SIZE: u64 = 64 << 20;

/// How each append asks for durability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No per-record durability; one sync at the end, inside the timing.
    Buffered,
    /// Every record durable before the call returns.
    Durable,
    /// Batches of this many records, one durable commit each.
    Batch(usize),
}

/// One cell of the throughput matrix.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// Record payload size in bytes.
    pub size: usize,
    /// Writer threads.
    pub threads: usize,
    /// Durability of each append.
    pub mode: Mode,
}

impl Cell {
    /// The figure key, e.g. `durable_16t_128b`.
    pub fn key(&self) -> String {
        let size = size_label(self.size);
        match self.mode {
            Mode::Buffered => format!("buffered_{size}"),
            Mode::Durable => format!("durable_{}t_{size}", self.threads),
            Mode::Batch(n) => format!("batch{n}_{}t_{size}", self.threads),
        }
    }
}

/// `64b`, `1k`, `64k`.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{}k", size / 1024)
    } else {
        format!("{size}b")
    }
}

/// `64 B`, `1 KiB`, `64 KiB`, for tables.
pub fn size_text(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// How long and how much each run may take.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Unmeasured appends before the measured run.
    pub warmup: Duration,
    /// Measured time per run.
    pub duration: Duration,
    /// Cap on measured payload bytes per run (buffered runs reach it before the deadline).
    pub max_bytes: u64,
    /// Runs per cell; min/median/max are reported.
    pub repeats: usize,
}

/// One run's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Records appended in the measured part.
    pub records: u64,
    /// Seconds the measured part took (including the final sync of buffered runs).
    pub secs: f64,
    /// Syncs issued during the measured part, where the subject counts them.
    pub syncs: Option<u64>,
}

/// Deterministic, incompressible-looking payload bytes.
pub fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A fresh, empty directory for one run.
pub fn fresh_dir(scratch: &Path, name: &str) -> Result<PathBuf> {
    let dir = scratch.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn append(subject: &dyn Subject, writer: usize, records: &[&[u8]], mode: Mode) -> Result<u64> {
    match mode {
        Mode::Buffered => subject.append(writer, records[0], false).map(|()| 1),
        Mode::Durable => subject.append(writer, records[0], true).map(|()| 1),
        Mode::Batch(n) => subject
            .append_batch(writer, &records[..n], true)
            .map(|()| n as u64),
    }
}

/// Runs one cell once on a fresh directory.
pub fn throughput(peer: &Peer, scratch: &Path, cell: &Cell, budget: &Budget) -> Result<Run> {
    let dir = fresh_dir(scratch, &format!("{}-{}", peer.name, cell.key()))?;
    let options = OpenOptions {
        segment_size: SEGMENT_SIZE,
        durable: cell.mode != Mode::Buffered,
        retain_all: false,
    };
    let subject = (peer.open)(&dir, &options)?;
    let batch = match cell.mode {
        Mode::Batch(n) => n,
        _ => 1,
    };
    let owned: Vec<Vec<u8>> = (0..batch.max(1))
        .map(|i| payload(cell.size, i as u64 + 1))
        .collect();
    let records: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();

    // Warm-up: one writer, same mode, bounded by time and a tenth of the volume cap.
    let warm_start = Instant::now();
    let mut warm_bytes = 0u64;
    while warm_start.elapsed() < budget.warmup && warm_bytes < budget.max_bytes / 10 {
        warm_bytes += append(subject.as_ref(), 0, &records, cell.mode)? * cell.size as u64;
    }
    subject.sync()?;

    let syncs_before = subject.sync_count();
    let per_thread_cap =
        (budget.max_bytes / cell.size as u64 / cell.threads as u64).max(batch as u64);
    let appended = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + budget.duration;
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..cell.threads)
            .map(|writer| {
                let subject = subject.as_ref();
                let records = &records;
                let appended = &appended;
                scope.spawn(move || -> Result<()> {
                    let mut mine = 0u64;
                    let mut iteration = 0u32;
                    while mine < per_thread_cap {
                        mine += append(subject, writer, records, cell.mode)?;
                        iteration = iteration.wrapping_add(1);
                        // Reading the clock costs ~20 ns; buffered appends check it less often.
                        if (cell.mode != Mode::Buffered || iteration.is_multiple_of(64))
                            && Instant::now() >= deadline
                        {
                            break;
                        }
                    }
                    appended.fetch_add(mine, Ordering::Relaxed);
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
        }
        Ok(())
    })?;
    if cell.mode == Mode::Buffered {
        subject.sync()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let syncs = match (syncs_before, subject.sync_count()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    subject.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(Run {
        records: appended.into_inner(),
        secs,
        syncs,
    })
}

/// One participant's latency samples (sorted, ns), or why it failed.
pub type Samples = std::result::Result<Vec<u64>, String>;

/// One participant of the interleaved latency run: a subject opened with one segment size.
#[derive(Clone, Copy)]
pub struct Participant {
    /// The subject.
    pub peer: Peer,
    /// Segment size it is opened with.
    pub segment_size: u64,
    /// `rotation` or `steady`; names the participant's directory.
    pub kind: &'static str,
}

/// Per-append latencies of durable single-writer appends of `size` bytes, for every participant
/// and for a raw pwrite + fdatasync loop on a preallocated file, interleaved in chunks of
/// `CHUNK` appends so that noise from other work on the machine lands on all of them alike.
/// Each participant has its own directory (`<name>-latency-<kind>`) and gets up to `count`
/// appends; the whole run stops after `time_cap` per participant (raw loop included). Returns
/// the raw loop's samples and each participant's, in `participants` order.
pub fn latency_interleaved(
    participants: &[Participant],
    scratch: &Path,
    size: usize,
    count: usize,
    time_cap: Duration,
) -> Result<(Vec<u64>, Vec<Samples>)> {
    const CHUNK: usize = 64;
    let record = payload(size, 7);
    let raw_dir = fresh_dir(scratch, "raw-latency")?;
    let mut raw_file = crate::limits::Preallocated::open(&raw_dir)?;
    let mut raw = Vec::with_capacity(count);

    let mut open: Vec<Option<(PathBuf, Box<dyn Subject>)>> = Vec::new();
    let mut samples: Vec<Samples> = Vec::new();
    for participant in participants {
        let opened = (|| -> Result<(PathBuf, Box<dyn Subject>)> {
            let name = participant.peer.name;
            let dir = fresh_dir(scratch, &format!("{name}-latency-{}", participant.kind))?;
            let options = OpenOptions {
                segment_size: participant.segment_size,
                durable: true,
                retain_all: false,
            };
            let subject = (participant.peer.open)(&dir, &options)?;
            // A short warm-up so that opening is not in the figure.
            for _ in 0..16 {
                subject.append(0, &record, true)?;
            }
            Ok((dir, subject))
        })();
        match opened {
            Ok(o) => {
                open.push(Some(o));
                samples.push(Ok(Vec::with_capacity(count)));
            }
            Err(e) => {
                open.push(None);
                samples.push(Err(format!("{e:#}")));
            }
        }
    }
    let began = Instant::now();
    let deadline = time_cap * (u32::try_from(participants.len()).unwrap_or(u32::MAX - 1) + 1);
    while raw.len() < count && began.elapsed() < deadline {
        for _ in 0..CHUNK {
            let start = Instant::now();
            raw_file.write_sync(&record)?;
            raw.push(start.elapsed().as_nanos() as u64);
        }
        for (slot, result) in open.iter_mut().zip(samples.iter_mut()) {
            let (Some((_, subject)), Ok(latencies)) = (slot.as_ref(), result.as_mut()) else {
                continue;
            };
            for _ in 0..CHUNK {
                let start = Instant::now();
                if let Err(e) = subject.append(0, &record, true) {
                    *result = Err(format!("{e:#}"));
                    break;
                }
                latencies.push(start.elapsed().as_nanos() as u64);
            }
        }
    }
    for (slot, result) in open.into_iter().zip(samples.iter_mut()) {
        if let Some((dir, subject)) = slot {
            if let Err(e) = subject.close() {
                *result = Err(format!("close: {e:#}"));
            }
            std::fs::remove_dir_all(&dir)?;
        }
        if let Ok(latencies) = result {
            latencies.sort_unstable();
        }
    }
    drop(raw_file);
    std::fs::remove_dir_all(&raw_dir)?;
    raw.sort_unstable();
    Ok((raw, samples))
}

/// Options for the recovery volume: every record retained.
pub fn volume_options() -> OpenOptions {
    OpenOptions {
        segment_size: SEGMENT_SIZE,
        durable: false,
        retain_all: true,
    }
}

/// Writes `count` records of `size` bytes in batches of 100, syncs, and closes cleanly unless
/// `then_wait` (the SIGKILL child), in which case it prints `READY` and waits to be killed.
pub fn write_volume(
    peer: &Peer,
    dir: &Path,
    size: usize,
    count: u64,
    then_wait: bool,
) -> Result<()> {
    let subject = (peer.open)(dir, &volume_options())?;
    let owned: Vec<Vec<u8>> = (0..100).map(|i| payload(size, i + 11)).collect();
    let records: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let mut written = 0u64;
    while written < count {
        let n = (count - written).min(100) as usize;
        subject.append_batch(0, &records[..n], false)?;
        written += n as u64;
    }
    subject.sync()?;
    if then_wait {
        println!("READY");
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    subject.close()
}

/// One recovery: time to open the log and read every record back.
#[derive(Clone, Copy, Debug)]
pub struct Recovery {
    /// What was read back.
    pub recovered: Recovered,
    /// Seconds from open to the last record read.
    pub secs: f64,
}

impl Recovery {
    /// Payload MB/s (10^6 bytes per second).
    pub fn mbps(&self) -> f64 {
        self.recovered.payload_bytes as f64 / self.secs / 1e6
    }
}

/// Recovers the log in `dir` and checks that all `count` records came back.
pub fn recover(peer: &Peer, dir: &Path, count: u64) -> Result<Recovery> {
    let start = Instant::now();
    let recovered = (peer.recover)(dir, &volume_options())?;
    let secs = start.elapsed().as_secs_f64();
    ensure!(
        recovered.record_count >= count,
        "{} recovered {} of {count} records",
        peer.name,
        recovered.record_count
    );
    Ok(Recovery { recovered, secs })
}

/// Bytes the directory occupies on disk (allocated blocks, as `du` counts them).
pub fn disk_usage(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += disk_usage(&entry.path())?;
        } else {
            total += meta.blocks() * 512;
        }
    }
    Ok(total)
}

/// Spawns this binary as a writer child for `peer`, waits until it has written and synced the
/// volume, then SIGKILLs it.
pub fn write_volume_and_kill(peer: &Peer, dir: &Path, size: usize, count: u64) -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["--writer", peer.name])
        .arg(dir)
        .args([size.to_string(), count.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn writer child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    // `Child::kill` sends SIGKILL: no destructor, no clean close, no final sync runs.
    child.kill()?;
    let status = child.wait()?;
    if line.trim() != "READY" {
        bail!(
            "writer child for {} failed before READY ({status})",
            peer.name
        );
    }
    Ok(())
}
