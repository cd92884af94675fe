//! Old formats stay readable: checked-in v1 log directories (clean, torn tail, damaged in the
//! middle) must recover exactly as they did when they were written. Regenerate (only when the
//! format version changes, into a new `v<N>_*` set) with
//! `CAIRN_WRITE_FIXTURES=1 cargo test -p cairn-wal --test format_fixtures_v1`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_io::{OpenMode, StdVfs, Vfs};
use cairn_sim::SimVfs;
use cairn_wal::{CorruptKind, Durability, Error, Lsn, RecoveryMode, Wal, WalOptions};

const RECORDS: u64 = 30;

fn options() -> WalOptions {
    WalOptions {
        segment_size_max: 4096,
        record_size_max: 1024,
        preallocate: false,
        ..WalOptions::default()
    }
}

fn payload(i: u64) -> Vec<u8> {
    let mut v = vec![i as u8; 40 + (i as usize * 29) % 300];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Builds the v1 logs deterministically on the simulator and writes them out.
fn write_fixtures() {
    let sim = SimVfs::new(1);
    let dir = Path::new("/wal");
    let (wal, _) = Wal::open(dir, options(), Arc::new(sim.clone())).unwrap();
    for i in 1..=RECORDS {
        if i % 10 == 0 {
            wal.append_batch(&[payload(i)], Durability::Fsync).unwrap();
        } else {
            wal.append(payload(i), Durability::Fsync).unwrap();
        }
    }
    wal.close().unwrap();
    let std = StdVfs::new();
    let names: Vec<String> = sim
        .list(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .collect();
    for variant in ["v1_clean", "v1_torn_tail", "v1_corrupt_mid"] {
        let out = fixtures().join(variant);
        std.create_dir_all(&out).unwrap();
        for (k, name) in names.iter().enumerate() {
            let mut bytes = sim.file_bytes(&dir.join(name)).unwrap();
            let last = k + 1 == names.len();
            if last && variant == "v1_torn_tail" {
                bytes.extend_from_slice(&[0x5A; 77]);
            }
            if last && variant == "v1_corrupt_mid" {
                bytes[64 + 32 + 3] ^= 0x10; // the first frame's payload
            }
            let path = out.join(name);
            let _ = std.remove_file(&path);
            std.create_new(&path)
                .unwrap()
                .write_all_at(&bytes, 0)
                .unwrap();
        }
    }
}

/// Copies a fixture directory into a temp dir (recovery may modify it).
fn load(variant: &str) -> tempfile::TempDir {
    let std = StdVfs::new();
    let to = tempfile::tempdir().unwrap();
    let from = fixtures().join(variant);
    for name in std.list(&from).unwrap() {
        let f = std.open(&from.join(&name), OpenMode::Read).unwrap();
        let mut bytes = vec![0u8; f.len().unwrap() as usize];
        f.read_exact_at(&mut bytes, 0).unwrap();
        std.create_new(&to.path().join(&name))
            .unwrap()
            .write_all_at(&bytes, 0)
            .unwrap();
    }
    to
}

#[test]
fn v1_fixtures_recover_as_written() {
    if std::env::var_os("CAIRN_WRITE_FIXTURES").is_some() {
        write_fixtures();
    }
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());

    let clean = load("v1_clean");
    let (wal, report) = Wal::open(clean.path(), options(), vfs.clone()).unwrap();
    assert!(report.segments >= 3, "spans several segments");
    assert_eq!(report.last_lsn, Some(Lsn::new(RECORDS)));
    assert_eq!(report.bytes_truncated, 0);
    let all: Vec<_> = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len() as u64, RECORDS);
    for (lsn, p) in &all {
        assert_eq!(p[..], payload(lsn.get())[..]);
    }
    drop(wal);

    let torn = load("v1_torn_tail");
    let (wal, report) = Wal::open(torn.path(), options(), vfs.clone()).unwrap();
    assert!(report.torn_tail);
    assert_eq!(report.bytes_truncated, 77);
    assert_eq!(report.last_lsn, Some(Lsn::new(RECORDS)));
    drop(wal);

    let corrupt = load("v1_corrupt_mid");
    let err = Wal::open(corrupt.path(), options(), vfs.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                offset: 64,
                kind: CorruptKind::BadFrameBeforeValid,
                ..
            }
        ),
        "{err}"
    );
    let options = WalOptions {
        recovery_mode: RecoveryMode::PointInTime,
        ..options()
    };
    let (_wal, report) = Wal::open(corrupt.path(), options, vfs).unwrap();
    assert!(report.last_lsn < Some(Lsn::new(RECORDS)));
}
