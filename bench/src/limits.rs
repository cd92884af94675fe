//! The machine's own limits, measured in the same run as the logs: an append + fdatasync loop
//! into a growing file and into a preallocated, already-written one (the ceiling for one durable
//! writer), raw sequential write and read bandwidth, and checksum speed through `cairn-crc`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::stats::quantile;

/// One fdatasync loop's outcome.
#[derive(Clone, Debug)]
pub struct SyncLoop {
    /// Durable appends per second.
    pub ops_per_s: f64,
    /// Sorted per-append latencies in nanoseconds.
    pub latencies_ns: Vec<u64>,
}

impl SyncLoop {
    /// Latency percentile in microseconds.
    pub fn percentile_us(&self, q: f64) -> f64 {
        quantile(&self.latencies_ns, q) as f64 / 1e3
    }
}

/// Size of the preallocated file; it is written once and reused by every loop (page-cache and
/// extent growth make a fresh file's first pass erratic).
const PREALLOCATED_SIZE: u64 = 64 << 20;

/// Writes `PREALLOCATED_SIZE` bytes of zeros to `path` (once) and syncs them, so later loops
/// overwrite allocated, written blocks and fdatasync has no metadata to commit.
fn prepare_preallocated(path: &Path) -> Result<()> {
    if std::fs::metadata(path)
        .map(|m| m.len() == PREALLOCATED_SIZE)
        .unwrap_or(false)
    {
        return Ok(());
    }
    let mut file = File::create(path).context("create preallocated file")?;
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..PREALLOCATED_SIZE / chunk.len() as u64 {
        file.write_all(&chunk)?;
    }
    file.sync_all()?;
    Ok(())
}

/// The preallocated file of a directory, written at increasing offsets that wrap to 0 before a
/// write would pass `PREALLOCATED_SIZE`.
pub struct Preallocated {
    file: File,
    offset: u64,
}

impl Preallocated {
    /// Prepares `dir/preallocated.raw` (once) and opens it for writing at offset 0.
    pub fn open(dir: &Path) -> Result<Preallocated> {
        let path = dir.join("preallocated.raw");
        prepare_preallocated(&path)?;
        Ok(Preallocated {
            file: OpenOptions::new().write(true).open(&path)?,
            offset: 0,
        })
    }

    /// One `pwrite` of `data` at the next offset, then fdatasync.
    pub fn write_sync(&mut self, data: &[u8]) -> io::Result<()> {
        if self.offset + data.len() as u64 > PREALLOCATED_SIZE {
            self.offset = 0;
        }
        self.file.write_all_at(data, self.offset)?;
        self.file.sync_data()?;
        self.offset += data.len() as u64;
        Ok(())
    }
}

/// The file of a raw loop: the preallocated one, or a fresh one created for the loop.
enum RawFile {
    Preallocated(Preallocated),
    /// A fresh file, and the offset of its end (for loops that write with `pwrite`).
    Fresh(File, u64),
}

fn fdatasync(file: &File) -> Result<()> {
    // SAFETY-free: `File::sync_data` is fdatasync(2) on Linux.
    file.sync_data().context("fdatasync")
}

/// Appends `size`-byte records with one fdatasync each for `duration` (after `warmup`).
/// `preallocated` overwrites the prepared file at increasing offsets; otherwise a fresh file grows.
pub fn fdatasync_loop(
    dir: &Path,
    size: usize,
    preallocated: bool,
    warmup: Duration,
    duration: Duration,
) -> Result<SyncLoop> {
    let record = vec![0xA5u8; size];
    let growing_path = dir.join("growing.raw");
    let mut file = if preallocated {
        RawFile::Preallocated(Preallocated::open(dir)?)
    } else {
        let _ = std::fs::remove_file(&growing_path);
        RawFile::Fresh(File::create(&growing_path)?, 0)
    };
    let mut latencies_ns = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    let mut measured_start = None;
    let mut measured_ops = 0u64;
    loop {
        let now = Instant::now();
        if measured_start.is_none() && now - start >= warmup {
            measured_start = Some(now);
        }
        if let Some(begin) = measured_start
            && now - begin >= duration
        {
            break;
        }
        match &mut file {
            RawFile::Preallocated(file) => file.write_sync(&record)?,
            RawFile::Fresh(growing, end) => {
                growing.write_all_at(&record, *end)?;
                fdatasync(growing)?;
                *end += size as u64;
            }
        }
        if measured_start.is_some() {
            latencies_ns.push(now.elapsed().as_nanos() as u64);
            measured_ops += 1;
        }
    }
    let elapsed = measured_start
        .map(|b| b.elapsed())
        .unwrap_or_default()
        .as_secs_f64();
    ensure!(measured_ops > 0, "fdatasync loop measured nothing");
    latencies_ns.sort_unstable();
    if !preallocated {
        drop(file);
        let _ = std::fs::remove_file(growing_path);
    }
    Ok(SyncLoop {
        ops_per_s: measured_ops as f64 / elapsed,
        latencies_ns,
    })
}

/// Sequential bandwidth of the disk, in MB/s (10^6 bytes per second).
#[derive(Clone, Copy, Debug)]
pub struct Bandwidth {
    /// Write 1 MiB chunks into a new file, with one fdatasync at the end inside the timing.
    pub write_mbps: f64,
    /// Read the file back after dropping it from the page cache (`posix_fadvise(DONTNEED)`).
    pub read_disk_mbps: f64,
    /// Read the file back from the page cache.
    pub read_cached_mbps: f64,
}

/// Measures sequential bandwidth with a file of `bytes` bytes.
pub fn bandwidth(dir: &Path, bytes: u64) -> Result<Bandwidth> {
    let path = dir.join("sequential.raw");
    let chunk: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 % 251) as u8).collect();
    let chunks = bytes / chunk.len() as u64;
    let total = chunks * chunk.len() as u64;
    let _ = std::fs::remove_file(&path);
    let start = Instant::now();
    let mut file = File::create(&path)?;
    for _ in 0..chunks {
        file.write_all(&chunk)?;
    }
    file.sync_data()?;
    let write_mbps = total as f64 / start.elapsed().as_secs_f64() / 1e6;
    drop(file);

    let read_all = |drop_cache: bool| -> Result<f64> {
        let mut file = File::open(&path)?;
        if drop_cache {
            // SAFETY: plain syscall on a valid open descriptor; advisory only.
            #[allow(unsafe_code, reason = "posix_fadvise has no safe std wrapper")]
            let rc =
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            ensure!(rc == 0, "posix_fadvise failed: {rc}");
        }
        let mut buffer = vec![0u8; 1 << 20];
        let start = Instant::now();
        let mut read = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            read += n as u64;
        }
        ensure!(read == total, "short read: {read} of {total}");
        Ok(total as f64 / start.elapsed().as_secs_f64() / 1e6)
    };
    let read_disk_mbps = read_all(true)?;
    // The first read filled the cache; the second is served from it.
    let read_cached_mbps = read_all(false)?;
    let _ = std::fs::remove_file(&path);
    Ok(Bandwidth {
        write_mbps,
        read_disk_mbps,
        read_cached_mbps,
    })
}

/// Checksum throughput through `cairn-crc`, in GB/s (10^9 bytes per second).
#[derive(Clone, Copy, Debug)]
pub struct Checksums {
    /// CRC-32 (crc32fast) via `cairn_crc::Crc32::of`.
    pub crc32_gbps: f64,
    /// BLAKE3 via `cairn_crc::Digest::of`.
    pub blake3_gbps: f64,
}

/// Measures checksum throughput over a `buffer_size` buffer for about `duration` each.
pub fn checksums(buffer_size: usize, duration: Duration) -> Checksums {
    let buffer: Vec<u8> = (0..buffer_size).map(|i| (i * 131 % 253) as u8).collect();
    let rate = |f: &dyn Fn(&[u8]) -> u32| {
        let mut sink = 0u32;
        sink ^= f(&buffer); // warm-up
        let start = Instant::now();
        let mut bytes = 0u64;
        while start.elapsed() < duration {
            sink ^= f(&buffer);
            bytes += buffer.len() as u64;
        }
        std::hint::black_box(sink);
        bytes as f64 / start.elapsed().as_secs_f64() / 1e9
    };
    let crc32_gbps = rate(&|b| cairn_crc::Crc32::of(b).get());
    let blake3_gbps = rate(&|b| u32::from(cairn_crc::Digest::of(b).as_bytes()[0]));
    Checksums {
        crc32_gbps,
        blake3_gbps,
    }
}

/// The raw-file counterpart of one throughput cell, run in the same rotation as the subjects so
/// that the limit and the logs see the same moment of a shared machine. One writer always: it is
/// the ceiling for one durable writer, not a log. Buffered: one `write` per record into a growing
/// file, one fdatasync at the end. Durable: one `pwrite` + fdatasync per record into the
/// preallocated file. Batch of n: one `pwrite` of n records + fdatasync. Returns records/s.
pub fn raw_cell(
    dir: &Path,
    cell: &crate::workload::Cell,
    budget: &crate::workload::Budget,
) -> Result<f64> {
    use crate::workload::Mode;
    let (write_size, records_per_write) = match cell.mode {
        Mode::Batch(n) => (cell.size * n, n as u64),
        _ => (cell.size, 1),
    };
    let record = crate::workload::payload(write_size, 5);
    let durable = cell.mode != Mode::Buffered;
    let buffered_path = dir.join("buffered.raw");
    let mut file = if durable {
        RawFile::Preallocated(Preallocated::open(dir)?)
    } else {
        let _ = std::fs::remove_file(&buffered_path);
        RawFile::Fresh(File::create(&buffered_path)?, 0)
    };
    let write = |file: &mut RawFile| -> Result<()> {
        match file {
            RawFile::Preallocated(file) => Ok(file.write_sync(&record)?),
            RawFile::Fresh(file, _) => file.write_all(&record).context("write"),
        }
    };
    let warm = Instant::now();
    let mut warm_bytes = 0u64;
    while warm.elapsed() < budget.warmup && warm_bytes < budget.max_bytes / 10 {
        write(&mut file)?;
        warm_bytes += write_size as u64;
    }
    let cap = (budget.max_bytes / write_size as u64).max(1);
    let start = Instant::now();
    let mut writes = 0u64;
    while writes < cap
        && (!writes.is_multiple_of(if durable { 1 } else { 64 })
            || start.elapsed() < budget.duration)
    {
        write(&mut file)?;
        writes += 1;
    }
    if let RawFile::Fresh(file, _) = &file {
        file.sync_data()?;
    }
    let secs = start.elapsed().as_secs_f64();
    if let RawFile::Fresh(file, _) = file {
        drop(file);
        std::fs::remove_file(buffered_path)?;
    }
    Ok((writes * records_per_write) as f64 / secs)
}
