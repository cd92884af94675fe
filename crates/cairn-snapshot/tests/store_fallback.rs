//! `latest_valid` falls back to an older snapshot when newer ones are damaged, and reports
//! each one it skipped with the reason; a file renamed to another id is caught.

mod common;

use std::io::Read;

use cairn_io::OpenMode;
use cairn_snapshot::{CorruptKind, Error, SnapshotId, StoreOptions};
use common::Rng;

fn flip_byte(path: &std::path::Path, offset: u64) {
    let file = common::std_vfs().open(path, OpenMode::ReadWrite).unwrap();
    let mut byte = [0_u8; 1];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x10], offset).unwrap();
    file.sync_data().unwrap();
}

#[test]
fn store_falls_back_to_previous_snapshot_and_reports_why() {
    let seed = common::seed("store_fallback");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default().retain_count(3));
    let payloads: Vec<Vec<u8>> = (0..3).map(|_| rng.bytes(300_000)).collect();
    let published: Vec<_> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| common::publish(&store, 10 * (i as u64 + 1), 1, p))
        .collect();

    let latest = store.latest_valid().unwrap();
    assert!(!latest.fell_back());
    assert_eq!(latest.snapshot.as_ref(), Some(&published[2].meta));

    // Damage the payload of the newest (a chunk CRC fails) ...
    flip_byte(&published[2].path, 200_000);
    let latest = store.latest_valid().unwrap();
    assert!(latest.fell_back());
    assert_eq!(latest.snapshot.as_ref(), Some(&published[1].meta));
    assert_eq!(latest.skipped.len(), 1);
    let skipped = &latest.skipped[0];
    assert_eq!(skipped.id, published[2].meta.id());
    assert!(
        matches!(skipped.reason, Error::ChecksumMismatch { chunk: 0, .. }),
        "{}",
        skipped.reason
    );
    println!("skipped {}: {}", skipped.id, skipped.reason);

    // ... and the header of the middle one.
    flip_byte(&published[1].path, 20);
    let latest = store.latest_valid().unwrap();
    assert_eq!(latest.snapshot.as_ref(), Some(&published[0].meta));
    let skipped_ids: Vec<SnapshotId> = latest.skipped.iter().map(|s| s.id).collect();
    assert_eq!(
        skipped_ids,
        [published[2].meta.id(), published[1].meta.id()]
    );
    assert!(matches!(
        latest.skipped[1].reason,
        Error::Corrupt {
            kind: CorruptKind::HeaderChecksum { .. },
            ..
        }
    ));

    // The oldest still reads back intact.
    let mut back = Vec::new();
    store
        .read(published[0].meta.id())
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == payloads[0]);

    // list() still shows all three; the damaged header is reported in its entry.
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed[0].meta.is_ok(),
        "payload damage is invisible to list()"
    );
    assert!(listed[1].meta.is_err());
    assert!(listed[2].meta.is_ok());

    // Nothing valid left: no snapshot, three skipped.
    flip_byte(&published[0].path, 100_000);
    let latest = store.latest_valid().unwrap();
    assert!(latest.snapshot.is_none());
    assert_eq!(latest.skipped.len(), 3);
}

#[test]
fn store_detects_a_snapshot_renamed_to_another_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default());
    let first = common::publish(&store, 1, 1, b"one");
    let vfs = common::std_vfs();
    let forged = store.path_of(SnapshotId::new(9, 1));
    vfs.rename(&first.path, &forged).unwrap();
    let err = store.verify(SnapshotId::new(9, 1)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: CorruptKind::NameMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    let latest = store.latest_valid().unwrap();
    assert!(latest.snapshot.is_none());
    assert_eq!(latest.skipped.len(), 1);
    let err = store.verify(SnapshotId::new(1, 1)).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}
