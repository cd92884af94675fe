//! Prints snapshot write throughput (payload MB/s, including the file fsync, rename and
//! directory fsync of publishing) and read + verify throughput, for a 256 MiB payload on a
//! temporary directory.
//!
//! Run with `cargo bench -p cairn-snapshot`. `cargo test --benches` runs it without
//! `--bench` and gets a 1 MiB smoke run instead. The read figure is from the page cache
//! (the file was just written); it measures CRC-32 + BLAKE3 + copying, not the device.

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use cairn_io::StdVfs;
use cairn_snapshot::{NewSnapshot, SnapshotReader, SnapshotStore, SnapshotWriter, StoreOptions};

const BLOCK_SIZE: usize = 1 << 20;

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let full = std::env::args().any(|a| a == "--bench");
    let payload_size: u64 = if full { 256 << 20 } else { 1 << 20 };
    let rounds = if full { 3 } else { 1 };

    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions::default()
        .verify_before_prune(false)
        .retain_count(1);
    let store = SnapshotStore::open(dir.path(), options, Arc::new(StdVfs::new())).expect("open");
    let block: Vec<u8> = (0..BLOCK_SIZE)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 11) as u8)
        .collect();

    let mut best_write = f64::MAX;
    let mut best_read = f64::MAX;
    for round in 0..rounds {
        let start = Instant::now();
        let mut pending = store
            .create(NewSnapshot::new(round + 1, 1))
            .expect("create");
        let mut left = payload_size;
        while left > 0 {
            let n = left.min(BLOCK_SIZE as u64) as usize;
            pending.write_all(&block[..n]).expect("write");
            left -= n as u64;
        }
        let published = pending.publish().expect("publish");
        best_write = best_write.min(start.elapsed().as_secs_f64());

        let start = Instant::now();
        let mut reader = store.read(published.meta.id()).expect("read");
        let mut buf = vec![0_u8; BLOCK_SIZE];
        let mut read_bytes = 0_u64;
        loop {
            let n = reader.read(&mut buf).expect("read + verify");
            if n == 0 {
                break;
            }
            read_bytes += n as u64;
            black_box(&buf[..n]);
        }
        assert_eq!(read_bytes, payload_size);
        assert!(reader.verified_meta().is_some());
        best_read = best_read.min(start.elapsed().as_secs_f64());
    }

    // The same work without a disk: encoding and decoding + verifying in memory, i.e. the
    // CPU cost of chunking, CRC-32 and BLAKE3.
    let mut best_encode = f64::MAX;
    let mut best_decode = f64::MAX;
    let encode = |sink: Vec<u8>| {
        let mut writer = SnapshotWriter::new(sink, NewSnapshot::new(1, 1), "mem").expect("writer");
        let mut left = payload_size;
        while left > 0 {
            let n = left.min(BLOCK_SIZE as u64) as usize;
            writer.write_all(&block[..n]).expect("encode");
            left -= n as u64;
        }
        writer.finish().expect("finish").0
    };
    // Encoded once untimed, so the timed runs write into memory that is already mapped.
    let mut bytes = encode(Vec::new());
    for _ in 0..rounds {
        bytes.clear();
        let start = Instant::now();
        bytes = encode(bytes);
        best_encode = best_encode.min(start.elapsed().as_secs_f64());

        let start = Instant::now();
        let mut reader = SnapshotReader::new(bytes.as_slice(), "mem").expect("reader");
        let mut buf = vec![0_u8; BLOCK_SIZE];
        while reader.read(&mut buf).expect("decode") != 0 {
            black_box(&buf);
        }
        best_decode = best_decode.min(start.elapsed().as_secs_f64());
    }

    let label = if full {
        "256 MiB"
    } else {
        "1 MiB (smoke run; `cargo bench -p cairn-snapshot` for figures)"
    };
    println!("cairn-snapshot throughput, payload {label}, chunk 256 KiB, best of {rounds}:");
    println!(
        "  write + fsync + publish: {:>8.1} MB/s",
        mb_per_s(payload_size, best_write)
    );
    println!(
        "  read + verify:           {:>8.1} MB/s",
        mb_per_s(payload_size, best_read)
    );
    println!(
        "  encode in memory:        {:>8.1} MB/s",
        mb_per_s(payload_size, best_encode)
    );
    println!(
        "  decode + verify in memory: {:>6.1} MB/s",
        mb_per_s(payload_size, best_decode)
    );
}
