//! Verification detects a single-bit flip at every bit of a small snapshot in memory and at
//! every byte offset of a snapshot file, and never yields wrong payload bytes as `Ok`.

mod common;

use std::io::Read;

use cairn_io::OpenMode;
use cairn_snapshot::{Error, NewSnapshot, SnapshotReader, SnapshotWriter, StoreOptions};
use common::Rng;

/// Reads `bytes` as a snapshot; returns the payload bytes handed out and the outcome.
fn read_all(bytes: &[u8]) -> (Vec<u8>, Result<(), Error>) {
    let mut out = Vec::new();
    let mut reader = match SnapshotReader::new(bytes, "flipped") {
        Ok(reader) => reader,
        Err(e) => return (out, Err(e)),
    };
    let mut buf = vec![0_u8; 1000];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Err(Error::from_io(e, "flipped"))),
        }
    }
}

#[test]
fn verify_detects_every_bit_flip_in_memory() {
    let seed = common::seed("verify_bit_flips");
    let mut rng = Rng::new(seed);
    let payload = rng.bytes(5000);
    let new = NewSnapshot::new(11, 2)
        .user_meta(b"user metadata".to_vec())
        .salt(rng.next_u64());
    let mut writer = SnapshotWriter::with_chunk_size(Vec::new(), new, "mem", 4096).unwrap();
    std::io::Write::write_all(&mut writer, &payload).unwrap();
    let (bytes, _) = writer.finish().unwrap();
    let (clean, ok) = read_all(&bytes);
    assert!(ok.is_ok() && clean == payload);

    let mut detected = 0_u64;
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let (out, result) = read_all(&flipped);
        let err = result
            .err()
            .unwrap_or_else(|| panic!("bit flip at bit {bit} not detected"));
        assert!(
            err.is_corruption(),
            "bit {bit}: {err} is not reported as corruption"
        );
        assert!(
            payload.starts_with(&out),
            "bit {bit}: wrong payload bytes were handed out"
        );
        detected += 1;
    }
    let total = bytes.len() as u64 * 8;
    println!(
        "bit flips checked: {total}, detected: {detected}, silently accepted: {}",
        total - detected
    );
    assert_eq!(detected, total);
}

#[test]
fn verify_detects_a_flip_at_every_byte_offset_of_a_file() {
    let seed = common::seed("verify_bit_flips");
    let mut rng = Rng::new(seed ^ 1);
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().chunk_size(4096);
    let store = common::open_store(dir.path(), options);
    let payload = rng.bytes(6000);
    let published = common::publish(&store, 5, 1, &payload);
    let id = published.meta.id();
    let vfs = common::std_vfs();
    let file = vfs.open(&published.path, OpenMode::ReadWrite).unwrap();
    let len = file.len().unwrap();
    let mut checked = 0_u64;
    for offset in 0..len {
        let mut byte = [0_u8; 1];
        file.read_exact_at(&mut byte, offset).unwrap();
        let mask = 1_u8 << rng.below(8);
        file.write_all_at(&[byte[0] ^ mask], offset).unwrap();
        let err = store
            .verify(id)
            .err()
            .unwrap_or_else(|| panic!("flip at offset {offset} not detected"));
        assert!(err.is_corruption(), "offset {offset}: {err}");
        // latest_valid must not return the damaged snapshot.
        let latest = store.latest_valid().unwrap();
        assert!(
            latest.snapshot.is_none(),
            "offset {offset}: damaged snapshot chosen"
        );
        assert_eq!(latest.skipped.len(), 1);
        file.write_all_at(&byte, offset).unwrap();
        checked += 1;
    }
    assert_eq!(
        store.verify(id).unwrap(),
        published.meta,
        "restored file verifies again"
    );
    println!("file offsets flipped: {checked}, all detected");
}
