//! Append and recovery benchmark for `cairn-wal` (harness = false).
//!
//! `cargo bench -p cairn-wal --bench append` prints appends/s and MB/s at 64 B / 1 KiB /
//! 64 KiB, `Buffered` and `Fsync`, with 1 / 4 / 16 threads; records per fsync; p50 / p99 /
//! p999 append latency over runs that cross several segment rotations; and recovery MB/s
//! after a clean close and after a crash (drop without close), plus full replay MB/s.
//! Add `-- --quick` (or set `CAIRN_BENCH_QUICK=1`) for short runs. Without `--bench` (as
//! `cargo test --benches` runs it) it does a tiny smoke run only. `CAIRN_BENCH_DIR` picks the
//! directory (default: the system temp dir — make sure it is on the disk you mean to measure).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_io::StdVfs;
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

struct Mode {
    run: Duration,
    warmup: Duration,
    sizes: Vec<usize>,
    threads: Vec<usize>,
    recovery_bytes: u64,
}

fn mode() -> (Mode, &'static str) {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let quick =
        args.iter().any(|a| a == "--quick") || std::env::var_os("CAIRN_BENCH_QUICK").is_some();
    if !bench {
        let m = Mode {
            run: Duration::from_millis(20),
            warmup: Duration::ZERO,
            sizes: vec![64],
            threads: vec![1, 4],
            recovery_bytes: 1 << 20,
        };
        return (m, "smoke");
    }
    if quick {
        let m = Mode {
            run: Duration::from_millis(300),
            warmup: Duration::from_millis(50),
            sizes: vec![64, 1024, 65536],
            threads: vec![1, 4, 16],
            recovery_bytes: 32 << 20,
        };
        return (m, "quick");
    }
    let m = Mode {
        run: Duration::from_secs(2),
        warmup: Duration::from_millis(300),
        sizes: vec![64, 1024, 65536],
        threads: vec![1, 4, 16],
        recovery_bytes: 256 << 20,
    };
    (m, "full")
}

fn options() -> WalOptions {
    // 16 MiB segments so that every run crosses several rotations.
    WalOptions {
        segment_size_max: 16 << 20,
        record_size_max: 1 << 20,
        ..WalOptions::default()
    }
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Appends from `threads` threads for `run`; returns (appends, latencies in µs).
fn drive(
    wal: &Wal,
    size: usize,
    durability: Durability,
    threads: usize,
    run: Duration,
) -> (u64, Vec<u32>) {
    let deadline = Instant::now() + run;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let payload = vec![t as u8; size];
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    wal.append(&payload, durability).expect("append");
                    latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().expect("bench thread"));
    }
    (all.len() as u64, all)
}

fn main() {
    let (mode, name) = mode();
    let base = std::env::var_os("CAIRN_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let root = tempfile::tempdir_in(&base).expect("bench dir");
    let vfs = Arc::new(StdVfs::new());
    println!(
        "cairn-wal append benchmark ({name} mode) in {}",
        base.display()
    );
    println!(
        "{:>7} {:>9} {:>4} {:>12} {:>9} {:>10} {:>9} {:>9} {:>9} {:>5}",
        "size",
        "level",
        "thr",
        "appends/s",
        "MB/s",
        "rec/fsync",
        "p50 µs",
        "p99 µs",
        "p999 µs",
        "rot"
    );
    for &size in &mode.sizes {
        for durability in [Durability::Buffered, Durability::Fsync] {
            // One log per size and level, reused across thread counts (files are reused).
            let dir = root.path().join(format!("{size}-{durability:?}"));
            let (wal, _) = Wal::open(&dir, options(), vfs.clone()).expect("open");
            drive(&wal, size, durability, 1, mode.warmup);
            for &threads in &mode.threads {
                let before = wal.stats();
                let (count, mut latencies) = drive(&wal, size, durability, threads, mode.run);
                let after = wal.stats();
                latencies.sort_unstable();
                let secs = mode.run.as_secs_f64();
                let fsyncs = after.fsyncs - before.fsyncs;
                let per_fsync = if fsyncs == 0 {
                    0.0
                } else {
                    (after.records_synced - before.records_synced) as f64 / fsyncs as f64
                };
                println!(
                    "{:>7} {:>9} {:>4} {:>12.0} {:>9.1} {:>10.1} {:>9} {:>9} {:>9} {:>5}",
                    size,
                    format!("{durability:?}"),
                    threads,
                    count as f64 / secs,
                    (count as f64 * size as f64) / secs / 1e6,
                    per_fsync,
                    percentile(&latencies, 0.50),
                    percentile(&latencies, 0.99),
                    percentile(&latencies, 0.999),
                    after.rotations - before.rotations,
                );
            }
            wal.close().expect("close");
            // Keep the disk footprint bounded between configurations.
            let next = wal.next_lsn();
            wal.truncate_front(next).ok();
        }
    }
    recovery(root.path(), &vfs, mode.recovery_bytes);
}

fn recovery(root: &Path, vfs: &Arc<StdVfs>, total: u64) {
    let size = 1024usize;
    let count = total / size as u64;
    for crash in [false, true] {
        let dir = root.join(if crash {
            "recovery-crash"
        } else {
            "recovery-clean"
        });
        let (wal, _) = Wal::open(&dir, options(), vfs.clone()).expect("open");
        let payload = vec![7u8; size];
        for _ in 0..count {
            wal.append(&payload, Durability::None).expect("append");
        }
        wal.sync().expect("sync");
        if !crash {
            wal.close().expect("close");
        }
        drop(wal);
        let start = Instant::now();
        let (wal, report) = Wal::open(&dir, options(), vfs.clone()).expect("reopen");
        let open_time = start.elapsed();
        let start = Instant::now();
        let mut bytes = 0u64;
        for item in wal.reader(Lsn::FIRST).expect("reader") {
            bytes += item.expect("record").1.len() as u64;
        }
        let replay = start.elapsed();
        println!(
            "recovery after {:<5}: {} records, {} segments ({} scanned): open {:.1} ms = {:.0} MB/s of log; full verified replay {:.0} MB/s",
            if crash { "crash" } else { "close" },
            report.records,
            report.segments,
            report.segments_scanned,
            open_time.as_secs_f64() * 1e3,
            total as f64 / open_time.as_secs_f64() / 1e6,
            bytes as f64 / replay.as_secs_f64() / 1e6,
        );
    }
}
