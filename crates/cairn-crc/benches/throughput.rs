//! Prints CRC-32 and BLAKE3 throughput in GB/s at 64 B and 1 MiB inputs.
//!
//! Run with `cargo bench -p cairn-crc`. Each figure is the best of several timed rounds of a
//! fixed byte budget, after a warm-up round.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cairn_crc::{Crc32, Digest};

const ROUNDS: usize = 5;
const BYTES_PER_ROUND: usize = 512 << 20;

fn best_gbps(size: usize, mut hash: impl FnMut(&[u8])) -> f64 {
    let data: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(31)).collect();
    let iterations = (BYTES_PER_ROUND / size).max(1);
    let mut best = Duration::MAX;
    for round in 0..=ROUNDS {
        let start = Instant::now();
        for _ in 0..iterations {
            hash(black_box(&data));
        }
        let elapsed = start.elapsed();
        if round > 0 {
            best = best.min(elapsed);
        }
    }
    (iterations * size) as f64 / best.as_secs_f64() / 1e9
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        black_box(Crc32::of(b"smoke"));
        black_box(Digest::of(b"smoke"));
        println!("cairn-crc throughput: run with `cargo bench -p cairn-crc` for figures");
        return;
    }
    println!("{:<8} {:>10} {:>12}", "size", "crc32 GB/s", "blake3 GB/s");
    for (label, size) in [("64 B", 64), ("1 MiB", 1 << 20)] {
        let crc = best_gbps(size, |d| {
            black_box(Crc32::of(d));
        });
        let blake = best_gbps(size, |d| {
            black_box(Digest::of(d));
        });
        println!("{label:<8} {crc:>10.2} {blake:>12.2}");
    }
}
