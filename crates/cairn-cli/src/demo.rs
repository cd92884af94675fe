//! `cairn demo`: the durability contract, shown end to end.
//!
//! Part one writes a log on the real disk from several threads, every append acknowledged only
//! after `fdatasync` (one per group commit), then reopens it and checks every record. Part two
//! runs a writer on `cairn-sim`, cuts the power at random calls under several power-loss
//! models, recovers each crash image and checks that every acknowledged record came back,
//! byte for byte, as a gap-free prefix of what was written.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use cairn_crc::Crc32;
use cairn_io::{StdVfs, Vfs};
use cairn_sim::{CrashModel, SimVfs};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

use crate::logdir::{mib, print_report};

/// What `cairn demo` was asked to do.
pub struct DemoOptions {
    pub dir: Option<PathBuf>,
    pub records: u64,
    pub threads: u64,
    pub power_cuts: u64,
    pub seed: Option<u64>,
}

/// Payload bytes of each demo record, before its 16-byte header.
const BODY_SIZE: usize = 240;

pub fn run(options: &DemoOptions) -> Result<()> {
    ensure!(
        options.threads >= 1 && options.threads <= 64,
        "--threads must be 1..=64"
    );
    ensure!(
        options.records >= options.threads,
        "--records must be at least --threads"
    );
    let temp;
    let dir = match &options.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("cairn-demo-").tempdir()?;
            temp.path().join("wal")
        }
    };
    real_disk(&dir, options.records, options.threads)?;
    let seed = options.seed.unwrap_or_else(clock_seed);
    power_cuts(seed, options.power_cuts)?;
    println!("\ndemo complete: nothing acknowledged was lost");
    Ok(())
}

/// A record: `[writer u32][sequence u64][crc32 of body u32][body]`, so that verification can
/// tell which writer issued it, in which order, and that its bytes are intact.
fn record(writer: u32, sequence: u64) -> Vec<u8> {
    let mut body = [0u8; BODY_SIZE];
    let mut state = (u64::from(writer) << 40) ^ sequence ^ 0x9E37_79B9_7F4A_7C15;
    for chunk in body.chunks_mut(8) {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let mut out = Vec::with_capacity(16 + BODY_SIZE);
    out.extend_from_slice(&writer.to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&Crc32::of(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Checks a record's own checksum and returns `(writer, sequence)`.
fn parse(payload: &[u8]) -> Result<(u32, u64)> {
    ensure!(
        payload.len() == 16 + BODY_SIZE,
        "record of {} bytes",
        payload.len()
    );
    let writer = u32::from_le_bytes(payload[0..4].try_into()?);
    let sequence = u64::from_le_bytes(payload[4..12].try_into()?);
    let crc = Crc32::from_le_bytes(payload[12..16].try_into()?);
    ensure!(
        Crc32::of(&payload[16..]) == crc,
        "record body checksum mismatch"
    );
    ensure!(
        payload == record(writer, sequence).as_slice(),
        "record bytes differ"
    );
    Ok((writer, sequence))
}

fn real_disk(dir: &Path, records: u64, threads: u64) -> Result<()> {
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    if vfs.exists(dir)? && !vfs.list(dir)?.is_empty() {
        bail!(
            "{} is not empty; the demo writes a new log (pick another --dir)",
            dir.display()
        );
    }
    println!("== part 1: real disk, {} ==", dir.display());
    println!(
        "writing {records} records of {} B from {threads} threads; each append returns only \
         after fdatasync covered it",
        16 + BODY_SIZE
    );
    let options = WalOptions {
        segment_size_max: 1 << 20,
        record_size_max: 64 << 10,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(dir, options.clone(), vfs.clone())?;
    let start = Instant::now();
    let per_thread = records / threads;
    let progress = std::sync::Mutex::new(Progress::new("appending", per_thread * threads));
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|writer| {
                let (wal, progress) = (&wal, &progress);
                scope.spawn(move || -> Result<()> {
                    for sequence in 0..per_thread {
                        let writer = u32::try_from(writer)?;
                        wal.append(record(writer, sequence), Durability::Fsync)?;
                        if sequence % 64 == 0 {
                            progress
                                .lock()
                                .expect("progress lock")
                                .add(64.min(per_thread - sequence));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("writer thread panicked")?;
        }
        Ok(())
    })?;
    progress.into_inner().expect("progress lock").finish();
    let elapsed = start.elapsed();
    let written = per_thread * threads;
    let stats = wal.stats();
    let bytes = written * (16 + BODY_SIZE as u64);
    println!(
        "  {written} durable appends in {:.2} s: {:.0} appends/s, {:.2} MiB/s",
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64(),
        mib(bytes) / elapsed.as_secs_f64()
    );
    println!(
        "  {} fdatasyncs, {:.1} records per fsync (group commit), fsync p50 {:?} p99 {:?}; {} segment rotations",
        stats.fsyncs,
        stats.records_per_fsync(),
        stats.fsync_latency_quantile(0.5),
        stats.fsync_latency_quantile(0.99),
        stats.rotations
    );
    wal.close()?;
    drop(wal);

    println!("reopening and verifying every record ...");
    let (wal, report) = Wal::open(dir, options, vfs)?;
    print_report(&report);
    let mut next = vec![0u64; usize::try_from(threads)?];
    let mut count = 0u64;
    for item in wal.reader(Lsn::FIRST)? {
        let (lsn, payload) = item?;
        let (writer, sequence) = parse(&payload).with_context(|| format!("record {lsn}"))?;
        let slot = next
            .get_mut(writer as usize)
            .context("record from an unknown writer")?;
        ensure!(
            *slot == sequence,
            "writer {writer}: expected #{slot}, found #{sequence}"
        );
        *slot += 1;
        count += 1;
    }
    ensure!(
        count == written,
        "recovered {count} records, wrote {written}"
    );
    println!("  all {count} records present, in each writer's order, checksums intact");
    wal.close()?;
    Ok(())
}

/// A small log, so that segment rotation happens within a few hundred records.
fn sim_options() -> WalOptions {
    WalOptions {
        segment_size_max: 16 << 10,
        record_size_max: 4 << 10,
        preallocate: true,
        ..WalOptions::default()
    }
}

fn power_cuts(seed: u64, cuts: u64) -> Result<()> {
    println!("\n== part 2: simulated power cuts (cairn-sim, seed {seed}) ==");
    const RECORDS: u64 = 300;
    let dir = Path::new("/wal");
    // A dry run counts the file-system calls the workload makes, so cut points cover all of it.
    let calls = {
        let sim = SimVfs::new(seed);
        let (wal, _) = Wal::open(dir, sim_options(), Arc::new(sim.clone()))?;
        for sequence in 0..RECORDS {
            wal.append(record(0, sequence), durability_of(sequence))?;
        }
        wal.close()?;
        sim.stats().mutating_calls
    };
    let labels = [
        "drop every unsynced write",
        "keep a random subset of unsynced writes",
        "tear unsynced writes at 512 B sectors into old/new/zero/garbage pieces",
    ];
    let mut rng = seed;
    let (mut images, mut acked_total, mut recovered_total) = (0u64, 0u64, 0u64);
    let mut progress = Progress::new("power cuts", cuts);
    let start = Instant::now();
    for cut in 0..cuts {
        let call = 1 + splitmix(&mut rng) % calls;
        let label = labels[usize::try_from(cut % 3)?];
        let model = match cut % 3 {
            0 => CrashModel::DropAll,
            1 => CrashModel::RandomSubset {
                seed: splitmix(&mut rng),
            },
            _ => CrashModel::Torn {
                sector_size: 512,
                psow: false,
                seed: splitmix(&mut rng),
            },
        };
        let sim = SimVfs::new(splitmix(&mut rng));
        sim.crash_after_call(call);
        // The writer runs until the power goes; only what returned Ok was acknowledged.
        let mut acked = 0u64;
        let mut issued = 0u64;
        if let Ok((wal, _)) = Wal::open(dir, sim_options(), Arc::new(sim.clone())) {
            for sequence in 0..RECORDS {
                issued = sequence + 1;
                match wal.append(record(0, sequence), durability_of(sequence)) {
                    Ok(_) if durability_of(sequence) == Durability::Fsync => acked = sequence + 1,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        sim.crash();
        let image = sim.crash_image(&model);
        let (wal, _) = Wal::open(dir, sim_options(), Arc::new(image))
            .with_context(|| replay(seed, cut, call, label))?;
        let mut recovered = 0u64;
        for item in wal.reader(Lsn::FIRST)? {
            let (lsn, payload) = item.with_context(|| replay(seed, cut, call, label))?;
            let (_, sequence) = parse(&payload).with_context(|| replay(seed, cut, call, label))?;
            ensure!(
                sequence == recovered,
                "record {lsn} out of order: {}",
                replay(seed, cut, call, label)
            );
            recovered += 1;
        }
        ensure!(
            recovered <= issued,
            "phantom records: {}",
            replay(seed, cut, call, label)
        );
        ensure!(
            recovered >= acked,
            "lost acknowledged records: {acked} acknowledged, {recovered} recovered: {}",
            replay(seed, cut, call, label)
        );
        images += 1;
        acked_total += acked;
        recovered_total += recovered;
        progress.set(cut + 1);
    }
    progress.finish();
    println!(
        "  {images} crash images ({} of ~{calls} file-system calls cut, 3 power-loss models) in {:.2} s",
        cuts.min(calls),
        start.elapsed().as_secs_f64()
    );
    println!(
        "  acknowledged (fsync'd) records: {acked_total}; recovered: {recovered_total}; \
         acknowledged records lost: 0; phantom or reordered records: 0"
    );
    Ok(())
}

/// Every fourth record asks for `Fsync`; the rest are `Buffered` and may be lost on power
/// loss, which recovery must handle as a clean prefix.
fn durability_of(sequence: u64) -> Durability {
    if sequence % 4 == 3 {
        Durability::Fsync
    } else {
        Durability::Buffered
    }
}

fn replay(seed: u64, cut: u64, call: u64, model: &str) -> String {
    format!("replay: cairn demo --seed {seed} (cut #{cut} at call {call}, model: {model})")
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_nanos() as u64
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
pub struct Progress {
    label: &'static str,
    total: u64,
    done: u64,
    drawn: Instant,
    enabled: bool,
}

impl Progress {
    pub fn new(label: &'static str, total: u64) -> Self {
        let enabled = std::io::stderr().is_terminal();
        Self {
            label,
            total,
            done: 0,
            drawn: Instant::now() - Duration::from_secs(1),
            enabled,
        }
    }

    pub fn add(&mut self, n: u64) {
        self.set(self.done + n);
    }

    pub fn set(&mut self, done: u64) {
        self.done = done.min(self.total);
        if self.enabled && self.drawn.elapsed() >= Duration::from_millis(100) {
            self.drawn = Instant::now();
            self.draw();
        }
    }

    fn draw(&self) {
        const WIDTH: u64 = 30;
        let filled = (self.done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r  {:<12} [{bar}] {}/{}",
            self.label, self.done, self.total
        );
        let _ = err.flush();
    }

    pub fn finish(self) {
        if self.enabled {
            self.draw();
            let _ = writeln!(std::io::stderr().lock());
        }
    }
}
