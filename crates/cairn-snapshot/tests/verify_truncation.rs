//! Verification detects truncation at every offset of a snapshot (in memory and on disk)
//! and bytes appended after the footer.

mod common;

use std::io::{Read, Write};

use cairn_io::OpenMode;
use cairn_snapshot::{
    CorruptKind, Error, NewSnapshot, SnapshotReader, SnapshotWriter, StoreOptions,
};
use common::Rng;

#[test]
fn verify_detects_truncation_at_every_offset_in_memory() {
    let seed = common::seed("verify_truncation");
    let mut rng = Rng::new(seed);
    let payload = rng.bytes(9000);
    let new = NewSnapshot::new(1, 1).user_meta(b"m".to_vec());
    let mut writer = SnapshotWriter::with_chunk_size(Vec::new(), new, "mem", 4096).unwrap();
    writer.write_all(&payload).unwrap();
    let (bytes, _) = writer.finish().unwrap();
    for len in 0..bytes.len() {
        let cut = &bytes[..len];
        let result = SnapshotReader::new(cut, "cut").and_then(|mut r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out)
                .map_err(|e| Error::from_io(e, "cut"))?;
            Ok(out)
        });
        let err = result
            .err()
            .unwrap_or_else(|| panic!("truncation at {len} not detected"));
        assert!(
            matches!(
                err,
                Error::Corrupt {
                    kind: CorruptKind::Truncated,
                    ..
                }
            ),
            "truncation at {len} reported as {err}"
        );
    }
    println!("truncation points checked: {}", bytes.len());
}

#[test]
fn verify_detects_truncation_at_every_offset_of_a_file() {
    let seed = common::seed("verify_truncation");
    let mut rng = Rng::new(seed ^ 2);
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default().chunk_size(4096));
    let older = common::publish(&store, 1, 1, &rng.bytes(100));
    let payload = rng.bytes(5000);
    let published = common::publish(&store, 2, 1, &payload);
    let vfs = common::std_vfs();
    let file = vfs.open(&published.path, OpenMode::ReadWrite).unwrap();
    let full_len = file.len().unwrap();
    let mut original = vec![0_u8; full_len as usize];
    file.read_exact_at(&mut original, 0).unwrap();
    for len in (0..full_len).rev() {
        file.set_len(len).unwrap();
        let err = store.verify(published.meta.id()).unwrap_err();
        assert!(err.is_corruption(), "truncation at {len}: {err}");
        let latest = store.latest_valid().unwrap();
        assert_eq!(
            latest.snapshot.as_ref(),
            Some(&older.meta),
            "falls back at {len}"
        );
        assert_eq!(latest.skipped[0].id, published.meta.id());
    }
    println!("file truncation points checked: {full_len}");
    file.write_all_at(&original, 0).unwrap();
    assert_eq!(store.verify(published.meta.id()).unwrap(), published.meta);

    // Bytes after the footer are damage too.
    file.write_all_at(b"x", full_len).unwrap();
    let err = store.verify(published.meta.id()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: CorruptKind::TrailingBytes,
                ..
            }
        ),
        "{err}"
    );
}
