//! Format stability: checked-in version-1 snapshot files (one good, one with a damaged
//! chunk) must keep reading as they did, and today's writer must still produce the good one
//! byte for byte. Regenerate with `CAIRN_BLESS=1 cargo test -p cairn-snapshot --test
//! format_fixtures` only when the format version changes (and keep the old fixtures).

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;

use cairn_io::{OpenMode, StdVfs, Vfs};
use cairn_snapshot::{
    Error, NewSnapshot, SnapshotId, SnapshotReader, SnapshotWriter, StoreOptions,
};

const GOOD: &str = "snap-00000000000000000042-00000000000000000007.snap";
const DAMAGED: &str = "snap-00000000000000000043-00000000000000000007.snap";

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn payload() -> Vec<u8> {
    (0..10_000_u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// The deterministic snapshot the good fixture holds.
fn encode(lsn: u64) -> Vec<u8> {
    let new = NewSnapshot::new(lsn, 7)
        .created_unix_nanos(1_700_000_000_123_456_789)
        .user_meta(b"fixture v1".to_vec())
        .salt(0x5EED_CA1B_0000_0001);
    let mut writer = SnapshotWriter::with_chunk_size(Vec::new(), new, "fixture", 4096).unwrap();
    writer.write_all(&payload()).unwrap();
    writer.finish().unwrap().0
}

fn read_file(name: &str) -> Vec<u8> {
    static BLESS: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("CAIRN_BLESS").is_some() {
        BLESS.call_once(bless);
    }
    let file = StdVfs::new()
        .open(&fixture_dir().join(name), OpenMode::Read)
        .unwrap();
    let mut bytes = vec![0_u8; file.len().unwrap() as usize];
    file.read_exact_at(&mut bytes, 0).unwrap();
    bytes
}

fn bless() {
    let vfs = StdVfs::new();
    let dir = fixture_dir();
    vfs.create_dir_all(&dir).unwrap();
    let mut damaged = encode(43);
    // Flip one bit in the data of chunk 1.
    let chunk1_data = 60 + 10 + 8 + 4096 + 8 + 100;
    damaged[chunk1_data] ^= 0x04;
    for (name, bytes) in [(GOOD, encode(42)), (DAMAGED, damaged)] {
        let path = dir.join(name);
        let _ = vfs.remove_file(&path);
        let file = vfs.create_new(&path).unwrap();
        file.write_all_at(&bytes, 0).unwrap();
        file.sync_all().unwrap();
    }
    vfs.sync_dir(&dir).unwrap();
}

#[test]
fn format_v1_fixtures_still_read_and_still_written() {
    let good = read_file(GOOD);
    assert!(
        good == encode(42),
        "the writer no longer produces format v1 byte for byte"
    );

    let mut reader = SnapshotReader::new(good.as_slice(), GOOD).unwrap();
    assert_eq!(reader.id(), SnapshotId::new(42, 7));
    assert_eq!(reader.user_meta(), b"fixture v1");
    let mut back = Vec::new();
    reader.read_to_end(&mut back).unwrap();
    assert!(back == payload());
    let meta = reader.finish().unwrap();
    assert_eq!(meta.created_unix_nanos, 1_700_000_000_123_456_789);
    assert_eq!(meta.digest, cairn_crc::Digest::of(&payload()));

    let damaged = read_file(DAMAGED);
    let mut reader = SnapshotReader::new(damaged.as_slice(), DAMAGED).unwrap();
    let err = Error::from_io(reader.read_to_end(&mut Vec::new()).unwrap_err(), DAMAGED);
    assert!(
        matches!(err, Error::ChecksumMismatch { chunk: 1, .. }),
        "{err}"
    );
}

#[test]
fn format_v1_store_falls_back_from_damaged_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = StdVfs::new();
    for name in [GOOD, DAMAGED] {
        let file = vfs.create_new(&dir.path().join(name)).unwrap();
        file.write_all_at(&read_file(name), 0).unwrap();
    }
    let store = common::open_store(dir.path(), StoreOptions::default());
    let latest = store.latest_valid().unwrap();
    assert_eq!(latest.snapshot.unwrap().id(), SnapshotId::new(42, 7));
    assert_eq!(latest.skipped.len(), 1);
    assert_eq!(latest.skipped[0].id, SnapshotId::new(43, 7));
    println!("skipped: {}", latest.skipped[0].reason);
    let entry = &store.list().unwrap()[0];
    assert!(
        entry.meta.is_ok(),
        "header and footer of the damaged fixture are intact"
    );
}
